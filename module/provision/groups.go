package provision

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// Group semantics. Membership is only ever changed by deltas (AddMembers /
// RemoveMembers of the difference between the current and the desired member set),
// never by writing a full list upstream: two PATCHes that add different members to
// one group cannot lose each other's member, even across instances, and a PATCH that
// does not mention members cannot touch them (reliability-facts §5).

// memberCheckConcurrency bounds the upstream lookups that validate new members.
const memberCheckConcurrency = 8

// maxNamedMembers bounds how many member ids an error detail names.
const maxNamedMembers = 10

// groupAdapter returns the group adapter or a 501.
func (s *Service) groupAdapter() (adapters.GroupAdapter, error) {
	if s.Groups == nil {
		return nil, scim.NotImplemented("Groups are not supported by this adapter")
	}
	return s.Groups, nil
}

// GetGroup returns a managed group or a SCIM 404. Members are loaded only when
// withMembers is set (Entra reads groups with excludedAttributes=members).
func (s *Service) GetGroup(ctx context.Context, id string, withMembers bool) (*scim.Group, error) {
	ga, err := s.groupAdapter()
	if err != nil {
		return nil, err
	}
	gs, err := ga.FindGroups(ctx, adapters.Lookup{Kind: adapters.ByID, Value: id}, withMembers)
	if err != nil && !errors.Is(err, adapters.ErrNotFound) {
		return nil, err
	}
	for _, g := range gs {
		if g.ID == id {
			return g, nil
		}
	}
	return nil, scim.NotFound("Group", id)
}

// QueryGroups returns the managed groups matching filter (nil = all), unpaged, in
// ascending id order. id, externalId, displayName and members.value equality are
// pushed down to the adapter; the full filter is then matched on the candidates.
// withMembers must be true when the filter or the answer needs members.
func (s *Service) QueryGroups(ctx context.Context, filter scim.Expr, withMembers bool, render func(*scim.Group) scim.Resource) ([]*scim.Group, error) {
	ga, err := s.groupAdapter()
	if err != nil {
		return nil, err
	}
	var candidates []*scim.Group
	pushed := false
	if filter != nil {
		if attr, value, ok := scim.PushDown(filter); ok {
			kind := map[string]adapters.LookupKind{"id": adapters.ByID, "externalId": adapters.ByExternalID,
				"displayName": adapters.ByDisplayName}
			if k, known := kind[attr]; known {
				pushed = true
				if value != "" {
					candidates, err = s.findGroupsVia(ctx, ga, adapters.Lookup{Kind: k, Value: value}, withMembers)
				}
			}
		}
		if !pushed {
			if uid, ok := memberPushDown(filter); ok {
				pushed = true
				candidates, err = s.groupsOfMember(ctx, ga, uid, withMembers)
			}
		}
		if errors.Is(err, adapters.ErrNotFound) {
			candidates, err = nil, nil
		}
		if err != nil {
			return nil, err
		}
	}
	if !pushed {
		candidates, err = s.allGroups(ctx, ga, withMembers)
		if err != nil {
			return nil, err
		}
	}
	out := make([]*scim.Group, 0, len(candidates))
	for _, g := range candidates {
		if filter != nil && !scim.Match(filter, render(g), scim.GroupResourceType) {
			continue
		}
		out = append(out, g)
	}
	sort.SliceStable(out, func(i, j int) bool { return idLess(out[i].ID, out[j].ID) })
	return out, nil
}

