package gitlab

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/caddy-scim/caddy-scim/adapters"
)

// errNeedKeyset: offset pagination cannot answer (no X-Total above 10 000 rows, or
// the instance's max offset was passed).
var errNeedKeyset = errors.New("gitlab: keyset pagination needed")

func managedQuery() url.Values {
	return url.Values{
		"custom_attributes[" + attrManaged + "]": {"true"},
		"order_by":                               {"id"},
		"sort":                                   {"asc"},
		"with_custom_attributes":                 {"true"},
	}
}

// ListUsers returns managed users (deleted ones included) in ascending id order
// and their total. Users managed only through an identity (a create whose mark
// was lost) appear once a write heals them.
func (a *Adapter) ListUsers(ctx context.Context, p adapters.Page) ([]adapters.Record, int, error) {
	if p.Offset < 0 {
		p.Offset = 0
	}
	if p.Limit < 0 {
		p.Limit = 0
	}
	users, total, err := a.listOffset(ctx, p)
	if errors.Is(err, errNeedKeyset) {
		users, total, err = a.listKeyset(ctx, p)
	}
	if err != nil {
		return nil, 0, err
	}
	recs := make([]adapters.Record, 0, len(users))
	for i := range users {
		if err := a.ensureAttrs(ctx, &users[i]); err != nil {
			return nil, 0, err
		}
		recs = append(recs, a.record(&users[i]))
	}
	return recs, total, nil
}

// listOffset maps the window onto page/per_page; an offset that is not a multiple
// of the page size costs one more page.
func (a *Adapter) listOffset(ctx context.Context, p adapters.Page) ([]glUser, int, error) {
	per := p.Limit
	if per < 1 {
		per = 1 // Limit 0 asks only for the total
	}
	if per > maxPerPage {
		per = maxPerPage
	}
	page := p.Offset/per + 1
	skip := p.Offset % per
	var out []glUser
	total := -1
	for {
		q := managedQuery()
		q.Set("page", strconv.Itoa(page))
		q.Set("per_page", strconv.Itoa(per))
		resp, err := a.send(ctx, request{method: http.MethodGet, path: "/users", query: q, retry: true})
		if err != nil {
			return nil, 0, err
		}
		if resp.status == http.StatusMethodNotAllowed {
			return nil, 0, errNeedKeyset
		}
		if resp.status != http.StatusOK {
			return nil, 0, a.statusError(resp)
		}
		if total < 0 {
			t, err := strconv.Atoi(resp.header.Get("X-Total"))
			if err != nil {
				return nil, 0, errNeedKeyset
			}
			total = t
		}
		if p.Limit == 0 {
			return nil, total, nil
		}
		var list []glUser
		if err := jsonBody(resp, &list); err != nil {
			return nil, 0, err
		}
		if skip < len(list) {
			out = append(out, list[skip:]...)
		}
		skip = 0
		if len(out) >= p.Limit || len(list) < per || resp.header.Get("X-Next-Page") == "" {
			break
		}
		page++
	}
	if len(out) > p.Limit {
		out = out[:p.Limit]
	}
	return out, total, nil
}

// listKeyset walks every managed user with keyset pagination: the only way to
// reach deep offsets and to count past 10 000 rows.
func (a *Adapter) listKeyset(ctx context.Context, p adapters.Page) ([]glUser, int, error) {
	q := managedQuery()
	q.Set("pagination", "keyset")
	q.Set("per_page", strconv.Itoa(maxPerPage))
	var out []glUser
	n := 0
	for {
		resp, err := a.send(ctx, request{method: http.MethodGet, path: "/users", query: q, retry: true})
		if err != nil {
			return nil, 0, err
		}
		if resp.status != http.StatusOK {
			return nil, 0, a.statusError(resp)
		}
		var list []glUser
		if err := jsonBody(resp, &list); err != nil {
			return nil, 0, err
		}
		for _, u := range list {
			if n >= p.Offset && n < p.Offset+p.Limit {
				out = append(out, u)
			}
			n++
		}
		next := nextLink(resp.header.Get("Link"))
		if next == nil || len(list) == 0 {
			return out, n, nil
		}
		// Only the query of the next link is used: the request stays on the
		// configured base URL whatever host GitLab puts in its links.
		q = next.Query()
	}
}

// nextLink finds rel="next" in a Link header.
func nextLink(h string) *url.URL {
	for _, part := range strings.Split(h, ",") {
		seg := strings.Split(part, ";")
		if len(seg) < 2 {
			continue
		}
		isNext := false
		for _, attr := range seg[1:] {
			if strings.ReplaceAll(strings.TrimSpace(attr), " ", "") == `rel="next"` {
				isNext = true
			}
		}
		if !isNext {
			continue
		}
		raw := strings.Trim(strings.TrimSpace(seg[0]), "<>")
		if u, err := url.Parse(raw); err == nil {
			return u
		}
	}
	return nil
}
