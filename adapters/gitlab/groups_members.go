package gitlab

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
)

type glMember struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
}

// members reads the direct members of group id, without the token's own user,
// in ascending id order.
func (a *Adapter) members(ctx context.Context, id int64) ([]adapters.Member, error) {
	self, err := a.selfID(ctx)
	if err != nil {
		return nil, err
	}
	var all []glMember
	if err := walk(ctx, a, groupPath(id)+"/members", nil, 0, func(l []glMember) bool { all = append(all, l...); return true }); err != nil {
		return nil, err
	}
	slices.SortFunc(all, func(x, y glMember) int { return cmp.Compare(x.ID, y.ID) })
	all = slices.DeleteFunc(all, func(m glMember) bool { return m.ID == self })
	managed, err := a.managedAmong(ctx, all)
	if err != nil {
		return nil, err
	}
	out := make([]adapters.Member, 0, len(all))
	for _, m := range all {
		if managed[m.ID] {
			out = append(out, adapters.Member{Value: strconv.FormatInt(m.ID, 10), Display: m.Username, Type: "User"})
		}
	}
	return out, nil
}

// managedAmong tells which members SCIM manages: only those are shown, and so only
// those a PUT or PATCH of members can remove; people added by hand stay. A few
// members cost one read each, many one pass over the managed users.
func (a *Adapter) managedAmong(ctx context.Context, ms []glMember) (map[int64]bool, error) {
	out := make(map[int64]bool, len(ms))
	if len(ms) > maxPerPage {
		err := a.keysetUsers(ctx, func(us []glUser) bool {
			for i := range us {
				if a.ours(&us[i]) {
					out[us[i].ID] = true
				}
			}
			return true
		})
		return out, err
	}
	var mu sync.Mutex
	errs := adapters.Parallel(ctx, len(ms), adapters.MemberConcurrency, func(ctx context.Context, i int) error {
		u, err := a.getUser(ctx, ms[i].ID)
		if adapters.Is(err, adapters.NotFound) {
			return nil
		}
		if err == nil && a.ours(u) {
			mu.Lock()
			out[u.ID] = true
			mu.Unlock()
		}
		return err
	})
	return out, errors.Join(errs...)
}

// memberGone tells a missing group (GitLab: "404 Group Not Found") from a missing
// user or membership.
func (a *Adapter) memberGone(resp *upstream.Response, uid string) error {
	if strings.Contains(a.message(resp), "Group") {
		return adapters.ErrGroupGone
	}
	return adapters.NotFoundf("GitLab has no user %q", uid)
}

// AddMembers adds SCIM users to group id with the configured access level.
// Existing members are left as they are (409 "Member already exists" is
// success), whatever their level. A user whose role in an ancestor group is
// higher than that level cannot be a member at it (GitLab's 400 "should be
// greater than or equal to … inherited membership"): already holding more
// access here, it is skipped, logged and counted, not failed.
func (a *Adapter) AddMembers(ctx context.Context, id string, userIDs []string) error {
	g, err := a.managedGroup(ctx, id)
	if err != nil {
		return err
	}
	level := int(a.memberLevel())
	var mu sync.Mutex
	var inherited []string
	err = adapters.EachMember(ctx, userIDs, func(ctx context.Context, uid string) error {
		err := a.addMember(ctx, g.ID, uid, level)
		if errors.Is(err, errInherited) {
			mu.Lock()
			inherited = append(inherited, uid)
			mu.Unlock()
			return nil
		}
		return err
	})
	if len(inherited) > 0 {
		slices.SortFunc(inherited, adapters.CompareIDs)
		a.logger.Info("GitLab group members skipped: their role inherited from a parent group is higher than group_access_level",
			zap.Int64("group", g.ID), zap.Int("count", len(inherited)), zap.Strings("users", inherited))
	}
	return err
}

// errInherited is a member GitLab refuses below the role it inherits.
var errInherited = errors.New("gitlab: access inherited from a parent group is higher")

// addMember adds one user to group gid.
func (a *Adapter) addMember(ctx context.Context, gid int64, uid string, level int) error {
	n, ok := adapters.NumericID(uid)
	if !ok {
		return adapters.NotFoundf("GitLab has no user %q", uid)
	}
	// A POST whose "already exists" answer counts as success is idempotent, so
	// it may be retried.
	resp, err := a.send(ctx, upstream.Request{Method: http.MethodPost, Path: groupPath(gid) + "/members",
		Body: map[string]any{"user_id": n, "access_level": level}, Idempotent: true})
	if err != nil {
		return err
	}
	switch resp.Status {
	case http.StatusCreated, http.StatusOK:
		var m struct {
			ID int64 `json:"id"`
		}
		if json.Unmarshal(resp.Body, &m) != nil || m.ID == 0 {
			// e.g. {"message":{"jdoe":"Request queued for administrator
			// approval."}}: not a member yet.
			return adapters.RefusedBecause("GitLab did not add user %s: %s", uid, a.message(resp))
		}
		return nil
	case http.StatusConflict:
		return nil
	case http.StatusNotFound:
		return a.memberGone(resp, uid)
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		for _, m := range errorsOf(resp.Body)["access_level"] {
			if strings.Contains(m, "inherited membership") {
				return errInherited
			}
		}
		return adapters.InvalidValue("members", "GitLab refused user %s as a member: %s", uid, a.message(resp))
	}
	return a.fail(resp)
}