// idLess orders numeric ids numerically, others as strings.
func idLess(a, b string) bool {
	if len(a) != len(b) && isDigits(a) && isDigits(b) {
		return len(a) < len(b)
	}
	return a < b
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// groupsOfMember answers members[value eq "u"] from the user's groups, which costs
// far less than loading every group's members.
func (s *Service) groupsOfMember(ctx context.Context, ga adapters.GroupAdapter, userID string, withMembers bool) ([]*scim.Group, error) {
	refs, err := ga.UserGroups(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []*scim.Group
	for _, ref := range refs {
		gs, err := ga.FindGroups(ctx, adapters.Lookup{Kind: adapters.ByID, Value: ref.Value}, withMembers)
		if err != nil && !errors.Is(err, adapters.ErrNotFound) {
			return nil, err
		}
		out = append(out, gs...)
	}
	return out, nil
}

// memberPushDown finds members[value eq "x"] or members.value eq "x" as the whole
// filter or a conjunct of its and-tree.
func memberPushDown(e scim.Expr) (string, bool) {
	switch x := e.(type) {
	case *scim.LogicalExpr:
		if x.Op == "and" {
			if v, ok := memberPushDown(x.Left); ok {
				return v, true
			}
			return memberPushDown(x.Right)
		}
	case *scim.ValuePathExpr:
		if x.Path.URN == "" && x.Path.Name == "members" {
			if c, ok := x.Filter.(*scim.CompareExpr); ok && c.Op == "eq" && c.Path.Name == "value" && c.Path.Sub == "" {
				if v, ok := c.Value.(string); ok {
					return v, true
				}
			}
		}
	case *scim.CompareExpr:
		if x.Op == "eq" && x.Path.URN == "" && x.Path.Name == "members" && x.Path.Sub == "value" {
			if v, ok := x.Value.(string); ok {
				return v, true
			}
		}
	}
	return "", false
}

// allGroups pages through every managed group.
func (s *Service) allGroups(ctx context.Context, ga adapters.GroupAdapter, withMembers bool) ([]*scim.Group, error) {
	return pageAll(ctx, 100, func(ctx context.Context, p adapters.Page) ([]*scim.Group, int, error) {
		return ga.ListGroups(ctx, p, withMembers)
	})
}

// normalizeGroup trims the displayName and checks what every group needs.
func normalizeGroup(g *scim.Group) error {
	g.DisplayName = strings.TrimSpace(g.DisplayName)
	if g.DisplayName == "" {
		return scim.BadRequest(scim.ErrInvalidValue, "displayName is required")
	}
	for _, m := range g.Members {
		if strings.TrimSpace(m.Value) == "" {
			return scim.BadRequest(scim.ErrInvalidValue, "members: every member needs a value (a User id)")
		}
		if strings.EqualFold(m.Type, "Group") {
			return scim.BadRequest(scim.ErrInvalidValue, "members: nested groups are not supported (member %q has type Group)", m.Value)
		}
	}
	return nil
}

// memberIDs returns the distinct member values in order.
func memberIDs(ms []scim.Member) []string {
	seen := make(map[string]bool, len(ms))
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		if !seen[m.Value] {
			seen[m.Value] = true
			out = append(out, m.Value)
		}
	}
	return out
}

// diffMembers returns what to add (in next, not in cur) and remove (in cur, not in next).
func diffMembers(cur, next []string) (add, remove []string) {
	in := func(l []string) map[string]bool {
		m := make(map[string]bool, len(l))
		for _, v := range l {
			m[v] = true
		}
		return m
	}
	c, n := in(cur), in(next)
	for _, v := range next {
		if !c[v] {
			add = append(add, v)
		}
	}
	for _, v := range cur {
		if !n[v] {
			remove = append(remove, v)
		}
	}
	return add, remove
}

// checkMembers verifies that every id is a visible (managed, not DELETEd) user,
// before anything is applied. Deprovisioned users (active=false) are valid members.
// Many ids are checked against one listing of the managed users when that is
// cheaper than one lookup each.
func (s *Service) checkMembers(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	var unknown []string
	if known, ok, err := s.managedSet(ctx, len(ids)); err != nil {
		return err
	} else if ok {
		for _, id := range ids {
			if !known[id] {
				unknown = append(unknown, id)
			}
		}
	} else {
		var mu sync.Mutex
		var firstErr error
		sem := make(chan struct{}, memberCheckConcurrency)
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				r, found, err := s.getRecord(ctx, id)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					if firstErr == nil {
						firstErr = err
					}
				case !found || !visible(r):
					unknown = append(unknown, id)
				default:
					s.remember(ctx, r)
				}
			}()
		}
		wg.Wait()
		if firstErr != nil {
			return firstErr
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return scim.BadRequest(scim.ErrInvalidValue, "members: no such User: %s; nothing was changed", nameIDs(unknown))
	}
	return nil
}

// managedSet lists the managed users when that likely costs fewer upstream calls
// than n point lookups; ok=false means "look them up one by one". The first page
// tells the total, so a large upstream costs one call before falling back.
func (s *Service) managedSet(ctx context.Context, n int) (map[string]bool, bool, error) {
	size := s.Adapter.Info().MaxPageSize
	if size <= 0 {
		size = 100
	}
	if n <= size/2 {
		return nil, false, nil
	}
	known := map[string]bool{}
	for off := 0; ; off += size {
		recs, total, err := s.Adapter.ListUsers(ctx, adapters.Page{Offset: off, Limit: size})
		if err != nil {
			return nil, false, err
		}
		if off == 0 && (total+size-1)/size > n/2 {
			return nil, false, nil
		}
		for _, r := range recs {
			if visible(r) {
				known[r.User.ID] = true
			}
		}
		if len(recs) == 0 || off+size >= total {
			return known, true, nil
		}
	}
}

