package gitlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// memberConcurrency bounds the membership calls in flight for one operation:
// enough to apply a 100-member PATCH quickly, few enough not to trip GitLab's
// rate limits.
const memberConcurrency = 8

// errGroupGone: the group vanished while its members were being changed.
var errGroupGone = fmt.Errorf("group: %w", adapters.ErrNotFound)

// parallel runs fn(0..n-1) with at most memberConcurrency in flight.
func parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) []error {
	return adapters.Parallel(ctx, n, memberConcurrency, fn)
}

type glMember struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
}

// members reads the direct members of group id, without the token's own user,
// in ascending id order.
func (a *Adapter) members(ctx context.Context, id int64) ([]scim.Member, error) {
	self, err := a.selfID(ctx)
	if err != nil {
		return nil, err
	}
	q := url.Values{"per_page": {strconv.Itoa(maxPerPage)}}
	var all []glMember
	for page := 1; ; page++ {
		q.Set("page", strconv.Itoa(page))
		var list []glMember
		resp, err := a.getJSON(ctx, groupPath(id)+"/members", q, &list)
		if err != nil {
			return nil, err
		}
		all = append(all, list...)
		if len(list) < maxPerPage || resp.header.Get("X-Next-Page") == "" {
			break
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	out := make([]scim.Member, 0, len(all))
	for _, m := range all {
		if m.ID == self {
			continue
		}
		out = append(out, scim.Member{Value: strconv.FormatInt(m.ID, 10), Display: m.Username, Type: "User"})
	}
	return out, nil
}

// AddMembers adds SCIM users to group id with the configured access level.
// Existing members are left as they are (409 "Member already exists" is
// success), whatever their level.
func (a *Adapter) AddMembers(ctx context.Context, id string, userIDs []string) error {
	g, err := a.managedGroup(ctx, id)
	if err != nil {
		return err
	}
	level := int(a.memberLevel())
	return a.eachMember(ctx, userIDs, func(ctx context.Context, uid string) error {
		n, ok := parseID(uid)
		if !ok {
			return noUser(uid)
		}
		// A POST whose "already exists" answer counts as success is
		// idempotent, so it may be retried.
		resp, err := a.send(ctx, request{
			method: http.MethodPost, path: groupPath(g.ID) + "/members",
			body: map[string]any{"user_id": n, "access_level": level}, retry: true,
		})
		if err != nil {
			return err
		}
		switch resp.status {
		case http.StatusCreated, http.StatusOK:
			var m struct {
				ID int64 `json:"id"`
			}
			if json.Unmarshal(resp.body, &m) != nil || m.ID == 0 {
				// e.g. {"message":{"jdoe":"Request queued for administrator
				// approval."}}: not a member yet.
				return scim.Errorf(http.StatusConflict, "", "GitLab did not add user %s: %s", uid, a.message(resp))
			}
			return nil
		case http.StatusConflict:
			return nil
		case http.StatusNotFound:
			if strings.Contains(a.message(resp), "Group") {
				return errGroupGone
			}
			return noUser(uid)
		case http.StatusBadRequest, http.StatusUnprocessableEntity:
			return scim.BadRequest(scim.ErrInvalidValue, "GitLab refused user %s as a member: %s", uid, a.message(resp))
		}
		return a.statusError(resp)
	})
}

// RemoveMembers removes SCIM users from group id. Non-members and unknown users
// are success; the token's own user is never removed.
func (a *Adapter) RemoveMembers(ctx context.Context, id string, userIDs []string) error {
	g, err := a.managedGroup(ctx, id)
	if err != nil {
		return err
	}
	self, err := a.selfID(ctx)
	if err != nil {
		return err
	}
	return a.eachMember(ctx, userIDs, func(ctx context.Context, uid string) error {
		n, ok := parseID(uid)
		if !ok || n == self {
			return nil // not a SCIM member of this group
		}
		// skip_subresources: SCIM owns this group's membership only, not what
		// was granted by hand in its subgroups and projects.
		resp, err := a.send(ctx, request{
			method: http.MethodDelete, path: groupPath(g.ID) + "/members/" + strconv.FormatInt(n, 10),
			query: url.Values{"skip_subresources": {"true"}}, retry: true,
		})
		if err != nil {
			return err
		}
		switch {
		case resp.status/100 == 2:
			return nil
		case resp.status == http.StatusNotFound:
			if strings.Contains(a.message(resp), "Group") {
				return errGroupGone
			}
			return nil // not a member (any more)
		}
		return a.statusError(resp)
	})
}

func noUser(uid string) error {
	return fmt.Errorf("GitLab has no user %q: %w", uid, adapters.ErrNotFound)
}

// eachMember applies fn to each distinct user id concurrently. Failures of
// single members become a *adapters.MemberError; a failure that is not about a
// member (GitLab unavailable, the token refused, the group gone, the request
// cancelled) is returned as such, since retrying the whole change fixes it and
// the change is idempotent.
func (a *Adapter) eachMember(ctx context.Context, userIDs []string, fn func(ctx context.Context, uid string) error) error {
	seen := map[string]bool{}
	var ids []string
	for _, u := range userIDs {
		if !seen[u] {
			seen[u] = true
			ids = append(ids, u)
		}
	}
	errs := parallel(ctx, len(ids), func(ctx context.Context, i int) error { return fn(ctx, ids[i]) })
	failed := map[string]error{}
	for i, err := range errs {
		if err == nil {
			continue
		}
		if systemic(err) {
			return err
		}
		failed[ids[i]] = err
	}
	if len(failed) > 0 {
		return &adapters.MemberError{Failed: failed}
	}
	return nil
}

func systemic(err error) bool {
	switch {
	case errors.Is(err, errGroupGone), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.Is(err, adapters.ErrNotFound):
		return false // an unknown user
	}
	var se *scim.Error
	if errors.As(err, &se) {
		return se.Status >= 500
	}
	return true // not mapped: not about one member
}

// UserGroups returns the managed groups user id is a direct member of.
//
// Against GitLab: GET /users/:id/memberships?type=Namespace (1 call per 100
// memberships), then GET /groups/:gid for each group found (bounded
// concurrency) to keep the managed ones: 1 + M calls for M group memberships.
// Where that endpoint is missing (the emulator), it lists the managed groups
// (1 call per 100) and asks GET /groups/:gid/members/:id of each: G/100 + G calls.
func (a *Adapter) UserGroups(ctx context.Context, userID string) ([]scim.GroupRef, error) {
	uid, ok := parseID(userID)
	if !ok {
		return []scim.GroupRef{}, nil
	}
	self, err := a.selfID(ctx)
	if err != nil {
		return nil, err
	}
	if uid == self {
		return []scim.GroupRef{}, nil // never a SCIM member
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

func (a *Adapter) userGroupsByMemberships(ctx context.Context, uid int64) ([]scim.GroupRef, error) {
	q := url.Values{"type": {"Namespace"}, "per_page": {strconv.Itoa(maxPerPage)}}
	var gids []int64
	for page := 1; ; page++ {
		q.Set("page", strconv.Itoa(page))
		resp, err := a.send(ctx, request{method: http.MethodGet, path: userPath(uid) + "/memberships", query: q, retry: true})
		if err != nil {
			return nil, err
		}
		if resp.status == http.StatusNotFound {
			// An unknown route is Grape's {"error":"404 Not Found"}; an unknown
			// user {"message":"404 User Not Found"}.
			var v struct {
				Error string `json:"error"`
			}
			if json.Unmarshal(resp.body, &v) == nil && v.Error != "" {
				return nil, errNoMembershipsAPI
			}
			return []scim.GroupRef{}, nil
		}
		if resp.status != http.StatusOK {
			return nil, a.statusError(resp)
		}
		var list []struct {
			SourceID   int64  `json:"source_id"`
			SourceType string `json:"source_type"`
		}
		if err := jsonBody(resp, &list); err != nil {
			return nil, err
		}
		for _, m := range list {
			if m.SourceType == "" || m.SourceType == "Namespace" {
				gids = append(gids, m.SourceID)
			}
		}
		if len(list) < maxPerPage || resp.header.Get("X-Next-Page") == "" {
			break
		}
	}
	refs := make([]*scim.GroupRef, len(gids))
	errs := parallel(ctx, len(gids), func(ctx context.Context, i int) error {
		g, err := a.getGroup(ctx, gids[i])
		if errors.Is(err, adapters.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if g.managed() {
			refs[i] = &scim.GroupRef{Value: strconv.FormatInt(g.ID, 10), Display: g.displayName(), Type: "direct"}
		}
		return nil
	})
	return collectRefs(refs, errs)
}

func (a *Adapter) userGroupsByScan(ctx context.Context, uid int64) ([]scim.GroupRef, error) {
	gs, err := a.searchGroups(ctx, url.Values{}, 1<<20)
	if err != nil {
		return nil, err
	}
	refs := make([]*scim.GroupRef, len(gs))
	errs := parallel(ctx, len(gs), func(ctx context.Context, i int) error {
		if !gs[i].managed() {
			return nil
		}
		var m glMember
		_, err := a.getJSON(ctx, groupPath(gs[i].ID)+"/members/"+strconv.FormatInt(uid, 10), nil, &m)
		if errors.Is(err, adapters.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		refs[i] = &scim.GroupRef{Value: strconv.FormatInt(gs[i].ID, 10), Display: gs[i].displayName(), Type: "direct"}
		return nil
	})
	return collectRefs(refs, errs)
}

func collectRefs(refs []*scim.GroupRef, errs []error) ([]scim.GroupRef, error) {
	out := []scim.GroupRef{}
	for i, r := range refs {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if r != nil {
			out = append(out, *r)
		}
	}
	sortGroupRefs(out)
	return out, nil
}
