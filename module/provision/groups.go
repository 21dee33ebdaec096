package provision

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// Group semantics. Membership is only ever changed by deltas (AddMembers /
// RemoveMembers of the difference between the current and the desired member set),
// never by writing a full list upstream: two PATCHes that add different members to
// one group cannot lose each other's member, even across instances, and a PATCH that
// does not mention members cannot touch them (reliability-facts §5).

// groupAdapter returns the group adapter or a 501.
func (s *Service) groupAdapter() (adapters.GroupAdapter, error) {
	if s.Groups == nil {
		return nil, scim.NotImplemented("Groups are not supported by this adapter")
	}
	return s.Groups, nil
}

// findGroups runs an adapter group lookup; not found is no groups.
func findGroups(ctx context.Context, ga adapters.GroupAdapter, q adapters.Lookup, withMembers bool) ([]*scim.Group, error) {
	gs, err := ga.FindGroups(ctx, q, withMembers)
	if adapters.Is(err, adapters.NotFound) {
		return nil, nil
	}
	return gs, err
}

// GetGroup returns a managed group or a SCIM 404. Members are loaded only when
// withMembers is set (Entra reads groups with excludedAttributes=members).
func (s *Service) GetGroup(ctx context.Context, id string, withMembers bool) (_ *scim.Group, err error) {
	ga, err := s.groupAdapter()
	if err != nil {
		return nil, err
	}
	gs, err := findGroups(ctx, ga, adapters.Lookup{Kind: adapters.ByID, Value: id}, withMembers)
	if err != nil {
		return nil, err
	}
	for _, g := range gs {
		if g.ID == id {
			if withMembers {
				err = s.managedMembersOnly(ctx, []*scim.Group{g})
			}
			return g, err
		}
	}
	return nil, scim.NotFound("Group", id)
}

// managedMembersOnly drops the members SCIM does not manage from groups whose
// adapter answers every member (adapters.Info.UnmanagedMembers): they are neither
// shown nor, since a write starts from what is shown, ever removed.
func (s *Service) managedMembersOnly(ctx context.Context, gs []*scim.Group) error {
	if !s.Adapter.Info().UnmanagedMembers {
		return nil
	}
	var ids []string
	for _, g := range gs {
		ids = append(ids, memberIDs(g.Members)...)
	}
	unknown, err := s.unknownMembers(ctx, memberIDs(membersOf(ids)))
	if err != nil || len(unknown) == 0 {
		return err
	}
	for _, g := range gs {
		g.Members = slices.DeleteFunc(g.Members, func(m scim.Member) bool { return slices.Contains(unknown, m.Value) })
	}
	return nil
}

// QueryGroups returns the managed groups matching filter (nil = all), unpaged, in
// ascending id order. id, externalId, displayName and members.value equality are
// pushed down to the adapter; the full filter is then matched on the candidates.
// withMembers must be true when the filter or the answer needs members.
func (s *Service) QueryGroups(ctx context.Context, filter scim.Expr, withMembers bool, render func(*scim.Group) scim.Resource) (_ []*scim.Group, err error) {
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
		if err != nil {
			return nil, err
		}
	}
	if !pushed {
		candidates, err = pageAll(ctx, s.Adapter.Info().MaxPageSize, func(ctx context.Context, p adapters.Page) ([]*scim.Group, int, error) {
			return ga.ListGroups(ctx, p, withMembers)
		})
		if err != nil {
			return nil, err
		}
	}
	if withMembers {
		if err := s.managedMembersOnly(ctx, candidates); err != nil {
			return nil, err
		}
	}
	out := make([]*scim.Group, 0, len(candidates))
	for _, g := range candidates {
		if filter == nil || scim.Match(filter, render(g), scim.GroupResourceType) {
			out = append(out, g)
		}
	}
	slices.SortStableFunc(out, func(a, b *scim.Group) int { return adapters.CompareIDs(a.ID, b.ID) })
	return out, nil
}

