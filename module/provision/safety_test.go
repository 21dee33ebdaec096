package provision

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/adaptertest"
	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

func patchOps(t *testing.T, body string) []scim.PatchOp {
	t.Helper()
	ops, err := scim.ParsePatch([]byte(`{"schemas":["`+scim.MessagePatchOp+`"],"Operations":[`+body+`]}`), scim.UserResourceType)
	if err != nil {
		t.Fatal(err)
	}
	return ops
}

// TestProtectedAccounts (#11 case 1): a SCIM-created user later made an
// administrator upstream, and an account named by protect, are never modified,
// blocked, deleted or reactivated through SCIM; the refusal is a 403 that says why,
// and OnRefused hears of it.
func TestProtectedAccounts(t *testing.T) {
	f := newMemory()
	s := newService(f)
	var refused []string
	s.OnRefused = func(op, id, userName, why string) { refused = append(refused, op+" "+userName+": "+why) }
	admin, err := s.CreateUser(ctx, user("boss", "ext-boss"))
	if err != nil {
		t.Fatal(err)
	}
	f.EditUser(admin.User.ID, func(r *adapters.Record) { r.Admin = true })
	named, _ := s.CreateUser(ctx, user("keeper", "ext-keeper"))
	s.Protect = []string{"KEEPER"}
	for _, id := range []string{admin.User.ID, named.User.ID} {
		before, _ := f.User(id)
		steal := patchOps(t, `{"op":"replace","path":"emails[type eq \"work\"].value","value":"thief@outside.example"},{"op":"replace","path":"userName","value":"other"}`)
		if _, err := s.PatchUser(ctx, id, steal, "", scim.RenderOptions{}); status(t, err) != 403 || !strings.Contains(err.Error(), "never modifies") {
			t.Errorf("PATCH of protected %s: %v", id, err)
		}
		if _, err := s.ReplaceUser(ctx, id, user("other", "ext-x"), true, ""); status(t, err) != 403 {
			t.Errorf("PUT of protected %s: %v", id, err)
		}
		if err := s.DeleteUser(ctx, id, ""); status(t, err) != 403 {
			t.Errorf("DELETE of protected %s: %v", id, err)
		}
		after, _ := f.User(id)
		if after.User.Meta.Version != before.User.Meta.Version || !after.User.Active || after.Deleted {
			t.Errorf("protected %s changed: %+v → %+v", id, before.User, after.User)
		}
		// reads still work
		if _, err := s.GetUser(ctx, id); err != nil {
			t.Errorf("GET of protected %s: %v", id, err)
		}
	}
	// deprovisioned before it was protected: a re-POST does not reactivate it
	s.Protect = nil
	off := patchOps(t, `{"op":"replace","value":{"active":false}}`)
	if _, err := s.PatchUser(ctx, named.User.ID, off, "", scim.RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Protect = []string{named.User.ID}
	if _, err := s.CreateUser(ctx, user("keeper", "ext-keeper")); status(t, err) != 403 {
		t.Errorf("reactivation of a protected account: %v", err)
	}
	if r, _ := f.User(named.User.ID); r.User.Active {
		t.Error("a protected account was reactivated")
	}
	if len(refused) != 7 || !strings.Contains(refused[0], "administrator") || !strings.Contains(refused[6], "protect option") {
		t.Errorf("refusals heard: %q", refused)
	}
	// adoption refuses a protected unmanaged account too
	s.LinkExisting = LinkUserName
	hand := f.AddUnmanaged("ops", "ops@example.com", false)
	s.Protect = []string{"ops"}
	if _, err := s.CreateUser(ctx, user("ops", "ext-ops")); status(t, err) != 409 || managed(f, hand) {
		t.Errorf("adoption of a protected account: %v", err)
	}
}

// TestReactivationKeepsItsIdentity (#11 case 3): after DELETE of u3, a POST with
// the same userName but another externalId and e-mail (a new hire with the same
// name) never gets the old account.
func TestReactivationKeepsItsIdentity(t *testing.T) {
	for _, deprovision := range []string{"delete", "deactivate"} {
		t.Run(deprovision, func(t *testing.T) {
			f := newMemory()
			s := newService(f)
			old, err := s.CreateUser(ctx, user("u3", "ext-first"))
			if err != nil {
				t.Fatal(err)
			}
			if deprovision == "delete" {
				err = s.DeleteUser(ctx, old.User.ID, "")
			} else {
				_, err = s.PatchUser(ctx, old.User.ID, patchOps(t, `{"op":"replace","path":"active","value":false}`), "", scim.RenderOptions{})
			}
			if err != nil {
				t.Fatal(err)
			}
			hire := user("u3", "ext-second")
			hire.Emails[0].Value = "new.u3@example.com"
			rec, err := s.CreateUser(ctx, hire)
			if err == nil && rec.User.ID == old.User.ID {
				t.Fatalf("the %sd account of ext-first went to ext-second", deprovision)
			}
			if status(t, err) != 409 || !strings.Contains(err.Error(), "never given to a new identity") {
				t.Fatalf("POST of a new identity with the old userName: %v", err)
			}
			if r, _ := f.User(old.User.ID); r.User.Active || r.User.ExternalID != "ext-first" {
				t.Errorf("the old account changed: %+v", r.User)
			}
			// the same identity still comes back, with the same id
			back, err := s.CreateUser(ctx, user("u3", "ext-first"))
			if err != nil || back.User.ID != old.User.ID || !back.User.Active {
				t.Fatalf("re-add of the same identity: %v %+v", err, back.User)
			}
		})
	}
}

// slowUpdates is an instance whose writes reach the upstream late: between its read
// and its write another instance has time to act.
type slowUpdates struct{ *adaptertest.Memory }

func (s slowUpdates) UpdateUser(ctx context.Context, id string, u *scim.User, st adapters.State) (adapters.Record, error) {
	time.Sleep(50 * time.Millisecond)
	return s.Memory.UpdateUser(ctx, id, u, st)
}

// TestWritesSerialisedAcrossInstances (#11 case 6): two instances share the link
// store; a PUT on B that read the user before a DELETE on A used to write the whole
// state back and clear the block. With the cross-instance write lock, whatever the
// order, the DELETE wins: the user ends blocked and hidden.
func TestWritesSerialisedAcrossInstances(t *testing.T) {
	f := newMemory()
	store := links.NewMemory(time.Minute, 0)
	a := &Service{Adapter: f, Links: store, Deprovision: DeprovisionBlock, LinkExisting: LinkOff}
	b := &Service{Adapter: slowUpdates{f}, Links: store, Deprovision: DeprovisionBlock, LinkExisting: LinkOff}
	for i := range 5 {
		rec, err := a.CreateUser(ctx, user("race"+string(rune('a'+i)), ""))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			u := *rec.User
			u.DisplayName = "changed"
			_, _ = b.ReplaceUser(ctx, rec.User.ID, &u, true, "")
		}()
		go func() {
			defer wg.Done()
			time.Sleep(10 * time.Millisecond) // B has read by now
			if err := a.DeleteUser(ctx, rec.User.ID, ""); err != nil && status(t, err) != 404 {
				t.Errorf("DELETE: %v", err)
			}
		}()
		wg.Wait()
		if r, _ := f.User(rec.User.ID); !r.Deleted || r.User.Active {
			t.Fatalf("round %d: after DELETE and PUT the user is deleted=%v active=%v; the block was undone", i, r.Deleted, r.User.Active)
		}
	}
}

