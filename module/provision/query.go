package provision

import (
	"context"
	"strings"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// The query path. A list or a search of users or groups (GET /Users, GET /Groups,
// .search) is answered here, the same way for both: the filter parsed for the
// resource type, the matching resources found (pushed down where the link store or
// the application can answer), rendered once each, sorted (sortBy, else id), and the
// page q asks for cut. The handler only renders the result.

// Found is a query's answer: the matching resources in order (the page of them,
// when paged), each with its rendered resource, and how many matched in all.
type Found[T any] struct {
	Items     []T
	Resources []scim.Resource
	Total     int
}

// SearchUsers answers a user query. paged cuts the page q asks for (a root search
// pages across types itself). A paged answer carries no Resources: the handler
// renders its users straight to JSON (scim.AppendUserJSON), and a filter that
// finds one user costs no map rendering at all.
func (s *Service) SearchUsers(ctx context.Context, q scim.Query, opt scim.RenderOptions, paged bool) (Found[adapters.Record], error) {
	if paged && q.Filter == "" && q.SortBy == "" {
		// A plain listing (Okta's import, a drift check) costs a page with the
		// link index; without one it is a bounded scan, like a filter.
		recs, total, ok, err := s.UserPage(ctx, q.StartIndex-1, q.PageSize(s.MaxResults))
		if err != nil || ok {
			return Found[adapters.Record]{Items: recs, Total: total}, err
		}
	}
	render := renderOnce(func(u *scim.User) scim.Resource { return scim.UserToResource(u, opt) })
	return search(q, scim.UserResourceType, s.MaxResults, paged, !paged,
		func(filter scim.Expr) ([]adapters.Record, error) {
			return s.QueryUsers(ctx, filter, render, q.SortBy != "")
		},
		func(r adapters.Record) string { return r.User.ID },
		func(r adapters.Record) scim.Resource { return render(r.User) })
}

// SearchGroups answers a group query. Members cost upstream calls per group: they
// are loaded only when the answer (wantMembers), the filter or the sort needs them.
func (s *Service) SearchGroups(ctx context.Context, q scim.Query, opt scim.RenderOptions, wantMembers, paged bool) (Found[*scim.Group], error) {
	render := func(g *scim.Group) scim.Resource { return scim.GroupToResource(g, opt) }
	return search(q, scim.GroupResourceType, s.MaxResults, paged, true,
		func(filter scim.Expr) ([]*scim.Group, error) {
			withMembers := wantMembers || (filter != nil && scim.Mentions(filter, "members")) || sortsBy(q, "members")
			return s.QueryGroups(ctx, filter, withMembers, render)
		},
		func(g *scim.Group) string { return g.ID }, render)
}

// search is the query path of every resource type: parse, find, sort, page, render.
// Items are rendered to resources only for a sortBy (which compares them) and, with
// resources, for the answer.
func search[T any](q scim.Query, rt *scim.ResourceType, maxResults int, paged, resources bool,
	find func(scim.Expr) ([]T, error), id func(T) string, render func(T) scim.Resource) (Found[T], error) {
	var filter scim.Expr
	if q.Filter != "" {
		f, err := scim.ParseFilter(q.Filter, rt)
		if err != nil {
			return Found[T]{}, err
		}
		filter = f
	}
	items, err := find(filter)
	if err != nil {
		return Found[T]{}, err
	}
	var rs []scim.Resource
	var order []int
	if q.SortBy == "" {
		order = scim.IDOrder(len(items), func(i int) string { return id(items[i]) })
	} else {
		rs = make([]scim.Resource, len(items))
		for i, it := range items {
			rs[i] = render(it)
		}
		if order, err = scim.SortOrder(rs, rt, q); err != nil {
			return Found[T]{}, err
		}
	}
	from, to := 0, len(order)
	if paged {
		from, to = scim.PageBounds(len(order), q, maxResults)
	}
	out := Found[T]{Items: make([]T, 0, to-from), Total: len(order)}
	for _, i := range order[from:to] {
		out.Items = append(out.Items, items[i])
		if resources {
			if rs == nil {
				out.Resources = append(out.Resources, render(items[i]))
			} else {
				out.Resources = append(out.Resources, rs[i])
			}
		}
	}
	return out, nil
}

// renderOnce renders each user once, however many times the filter and the sort
// ask for it.
func renderOnce(render func(*scim.User) scim.Resource) func(*scim.User) scim.Resource {
	done := map[*scim.User]scim.Resource{}
	return func(u *scim.User) scim.Resource {
		if res, ok := done[u]; ok {
			return res
		}
		res := render(u)
		done[u] = res
		return res
	}
}

// sortsBy reports whether q sorts by the top-level attribute name.
func sortsBy(q scim.Query, name string) bool {
	top, _, _ := strings.Cut(q.SortBy[strings.LastIndexByte(q.SortBy, ':')+1:], ".")
	return q.SortBy != "" && strings.EqualFold(top, name)
}
