package provision

import (
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/adaptertest"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// groupFixture is a service with users u1…u5 (u4 deprovisioned, u5 SCIM-DELETEd)
// and a group "Eng" with u1 and u2.
func groupFixture(t *testing.T) (*Service, *adaptertest.Memory, []string, string) {
	t.Helper()
	fg := newMemory()
	s := newService(fg)
	s.Groups = fg
	var ids []string
	for i := 1; i <= 5; i++ {
		r, err := s.CreateUser(ctx, user("u"+strconv.Itoa(i), "ext"+strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.User.ID)
	}
	if _, err := s.PatchUser(ctx, ids[3], mustPatch(t, scim.UserResourceType, `{"op":"replace","value":{"active":false}}`), "", scim.RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, ids[4], ""); err != nil {
		t.Fatal(err)
	}
	g, err := s.CreateGroup(ctx, &scim.Group{DisplayName: "Eng", Members: []scim.Member{{Value: ids[0]}, {Value: ids[1]}}})
	if err != nil {
		t.Fatal(err)
	}
	fg.ResetLog()
	return s, fg, ids, g.ID
}

func mustPatch(t *testing.T, rt *scim.ResourceType, ops ...string) []scim.PatchOp {
	t.Helper()
	ops2, err := scim.ParsePatch([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[`+strings.Join(ops, ",")+`]}`), rt)
	if err != nil {
		t.Fatal(err)
	}
	return ops2
}

// Every PATCH form the IdPs send, and the deltas it must cause. u1, u2 are members;
// u3 is not; u4 is deprovisioned (a valid member).
func TestGroupPatchForms(t *testing.T) {
	cases := []struct {
		name        string
		ops         func(u []string, gid string) []string
		members     []int // indexes into u, after
		adds, rms   []int
		displayName string
		updates     int
	}{
		{name: "okta remove by filter + add",
			ops: func(u []string, _ string) []string {
				return []string{`{"op":"remove","path":"members[value eq \"` + u[0] + `\"]"}`,
					`{"op":"add","path":"members","value":[{"value":"` + u[2] + `","display":"u3"}]}`}
			},
			members: []int{1, 2}, adds: []int{2}, rms: []int{0}},
		{name: "okta rename with id in the pathless value leaves members alone",
			ops: func(u []string, gid string) []string {
				return []string{`{"op":"replace","value":{"id":"` + gid + `","displayName":"Eng 2"}}`}
			},
			members: []int{0, 1}, displayName: "Eng 2", updates: 1},
		{name: "entra Add with several values",
			ops: func(u []string, _ string) []string {
				return []string{`{"op":"Add","path":"members","value":[{"$ref":null,"value":"` + u[2] + `"},{"value":"` + u[3] + `"}]}`}
			},
			members: []int{0, 1, 2, 3}, adds: []int{2, 3}},
		{name: "entra Remove with a value list removes only those",
			ops: func(u []string, _ string) []string {
				return []string{`{"op":"Remove","path":"members","value":[{"value":"` + u[1] + `"}]}`}
			},
			members: []int{0}, rms: []int{1}},
		{name: "remove members without value empties",
			ops:     func(u []string, _ string) []string { return []string{`{"op":"remove","path":"members"}`} },
			members: nil, rms: []int{0, 1}},
		{name: "replace members with a full list",
			ops: func(u []string, _ string) []string {
				return []string{`{"op":"replace","path":"members","value":[{"value":"` + u[1] + `"},{"value":"` + u[2] + `"}]}`}
			},
			members: []int{1, 2}, adds: []int{2}, rms: []int{0}},
		{name: "replace members [] (Okta push now) empties",
			ops:     func(u []string, _ string) []string { return []string{`{"op":"replace","path":"members","value":[]}`} },
			members: nil, rms: []int{0, 1}},
		{name: "plain string member value",
			ops: func(u []string, _ string) []string {
				return []string{`{"op":"add","path":"members","value":"` + u[2] + `"}`}
			},
			members: []int{0, 1, 2}, adds: []int{2}},
		{name: "replace displayName",
			ops: func(u []string, _ string) []string {
				return []string{`{"op":"replace","path":"displayName","value":"Platform"}`}
			},
			members: []int{0, 1}, displayName: "Platform", updates: 1},
		{name: "replace externalId",
			ops: func(u []string, _ string) []string {
				return []string{`{"op":"replace","path":"externalId","value":"x-1"}`}
			},
			members: []int{0, 1}, updates: 1},
		// reliability-facts §5: langwatch#7131, a replace without displayName emptied the group
		{name: "pathless replace without displayName keeps members",
			ops:     func(u []string, _ string) []string { return []string{`{"op":"replace","value":{"externalId":"x-2"}}`} },
			members: []int{0, 1}, updates: 1},
		// agent-bom#3533: add replaced the list
		{name: "add appends, never replaces",
			ops: func(u []string, _ string) []string {
				return []string{`{"op":"add","path":"members","value":[{"value":"` + u[2] + `"}]}`}
			},
			members: []int{0, 1, 2}, adds: []int{2}},
		// agent-bom#3533: a filtered remove cleared everyone
		{name: "filtered remove of a non-member is a no-op",
			ops: func(u []string, _ string) []string {
				return []string{`{"op":"remove","path":"members[value eq \"` + u[2] + `\"]"}`}
			},
			members: []int{0, 1}},
		{name: "keycloak replace members, displayName, externalId",
			ops: func(u []string, _ string) []string {
				return []string{`{"op":"replace","path":"members","value":[{"value":"` + u[0] + `"}]}`,
					`{"op":"replace","path":"displayName","value":"KC"}`, `{"op":"replace","path":"externalId","value":"kc"}`}
			},
			members: []int{0}, rms: []int{1}, displayName: "KC", updates: 1},
		{name: "adding an existing member changes nothing upstream",
			ops: func(u []string, _ string) []string {
				return []string{`{"op":"add","path":"members","value":[{"value":"` + u[0] + `"}]}`}
			},
			members: []int{0, 1}},
	}
	pick := func(u []string, idx []int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, u[i])
		}
		sort.Strings(out)
		return out
	}
	flat := func(l [][]string) []string {
		var out []string
		for _, x := range l {
			out = append(out, x...)
		}
		sort.Strings(out)
		return out
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, fg, u, gid := groupFixture(t)
			g, err := s.PatchGroup(ctx, gid, mustPatch(t, scim.GroupResourceType, tc.ops(u, gid)...), "", scim.RenderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := fg.Members(gid), pick(u, tc.members); !slices.Equal(got, want) {
				t.Fatalf("members %v, want %v", got, want)
			}
			l := fg.Log()
			if got, want := flat(l.Adds), pick(u, tc.adds); !slices.Equal(got, want) {
				t.Errorf("added %v, want %v", got, want)
			}
			if got, want := flat(l.Removes), pick(u, tc.rms); !slices.Equal(got, want) {
				t.Errorf("removed %v, want %v", got, want)
			}
			if l.GroupUpdates != tc.updates {
				t.Errorf("%d UpdateGroup calls, want %d", l.GroupUpdates, tc.updates)
			}
			want := tc.displayName
			if want == "" {
				want = "Eng"
			}
			if g.DisplayName != want || len(g.Members) != len(tc.members) {
				t.Errorf("answer %+v", g)
			}
		})
	}
}

// With unknown_members reject, a write naming a member that is no SCIM user is
// refused whole.
func TestGroupUnknownMembersNothingApplied(t *testing.T) {
	s, fg, u, gid := groupFixture(t)
	s.UnknownMembers = UnknownMembersReject
	for _, ops := range [][]string{
		{`{"op":"remove","path":"members[value eq \"` + u[0] + `\"]"}`, `{"op":"add","path":"members","value":[{"value":"` + u[2] + `"},{"value":"nobody"}]}`},
		{`{"op":"add","path":"members","value":[{"value":"` + u[4] + `"}]}`}, // SCIM-DELETEd
		{`{"op":"replace","path":"displayName","value":"New"}`, `{"op":"add","path":"members","value":[{"value":"404"}]}`},
	} {
		_, err := s.PatchGroup(ctx, gid, mustPatch(t, scim.GroupResourceType, ops...), "", scim.RenderOptions{})
		if status(t, err) != 400 || !strings.Contains(err.Error(), "no such User") {
			t.Fatalf("err %v", err)
		}
		if l := fg.Log(); len(l.Adds)+len(l.Removes)+l.GroupUpdates != 0 {
			t.Fatalf("something was applied: %v %v %d", l.Adds, l.Removes, l.GroupUpdates)
		}
	}
	if !slices.Equal(fg.Members(gid), []string{u[0], u[1]}) {
		t.Fatal("members changed")
	}
	// POST with an unknown member creates nothing
	_, err := s.CreateGroup(ctx, &scim.Group{DisplayName: "X", Members: []scim.Member{{Value: u[0]}, {Value: "zzz"}}})
	if status(t, err) != 400 || !strings.Contains(err.Error(), `"zzz"`) {
		t.Fatalf("POST err %v", err)
	}
	if len(fg.GroupIDs()) != 1 {
		t.Fatal("group created despite 400")
	}
	// a deprovisioned (active=false) user is a valid member
	if _, err := s.PatchGroup(ctx, gid, mustPatch(t, scim.GroupResourceType, `{"op":"add","path":"members","value":[{"value":"`+u[3]+`"}]}`), "", scim.RenderOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestGroupUniqueness(t *testing.T) {
	s, _, _, gid := groupFixture(t)
	if _, err := s.CreateGroup(ctx, &scim.Group{DisplayName: "eNG"}); status(t, err) != 409 {
		t.Fatalf("duplicate POST: %v", err)
	}
	other, err := s.CreateGroup(ctx, &scim.Group{DisplayName: "Ops", ExternalID: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PatchGroup(ctx, other.ID, mustPatch(t, scim.GroupResourceType, `{"op":"replace","path":"displayName","value":"ENG"}`), "", scim.RenderOptions{}); status(t, err) != 409 {
		t.Fatalf("rename onto another group: %v", err)
	}
	if _, err := s.CreateGroup(ctx, &scim.Group{DisplayName: "Other", ExternalID: "ops"}); status(t, err) != 409 {
		t.Fatalf("duplicate externalId: %v", err)
	}
	// a case-only rename of itself is fine
	if _, err := s.PatchGroup(ctx, gid, mustPatch(t, scim.GroupResourceType, `{"op":"replace","path":"displayName","value":"ENG"}`), "", scim.RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateGroup(ctx, &scim.Group{DisplayName: "  "}); status(t, err) != 400 {
		t.Fatalf("empty displayName: %v", err)
	}
}

// fleetdm#50724: concurrent PATCHes adding different members must all survive.
func TestGroupConcurrentPatchesKeepAllMembers(t *testing.T) {
	s, fg, u, gid := groupFixture(t)
	fg.SetDelay(5 * time.Millisecond)
	var wg sync.WaitGroup
	for _, id := range []string{u[2], u[3]} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.PatchGroup(ctx, gid, mustPatch(t, scim.GroupResourceType, `{"op":"add","path":"members","value":[{"value":"`+id+`"}]}`), "", scim.RenderOptions{}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := fg.Members(gid); len(got) != 4 {
		t.Fatalf("members %v", got)
	}
	// no membership write is ever a full list: every add is one member here
	for _, a := range fg.Log().Adds {
		if len(a) != 1 {
			t.Fatalf("add of %v", a)
		}
	}
}

// A member the upstream refuses is named in a 502 and the others are applied; an
// upstream unavailable during a member change is a 503 with its Retry-After (a
// failure that is not about one member fails the whole change, adapters.EachMember);
// the retry completes the change.
func TestGroupPartialFailureAndRetry(t *testing.T) {
	s, fg, u, gid := groupFixture(t)
	ops := mustPatch(t, scim.GroupResourceType, `{"op":"add","path":"members","value":[{"value":"`+u[2]+`"},{"value":"`+u[3]+`"}]}`)
	fg.FailMembers(map[string]error{u[3]: adapters.RefusedBecause("gitea refused the member")})
	_, err := s.PatchGroup(ctx, gid, ops, "", scim.RenderOptions{})
	var se *scim.Error
	if !errors.As(err, &se) || se.Status != 502 || !strings.Contains(se.Detail, `"`+u[3]+`"`) || strings.Contains(se.Detail, `"`+u[2]+`"`) {
		t.Fatalf("err %#v", err)
	}
	if got := fg.Members(gid); !slices.Equal(got, []string{u[0], u[1], u[2]}) {
		t.Fatalf("members %v", got)
	}
	fg.FailMembers(map[string]error{u[3]: adapters.UnavailableFor(7, "gitea answered 502")})
	_, err = s.PatchGroup(ctx, gid, ops, "", scim.RenderOptions{})
	if !errors.As(err, &se) || se.Status != 503 || se.RetryAfter != 7 {
		t.Fatalf("err %#v", err)
	}
	if got := fg.Members(gid); !slices.Equal(got, []string{u[0], u[1], u[2]}) {
		t.Fatalf("members %v", got)
	}
	fg.FailMembers(nil)
	if _, err := s.PatchGroup(ctx, gid, ops, "", scim.RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := fg.Members(gid); len(got) != 4 {
		t.Fatalf("members after retry %v", got)
	}
	// a permanent refusal is a 502; the POST of a group whose members fail leaves no group
	fg.FailMembers(map[string]error{u[2]: adapters.RefusedBecause("refused")})
	_, err = s.CreateGroup(ctx, &scim.Group{DisplayName: "New", Members: []scim.Member{{Value: u[2]}}})
	if status(t, err) != 502 {
		t.Fatalf("err %v", err)
	}
	if len(fg.GroupIDs()) != 1 {
		t.Fatal("half-created group left behind")
	}
}

func TestGroupQueriesAndMembersFlag(t *testing.T) {
	s, fg, u, gid := groupFixture(t)
	render := func(g *scim.Group) scim.Resource { return scim.GroupToResource(g, scim.RenderOptions{}) }
	q := func(f string, withMembers bool) []*scim.Group {
		t.Helper()
		var e scim.Expr
		if f != "" {
			var err error
			if e, err = scim.ParseFilter(f, scim.GroupResourceType); err != nil {
				t.Fatal(err)
			}
		}
		fg.ResetLog()
		gs, err := s.QueryGroups(ctx, e, withMembers, render)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range fg.Log().WithMembers {
			if w != withMembers {
				t.Fatalf("adapter asked withMembers=%v", w)
			}
		}
		return gs
	}
	if gs := q(`displayName eq "ENG"`, false); len(gs) != 1 || gs[0].ID != gid || gs[0].Members != nil {
		t.Fatalf("displayName filter: %+v", gs)
	}
	if gs := q(`members[value eq "`+u[1]+`"]`, true); len(gs) != 1 {
		t.Fatalf("members filter: %+v", gs)
	}
	if gs := q(`members[value eq "`+u[2]+`"]`, true); len(gs) != 0 {
		t.Fatalf("members filter for a non-member: %+v", gs)
	}
	if gs := q(`id eq "`+gid+`"`, false); len(gs) != 1 {
		t.Fatal("id filter")
	}
	if gs := q(`externalId eq "nope"`, false); len(gs) != 0 {
		t.Fatal("externalId filter")
	}
	if gs := q("", false); len(gs) != 1 {
		t.Fatal("list")
	}
	refs, err := s.UserGroups(ctx, u[0])
	if err != nil || len(refs) != 1 || refs[0].Value != gid || refs[0].Type != "direct" {
		t.Fatalf("UserGroups %v %v", refs, err)
	}
	if err := s.DeleteGroup(ctx, gid, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetGroup(ctx, gid, false); status(t, err) != 404 {
		t.Fatalf("after delete: %v", err)
	}
}

// TestGroupUnknownMembersSkipped (#11, nothing silently lost): by default one
// unknown member no longer fails the whole group write: the known members are
// applied, the unknown ones skipped and reported with their ids, and the answer
// succeeds without them.
func TestGroupUnknownMembersSkipped(t *testing.T) {
	s, fg, u, gid := groupFixture(t)
	var reported [][]string
	s.OnUnknownMembers = func(_ string, ids []string) { reported = append(reported, ids) }
	g, err := s.PatchGroup(ctx, gid, mustPatch(t, scim.GroupResourceType,
		`{"op":"add","path":"members","value":[{"value":"`+u[2]+`"},{"value":"nobody"},{"value":"`+u[4]+`"}]}`), "", scim.RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fg.Members(gid), []string{u[0], u[1], u[2]}) {
		t.Errorf("members %v", fg.Members(gid))
	}
	for _, m := range g.Members {
		if m.Value == "nobody" || m.Value == u[4] {
			t.Errorf("the answer lists a skipped member %s", m.Value)
		}
	}
	created, err := s.CreateGroup(ctx, &scim.Group{DisplayName: "Mixed", Members: []scim.Member{{Value: u[0]}, {Value: "zzz"}}})
	if err != nil || !slices.Equal(fg.Members(created.ID), []string{u[0]}) || len(created.Members) != 1 {
		t.Fatalf("POST with an unknown member: %v %+v", err, created)
	}
	want := [][]string{{u[4], "nobody"}, {"zzz"}} // sorted
	if len(reported) != 2 || !slices.Equal(reported[0], want[0]) || !slices.Equal(reported[1], want[1]) {
		t.Errorf("reported %v, want %v", reported, want)
	}
}
