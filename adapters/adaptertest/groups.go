package adaptertest

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapters"
)

// GroupHarness is what the group suite needs from an adapter package.
type GroupHarness struct {
	// Adapter is a provisioned adapter with groups enabled. Required.
	Adapter adapters.GroupAdapter
	// Users creates the member users, through the same adapter's user side.
	// Required.
	Users adapters.UserAdapter
	// Timeout bounds each adapter call. Default: 30s.
	Timeout time.Duration
}

// RunGroups runs the group conformance cases as subtests of t. Like Run, every
// case makes its own groups and users with names unique per run.
func RunGroups(t *testing.T, h GroupHarness) {
	t.Helper()
	if h.Adapter == nil || h.Users == nil {
		t.Fatal("adaptertest: GroupHarness.Adapter and GroupHarness.Users are required")
	}
	if h.Timeout <= 0 {
		h.Timeout = 30 * time.Second
	}
	s := &groupSuite{h: h, a: h.Adapter}
	subtests{
		{"Info", s.info},
		{"Lifecycle", s.lifecycle},
		{"ListPaging", s.listPaging},
		{"UnknownMember", s.unknownMember},
		{"UnknownGroup", s.unknownGroup},
		{"Misses", s.misses},
	}.run(t)
}

type groupSuite struct {
	h GroupHarness
	a adapters.GroupAdapter
}

func (s *groupSuite) ctx(t *testing.T) context.Context { return callCtx(t, s.h.Timeout) }

// newGroup has a displayName with spaces and capitals and a mixed-case
// externalId, both unique per run.
func newGroup(prefix string) *adapters.Group {
	n := randHex(4)
	return &adapters.Group{
		DisplayName: prefix + " Team " + strings.ToUpper(n[:4]) + n[4:],
		ExternalID:  "ext-grp-" + n + "-AbC",
	}
}

func (s *groupSuite) create(t *testing.T, g *adapters.Group) *adapters.Group {
	t.Helper()
	got, err := s.a.CreateGroup(s.ctx(t), g)
	if err != nil {
		t.Fatalf("CreateGroup(%q): %v", g.DisplayName, err)
	}
	if got == nil || got.ID == "" {
		t.Fatalf("CreateGroup(%q): no id: %+v", g.DisplayName, got)
	}
	return got
}

func (s *groupSuite) user(t *testing.T) string {
	t.Helper()
	u := newUser("ctgm")
	rec, err := s.h.Users.CreateUser(s.ctx(t), u)
	if err != nil {
		t.Fatalf("CreateUser(%q): %v", u.UserName, err)
	}
	return rec.User.ID
}

func (s *groupSuite) find(t *testing.T, q adapters.Lookup, withMembers bool) []*adapters.Group {
	t.Helper()
	gs, err := s.a.FindGroups(s.ctx(t), q, withMembers)
	if err != nil {
		t.Fatalf("FindGroups(%s %q): %v", groupKind(q.Kind), q.Value, err)
	}
	for _, g := range gs {
		if g == nil {
			t.Fatalf("FindGroups(%s %q): a nil group", groupKind(q.Kind), q.Value)
		}
	}
	return gs
}

func (s *groupSuite) mustFind(t *testing.T, q adapters.Lookup, id string, withMembers bool) *adapters.Group {
	t.Helper()
	gs := s.find(t, q, withMembers)
	for _, g := range gs {
		if g.ID == id {
			return g
		}
	}
	t.Fatalf("FindGroups(%s %q) = %s; want group %s among them", groupKind(q.Kind), q.Value, groupIDs(gs), id)
	return nil
}

func (s *groupSuite) mustNotFind(t *testing.T, q adapters.Lookup, id string) {
	t.Helper()
	for _, g := range s.find(t, q, false) {
		if g.ID == id {
			t.Fatalf("FindGroups(%s %q) returned group %s; want it absent", groupKind(q.Kind), q.Value, id)
		}
	}
}

// members reads group id's members back, sorted.
func (s *groupSuite) members(t *testing.T, id string) []string {
	t.Helper()
	g := s.mustFind(t, adapters.Lookup{Kind: adapters.ByID, Value: id}, id, true)
	return memberValues(g)
}

func memberValues(g *adapters.Group) []string {
	out := []string{}
	for _, m := range g.Members {
		out = append(out, m.Value)
	}
	sort.Strings(out)
	return out
}

func sorted(ids ...string) []string {
	out := append([]string{}, ids...)
	sort.Strings(out)
	return out
}

func (s *groupSuite) wantMembers(t *testing.T, what, id string, want ...string) {
	t.Helper()
	if got, w := strings.Join(s.members(t, id), " "), strings.Join(sorted(want...), " "); got != w {
		t.Fatalf("%s: members of %s = [%s], want exactly [%s]", what, id, got, w)
	}
}