// groupsOfMember answers members[value eq "u"] from the user's groups, which costs
// far less than loading every group's members.
func (s *Service) groupsOfMember(ctx context.Context, ga adapters.GroupAdapter, userID string, withMembers bool) ([]*scim.Group, error) {
	refs, err := ga.UserGroups(ctx, userID)
	if err != nil {
		if adapters.Is(err, adapters.NotFound) {
			err = nil
		}
		return nil, err
	}
	var out []*scim.Group
	for _, ref := range refs {
		gs, err := findGroups(ctx, ga, adapters.Lookup{Kind: adapters.ByID, Value: ref.Value}, withMembers)
		if err != nil {
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

// Unknown member modes: what a group write does with member ids that are no SCIM user.
const (
	UnknownMembersSkip   = "skip"   // default: apply the known members, skip and report the others
	UnknownMembersReject = "reject" // refuse the whole write with 400
)

// knownMembers returns ids without the ones that are no visible SCIM user (a user the
// IdP failed to provision, or has not yet): one bad member must not block a group
// push. They are reported to OnUnknownMembers; with UnknownMembers reject the write
// is refused instead, before anything is applied.
func (s *Service) knownMembers(ctx context.Context, group string, ids []string) ([]string, error) {
	unknown, err := s.unknownMembers(ctx, ids)
	if err != nil || len(unknown) == 0 {
		return ids, err
	}
	if s.UnknownMembers == UnknownMembersReject {
		return nil, scim.BadRequest(scim.ErrInvalidValue, "members: no such User: %s; nothing was changed", nameIDs(unknown))
	}
	if s.OnUnknownMembers != nil {
		s.OnUnknownMembers(group, unknown)
	}
	skip := make(map[string]bool, len(unknown))
	for _, id := range unknown {
		skip[id] = true
	}
	return slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return skip[id] }), nil
}

// unknownMembers returns the ids that are no visible (managed, not DELETEd) user.
// Deprovisioned users (active=false) are valid members. The cost is the members',
// not the directory's: one link store round trip with a trusted link index, else a
// lookup each, or one listing of the managed users when the adapter pages them and
// that is cheaper.
func (s *Service) unknownMembers(ctx context.Context, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	known, ok, err := s.indexedVisible(ctx, ids)
	if !ok && err == nil {
		known, ok, err = s.managedSet(ctx, len(ids))
	}
	if err != nil {
		return nil, err
	}
	var unknown []string
	if ok {
		for _, id := range ids {
			if !known[id] {
				unknown = append(unknown, id)
			}
		}
	} else {
		var mu sync.Mutex
		errs := adapters.Parallel(ctx, len(ids), adapters.MemberConcurrency, func(ctx context.Context, i int) error {
			r, cached, found, err := s.getRecordCached(ctx, ids[i])
			switch {
			case err != nil:
				return err
			case !found || !visible(r):
				mu.Lock()
				unknown = append(unknown, ids[i])
				mu.Unlock()
			default:
				s.rememberChanged(ctx, r, cached)
			}
			return nil
		})
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
	}
	sort.Strings(unknown)
	return unknown, nil
}

// protectedMembers returns which of ids are accounts SCIM must leave alone (an
// administrator of the application, an account the protect option names): a group
// write never adds or removes them. They are reported to OnRefused. The cost is one
// read per member changed (answered once per request through the memo).
func (s *Service) protectedMembers(ctx context.Context, group string, ids []string) (map[string]bool, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var mu sync.Mutex
	prot := map[string]bool{}
	errs := adapters.Parallel(ctx, len(ids), adapters.MemberConcurrency, func(ctx context.Context, i int) error {
		r, found, err := s.getRecord(ctx, ids[i])
		if err != nil || !found {
			return err
		}
		if why := s.protected(r); why != "" {
			s.refused("groups.members", r, why+"; group "+group+" membership left as it is")
			mu.Lock()
			prot[ids[i]] = true
			mu.Unlock()
		}
		return nil
	})
	return prot, errors.Join(errs...)
}

// indexedVisible asks a trusted link index which ids are visible users. An id it
// holds whose account was since removed upstream by hand is then taken for a member;
// the adapter's write reports it as a member it could not apply.
func (s *Service) indexedVisible(ctx context.Context, ids []string) (map[string]bool, bool, error) {
	ix, isIndex := s.Links.(links.Index)
	if !isIndex {
		return nil, false, nil
	}
	known, ok, err := ix.Visible(ctx, ids)
	s.storeErr(err)
	return known, ok && err == nil, nil
}

// managedSet lists the managed users when that likely costs fewer upstream calls
// than n point lookups; ok=false means "look them up one by one". The first page
// tells the total, so a large upstream costs one call before falling back; an
// adapter whose listing scans the directory is never listed.
func (s *Service) managedSet(ctx context.Context, n int) (map[string]bool, bool, error) {
	info := s.Adapter.Info()
	size := info.MaxPageSize
	if size <= 0 {
		size = 100
	}
	if n <= size/2 || info.ListScans {
		return nil, false, nil
	}
	known, ok, first := map[string]bool{}, true, true
	err := pages(ctx, size, s.listUsers, func(recs []adapters.Record, total int) bool {
		if first && (total+size-1)/size > n/2 {
			ok = false
			return false
		}
		first = false
		for _, r := range recs {
			if visible(r) {
				known[r.User.ID] = true
			}
		}
		return true
	})
	return known, ok && err == nil, err
}

// checkUnique answers 409 when another managed group than selfID has displayName
// (case-insensitively) or externalID; an empty value is not checked.
func (s *Service) checkUnique(ctx context.Context, ga adapters.GroupAdapter, selfID, displayName, externalID string) error {
	holders := func(q adapters.Lookup) func(context.Context) ([]string, error) {
		return func(ctx context.Context) ([]string, error) {
			gs, err := s.findGroupsVia(ctx, ga, q, false)
			var ids []string
			for _, g := range gs {
				if q.MatchesGroup(g) {
					ids = append(ids, g.ID)
				}
			}
			return ids, err
		}
	}
	return unique(ctx, "group", selfID, []claim{
		{"displayName", displayName, holders(adapters.Lookup{Kind: adapters.ByDisplayName, Value: displayName})},
		{"externalId", externalID, holders(adapters.Lookup{Kind: adapters.ByExternalID, Value: externalID})},
	})
}

// CreateGroup applies POST /Groups: the group is created, then its members are
// added. If the members cannot all be added the new group is removed again, so
// that the IdP's retry of the POST starts from a clean state instead of a 409.
func (s *Service) CreateGroup(ctx context.Context, g *scim.Group) (_ *scim.Group, err error) {
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
	ctx = adapters.WithMemo(ctx) // the member checks read each user once
	ids := memberIDs(g.Members)
	prot, err := s.protectedMembers(ctx, g.DisplayName, ids)
	if err != nil {
		return nil, err
	}
	ids, err = s.knownMembers(ctx, g.DisplayName, slices.DeleteFunc(ids, func(id string) bool { return prot[id] }))
	if err != nil {
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
			if derr := ga.DeleteGroup(context.WithoutCancel(ctx), created.ID); derr != nil && !adapters.Is(derr, adapters.NotFound) {
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
func (s *Service) ReplaceGroup(ctx context.Context, id string, g *scim.Group, ifMatch string) (_ *scim.Group, err error) {
	if err := normalizeGroup(g); err != nil {
		return nil, err
	}
	return s.modifyGroup(ctx, id, ifMatch, func(*scim.Group) (*scim.Group, error) { return g, nil })
}

// PatchGroup applies PATCH /Groups/{id}: the operations run on the rendered current
// group (members included), and the difference to it is applied as deltas.
func (s *Service) PatchGroup(ctx context.Context, id string, ops []scim.PatchOp, ifMatch string, opt scim.RenderOptions) (*scim.Group, error) {
	return s.modifyGroup(ctx, id, ifMatch, func(cur *scim.Group) (*scim.Group, error) {
		g, err := patched(cur, ops, scim.GroupResourceType,
			func(g *scim.Group) scim.Resource { return scim.GroupToResource(g, opt) }, scim.GroupFromResource)
		if err != nil {
			return nil, err
		}
		return g, normalizeGroup(g)
	})
}

// modifyGroup is PUT's and PATCH's change of a group (writeLocked): next turns the
// current group into the desired one.
func (s *Service) modifyGroup(ctx context.Context, id, ifMatch string, next func(cur *scim.Group) (*scim.Group, error)) (*scim.Group, error) {
	if _, err := s.groupAdapter(); err != nil {
		return nil, err
	}
	return writeLocked(ctx, s, "group:"+id, ifMatch, s.groupToWrite(id, true), func(ctx context.Context, cur *scim.Group) (*scim.Group, error) {
		g, err := next(cur)
		if err != nil {
			return nil, err
		}
		g.ID = id
		return s.writeGroup(ctx, cur, g)
	})
}

// groupToWrite reads managed group id for a write (writeLocked).
func (s *Service) groupToWrite(id string, withMembers bool) func(context.Context) (*scim.Group, string, error) {
	return func(ctx context.Context) (*scim.Group, string, error) {
		cur, err := s.GetGroup(ctx, id, withMembers)
		if err != nil {
			return nil, "", err
		}
		return cur, cur.Meta.Version, nil
	}
}

// writeGroup turns cur into next: validation first (unknown members, uniqueness),
// then attributes, then removals and additions.
func (s *Service) writeGroup(ctx context.Context, cur, next *scim.Group) (*scim.Group, error) {
	ga := s.Groups
	add, remove := diffMembers(memberIDs(cur.Members), memberIDs(next.Members))
	prot, err := s.protectedMembers(ctx, cur.ID, append(slices.Clone(add), remove...))
	if err != nil {
		return nil, err
	}
	if len(prot) > 0 { // they stay as they are: skipped adds are not members, kept removals are
		next.Members = slices.DeleteFunc(next.Members, func(m scim.Member) bool { return prot[m.Value] && slices.Contains(add, m.Value) })
		for _, id := range remove {
			if prot[id] {
				next.Members = append(next.Members, scim.Member{Value: id, Type: "User"})
			}
		}
		add = slices.DeleteFunc(add, func(id string) bool { return prot[id] })
		remove = slices.DeleteFunc(remove, func(id string) bool { return prot[id] })
	}
	known, err := s.knownMembers(ctx, cur.ID, add)
	if err != nil {
		return nil, err
	}
	if len(known) < len(add) { // skipped members are not in the answer either
		next.Members = slices.DeleteFunc(next.Members, func(m scim.Member) bool {
			return slices.Contains(add, m.Value) && !slices.Contains(known, m.Value)
		})
		add = known
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

// DeleteGroup removes a managed group.
func (s *Service) DeleteGroup(ctx context.Context, id, ifMatch string) error {
	ga, err := s.groupAdapter()
	if err != nil {
		return err
	}
	_, err = writeLocked(ctx, s, "group:"+id, ifMatch, s.groupToWrite(id, false), func(ctx context.Context, _ *scim.Group) (struct{}, error) {
		if err := ga.DeleteGroup(ctx, id); err != nil && !adapters.Is(err, adapters.NotFound) {
			return struct{}{}, err
		}
		s.forgetGroup(ctx, id)
		return struct{}{}, nil
	})
	return err
}

// UserGroups returns the managed groups a user is a direct member of, for the
// user's read-only groups attribute; nil without group support.
func (s *Service) UserGroups(ctx context.Context, userID string) (_ []scim.GroupRef, err error) {
	if s.Groups == nil {
		return nil, nil
	}
	refs, err := s.Groups.UserGroups(ctx, userID)
	if adapters.Is(err, adapters.NotFound) {
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
	slices.SortStableFunc(refs, func(a, b scim.GroupRef) int { return adapters.CompareIDs(a.Value, b.Value) })
	return refs, nil
}
