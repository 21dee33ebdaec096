package rest_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/rest"
	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// realApp is what identityOfRecord needs of a real application behind a preset.
type realApp struct {
	// adapter is a provisioned adapter of the preset for tenant.
	adapter func(t *testing.T, tenant string) *rest.Adapter
	// rename renames account id in the application, as its owner or an
	// administrator would, behind SCIM's back.
	rename func(t *testing.T, id, name string)
	// blockByHand blocks account id in the application, as an administrator would.
	blockByHand func(t *testing.T, id string)
	// fixed: the application's own userName is the userName of record (its owner
	// cannot change it, so a rename is an administrator's and reads as the record).
	fixed bool
}

// identityOfRecord checks, against a real application, what the core relies on
// besides the conformance suite: the userName of record survives a rename in the
// application, two tenants' adapters neither list each other's accounts nor read
// them as their own tenant's, and a DELETE keeping a block set by hand leaves it the
// application's.
func identityOfRecord(t *testing.T, app realApp) {
	ctx := context.Background()
	acme, globex, def := app.adapter(t, "acme"), app.adapter(t, "globex"), app.adapter(t, "")
	name := testenv.UniqueName("rec")
	u := &adapters.User{UserName: name, ExternalID: "ext-" + name, Active: true, Name: &adapters.Name{GivenName: "Ada", FamilyName: "Record"},
		Emails: []adapters.MultiValue{{Value: name + "@example.com", Type: "work", Primary: true}}}
	r, err := acme.CreateUser(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	id := r.User.ID
	if !r.Managed || r.Tenant != "acme" || r.RecordedUserName != name || r.Login != name || r.Unrecorded {
		t.Fatalf("created: Managed %v Tenant %q RecordedUserName %q Login %q Unrecorded %v", r.Managed, r.Tenant, r.RecordedUserName, r.Login, r.Unrecorded)
	}
	listed := func(a *rest.Adapter) bool {
		recs, _, err := a.ListUsers(ctx, adapters.Page{Limit: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(recs, func(r adapters.Record) bool { return r.User.ID == id })
	}
	if !listed(acme) || listed(globex) || listed(def) {
		t.Errorf("listed by acme %v, globex %v, the default tenant %v; want only acme", listed(acme), listed(globex), listed(def))
	}
	for _, q := range []adapters.Lookup{{Kind: adapters.ByID, Value: id}, {Kind: adapters.ByUserName, Value: name}, {Kind: adapters.ByExternalID, Value: u.ExternalID}} {
		recs, err := globex.FindUsers(ctx, q)
		if err != nil || len(recs) != 1 || recs[0].Tenant != "acme" || !recs[0].Managed {
			t.Errorf("globex's FindUsers(%v) = %+v, %v; want the account, of tenant acme", q, recs, err)
		}
	}

	renamed := name + "x"
	app.rename(t, id, renamed)
	want := name
	if app.fixed {
		want = renamed
	}
	if r := read(t, acme, id); r.Login != renamed || r.RecordedUserName != want || r.Tenant != "acme" {
		t.Errorf("renamed in the application: Login %q RecordedUserName %q Tenant %q; want %q %q acme", r.Login, r.RecordedUserName, r.Tenant, renamed, want)
	}

	app.blockByHand(t, id)
	if r := read(t, acme, id); !handBlocked(r) {
		t.Fatal("a block by hand does not read as HandBlock")
	}
	off := *u
	off.Active = false
	r, err = acme.UpdateUser(ctx, id, &off, adapters.State{Managed: true, Deleted: true, ForeignBlock: true})
	if err != nil || !r.Deleted || !handBlocked(r) || r.RecordedUserName != name || r.Tenant != "acme" {
		t.Fatalf("DELETE keeping the foreign block: Deleted %v hand-blocked %v RecordedUserName %q Tenant %q, %v", r.Deleted, handBlocked(r), r.RecordedUserName, r.Tenant, err)
	}
	if r := read(t, acme, id); !r.Deleted || !handBlocked(r) {
		t.Errorf("read again: Deleted %v hand-blocked %v; want true and a reason", r.Deleted, handBlocked(r))
	}
	r, err = acme.UpdateUser(ctx, id, &off, adapters.State{Managed: true, Deleted: true})
	if err != nil || !r.Deleted || handBlocked(r) {
		t.Errorf("DELETE blocking by SCIM: Deleted %v hand-blocked %v, %v; want true and none", r.Deleted, handBlocked(r), err)
	}
}

func read(t *testing.T, a *rest.Adapter, id string) adapters.Record {
	t.Helper()
	recs, err := a.FindUsers(context.Background(), adapters.Lookup{Kind: adapters.ByID, Value: id})
	if err != nil || len(recs) != 1 {
		t.Fatalf("FindUsers(ByID %s) = %v, %v", id, recs, err)
	}
	return recs[0]
}

func withTenant(t *testing.T, a *rest.Adapter, tenant string) *rest.Adapter {
	t.Helper()
	if err := a.SetTenant(tenant); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestKratosIdentityOfRecord: the kratos preset keeps the userName of record and
// the tenant in metadata_admin.scim, which an identity's owner cannot edit, while he
// may rename himself (traits.username).
func TestKratosIdentityOfRecord(t *testing.T) {
	k := testenv.Kratos(t)
	patch := func(t *testing.T, id, path string, value any) {
		st, out := kratos(t, k, "PATCH", "/admin/identities/"+id, []map[string]any{{"op": "replace", "path": path, "value": value}})
		if st != http.StatusOK {
			t.Fatalf("patching %s: %d %v", path, st, out)
		}
	}
	identityOfRecord(t, realApp{
		adapter:     func(t *testing.T, tenant string) *rest.Adapter { return withTenant(t, newKratosAdapter(t, k), tenant) },
		rename:      func(t *testing.T, id, name string) { patch(t, id, "/traits/username", name) },
		blockByHand: func(t *testing.T, id string) { patch(t, id, "/state", "inactive") },
	})
}

// TestRedmineIdentityOfRecord: the redmine preset's userName of record is the login
// (Redmine users cannot change their own), and the tenant rides in scim_state
// ("active@acme"); its groups are the tenant's too.
func TestRedmineIdentityOfRecord(t *testing.T) {
	r := testenv.Redmine(t)
	put := func(t *testing.T, id string, user map[string]any) {
		if st, out := redmine(t, r, "PUT", "/users/"+id+".json", map[string]any{"user": user}); st != http.StatusNoContent {
			t.Fatalf("changing user %s by hand: %d %v", id, st, out)
		}
	}
	identityOfRecord(t, realApp{
		adapter:     func(t *testing.T, tenant string) *rest.Adapter { return withTenant(t, newRedmineAdapter(t, r), tenant) },
		rename:      func(t *testing.T, id, name string) { put(t, id, map[string]any{"login": name}) },
		blockByHand: func(t *testing.T, id string) { put(t, id, map[string]any{"status": 3}) },
		fixed:       true,
	})

	ctx := context.Background()
	acme, globex := withTenant(t, newRedmineAdapter(t, r), "acme"), withTenant(t, newRedmineAdapter(t, r), "globex")
	name := testenv.UniqueName("tg")
	g, err := acme.CreateGroup(ctx, &adapters.Group{DisplayName: name, ExternalID: "ext-" + name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = acme.DeleteGroup(ctx, g.ID) })
	if gs, err := acme.FindGroups(ctx, adapters.Lookup{Kind: adapters.ByDisplayName, Value: name}, false); err != nil || len(gs) != 1 {
		t.Errorf("acme's FindGroups(displayName) = %v, %v; want its group", gs, err)
	}
	for _, q := range []adapters.Lookup{{Kind: adapters.ByID, Value: g.ID}, {Kind: adapters.ByDisplayName, Value: name}, {Kind: adapters.ByExternalID, Value: "ext-" + name}} {
		if gs, err := globex.FindGroups(ctx, q, false); err != nil || len(gs) != 0 {
			t.Errorf("globex's FindGroups(%v) = %v, %v; want none", q, gs, err)
		}
	}
	if gs, _, err := globex.ListGroups(ctx, adapters.Page{Limit: 1 << 20}, false); err != nil || slices.ContainsFunc(gs, func(x *adapters.Group) bool { return x.ID == g.ID }) {
		t.Errorf("globex lists acme's group (%v)", err)
	}
	if err := globex.DeleteGroup(ctx, g.ID); err == nil {
		t.Error("globex deleted acme's group")
	}
}

// handBlocked reads r's block facts as the service does (module/provision decides
// ownership once): blocked, with a reason, without SCIM's mark.
func handBlocked(r adapters.Record) bool {
	return r.Managed && r.User != nil && !r.User.Active && r.BlockReason != "" && !r.BlockMark
}