// TestAdoptionNeedsAConfirmedEmail (#11 case 9): link_existing adopted on fields the
// account holder controls; an account whose e-mail the application never confirmed
// is not adopted, and an adoption is reported with both identities.
func TestAdoptionNeedsAConfirmedEmail(t *testing.T) {
	f := newMemory()
	s := newService(f)
	s.LinkExisting = LinkEmail
	var adopted []string
	s.OnAdopted = func(id, upstreamName, userName, ext, by string) {
		adopted = append(adopted, upstreamName+"→"+userName+"/"+ext+" by "+by)
	}
	shady := f.AddUnmanaged("squatter", "ceo@example.com", false)
	f.EditUser(shady, func(r *adapters.Record) { r.Unconfirmed = true })
	u := user("ceo", "ext-ceo")
	u.Emails[0].Value = "ceo@example.com"
	if _, err := s.CreateUser(ctx, u); status(t, err) != 409 || !strings.Contains(err.Error(), "not confirmed") || managed(f, shady) {
		t.Fatalf("adoption of an unconfirmed account: %v", err)
	}
	f.EditUser(shady, func(r *adapters.Record) { r.Unconfirmed = false })
	rec, err := s.CreateUser(ctx, u)
	if err != nil || rec.User.ID != shady {
		t.Fatalf("adoption of the confirmed account: %v", err)
	}
	if len(adopted) != 1 || adopted[0] != "squatter→ceo/ext-ceo by email" {
		t.Errorf("adoptions reported: %q", adopted)
	}
}