func groupIDs(gs []*adapters.Group) string {
	var out []string
	for _, g := range gs {
		out = append(out, g.ID)
	}
	return "[" + strings.Join(out, " ") + "]"
}

func groupKind(k adapters.LookupKind) string {
	if k == adapters.ByDisplayName {
		return "ByDisplayName"
	}
	return kindName(k)
}

func checkGroup(t *testing.T, what string, got *adapters.Group, want *adapters.Group) {
	t.Helper()
	if got.DisplayName != want.DisplayName {
		t.Errorf("%s: displayName = %q, want %q (as sent)", what, got.DisplayName, want.DisplayName)
	}
	if got.ExternalID != want.ExternalID {
		t.Errorf("%s: externalId = %q, want %q", what, got.ExternalID, want.ExternalID)
	}
}

func (s *groupSuite) info(t *testing.T) {
	ua, ok := s.a.(adapters.UserAdapter)
	if !ok {
		t.Skip("the group adapter is not a UserAdapter")
	}
	in := ua.Info()
	have := map[string]bool{}
	for _, a := range in.GroupAttributes {
		have[a] = true
	}
	for _, a := range []string{"displayName", "members"} {
		if !have[a] {
			t.Errorf("Info().GroupAttributes lacks %q: %v", a, in.GroupAttributes)
		}
	}
}

// lifecycle walks one group through create, lookups, rename, membership,
// UserGroups and delete, in the order an IdP would.
func (s *groupSuite) lifecycle(t *testing.T) {
	want := newGroup("CT Life")
	g := s.create(t, want)
	id := g.ID
	checkGroup(t, "CreateGroup result", g, want)
	if len(g.Members) != 0 {
		t.Errorf("CreateGroup result has members %v; create adds none", memberValues(g))
	}

	// Lookups: id, externalId exactly, displayName in any case.
	checkGroup(t, "FindGroups(ByID)", s.mustFind(t, adapters.Lookup{Kind: adapters.ByID, Value: id}, id, false), want)
	s.mustFind(t, adapters.Lookup{Kind: adapters.ByExternalID, Value: want.ExternalID}, id, false)
	s.mustNotFind(t, adapters.Lookup{Kind: adapters.ByExternalID, Value: swapCase(want.ExternalID)}, id)
	for _, dn := range []string{want.DisplayName, strings.ToLower(want.DisplayName), strings.ToUpper(want.DisplayName)} {
		checkGroup(t, "FindGroups(ByDisplayName "+dn+")", s.mustFind(t, adapters.Lookup{Kind: adapters.ByDisplayName, Value: dn}, id, false), want)
	}

	// Rename (and a new externalId): the new values are found, the old are not.
	ren := newGroup("CT Renamed")
	ren.ID = id
	got, err := s.a.UpdateGroup(s.ctx(t), id, ren)
	if err != nil {
		t.Fatalf("UpdateGroup(%s): %v", id, err)
	}
	if got.ID != id {
		t.Fatalf("UpdateGroup changed the id: %s → %s", id, got.ID)
	}
	checkGroup(t, "UpdateGroup result", got, ren)
	checkGroup(t, "FindGroups(ByID) after rename", s.mustFind(t, adapters.Lookup{Kind: adapters.ByID, Value: id}, id, false), ren)
	s.mustFind(t, adapters.Lookup{Kind: adapters.ByDisplayName, Value: strings.ToLower(ren.DisplayName)}, id, false)
	s.mustFind(t, adapters.Lookup{Kind: adapters.ByExternalID, Value: ren.ExternalID}, id, false)
	s.mustNotFind(t, adapters.Lookup{Kind: adapters.ByDisplayName, Value: want.DisplayName}, id)
	s.mustNotFind(t, adapters.Lookup{Kind: adapters.ByExternalID, Value: want.ExternalID}, id)

	// Membership.
	u1, u2, u3 := s.user(t), s.user(t), s.user(t)
	if err := s.a.AddMembers(s.ctx(t), id, []string{u1, u2, u3}); err != nil {
		t.Fatalf("AddMembers(3 users): %v", err)
	}
	s.wantMembers(t, "after AddMembers", id, u1, u2, u3)
	if err := s.a.AddMembers(s.ctx(t), id, []string{u1, u2, u3}); err != nil {
		t.Fatalf("AddMembers again (idempotent): %v", err)
	}
	s.wantMembers(t, "after a repeated AddMembers", id, u1, u2, u3)
	if err := s.a.RemoveMembers(s.ctx(t), id, []string{u2}); err != nil {
		t.Fatalf("RemoveMembers(%s): %v", u2, err)
	}
	if err := s.a.RemoveMembers(s.ctx(t), id, []string{u2}); err != nil {
		t.Fatalf("RemoveMembers(%s) again (idempotent): %v", u2, err)
	}
	s.wantMembers(t, "after RemoveMembers", id, u1, u3)

	// withMembers=false leaves members out.
	for _, q := range []adapters.Lookup{
		{Kind: adapters.ByID, Value: id},
		{Kind: adapters.ByDisplayName, Value: ren.DisplayName},
		{Kind: adapters.ByExternalID, Value: ren.ExternalID},
	} {
		if g := s.mustFind(t, q, id, false); len(g.Members) != 0 {
			t.Errorf("FindGroups(%s, withMembers=false) has members %v", groupKind(q.Kind), memberValues(g))
		}
	}
	// …and withMembers=true on the other lookups reads them too.
	if g := s.mustFind(t, adapters.Lookup{Kind: adapters.ByExternalID, Value: ren.ExternalID}, id, true); strings.Join(memberValues(g), " ") != strings.Join(sorted(u1, u3), " ") {
		t.Errorf("FindGroups(ByExternalID, withMembers) members = %v, want %v", memberValues(g), sorted(u1, u3))
	}

	// UserGroups.
	s.wantUserGroup(t, u1, id, ren.DisplayName, true)
	s.wantUserGroup(t, u2, id, "", false)

	// Delete.
	if err := s.a.DeleteGroup(s.ctx(t), id); err != nil {
		t.Fatalf("DeleteGroup(%s): %v", id, err)
	}
	if gs := s.find(t, adapters.Lookup{Kind: adapters.ByID, Value: id}, false); len(gs) != 0 {
		t.Errorf("FindGroups(ByID) after DeleteGroup = %s, want none", groupIDs(gs))
	}
	s.mustNotFind(t, adapters.Lookup{Kind: adapters.ByExternalID, Value: ren.ExternalID}, id)
	s.mustNotFind(t, adapters.Lookup{Kind: adapters.ByDisplayName, Value: ren.DisplayName}, id)
	s.wantUserGroup(t, u1, id, "", false)
	if err := s.a.DeleteGroup(s.ctx(t), id); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("second DeleteGroup(%s): %v; want adapters.ErrNotFound", id, err)
	}
}

