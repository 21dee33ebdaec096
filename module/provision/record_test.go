package provision

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// The identity of record (#21): each test here failed before the rule existed.

func userNameEq(t *testing.T, s *Service, name string) []adapters.Record {
	t.Helper()
	flt, err := scim.ParseFilter(`userName eq "`+name+`"`, scim.UserResourceType)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.QueryUsers(ctx, flt, func(u *scim.User) scim.Resource { return scim.UserToResource(u, scim.RenderOptions{}) }, false)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestRenameSquatAfterTheStoreForgets (#21 case 1): u1 renames his account to u2 in
// the application; after the link store forgot the link (a restart of the
// in-process store, a Redis FLUSHALL), the next read took the new name for the
// userName of record and `userName eq "u2"` answered his account. The application's
// copy of the userName keeps the IdP's name.
func TestRenameSquatAfterTheStoreForgets(t *testing.T) {
	f := newMemory()
	s := newService(f)
	rec, err := s.CreateUser(ctx, user("u1", "ext-u1"))
	if err != nil {
		t.Fatal(err)
	}
	id := rec.User.ID
	f.EditUser(id, func(r *adapters.Record) { r.User.UserName = "u2" }) // renamed by its owner
	s.Links = links.NewMemory(time.Minute, 0)                           // the store forgot
	if got := userNameEq(t, s, "u2"); len(got) != 0 {
		t.Fatalf("the renamed account answers to the squatted name: %+v", got[0].User)
	}
	if got := userNameEq(t, s, "u1"); len(got) != 1 || got[0].User.ID != id {
		t.Fatalf("the account no longer answers to the IdP's name: %v", got)
	}
	if _, err := s.CreateUser(ctx, user("u2", "ext-u2")); err == nil {
		t.Fatal("the real u2 was created over a taken name without a conflict")
	} else if rec, _ := f.User(id); rec.User.ExternalID != "ext-u1" {
		t.Fatalf("u1's account changed hands: %+v", rec.User)
	}
}

// TestLostLinkIsNeverGuessed (#21): an application without room for a copy of the
// userName keeps it only in the link store. When the link is lost, the account still
// reads, answers to no userName (its name may be another person's), a POST of that
// name is refused with how to relink, and a write that states the userName by id
// proves it again.
func TestLostLinkIsNeverGuessed(t *testing.T) {
	f := newMemory()
	f.Unrecorded = true
	s := newService(f)
	rec, err := s.CreateUser(ctx, user("u1", "ext-u1"))
	if err != nil {
		t.Fatal(err)
	}
	id := rec.User.ID
	if got := userNameEq(t, s, "u1"); len(got) != 1 {
		t.Fatalf("with its link, the account answers to its name: %v", got)
	}
	f.EditUser(id, func(r *adapters.Record) { r.User.UserName = "u2" })
	s.Links = links.NewMemory(time.Minute, 0)
	if got, err := s.GetUser(ctx, id); err != nil || got.User.UserName != "u2" {
		t.Fatalf("reads still work: %v %+v", err, got.User)
	}
	for _, name := range []string{"u1", "u2"} {
		if got := userNameEq(t, s, name); len(got) != 0 {
			t.Fatalf("an unproven account answers to %q", name)
		}
	}
	// a PATCH that does not state the userName proves nothing
	if _, err := s.PatchUser(ctx, id, patchOps(t, `{"op":"replace","path":"displayName","value":"X"}`), "", scim.RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := userNameEq(t, s, "u2"); len(got) != 0 {
		t.Fatal("a PATCH of another attribute proved the squatted name")
	}
	_, err = s.CreateUser(ctx, user("u2", "ext-u2"))
	if status(t, err) != 409 || !strings.Contains(err.Error(), "links import") {
		t.Fatalf("POST of the unproven account's name: %v", err)
	}
	put := user("u1", "ext-u1")
	if _, err := s.ReplaceUser(ctx, id, put, true, ""); err != nil {
		t.Fatal(err)
	}
	if got := userNameEq(t, s, "u1"); len(got) != 1 || got[0].User.ID != id {
		t.Fatalf("after the IdP's PUT the account answers to its name again: %v", got)
	}
}

// TestPostWithoutExternalIDTakesNoLinkedAccount (#21 case 2): bob (ext-old-bob) is
// deprovisioned or DELETEd; a POST of userName bob without an externalId answered
// 201 with bob's account, reactivated, still linked to ext-old-bob.
func TestPostWithoutExternalIDTakesNoLinkedAccount(t *testing.T) {
	for _, how := range []string{"deprovision", "delete"} {
		t.Run(how, func(t *testing.T) {
			f := newMemory()
			s := newService(f)
			rec, err := s.CreateUser(ctx, user("bob", "ext-old-bob"))
			if err != nil {
				t.Fatal(err)
			}
			id := rec.User.ID
			if how == "delete" {
				err = s.DeleteUser(ctx, id, "")
			} else {
				_, err = s.PatchUser(ctx, id, patchOps(t, `{"op":"replace","path":"active","value":false}`), "", scim.RenderOptions{})
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.CreateUser(ctx, user("bob", ""))
			if status(t, err) != 409 || !strings.Contains(err.Error(), "send its externalId") {
				t.Fatalf("POST without externalId: %v", err)
			}
			if r, _ := f.User(id); r.User.Active || r.User.ExternalID != "ext-old-bob" {
				t.Fatalf("bob's account changed: %+v", r.User)
			}
			if back, err := s.CreateUser(ctx, user("bob", "ext-old-bob")); err != nil || back.User.ID != id || !back.User.Active {
				t.Fatalf("bob's own identity comes back: %v", err)
			}
		})
	}
	// no externalId on either side: the same account comes back
	f := newMemory()
	s := newService(f)
	rec, _ := s.CreateUser(ctx, user("carol", ""))
	if _, err := s.PatchUser(ctx, rec.User.ID, patchOps(t, `{"op":"replace","path":"active","value":false}`), "", scim.RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	if back, err := s.CreateUser(ctx, user("carol", "")); err != nil || back.User.ID != rec.User.ID || !back.User.Active {
		t.Fatalf("carol without externalIds: %v %+v", err, back)
	}
}

// TestHandBlocksSurvive (#21 case 3): (a) a hand-blocked user DELETEd and re-POSTed
// with its externalId was unblocked (the DELETE recorded the block as SCIM's); (b)
// SCIM's block marker outlived an administrator lifting the block, so a later block
// by hand read as SCIM's and the next active:true lifted it.
func TestHandBlocksSurvive(t *testing.T) {
	on := `{"op":"replace","path":"active","value":true}`
	t.Run("DeleteThenPost", func(t *testing.T) {
		f := newMemory()
		s := newService(f)
		rec, _ := s.CreateUser(ctx, user("hb", "ext-hb"))
		id := rec.User.ID
		f.EditUser(id, func(r *adapters.Record) { r.User.Active = false })
		if err := s.DeleteUser(ctx, id, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateUser(ctx, user("hb", "ext-hb")); status(t, err) != 409 {
			t.Fatalf("re-POST of a hand-blocked, DELETEd user: %v", err)
		}
		if r, _ := f.User(id); r.User.Active || r.BlockMark {
			t.Fatalf("the block set by hand was lifted or taken over: %+v", r)
		}
	})
	t.Run("StaleMarker", func(t *testing.T) {
		f := newMemory()
		s := newService(f)
		rec, _ := s.CreateUser(ctx, user("sm", "ext-sm"))
		id := rec.User.ID
		if _, err := s.PatchUser(ctx, id, patchOps(t, `{"op":"replace","path":"active","value":false}`), "", scim.RenderOptions{}); err != nil {
			t.Fatal(err)
		}
		f.EditUser(id, func(r *adapters.Record) { r.User.Active = true }) // an administrator lifts SCIM's block
		if got, err := s.GetUser(ctx, id); err != nil || !got.User.Active {
			t.Fatalf("SCIM sees it active: %v", err)
		}
		f.EditUser(id, func(r *adapters.Record) { r.User.Active = false }) // and blocks it by hand later
		if _, err := s.PatchUser(ctx, id, patchOps(t, on), "", scim.RenderOptions{}); status(t, err) != 409 {
			t.Fatalf("active:true over a block set by hand after SCIM's was lifted: %v", err)
		}
		if r, _ := f.User(id); r.User.Active {
			t.Fatal("the hand block was lifted")
		}
	})
}

// TestTenantsAreIsolated (#21 case 4): accounts another tenant's handler marked are
// invisible: not listed, not found, not written, not adopted, and their names are
// not handed to this tenant's identities.
func TestTenantsAreIsolated(t *testing.T) {
	f := newMemory()
	a := newService(f)
	rec, err := a.CreateUser(ctx, user("alice", "ext-alice"))
	if err != nil {
		t.Fatal(err)
	}
	id := rec.User.ID
	_ = f.SetTenant("b") // the adapter of tenant b's handler
	b := newService(f)
	b.Tenant, b.LinkExisting = "b", LinkUserName
	if _, err := b.GetUser(ctx, id); status(t, err) != 404 {
		t.Fatalf("tenant b reads tenant a's user: %v", err)
	}
	if got := userNameEq(t, b, "alice"); len(got) != 0 {
		t.Fatal("tenant b finds tenant a's user by userName")
	}
	if _, err := b.PatchUser(ctx, id, patchOps(t, `{"op":"replace","path":"active","value":false}`), "", scim.RenderOptions{}); status(t, err) != 404 {
		t.Fatalf("tenant b PATCHes tenant a's user: %v", err)
	}
	if err := b.DeleteUser(ctx, id, ""); status(t, err) != 404 {
		t.Fatalf("tenant b DELETEs tenant a's user: %v", err)
	}
	_, err = b.CreateUser(ctx, user("alice", "ext-other"))
	if status(t, err) != 409 || !strings.Contains(err.Error(), "another SCIM tenant") {
		t.Fatalf("tenant b adopts tenant a's user: %v", err)
	}
	if r, _ := f.User(id); !r.User.Active || r.Tenant != "" || r.User.ExternalID != "ext-alice" {
		t.Fatalf("tenant a's user changed: %+v", r)
	}
	flt, _ := scim.ParseFilter(`active pr`, scim.UserResourceType)
	if list, err := b.QueryUsers(ctx, flt, func(u *scim.User) scim.Resource { return scim.UserToResource(u, scim.RenderOptions{}) }, false); err != nil || len(list) != 0 {
		t.Fatalf("tenant b lists tenant a's user: %v %d", err, len(list))
	}
}

// lockLog is a link store that records the lock keys taken, and can refuse them.
type lockLog struct {
	links.Store
	mu   sync.Mutex
	keys []string
	down bool
}

func (l *lockLog) Lock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	l.mu.Lock()
	l.keys = append(l.keys, key)
	down := l.down
	l.mu.Unlock()
	if down {
		return nil, false, links.ErrUnavailable
	}
	return l.Store.Lock(ctx, key, ttl)
}

func (l *lockLog) took(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range l.keys {
		if k == key {
			return true
		}
	}
	return false
}

// TestEveryWriteTakesTheStoreLock (#21 case 5): a POST's reactivation and adoption and
// every group write take the link store's lock (shared by instances), and a store
// that cannot lock fails the write with 503 instead of a process-local lock.
func TestEveryWriteTakesTheStoreLock(t *testing.T) {
	f := newMemory()
	s := newService(f)
	ll := &lockLog{Store: s.Links}
	s.Links, s.Groups, s.LinkExisting = ll, f, LinkUserName
	rec, _ := s.CreateUser(ctx, user("re", "ext-re"))
	_, _ = s.PatchUser(ctx, rec.User.ID, patchOps(t, `{"op":"replace","path":"active","value":false}`), "", scim.RenderOptions{})
	ll.keys = nil
	if _, err := s.CreateUser(ctx, user("re", "ext-re")); err != nil {
		t.Fatal(err)
	}
	if !ll.took("user:" + rec.User.ID) {
		t.Errorf("a reactivation did not take the user's lock: %q", ll.keys)
	}
	hand := f.AddUnmanaged("adoptee", "adoptee@example.com", false)
	if _, err := s.CreateUser(ctx, user("adoptee", "ext-adoptee")); err != nil {
		t.Fatal(err)
	}
	if !ll.took("user:" + hand) {
		t.Errorf("an adoption did not take the user's lock: %q", ll.keys)
	}
	g, err := s.CreateGroup(ctx, &scim.Group{DisplayName: "g"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PatchGroup(ctx, g.ID, mustPatch(t, scim.GroupResourceType, `{"op":"add","path":"members","value":[{"value":"`+rec.User.ID+`"}]}`), "", scim.RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	if !ll.took("group:" + g.ID) {
		t.Errorf("a group PATCH did not take the group's store lock: %q", ll.keys)
	}
	ll.down = true
	_, err = s.PatchUser(ctx, rec.User.ID, patchOps(t, `{"op":"replace","path":"displayName","value":"Y"}`), "", scim.RenderOptions{})
	var se *scim.Error
	if status(t, err) != 503 || !errorAs(err, &se) || se.RetryAfter == 0 {
		t.Fatalf("a write with the store unable to lock: %v", err)
	}
	if err := s.DeleteGroup(ctx, g.ID, ""); status(t, err) != 503 {
		t.Fatalf("a group DELETE with the store unable to lock: %v", err)
	}
}

// TestSmallerSafetyRules (#21 case 6): protect matches an upstream login, and group
// writes never add or remove an administrator or a protected account.
func TestSmallerSafetyRules(t *testing.T) {
	f := newMemory()
	s := newService(f)
	s.Groups = f
	keeper, _ := s.CreateUser(ctx, user("keeper", "ext-keeper"))
	f.EditUser(keeper.User.ID, func(r *adapters.Record) { r.User.UserName = "keeper-login" })
	s.Protect = []string{"keeper-login"}
	if _, err := s.PatchUser(ctx, keeper.User.ID, patchOps(t, `{"op":"replace","path":"active","value":false}`), "", scim.RenderOptions{}); status(t, err) != 403 {
		t.Fatalf("protect by upstream login: %v", err)
	}
	boss, _ := s.CreateUser(ctx, user("boss", "ext-boss"))
	f.EditUser(boss.User.ID, func(r *adapters.Record) { r.Admin = true })
	plain, _ := s.CreateUser(ctx, user("plain", "ext-plain"))
	g, err := s.CreateGroup(ctx, &scim.Group{DisplayName: "team", Members: membersOf([]string{boss.User.ID, keeper.User.ID, plain.User.ID})})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Members(g.ID); len(got) != 1 || got[0] != plain.User.ID {
		t.Fatalf("a group POST added %v, want only %s", got, plain.User.ID)
	}
	// put the protected ones in by hand; a replace without them must keep them
	_ = f.AddMembers(ctx, g.ID, []string{boss.User.ID, keeper.User.ID})
	if _, err := s.PatchGroup(ctx, g.ID, mustPatch(t, scim.GroupResourceType, `{"op":"replace","path":"members","value":[]}`), "", scim.RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := f.Members(g.ID); len(got) != 2 {
		t.Fatalf("a replace of members removed a protected member: %v", got)
	}
}

func errorAs(err error, se **scim.Error) bool {
	e, ok := SCIMError(err)
	*se = e
	return ok
}