// TestBlocksHaveAnOwner (#11 case 4): a user blocked by hand in the application used
// to be unblocked by the next active:true (Okta's PUT and Entra's PATCHes carry it
// routinely). SCIM lifts only blocks SCIM set: activating such an account is a 409
// that says why, and nothing is written; writes that keep it inactive still apply.
func TestBlocksHaveAnOwner(t *testing.T) {
	f := newMemory()
	s := newService(f)
	var refused []string
	s.OnRefused = func(op, id, userName, why string) { refused = append(refused, op+": "+why) }
	rec, err := s.CreateUser(ctx, user("blocked", "ext-blocked"))
	if err != nil {
		t.Fatal(err)
	}
	id := rec.User.ID
	f.EditUser(id, func(r *adapters.Record) { r.User.Active = false }) // an administrator blocks the account
	before, _ := f.User(id)
	on := patchOps(t, `{"op":"replace","path":"active","value":true}`)
	if _, err := s.PatchUser(ctx, id, on, "", scim.RenderOptions{}); status(t, err) != 409 || !strings.Contains(err.Error(), "lifts only blocks it set") {
		t.Fatalf("PATCH active:true on a hand-blocked user: %v", err)
	}
	put := user("blocked", "ext-blocked")
	put.DisplayName = "Renamed"
	if _, err := s.ReplaceUser(ctx, id, put, true, ""); status(t, err) != 409 {
		t.Fatalf("PUT active:true on a hand-blocked user: %v", err)
	}
	if r, _ := f.User(id); r.User.Active || r.BlockMark || r.User.Meta.Version != before.User.Meta.Version {
		t.Fatalf("the hand-set block was lifted, taken over or written: %+v", r)
	}
	// a write that keeps the account inactive applies, and the block stays foreign
	put.Active = false
	if got, err := s.ReplaceUser(ctx, id, put, true, ""); err != nil || got.User.Active || got.User.DisplayName != "Renamed" || got.HandBlock == "" {
		t.Fatalf("PUT active:false on a hand-blocked user: %v %+v", err, got)
	}
	if _, err := s.CreateUser(ctx, user("blocked", "ext-blocked")); status(t, err) != 409 || !strings.Contains(err.Error(), "unblock the account in the application") {
		t.Fatalf("re-POST of a hand-blocked user: %v", err)
	}
	if len(refused) != 3 {
		t.Errorf("refusals heard: %q", refused)
	}
	// SCIM's own block is still SCIM's to lift: the seed's promise
	off := patchOps(t, `{"op":"replace","path":"active","value":false}`)
	other, _ := s.CreateUser(ctx, user("mine", "ext-mine"))
	if _, err := s.PatchUser(ctx, other.User.ID, off, "", scim.RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.CreateUser(ctx, user("mine", "ext-mine")); err != nil || !got.User.Active || got.User.ID != other.User.ID {
		t.Fatalf("reactivation of a SCIM block: %v %+v", err, got.User)
	}
}

// TestIdentityOfRecord (#11 case 2): a provisioned u1 who renames his account in the
// application to u2 used to answer to the new name: `userName eq "u2"` returned u1's
// account, and the IdP would link the real u2 to it. SCIM keeps the IdP's userName,
// and the IdP's next write renames the account back.
func TestIdentityOfRecord(t *testing.T) {
	f := newMemory()
	s := newService(f)
	var drift []string
	s.OnDrift = func(id, ofRecord, upstream string) { drift = append(drift, ofRecord+"→"+upstream) }
	rec, err := s.CreateUser(ctx, user("u1", "ext-u1"))
	if err != nil {
		t.Fatal(err)
	}
	id := rec.User.ID
	f.EditUser(id, func(r *adapters.Record) { r.User.UserName = "u2" }) // renamed in the application
	render := func(u *scim.User) scim.Resource { return scim.UserToResource(u, scim.RenderOptions{}) }
	for name, want := range map[string]int{"u2": 0, "U2": 0, "u1": 1} {
		flt, _ := scim.ParseFilter(`userName eq "`+name+`"`, scim.UserResourceType)
		got, err := s.QueryUsers(ctx, flt, render, false)
		if err != nil || len(got) != want {
			t.Errorf("userName eq %q: %d users, %v; want %d", name, len(got), err, want)
		}
	}
	if got, _ := s.GetUser(ctx, id); got.User.UserName != "u1" {
		t.Errorf("GET answers userName %q, want the IdP's u1", got.User.UserName)
	}
	// the real u2 is not given u1's account
	if rec, err := s.CreateUser(ctx, user("u2", "ext-u2")); err == nil && rec.User.ID == id {
		t.Fatal("the IdP's u2 was linked to u1's account")
	}
	// the IdP's next write (Entra's PATCH of another attribute) renames it back
	if _, err := s.PatchUser(ctx, id, patchOps(t, `{"op":"replace","path":"displayName","value":"U One"}`), "", scim.RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	if r, _ := f.User(id); r.User.UserName != "u1" {
		t.Errorf("after the IdP's write the application has userName %q, want u1", r.User.UserName)
	}
	if len(drift) == 0 || drift[0] != "u1→u2" {
		t.Errorf("drift reported: %q", drift)
	}
}