// nameIDs quotes up to maxNamedMembers ids for an error detail.
func nameIDs(ids []string) string {
	var b strings.Builder
	for i, id := range ids {
		if i == maxNamedMembers {
			fmt.Fprintf(&b, " and %d more", len(ids)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		if len(id) > 64 {
			id = id[:64] + "…"
		}
		fmt.Fprintf(&b, "%q", id)
	}
	return b.String()
}

// checkUnique answers 409 when another managed group than selfID has displayName
// (case-insensitively) or externalID; an empty value is not checked.
func (s *Service) checkUnique(ctx context.Context, ga adapters.GroupAdapter, selfID, displayName, externalID string) error {
	if displayName != "" {
		gs, err := s.findGroupsVia(ctx, ga, adapters.Lookup{Kind: adapters.ByDisplayName, Value: displayName}, false)
		if err != nil && !errors.Is(err, adapters.ErrNotFound) {
			return err
		}
		for _, g := range gs {
			if g.ID != selfID && strings.EqualFold(g.DisplayName, displayName) {
				return scim.Conflict("a group with displayName %q already exists (id %s)", g.DisplayName, g.ID)
			}
		}
	}
	if externalID != "" {
		gs, err := s.findGroupsVia(ctx, ga, adapters.Lookup{Kind: adapters.ByExternalID, Value: externalID}, false)
		if err != nil && !errors.Is(err, adapters.ErrNotFound) {
			return err
		}
		for _, g := range gs {
			if g.ID != selfID && g.ExternalID == externalID {
				return scim.Conflict("a group with this externalId already exists (id %s)", g.ID)
			}
		}
	}
	return nil
}

// CreateGroup applies POST /Groups: the group is created, then its members are
// added. If the members cannot all be added the new group is removed again, so
// that the IdP's retry of the POST starts from a clean state instead of a 409.
func (s *Service) CreateGroup(ctx context.Context, g *scim.Group) (*scim.Group, error) {
	ga, err := s.groupAdapter()
	if err != nil {
		return nil, err
	}
	if err := normalizeGroup(g); err != nil {
		return nil, err
	}
	// serialise creates of one name on this instance and, through the link store,
	// across instances; checkUnique below re-checks at the upstream
	release, err := s.lockAll(ctx, []string{"group-create:" + strings.ToLower(g.DisplayName)})
	if err != nil {
		return nil, err
	}
	defer release()
	ids := memberIDs(g.Members)
	if err := s.checkMembers(ctx, ids); err != nil {
		return nil, err
	}
	if err := s.checkUnique(ctx, ga, "", g.DisplayName, g.ExternalID); err != nil {
		return nil, err
	}
	created, err := ga.CreateGroup(ctx, &scim.Group{DisplayName: g.DisplayName, ExternalID: g.ExternalID})
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 {
		if err := ga.AddMembers(ctx, created.ID, ids); err != nil {
			if derr := ga.DeleteGroup(context.WithoutCancel(ctx), created.ID); derr != nil && !errors.Is(derr, adapters.ErrNotFound) {
				return nil, memberFailure(err, "the group was created (id "+created.ID+") but not all members were added; retry the members with PATCH")
			}
			return nil, memberFailure(err, "the group was not created")
		}
	}
	created.Members = membersOf(ids)
	s.rememberGroup(ctx, created)
	return created, nil
}

func membersOf(ids []string) []scim.Member {
	if len(ids) == 0 {
		return nil
	}
	out := make([]scim.Member, len(ids))
	for i, id := range ids {
		out[i] = scim.Member{Value: id, Type: "User"}
	}
	return out
}

// ReplaceGroup applies PUT /Groups/{id}: displayName, externalId and the full member
// list (absent members mean none, RFC 7644 §3.5.1), written as deltas.
func (s *Service) ReplaceGroup(ctx context.Context, id string, g *scim.Group, ifMatch string) (*scim.Group, error) {
	if _, err := s.groupAdapter(); err != nil {
		return nil, err
	}
	if err := normalizeGroup(g); err != nil {
		return nil, err
	}
	unlock := s.locks.lock("group:" + id)
	defer unlock()
	cur, err := s.GetGroup(ctx, id, true)
	if err != nil {
		return nil, err
	}
	if err := checkIfMatch(ifMatch, cur.Meta.Version); err != nil {
		return nil, err
	}
	g.ID = id
	return s.writeGroup(ctx, cur, g)
}

// PatchGroup applies PATCH /Groups/{id}: the operations run on the rendered current
// group (members included), and the difference to it is applied as deltas.
func (s *Service) PatchGroup(ctx context.Context, id string, ops []scim.PatchOp, ifMatch string, opt scim.RenderOptions) (*scim.Group, error) {
	if _, err := s.groupAdapter(); err != nil {
		return nil, err
	}
	unlock := s.locks.lock("group:" + id)
	defer unlock()
	cur, err := s.GetGroup(ctx, id, true)
	if err != nil {
		return nil, err
	}
	if err := checkIfMatch(ifMatch, cur.Meta.Version); err != nil {
		return nil, err
	}
	patched, err := scim.ApplyPatch(scim.GroupToResource(cur, opt), ops, scim.GroupResourceType)
	if err != nil {
		return nil, err
	}
	g, err := scim.GroupFromResource(patched)
	if err != nil {
		return nil, err
	}
	if err := normalizeGroup(g); err != nil {
		return nil, err
	}
	g.ID = id
	return s.writeGroup(ctx, cur, g)
}

// writeGroup turns cur into next: validation first (unknown members, uniqueness),
// then attributes, then removals and additions.
func (s *Service) writeGroup(ctx context.Context, cur, next *scim.Group) (*scim.Group, error) {
	ga := s.Groups
	add, remove := diffMembers(memberIDs(cur.Members), memberIDs(next.Members))
	if err := s.checkMembers(ctx, add); err != nil {
		return nil, err
	}
	// Only what changes is checked: a group may keep a name that differs in case only.
	name, ext := "", ""
	if !strings.EqualFold(cur.DisplayName, next.DisplayName) {
		name = next.DisplayName
	}
	if next.ExternalID != cur.ExternalID {
		ext = next.ExternalID
	}
	if err := s.checkUnique(ctx, ga, cur.ID, name, ext); err != nil {
		return nil, err
	}
	out := cur
	if next.DisplayName != cur.DisplayName || next.ExternalID != cur.ExternalID {
		upd, err := ga.UpdateGroup(ctx, cur.ID, &scim.Group{ID: cur.ID, DisplayName: next.DisplayName, ExternalID: next.ExternalID})
		if err != nil {
			return nil, err
		}
		out = upd
	}
	var failed []error
	if len(remove) > 0 {
		if err := ga.RemoveMembers(ctx, cur.ID, remove); err != nil {
			failed = append(failed, err)
		}
	}
	if len(add) > 0 {
		if err := ga.AddMembers(ctx, cur.ID, add); err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) > 0 {
		return nil, memberFailure(errors.Join(failed...), "the other changes were applied; retrying the request completes it")
	}
	res := *out
	res.Members = membersOf(memberIDs(next.Members))
	s.rememberGroup(ctx, &res)
	return &res, nil
}

// memberFailure turns an AddMembers/RemoveMembers error into the SCIM answer: 503
// (with the largest Retry-After) when a failure is transient, else 502; the detail
// names the members not applied. Other errors pass through.
func memberFailure(err error, what string) error {
	failed := map[string]error{}
	var collect func(error)
	collect = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				collect(x)
			}
			return
		}
		var me *adapters.MemberError
		if errors.As(e, &me) {
			for id, why := range me.Failed {
				failed[id] = why
			}
		}
	}
	collect(err)
	if len(failed) == 0 {
		var se *scim.Error
		if errors.As(err, &se) {
			return err
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok && len(j.Unwrap()) > 0 {
			return j.Unwrap()[0]
		}
		return err
	}
	ids := make([]string, 0, len(failed))
	status, retry := http.StatusBadGateway, 0
	var reason string
	for id, why := range failed {
		ids = append(ids, id)
		se := scim.AsError(why)
		if se.Status == http.StatusServiceUnavailable {
			status = http.StatusServiceUnavailable
			retry = max(retry, se.RetryAfter)
		}
	}
	sort.Strings(ids)
	if se := scim.AsError(failed[ids[0]]); se.Status != http.StatusInternalServerError {
		reason = ": " + se.Detail
	}
	e := scim.Errorf(status, "", "%d member change(s) were not applied (%s)%s; %s",
		len(ids), nameIDs(ids), reason, what)
	e.RetryAfter = retry
	return e
}