func (s *groupSuite) wantUserGroup(t *testing.T, user, group, display string, in bool) {
	t.Helper()
	refs, err := s.a.UserGroups(s.ctx(t), user)
	if err != nil {
		t.Fatalf("UserGroups(%s): %v", user, err)
	}
	for _, r := range refs {
		if r.Value != group {
			continue
		}
		if !in {
			t.Fatalf("UserGroups(%s) lists group %s; want it absent", user, group)
		}
		if r.Display != "" && r.Display != display {
			t.Errorf("UserGroups(%s): group %s display %q, want %q", user, group, r.Display, display)
		}
		return
	}
	if in {
		t.Fatalf("UserGroups(%s) = %+v; want group %s among them", user, refs, group)
	}
}

// listAll walks ListGroups with pages of size, checking order and totals.
func (s *groupSuite) listAll(t *testing.T, size int, withMembers bool) []*adapters.Group {
	t.Helper()
	all := walkPages(t, "ListGroups", "groups", size, func(p adapters.Page) ([]*adapters.Group, int, error) {
		return s.a.ListGroups(s.ctx(t), p, withMembers)
	})
	seen := map[string]bool{}
	for i, g := range all {
		if g == nil || g.ID == "" {
			t.Fatalf("ListGroups: group %d without an id", i)
		}
		if seen[g.ID] {
			t.Fatalf("ListGroups: id %s twice", g.ID)
		}
		seen[g.ID] = true
		if i > 0 && !idLess(all[i-1].ID, g.ID) {
			t.Errorf("ListGroups: ids not ascending: %s before %s", all[i-1].ID, g.ID)
		}
		if !withMembers && len(g.Members) != 0 {
			t.Errorf("ListGroups(withMembers=false): group %s has members", g.ID)
		}
	}
	return all
}

