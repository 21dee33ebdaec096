package adaptertest_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/adaptertest"
)

// TestMemory runs the conformance suite against the reference adapter.
func TestMemory(t *testing.T) {
	m := &adaptertest.Memory{PageSize: 3}
	admin := m.AddUnmanaged("root", "root@example.com", true)
	t.Run("Users", func(t *testing.T) {
		adaptertest.Run(t, adaptertest.Harness{
			Adapter: m,
			MakeUnmanaged: func(t *testing.T, username, email string) string {
				return m.AddUnmanaged(username, email, false)
			},
			Admin: func(t *testing.T) (string, string) { return admin, "root" },
			BlockByHand: func(t *testing.T, id string) {
				m.EditUser(id, func(r *adapters.Record) { r.User.Active = false })
			},
			Upstream: adaptertest.Upstream{
				UserExists: func(t *testing.T, id string) bool { _, ok := m.User(id); return ok },
			},
		})
	})
	t.Run("Groups", func(t *testing.T) {
		adaptertest.RunGroups(t, adaptertest.GroupHarness{Adapter: m, Users: m})
	})
}

// TestMemoryHooks checks the test hooks the unit tests rely on.
func TestMemoryHooks(t *testing.T) {
	ctx := context.Background()
	m := &adaptertest.Memory{}
	if in := m.Info(); in.Name != "memory" || in.MaxPageSize != 100 {
		t.Fatalf("Info %+v", in)
	}
	m.Seed(adapters.Record{User: &adapters.User{ID: "10", UserName: "a"}, Managed: true},
		adapters.Record{User: &adapters.User{ID: "2", UserName: "b"}, Managed: true, Deleted: true})
	rec, err := m.CreateUser(ctx, &adapters.User{UserName: "c", Password: "secret"})
	if err != nil || rec.User.ID != "11" || !rec.User.Active || rec.User.Password != "" {
		t.Fatalf("create after Seed: %+v %v", rec.User, err)
	}
	recs, total, err := m.ListUsers(ctx, adapters.Page{Limit: 10})
	if err != nil || total != 3 || recs[0].User.ID != "2" || recs[2].User.ID != "11" || !recs[0].Deleted {
		t.Fatalf("list %v %d %v", recs, total, err)
	}
	if m.Creates() != 1 || m.Calls("CreateUser") != 1 || m.UpstreamCalls() != 2 {
		t.Fatalf("counters %d %d %d", m.Creates(), m.Calls("CreateUser"), m.UpstreamCalls())
	}

	// injected failures are facts and count as calls
	m.Fail("CreateUser", adapters.UnavailableFor(7, "down"))
	if _, err := m.CreateUser(ctx, &adapters.User{UserName: "d"}); !adapters.Is(err, adapters.Unavailable) {
		t.Fatalf("injected failure: %v", err)
	}
	m.Fail("CreateUser", nil)
	if m.Creates() != 1 || m.Calls("CreateUser") != 2 {
		t.Fatal("a failed create counted as a create")
	}

	// the version follows the stored fields and the state, and only them
	v0 := rec.User.Meta.Version
	if r, _ := m.User("11"); r.User.Meta.Version != v0 {
		t.Fatal("version changed without a write")
	}
	u := *rec.User
	r, _ := m.UpdateUser(ctx, "11", &u, adapters.State{Managed: true, Deleted: true})
	if r.User.Meta.Version == v0 {
		t.Fatal("version unchanged after a state change")
	}
	if !m.EditUser("11", func(r *adapters.Record) { r.User.DisplayName = "C" }) {
		t.Fatal("EditUser")
	}
	if r2, _ := m.User("11"); r2.User.DisplayName != "C" || r2.User.Meta.Version == r.User.Meta.Version {
		t.Fatalf("EditUser: %+v", r2.User)
	}

	// member failures go through EachMember: a refusal names the member, an
	// unavailable upstream fails the whole call
	g, _ := m.CreateGroup(ctx, &adapters.Group{DisplayName: "G"})
	m.FailMembers(map[string]error{"2": adapters.RefusedBecause("no"), "10": adapters.UnavailableFor(3, "busy")})
	err = m.AddMembers(ctx, g.ID, []string{"2", "11"})
	var me *adapters.MemberError
	if !errors.As(err, &me) || len(me.Failed) != 1 || me.Failed["2"] == nil {
		t.Fatalf("refused member: %v", err)
	}
	if err := m.AddMembers(ctx, g.ID, []string{"10"}); errors.As(err, &me) || !adapters.Is(err, adapters.Unavailable) {
		t.Fatalf("unavailable member: %v", err)
	}
	m.FailMembers(nil)
	if got := m.Members(g.ID); !slices.Equal(got, []string{"11"}) {
		t.Fatalf("members %v", got)
	}
	if l := m.Log(); len(l.Adds) != 2 || l.GroupUpdates != 0 {
		t.Fatalf("log %+v", l)
	}
	m.ResetLog()
	if l := m.Log(); len(l.Adds) != 0 {
		t.Fatal("ResetLog")
	}
	_ = m.DeleteUser(ctx, "11")
	if got := m.Members(g.ID); len(got) != 0 {
		t.Fatalf("a deleted user stayed a member: %v", got)
	}
	if !m.EditGroup(g.ID, func(g *adapters.Group) { g.DisplayName = "H" }) {
		t.Fatal("EditGroup")
	}
	if gs, _ := m.FindGroups(ctx, adapters.Lookup{Kind: adapters.ByDisplayName, Value: "h"}, false); len(gs) != 1 {
		t.Fatal("EditGroup did not rename")
	}
}

// TestMemoryConcurrent: one userName created from many goroutines exists once.
func TestMemoryConcurrent(t *testing.T) {
	ctx := context.Background()
	m := &adaptertest.Memory{}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			_, err := m.CreateUser(ctx, &adapters.User{UserName: "same"})
			if err != nil && !adapters.Is(err, adapters.Taken) {
				t.Error(err)
			}
			_, _ = m.FindUsers(ctx, adapters.Lookup{Kind: adapters.ByUserName, Value: "SAME"})
		})
	}
	wg.Wait()
	if m.Creates() != 1 {
		t.Fatalf("%d creates", m.Creates())
	}
}