// DeleteGroup removes a managed group.
func (s *Service) DeleteGroup(ctx context.Context, id, ifMatch string) error {
	ga, err := s.groupAdapter()
	if err != nil {
		return err
	}
	unlock := s.locks.lock("group:" + id)
	defer unlock()
	cur, err := s.GetGroup(ctx, id, false)
	if err != nil {
		return err
	}
	if err := checkIfMatch(ifMatch, cur.Meta.Version); err != nil {
		return err
	}
	if err := ga.DeleteGroup(ctx, id); err != nil && !errors.Is(err, adapters.ErrNotFound) {
		return err
	}
	s.forgetGroup(ctx, id)
	return nil
}

// UserGroups returns the managed groups a user is a direct member of, for the
// user's read-only groups attribute; nil without group support.
func (s *Service) UserGroups(ctx context.Context, userID string) ([]scim.GroupRef, error) {
	if s.Groups == nil {
		return nil, nil
	}
	refs, err := s.Groups.UserGroups(ctx, userID)
	if errors.Is(err, adapters.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	refs = slices.Clone(refs)
	for i := range refs {
		if refs[i].Type == "" {
			refs[i].Type = "direct"
		}
	}
	sort.SliceStable(refs, func(i, j int) bool { return idLess(refs[i].Value, refs[j].Value) })
	return refs, nil
}
