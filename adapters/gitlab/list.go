package gitlab

import (
	"context"
	"encoding/base64"
	"strconv"

	"errors"
	"go.uber.org/zap"
	"net/url"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
)

// managed is the query of the managed users or groups, in ascending id order.
// usersQuery lists users in id order with their custom attributes (the marks).
func usersQuery() url.Values {
	return url.Values{"order_by": {"id"}, "sort": {"asc"}, "with_custom_attributes": {"true"}}
}

func managedQuery(tenant string) url.Values {
	q := usersQuery()
	q.Set("custom_attributes["+attrManaged+"]", "true")
	if tenant != "" {
		// GitLab cannot ask for an absent attribute: the default tenant's listing
		// also holds other tenants' users, which the service drops (Record.Tenant)
		q.Set("custom_attributes["+attrTenant+"]", tenant)
	}
	return q
}

// window returns the managed items [p.Offset, p.Offset+p.Limit) at path and their
// total: offset pages while GitLab counts and allows the offset, else walk, which
// reads every item in order and so counts them.
func window[T any](ctx context.Context, a *Adapter, path string, p adapters.Page, walk func(ctx context.Context, each func([]T) bool) error) ([]T, int, error) {
	wp := paging
	wp.Total = "X-Total"
	items, total, err := upstream.Window[T](ctx, a.api, upstream.Request{Path: path, Query: managedQuery(a.TenantName())}, wp, p.Offset, p.Limit)
	if !errors.Is(err, upstream.ErrNoWindow) {
		return items, total, err
	}
	var all []T
	if err := walk(ctx, func(list []T) bool { all = append(all, list...); return true }); err != nil {
		return nil, 0, err
	}
	items, total = adapters.Window(all, p)
	return items, total, nil
}

// ListUsers returns managed users (deleted ones included) in ascending id order
// and their total. Users managed only through an identity (a create whose mark
// was lost) appear once a write heals them.
func (a *Adapter) ListUsers(ctx context.Context, p adapters.Page) ([]adapters.Record, int, error) {
	users, total, err := window(ctx, a, "/users", p, a.keysetUsers)
	if err != nil {
		return nil, 0, err
	}
	recs := make([]adapters.Record, 0, len(users))
	for i := range users {
		ok, err := a.present(ctx, &users[i])
		if err != nil {
			return nil, 0, err
		}
		if ok {
			recs = append(recs, a.record(&users[i]))
		}
	}
	return recs, total, nil
}

// keysetUsers walks every managed user with keyset pagination: the only way to
// reach deep offsets and to count past 10 000 rows.
func (a *Adapter) keysetUsers(ctx context.Context, each func([]glUser) bool) error {
	return a.keysetWalk(ctx, managedQuery(a.TenantName()), each)
}

var _ adapters.UserBatch = (*Adapter)(nil)

// batchCalls bounds the listing calls of one ReadUsers: a page of 100 whose ids lie
// among many DELETEd (still managed) accounts is left to single reads beyond it.
const batchCalls = 4

// ReadUsers reads the managed users among ids (ascending) from GitLab's managed
// listing in keyset order, starting right before the first id: one call of 100 for
// a list page, more when DELETEd accounts (kept, still marked) lie in between.
// GitLab's cursor is opaque; it is made here the way GitLab makes it (base64 of
// {"id": "<last id>", "_kd": "n"}, Gitlab::Pagination::Keyset). Should GitLab refuse
// it (400), the service reads each user alone from then on.
func (a *Adapter) ReadUsers(ctx context.Context, ids []string) ([]adapters.Record, error) {
	if a.noCursor != nil && a.noCursor.Load() {
		return nil, nil
	}
	want := make(map[int64]bool, len(ids))
	var first, last int64
	for _, s := range ids {
		if id, ok := adapters.NumericID(s); ok {
			want[id] = true
			if first == 0 || id < first {
				first = id
			}
			last = max(last, id)
		}
	}
	if len(want) == 0 {
		return nil, nil
	}
	q := managedQuery(a.TenantName())
	q.Set("pagination", "keyset")
	q.Set("cursor", keysetCursor(first-1))
	var recs []adapters.Record
	var werr error
	calls := 0
	err := upstream.EachPage(ctx, keyset, upstream.JSONArray[glUser](a.api, upstream.Request{Path: "/users", Query: q}), func(us []glUser) bool {
		calls++
		for i := range us {
			u := &us[i]
			if u.ID > last {
				return false
			}
			if want[u.ID] {
				ok, err := a.present(ctx, u)
				if werr = err; err != nil {
					return false
				}
				if ok {
					recs = append(recs, a.record(u))
				}
			}
			if u.ID == last {
				return false
			}
		}
		return calls < batchCalls
	})
	if (adapters.Is(err, adapters.Invalid) || adapters.Is(err, adapters.BadAnswer)) && a.noCursor != nil {
		a.noCursor.Store(true)
		a.logger.Warn("GitLab refused a keyset cursor: list pages read their users one by one", zap.Error(err))
		return nil, nil
	}
	if err == nil {
		err = werr
	}
	return recs, err
}

// keysetCursor is GitLab's keyset cursor that continues after id.
func keysetCursor(id int64) string {
	return base64.URLEncoding.EncodeToString([]byte(`{"id":"` + strconv.FormatInt(id, 10) + `","_kd":"n"}`))
}

var _ adapters.AllUsers = (*Adapter)(nil)

// EachUser walks every GitLab user, managed or not (the drift report).
func (a *Adapter) EachUser(ctx context.Context, each func(adapters.Record) bool) error {
	var werr error
	err := a.keysetWalk(ctx, usersQuery(), func(us []glUser) bool {
		for i := range us {
			ok, err := a.present(ctx, &us[i])
			if werr = err; err != nil {
				return false
			}
			if ok && !each(a.record(&us[i])) {
				return false
			}
		}
		return true
	})
	if werr != nil {
		return werr
	}
	return err
}

// keysetWalk walks the users that q selects.
func (a *Adapter) keysetWalk(ctx context.Context, q url.Values, each func([]glUser) bool) error {
	q.Set("pagination", "keyset")
	return upstream.EachPage(ctx, keyset, upstream.JSONArray[glUser](a.api, upstream.Request{Path: "/users", Query: q}), each)
}
