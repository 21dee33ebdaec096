package provision

import (
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// An application with no room for SCIM's marks and no block state (#23): the link
// store keeps which accounts are SCIM's, their externalId, deletion and SCIM's
// active; deprovisioning is the application's action, run on the transitions only.
func TestMarksInTheStore(t *testing.T) {
	f := newMemory()
	f.MarksInStore, f.NoBlock = true, true
	s := newService(f)
	s.Links = links.NewMemory(time.Hour, 0)
	rec, err := s.CreateUser(ctx, user("ada", "ext-ada"))
	if err != nil {
		t.Fatal(err)
	}
	id := rec.User.ID
	got, err := s.GetUser(ctx, id)
	if err != nil || got.User.ExternalID != "ext-ada" || !got.User.Active {
		t.Fatalf("GET: %v %+v", err, got.User)
	}
	if found := userNameEq(t, s, "ada"); len(found) != 1 {
		t.Fatalf("userName filter: %d", len(found))
	}
	flt, _ := scim.ParseFilter(`externalId eq "ext-ada"`, scim.UserResourceType)
	if found, err := s.QueryUsers(ctx, flt, func(u *scim.User) scim.Resource { return scim.UserToResource(u, scim.RenderOptions{}) }, false); err != nil || len(found) != 1 {
		t.Fatalf("externalId filter: %v %d", err, len(found))
	}
	// an account made by hand is not SCIM's
	hand := f.AddUnmanaged("hand", "hand@example.com", false)
	if _, err := s.GetUser(ctx, hand); status(t, err) != 404 {
		t.Fatalf("GET of an account made by hand: %v", err)
	}
	off := patchOps(t, `{"op":"replace","path":"active","value":false}`)
	before := got.User.Meta.Version
	r, err := s.PatchUser(ctx, id, off, "", scim.RenderOptions{})
	if err != nil || r.User.Active || !f.Deprovisioned(id) {
		t.Fatalf("deprovision: %v active %v action %v", err, r.User.Active, f.Deprovisioned(id))
	}
	if got, _ := s.GetUser(ctx, id); got.User.Active || got.User.Meta.Version == before || got.User.Meta.Version != r.User.Meta.Version {
		t.Fatalf("SCIM's inactive state was not kept, or the version (%s → write %s, read %s) does not follow it", before, r.User.Meta.Version, got.User.Meta.Version)
	}
	f.EditUser(id, func(r *adapters.Record) {}) // nothing the application could tell
	if _, err := s.PatchUser(ctx, id, patchOps(t, `{"op":"replace","path":"displayName","value":"Ada L"}`), "", scim.RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	if !f.Deprovisioned(id) {
		t.Fatal("a write that keeps the account inactive gave its access back")
	}
	if back, err := s.CreateUser(ctx, user("ada", "ext-ada")); err != nil || back.User.ID != id || !back.User.Active || f.Deprovisioned(id) {
		t.Fatalf("reactivation: %v %+v action %v", err, back.User, f.Deprovisioned(id))
	}
	if err := s.DeleteUser(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetUser(ctx, id); status(t, err) != 404 || !f.Deprovisioned(id) {
		t.Fatalf("after DELETE: %v action %v", err, f.Deprovisioned(id))
	}
	// a lost store makes the accounts unmanaged, never someone else's
	s.Links = links.NewMemory(time.Hour, 0)
	if _, err := s.GetUser(ctx, id); status(t, err) != 404 {
		t.Fatalf("with the store lost: %v", err)
	}
	if _, err := s.CreateUser(ctx, user("ada", "ext-other")); status(t, err) != 409 {
		t.Fatalf("a new identity over the lost account's name: %v", err)
	}
	if err := f.SetTenant("b"); err == nil {
		t.Error("a tenant was accepted by an application without room for marks")
	}
}
