package provision

import (
	"context"
	"errors"
	"strings"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// DefaultMaxScan is how many managed users a query the upstream cannot answer (a
// filter other than an equality on userName, externalId, id or an e-mail; a sortBy)
// may be evaluated over; beyond it the query is refused with 400 tooMany.
const DefaultMaxScan = 10_000

// listConcurrency bounds the upstream reads of one list page.
const listConcurrency = 8

// UserPage answers a plain listing (no filter, the default order: ascending id) of
// limit users from offset, from the link index: the ids of the page come from the
// index and the users are read upstream, in a few calls where the adapter reads
// many at once (adapters.UserBatch), else one read each; either way a page costs
// the same whatever the directory's size. Creates append (ids grow) and deactivations keep their place,
// so consecutive pages neither skip nor repeat a user while they interleave; a
// DELETE moves the later users one place up. ok=false when the store has no
// trusted index (the caller then scans, see QueryUsers).
//
// A user the index still lists but who is gone, no longer managed or DELETEd is
// left out of the page and out of the index (the page is one shorter, once). A
// failed read fails the page: never a page that silently lacks a user.
func (s *Service) UserPage(ctx context.Context, offset, limit int) (_ []adapters.Record, total int, ok bool, err error) {
	ix, isIndex := s.Links.(links.Index)
	if !isIndex {
		return nil, 0, false, nil
	}
	ls, total, ok, err := ix.PageLinks(ctx, max(offset, 0), max(limit, 0))
	if err != nil || !ok {
		s.storeErr(err)
		return nil, 0, false, nil
	}
	recs := make([]adapters.Record, len(ls))
	keep := make([]bool, len(ls))
	ids := make([]string, len(ls))
	for i := range ls {
		ids[i] = ls[i].ID
	}
	batch := s.readUsers(ctx, ids)
	errs := adapters.Parallel(ctx, len(ls), listConcurrency, func(ctx context.Context, i int) error {
		var r adapters.Record
		var cached links.Link
		var found bool
		var err error
		if b, ok := batch[ls[i].ID]; ok {
			r, cached, found, err = s.recordOf(ctx, ls[i].ID, []adapters.Record{b}, ls[i], false)
		} else { // not in the batch: gone, no longer managed, or no batch read
			r, cached, found, err = s.readRecord(ctx, ls[i].ID, ls[i], false)
		}
		switch {
		case err != nil:
			return err
		case !found: // readRecord forgot it
		case !r.Managed:
			s.storeErr(s.Links.Forget(ctx, ls[i].ID))
		case r.Deleted:
			s.rememberChanged(ctx, r, cached) // a DELETEd link leaves the order
		default:
			recs[i], keep[i] = r, true
			s.rememberChanged(ctx, r, cached)
		}
		return nil
	})
	if err := errors.Join(errs...); err != nil {
		return nil, 0, false, err
	}
	out := recs[:0]
	for i, r := range recs {
		if keep[i] {
			out = append(out, r)
		} else {
			total--
		}
	}
	s.clearStaleMarks(ctx, out)
	return out, max(total, len(out)), true, nil
}

// QueryUsers returns the visible users matching filter (nil = all), unpaged, in
// ascending id order. Equality filters on userName, externalId, id and emails.value
// are pushed down to the link store and the adapter; any other query (sorted says
// the caller will sort) is evaluated over a scan bounded by MaxScan.
func (s *Service) QueryUsers(ctx context.Context, filter scim.Expr, render func(*scim.User) scim.Resource, sorted bool) (_ []adapters.Record, err error) {
	var candidates []adapters.Record
	var cached links.Link // the stored link of a link store hit, for rememberChanged
	pushed := false
	if filter != nil {
		if attr, value, ok := scim.PushDown(filter); ok {
			pushed = true
			switch attr {
			case "externalId":
				candidates, cached, err = s.lookupViaCached(ctx, adapters.ByExternalID, value)
			case "userName":
				candidates, cached, err = s.lookupViaCached(ctx, adapters.ByUserName, value)
			case "id":
				var r adapters.Record
				var found bool
				r, cached, found, err = s.getRecordCached(ctx, value)
				if found {
					candidates = []adapters.Record{r}
				}
			case "emails.value":
				candidates, err = s.find(ctx, adapters.Lookup{Kind: adapters.ByEmail, Value: value})
			default:
				pushed = false
			}
			if err != nil {
				return nil, err
			}
		}
	}
	if !pushed {
		if candidates, err = s.allManaged(ctx, filter == nil && !sorted); err != nil {
			return nil, err
		}
	}
	// A lone equality on externalId, userName or id is checked on the record itself:
	// the generic Match would first render every candidate into a resource.
	eqAttr, eqValue, lone := loneEq(filter)
	out := make([]adapters.Record, 0, len(candidates))
	for _, r := range candidates {
		if !visible(r) {
			continue
		}
		if lone {
			if !equals(r.User, eqAttr, eqValue) {
				continue
			}
		} else if filter != nil && !scim.Match(filter, render(r.User), scim.UserResourceType) {
			continue
		}
		out = append(out, r)
		if pushed {
			if cached.ID != r.User.ID {
				cached = links.Link{}
			}
			s.rememberChanged(ctx, r, cached)
		}
	}
	s.clearStaleMarks(ctx, out)
	return out, nil
}

// loneEq recognises a filter that is exactly `externalId|userName|id eq "v"`.
func loneEq(f scim.Expr) (attr, value string, ok bool) {
	c, isCmp := f.(*scim.CompareExpr)
	if !isCmp || c.Op != "eq" || c.Path.URN != "" || c.Path.Sub != "" {
		return "", "", false
	}
	v, isStr := c.Value.(string)
	switch c.Path.Name {
	case "externalId", "userName", "id":
		return c.Path.Name, v, isStr
	}
	return "", "", false
}

// equals compares as RFC 7643 defines these attributes: userName case-insensitively,
// externalId and id exactly.
func equals(u *scim.User, attr, v string) bool {
	switch attr {
	case "userName":
		return strings.EqualFold(u.UserName, v)
	case "externalId":
		return u.ExternalID == v
	}
	return u.ID == v
}

// pages walks a paged adapter listing from its start, size items a call (100 when
// the adapter gives no size), handing each page and the total to visit until visit
// returns false or the listing ends.
func pages[T any](ctx context.Context, size int, list func(context.Context, adapters.Page) ([]T, int, error), visit func(items []T, total int) bool) error {
	if size <= 0 {
		size = 100
	}
	for off := 0; ; {
		items, total, err := list(ctx, adapters.Page{Offset: off, Limit: size})
		if err != nil {
			return err
		}
		off += len(items) // an upstream may give less than asked
		if !visit(items, total) || len(items) == 0 || off >= total {
			return nil
		}
	}
}

// pageAll collects every item of a paged adapter listing.
func pageAll[T any](ctx context.Context, size int, list func(context.Context, adapters.Page) ([]T, int, error)) ([]T, error) {
	var all []T
	err := pages(ctx, size, list, func(items []T, _ int) bool { all = append(all, items...); return true })
	return all, err
}

// allManaged pages through the managed users of the adapter (DELETEd ones included),
// at most s.MaxScan of them (DefaultMaxScan when 0): more is a 400 tooMany, or a 503
// while a link index that would answer a plain listing is not trusted yet.
func (s *Service) allManaged(ctx context.Context, plain bool) ([]adapters.Record, error) {
	limit := s.MaxScan
	if limit <= 0 {
		limit = DefaultMaxScan
	}
	over := 0
	if ix, isIndex := s.Links.(links.Index); isIndex {
		// a trusted index knows the count: refuse without reading the directory
		if _, total, ok, err := ix.PageLinks(ctx, 0, 0); err == nil && ok && total > limit {
			over = total
		}
	}
	if over == 0 {
		var all []adapters.Record
		// One window of everything it may take: the adapter pages it in the fewest
		// calls its upstream allows (an adapter whose every call scans reads once).
		err := pages(ctx, limit+1, s.listUsers, func(items []adapters.Record, total int) bool {
			if total > limit || len(all)+len(items) > limit {
				over = max(total, len(all)+len(items))
				return false
			}
			all = append(all, items...)
			return true
		})
		if err != nil || over == 0 {
			return all, err
		}
	}
	if _, isIndex := s.Links.(links.Index); plain && isIndex {
		return nil, scim.Unavailable(30, "listing %d users needs the link index, which is not ready yet (it is rebuilt from the upstream after a start or a Redis restart); retry shortly", over)
	}
	if plain {
		return nil, scim.BadRequest(scim.ErrTooMany, "listing more than %d users (max_scan) needs the link index: configure redis for this scim handler, or raise max_scan", limit)
	}
	return nil, scim.BadRequest(scim.ErrTooMany, "this filter or sortBy would be evaluated over more than %d users (max_scan); filter with an equality on userName, externalId, id or emails.value, or list without sortBy", limit)
}