// RemoveMembers removes SCIM users from group id. Non-members and unknown users
// are success; the token's own user is never removed.
func (a *Adapter) RemoveMembers(ctx context.Context, id string, userIDs []string) error {
	g, err := a.managedGroup(ctx, id)
	if err != nil {
		return err
	}
	return a.removeMembers(ctx, g.ID, userIDs)
}

// removeMembers removes SCIM users from group gid, managed or not.
func (a *Adapter) removeMembers(ctx context.Context, gid int64, userIDs []string) error {
	self, err := a.selfID(ctx)
	if err != nil {
		return err
	}
	return adapters.EachMember(ctx, userIDs, func(ctx context.Context, uid string) error {
		n, ok := adapters.NumericID(uid)
		if !ok || n == self {
			return nil // not a SCIM member of this group
		}
		// skip_subresources: SCIM owns this group's membership only, not what
		// was granted by hand in its subgroups and projects.
		resp, err := a.send(ctx, upstream.Request{Method: http.MethodDelete, Path: groupPath(gid) + "/members/" + strconv.FormatInt(n, 10),
			Query: url.Values{"skip_subresources": {"true"}}, Idempotent: true})
		switch {
		case err != nil:
			return err
		case resp.OK():
			return nil
		case resp.Status == http.StatusNotFound:
			if err := a.memberGone(resp, uid); errors.Is(err, adapters.ErrGroupGone) {
				return err
			}
			return nil // not a member (any more)
		}
		return a.fail(resp)
	})
}

// UserGroups returns the managed groups user id is a direct member of.
//
// Against GitLab: GET /users/:id/memberships?type=Namespace (1 call per 100
// memberships), then GET /groups/:gid for each group found (bounded
// concurrency) to keep the managed ones: 1 + M calls for M group memberships.
// Where that endpoint is missing (a stripped-down API), it lists the managed groups
// (1 call per 100) and asks GET /groups/:gid/members/:id of each: G/100 + G calls.
func (a *Adapter) UserGroups(ctx context.Context, userID string) ([]adapters.GroupRef, error) {
	uid, ok := adapters.NumericID(userID)
	if !ok {
		return []adapters.GroupRef{}, nil
	}
	self, err := a.selfID(ctx)
	if err != nil {
		return nil, err
	}
	if uid == self {
		return []adapters.GroupRef{}, nil // never a SCIM member
	}
	if !a.groups.noMemberships.Load() {
		refs, err := a.userGroupsByMemberships(ctx, uid)
		if !errors.Is(err, errNoMembershipsAPI) {
			return refs, err
		}
		a.groups.noMemberships.Store(true)
	}
	return a.userGroupsByScan(ctx, uid)
}

var errNoMembershipsAPI = errors.New("gitlab: no memberships endpoint")

func (a *Adapter) userGroupsByMemberships(ctx context.Context, uid int64) ([]adapters.GroupRef, error) {
	var gids []int64
	err := walk(ctx, a, userPath(uid)+"/memberships", url.Values{"type": {"Namespace"}}, 0, func(list []struct {
		SourceID   int64  `json:"source_id"`
		SourceType string `json:"source_type"`
	}) bool {
		for _, m := range list {
			if m.SourceType == "" || m.SourceType == "Namespace" {
				gids = append(gids, m.SourceID)
			}
		}
		return true
	})
	var se *upstream.StatusError
	if errors.As(err, &se) && se.Response.Status == http.StatusNotFound {
		// An unknown route is Grape's {"error":"404 Not Found"}; an unknown user
		// {"message":"404 User Not Found"}, who has no groups.
		var v struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(se.Response.Body, &v) == nil && v.Error != "" {
			return nil, errNoMembershipsAPI
		}
		return []adapters.GroupRef{}, nil
	}
	if err != nil {
		return nil, err
	}
	return a.refs(ctx, len(gids), func(ctx context.Context, i int) (*adapters.GroupRef, error) {
		g, err := a.getGroup(ctx, gids[i])
		if adapters.Is(err, adapters.NotFound) || err == nil && !g.managed(a.TenantName()) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		ref := g.ref()
		return &ref, nil
	})
}

func (a *Adapter) userGroupsByScan(ctx context.Context, uid int64) ([]adapters.GroupRef, error) {
	gs, err := a.searchGroups(ctx, url.Values{}, 0)
	if err != nil {
		return nil, err
	}
	return a.refs(ctx, len(gs), func(ctx context.Context, i int) (*adapters.GroupRef, error) {
		if !gs[i].managed(a.TenantName()) {
			return nil, nil
		}
		var m glMember
		_, err := a.getJSON(ctx, groupPath(gs[i].ID)+"/members/"+strconv.FormatInt(uid, 10), nil, &m)
		if adapters.Is(err, adapters.NotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		ref := gs[i].ref()
		return &ref, nil
	})
}

// refs runs ref(0..n-1) concurrently and returns the refs found, by numeric id.
func (a *Adapter) refs(ctx context.Context, n int, ref func(ctx context.Context, i int) (*adapters.GroupRef, error)) ([]adapters.GroupRef, error) {
	found := make([]*adapters.GroupRef, n)
	errs := adapters.Parallel(ctx, n, adapters.MemberConcurrency, func(ctx context.Context, i int) error {
		var err error
		found[i], err = ref(ctx, i)
		return err
	})
	out := []adapters.GroupRef{}
	for i, r := range found {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if r != nil {
			out = append(out, *r)
		}
	}
	slices.SortFunc(out, func(x, y adapters.GroupRef) int { return adapters.CompareIDs(x.Value, y.Value) })
	return out, nil
}