func (s *groupSuite) listPaging(t *testing.T) {
	var made []*adapters.Group
	for i := 0; i < 3; i++ {
		made = append(made, s.create(t, newGroup("CT List")))
	}
	u := s.user(t)
	if err := s.a.AddMembers(s.ctx(t), made[1].ID, []string{u}); err != nil {
		t.Fatalf("AddMembers: %v", err)
	}

	all := s.listAll(t, 2, false)
	byID := map[string]*adapters.Group{}
	for _, g := range all {
		byID[g.ID] = g
	}
	for _, m := range made {
		g, ok := byID[m.ID]
		if !ok {
			t.Errorf("ListGroups: group %s missing", m.ID)
			continue
		}
		checkGroup(t, "ListGroups", g, m)
	}

	// With members, in the largest page the adapter serves.
	size := 100
	if ua, ok := s.a.(adapters.UserAdapter); ok && ua.Info().MaxPageSize > 0 && ua.Info().MaxPageSize < size {
		size = ua.Info().MaxPageSize
	}
	for _, g := range s.listAll(t, size, true) {
		if g.ID == made[1].ID {
			if got := memberValues(g); len(got) != 1 || got[0] != u {
				t.Errorf("ListGroups(withMembers): members of %s = %v, want [%s]", g.ID, got, u)
			}
		}
	}

	gs, total, err := s.a.ListGroups(s.ctx(t), adapters.Page{Offset: 0, Limit: 0}, false)
	if err != nil {
		t.Fatalf("ListGroups(0,0): %v", err)
	}
	if len(gs) != 0 || total != len(all) {
		t.Errorf("ListGroups(0,0) = %d groups, total %d; want 0 groups, total %d", len(gs), total, len(all))
	}
	if len(all) >= 4 {
		gs, _, err := s.a.ListGroups(s.ctx(t), adapters.Page{Offset: 1, Limit: 3}, false)
		if err != nil {
			t.Fatalf("ListGroups(1,3): %v", err)
		}
		if got, want := groupIDs(gs), groupIDs(all[1:4]); got != want {
			t.Errorf("ListGroups(1,3) = %s, want %s", got, want)
		}
	}
	gs, total, err = s.a.ListGroups(s.ctx(t), adapters.Page{Offset: len(all) + 10, Limit: 2}, false)
	if err != nil {
		t.Fatalf("ListGroups past the end: %v", err)
	}
	if len(gs) != 0 || total != len(all) {
		t.Errorf("ListGroups past the end = %d groups, total %d; want 0, %d", len(gs), total, len(all))
	}
}

func (s *groupSuite) unknownMember(t *testing.T) {
	g := s.create(t, newGroup("CT Miss"))
	u1, u2 := s.user(t), s.user(t)
	const missing = "987654321"
	err := s.a.AddMembers(s.ctx(t), g.ID, []string{u1, missing, u2})
	var me *adapters.MemberError
	if !errors.As(err, &me) {
		t.Fatalf("AddMembers with an unknown user: %v (%T); want *adapters.MemberError", err, err)
	}
	if me.Failed[missing] == nil {
		t.Errorf("MemberError.Failed = %v; want it to name %s", me.Failed, missing)
	}
	for _, ok := range []string{u1, u2} {
		if _, bad := me.Failed[ok]; bad {
			t.Errorf("MemberError.Failed names the valid user %s: %v", ok, me.Failed[ok])
		}
	}
	s.wantMembers(t, "after a partly failed AddMembers", g.ID, u1, u2)
	// Removing an unknown user is a no-op, like removing a non-member.
	if err := s.a.RemoveMembers(s.ctx(t), g.ID, []string{missing}); err != nil {
		t.Errorf("RemoveMembers of an unknown user: %v", err)
	}
	s.wantMembers(t, "after removing an unknown user", g.ID, u1, u2)
}

func (s *groupSuite) unknownGroup(t *testing.T) {
	const missing = "987654321"
	u := s.user(t)
	if gs := s.find(t, adapters.Lookup{Kind: adapters.ByID, Value: missing}, true); len(gs) != 0 {
		t.Errorf("FindGroups(ByID %s) = %s, want none", missing, groupIDs(gs))
	}
	if _, err := s.a.UpdateGroup(s.ctx(t), missing, newGroup("CT Gone")); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("UpdateGroup of a missing id: %v; want adapters.ErrNotFound", err)
	}
	if err := s.a.AddMembers(s.ctx(t), missing, []string{u}); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("AddMembers to a missing group: %v; want adapters.ErrNotFound", err)
	}
	if err := s.a.RemoveMembers(s.ctx(t), missing, []string{u}); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("RemoveMembers from a missing group: %v; want adapters.ErrNotFound", err)
	}
	if err := s.a.DeleteGroup(s.ctx(t), missing); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("DeleteGroup of a missing id: %v; want adapters.ErrNotFound", err)
	}
	if refs, err := s.a.UserGroups(s.ctx(t), u); err != nil || len(refs) != 0 {
		t.Errorf("UserGroups of a user in no group = %+v, %v; want none", refs, err)
	}
}

func (s *groupSuite) misses(t *testing.T) {
	for _, q := range []adapters.Lookup{
		{Kind: adapters.ByID, Value: "not-a-number"},
		{Kind: adapters.ByExternalID, Value: "ext-grp-" + randHex(4)},
		{Kind: adapters.ByDisplayName, Value: "CT Nobody " + randHex(4)},
		{Kind: adapters.ByDisplayName, Value: ""},
	} {
		if gs := s.find(t, q, false); len(gs) != 0 {
			t.Errorf("FindGroups(%s %q) = %s, want none", groupKind(q.Kind), q.Value, groupIDs(gs))
		}
	}
}
