package rest

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/provision"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

var bg = context.Background()

func scimUser(name string) *adapters.User {
	return &adapters.User{UserName: name, ExternalID: "ext-" + name, Active: true,
		Emails: []adapters.MultiValue{{Value: strings.NewReplacer("/", "-", "?", "-").Replace(name) + "@example.com", Type: "work", Primary: true}}}
}

func mustCreate(t *testing.T, a *Adapter, name string) adapters.Record {
	t.Helper()
	r, err := a.CreateUser(bg, scimUser(name))
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", name, err)
	}
	return r
}

func mustGet(t *testing.T, a *Adapter, id string) adapters.Record {
	t.Helper()
	recs, err := a.FindUsers(bg, adapters.Lookup{Kind: adapters.ByID, Value: id})
	if err != nil || len(recs) != 1 {
		t.Fatalf("FindUsers(ByID %s) = %v, %v", id, recs, err)
	}
	return recs[0]
}

func summaryOf(t *testing.T, m *Mapping) string {
	t.Helper()
	b, _ := json.Marshal(m)
	s, err := Check(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(s, "\n")
}

// TestUserNameOfRecord: the three places a mapping may keep the userName SCIM last
// wrote — an admin-only copy, the application's own userName when its owner cannot
// change it, or nowhere (the link store alone) — read as the contract says, and
// check-mapping says which in words.
func TestUserNameOfRecord(t *testing.T) {
	for _, tc := range []struct {
		mode       string
		edit       func(m *Mapping)
		recorded   string // RecordedUserName after the owner renamed ada to mallory
		unrecorded bool
		summary    string
	}{
		{"copy", nil, "ada", false, "userName of record: kept in scim.un"},
		{"fixed", func(m *Mapping) { m.Users.Read.RecordedUserName, m.Users.UserNameFixed = "", true }, "mallory", false,
			"userName of record: fixed by the application"},
		{"none", func(m *Mapping) { m.Users.Read.RecordedUserName = "" }, "", true,
			"userName of record: only in the link store: back it up"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			app, base := newFakeApp(t)
			m := fakeMapping(t, tc.edit)
			if s := summaryOf(t, m); !strings.Contains(s, tc.summary) {
				t.Errorf("check-mapping says:\n%s\nwant %q", s, tc.summary)
			}
			a := fakeAdapter(t, base, m, "")
			r := mustCreate(t, a, "ada")
			want := "ada"
			if tc.unrecorded {
				want = ""
			}
			if r.Login != "ada" || r.RecordedUserName != want || r.Unrecorded != tc.unrecorded {
				t.Fatalf("created: Login %q RecordedUserName %q Unrecorded %v; want ada %q %v", r.Login, r.RecordedUserName, r.Unrecorded, want, tc.unrecorded)
			}
			id := r.User.ID
			app.edit(id, func(u map[string]any) { u["login"] = "mallory" }) // the owner renames himself
			r = mustGet(t, a, id)
			if r.User.UserName != "mallory" || r.Login != "mallory" || r.RecordedUserName != tc.recorded || r.Unrecorded != tc.unrecorded {
				t.Errorf("renamed: userName %q Login %q RecordedUserName %q Unrecorded %v; want mallory mallory %q %v",
					r.User.UserName, r.Login, r.RecordedUserName, r.Unrecorded, tc.recorded, tc.unrecorded)
			}
			// a lookup finds it by both names; the service decides which it answers to
			for _, name := range []string{"mallory", tc.recorded} {
				if name == "" {
					continue
				}
				recs, err := a.FindUsers(bg, adapters.Lookup{Kind: adapters.ByUserName, Value: strings.ToUpper(name)})
				if err != nil || len(recs) != 1 || recs[0].User.ID != id {
					t.Errorf("FindUsers(ByUserName %s) = %v, %v; want user %s", name, recs, err, id)
				}
			}
			// an account SCIM does not manage has no userName of record, whatever it carries
			hand := app.add(map[string]any{"login": "eve", "active": true, "scim": map[string]any{"un": "ada"}})
			if r := mustGet(t, a, hand); r.Managed || r.RecordedUserName != "" || r.Login != "eve" {
				t.Errorf("a hand-made account: Managed %v RecordedUserName %q Login %q", r.Managed, r.RecordedUserName, r.Login)
			}
		})
	}
	m := fakeMapping(t, func(m *Mapping) { m.Users.UserNameFixed = true })
	if _, err := compile(m, nil); err == nil || !strings.Contains(err.Error(), "users.user_name_fixed, users.read.recorded_user_name") {
		t.Errorf("a copy and a fixed userName both: %v, want both fields named", err)
	}
}

// TestTenantIsolation: adapters of two tenants (and the default one) over one
// application: each lists, finds as its own and changes only its tenant's users and
// groups; FindUsers reports the tenant of every managed account, so that the service
// never takes another tenant's account for one it may adopt or write.
func TestTenantIsolation(t *testing.T) {
	app, base := newFakeApp(t)
	m := fakeMapping(t, nil)
	acme, globex, def := fakeAdapter(t, base, m, "acme"), fakeAdapter(t, base, m, "globex"), fakeAdapter(t, base, m, "")
	legacy := app.add(map[string]any{"login": "old", "active": true, "scim": map[string]any{"managed": true, "ext": "ext-old"}}) // marked before tenants
	alice := mustCreate(t, acme, "alice").User.ID
	bob := mustCreate(t, globex, "bob").User.ID
	if got := str(app.user(alice)["scim"].(map[string]any)["t"]); got != "acme" {
		t.Fatalf("acme's create marked tenant %q", got)
	}
	for _, c := range []struct {
		a    *Adapter
		want string
	}{{acme, alice}, {globex, bob}, {def, legacy}} {
		recs, total, err := c.a.ListUsers(bg, adapters.Page{Limit: 10})
		if err != nil || total != 1 || len(recs) != 1 || recs[0].User.ID != c.want {
			t.Errorf("tenant %q lists %d of %d (%v); want only user %s", c.a.tenant, len(recs), total, err, c.want)
		}
	}
	for id, tenant := range map[string]string{alice: "acme", bob: "globex", legacy: ""} {
		if r := mustGet(t, acme, id); !r.Managed || r.Tenant != tenant {
			t.Errorf("user %s: Managed %v Tenant %q; want true %q", id, r.Managed, r.Tenant, tenant)
		}
	}
	// an update keeps the writer's mark
	u := scimUser("alice")
	u.DisplayName = "Alice"
	if r, err := acme.UpdateUser(bg, alice, u, adapters.State{Managed: true}); err != nil || r.Tenant != "acme" {
		t.Fatalf("acme's update: tenant %q, %v", r.Tenant, err)
	}

	// the service of one tenant never sees the other's account
	svc := &provision.Service{Adapter: globex, Links: links.NewMemory(time.Minute, 0), Tenant: "globex",
		Deprovision: provision.DeprovisionBlock, LinkExisting: provision.LinkUserName, MaxResults: 100}
	if _, err := svc.GetUser(bg, alice); !isStatus(err, 404) {
		t.Errorf("globex's service reads acme's user: %v", err)
	}
	if _, err := svc.CreateUser(bg, scimUser("alice")); !isStatus(err, 409) {
		t.Errorf("globex's service adopts acme's user: %v", err)
	}
	if got := app.user(alice)["scim"].(map[string]any); got["t"] != "acme" || got["ext"] != "ext-alice" {
		t.Errorf("acme's user changed: %v", got)
	}

	// groups
	ga, err := acme.CreateGroup(bg, &adapters.Group{DisplayName: "devs", ExternalID: "g-devs"})
	if err != nil {
		t.Fatal(err)
	}
	gb, err := globex.CreateGroup(bg, &adapters.Group{DisplayName: "devs", ExternalID: "g-devs"})
	if err != nil {
		t.Fatal(err)
	}
	if err := acme.AddMembers(bg, ga.ID, []string{alice}); err != nil {
		t.Fatal(err)
	}
	if gs, total, err := acme.ListGroups(bg, adapters.Page{Limit: 10}, false); err != nil || total != 1 || gs[0].ID != ga.ID {
		t.Errorf("acme lists groups %v (total %d), %v; want only %s", gs, total, err, ga.ID)
	}
	for _, q := range []adapters.Lookup{{Kind: adapters.ByDisplayName, Value: "DEVS"}, {Kind: adapters.ByExternalID, Value: "g-devs"}, {Kind: adapters.ByID, Value: gb.ID}} {
		gs, err := acme.FindGroups(bg, q, true)
		if err != nil || slices.ContainsFunc(gs, func(g *adapters.Group) bool { return g.ID == gb.ID }) {
			t.Errorf("acme's FindGroups(%v) = %v, %v: finds globex's group", q, gs, err)
		}
	}
	if err := acme.AddMembers(bg, gb.ID, []string{alice}); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("acme adds to globex's group: %v, want not found", err)
	}
	if err := acme.DeleteGroup(bg, gb.ID); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("acme deletes globex's group: %v, want not found", err)
	}
	if refs, err := globex.UserGroups(bg, alice); err != nil || len(refs) != 0 {
		t.Errorf("globex sees alice's groups %v, %v", refs, err)
	}
	if refs, err := acme.UserGroups(bg, alice); err != nil || len(refs) != 1 || refs[0].Value != ga.ID {
		t.Errorf("acme sees alice's groups %v, %v; want %s", refs, err, ga.ID)
	}
	if !acme.Info().UnmanagedMembers {
		t.Error("Info().UnmanagedMembers is false with groups mapped")
	}
	if fakeAdapter(t, base, fakeMapping(t, func(m *Mapping) { m.Groups = nil }), "").Info().UnmanagedMembers {
		t.Error("Info().UnmanagedMembers is true without groups")
	}
}

func isStatus(err error, status int) bool {
	var se *scim.Error
	return errors.As(err, &se) && se.Status == status
}

// TestTenantNeedsRoom: a mapping that keeps no tenant serves only the default one,
// and the error names the field to add; a tenant path that the writes never fill is
// refused when the mapping loads.
func TestTenantNeedsRoom(t *testing.T) {
	_, base := newFakeApp(t)
	a := fakeAdapter(t, base, fakeMapping(t, func(m *Mapping) { m.Users.Read.Tenant = Text{} }), "")
	if err := a.SetTenant("acme"); err == nil || !strings.Contains(err.Error(), "users.read.tenant") {
		t.Errorf("SetTenant without users.read.tenant: %v, want the field named", err)
	}
	a = fakeAdapter(t, base, fakeMapping(t, func(m *Mapping) { m.Groups.Read.Tenant = Text{} }), "")
	if err := a.SetTenant("acme"); err == nil || !strings.Contains(err.Error(), "groups.read.tenant") {
		t.Errorf("SetTenant without groups.read.tenant: %v, want the field named", err)
	}
	if err := a.SetTenant("a b"); err == nil {
		t.Error("SetTenant accepts a tenant with a space")
	}
	for _, tc := range []struct {
		want string
		edit func(m *Mapping)
	}{
		{"users.update", func(m *Mapping) {
			m.Users.Update.Body = json.RawMessage(strings.ReplaceAll(string(m.Users.Update.Body), `"t": "{{.Tenant}}"`, `"t": ""`))
		}},
		{"groups.create", func(m *Mapping) {
			m.Groups.Create.Body = json.RawMessage(`{"name": "{{.Group.DisplayName}}"}`)
		}},
		{"users.read.tenant.path", func(m *Mapping) { m.Users.Read.Tenant = Text{After: "@"} }},
		{"users.read.email_verified.path", func(m *Mapping) { m.Users.Read.EmailVerified = Flag{Equals: []string{"yes"}} }},
	} {
		if _, err := compile(fakeMapping(t, tc.edit), nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("compile = %v, want an error naming %s", err, tc.want)
		}
	}
}

// TestStateAndTenantInOneField: a Flag's before and a Text's after read a state and
// a tenant kept in one field, as the redmine preset keeps them ("blocked@acme").
func TestStateAndTenantInOneField(t *testing.T) {
	app, base := newFakeApp(t)
	m := fakeMapping(t, func(m *Mapping) {
		m.Users.Read.Managed = Flag{Path: "state", Before: "@", Equals: []string{"active", "blocked"}}
		m.Users.Read.SCIMBlock = Flag{Path: "state", Before: "@", Equals: []string{"blocked"}}
		m.Users.Read.Tenant = Text{Path: "state", After: "@"}
	})
	a := fakeAdapter(t, base, m, "acme")
	for state, want := range map[string]struct {
		managed, blocked bool
		tenant           string
	}{
		"active": {true, false, ""}, "blocked@acme": {true, true, "acme"}, "active@x.y-z": {true, false, "x.y-z"}, "other@acme": {false, false, ""}, "": {false, false, ""},
	} {
		id := app.add(map[string]any{"login": "u" + state, "active": false, "state": state})
		r := mustGet(t, a, id)
		if r.Managed != want.managed || (!handBlocked(r)) != (want.blocked || !want.managed) || r.Tenant != want.tenant {
			t.Errorf("state %q: Managed %v hand-blocked %v Tenant %q; want %v, blocked by SCIM %v, %q", state, r.Managed, handBlocked(r), r.Tenant, want.managed, want.blocked, want.tenant)
		}
	}
}

// TestPathEscaping: every value a path template writes is one escaped path segment,
// whatever it comes from, while the template's own slashes stay: a userName "a/b?c"
// changes neither the resource a call names nor its query.
func TestPathEscaping(t *testing.T) {
	r, err := compileCall("users.get", Call{Method: "GET",
		Path:  `/v1/{{.Params.org}}/{{.Tenant}}/u/{{.ID}}/{{lower .User.UserName}}{{if .Managed}}/m/{{.Value}}{{end}}{{range $i, $e := .Params}}{{end}}{{$m := .Member}}/{{$m}}/{{.Limit}}`,
		Query: map[string]string{"name": "{{.User.UserName}}"}}, false, map[string]string{"org": "o/../p"})
	if err != nil {
		t.Fatal(err)
	}
	req, err := r.build(Data{ID: "1/2", Tenant: "t", Managed: true, Value: "v#w", Member: "m n", Limit: 5, User: View{UserName: "A/B?C"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "/v1/" + url.PathEscape("o/../p") + "/t/u/1%2F2/a%2Fb%3Fc/m/v%23w/m%20n/5"
	if req.Path != want || req.Query.Get("name") != "A/B?C" || len(req.Query) != 1 {
		t.Errorf("path %q query %v; want %q and name=A/B?C", req.Path, req.Query, want)
	}

	app, base := newFakeApp(t)
	a := fakeAdapter(t, base, fakeMapping(t, func(m *Mapping) {
		m.Users.FindUserName = &Call{Method: "GET", Path: "/users/by-name/{{.Value}}"}
	}), "")
	id := mustCreate(t, a, "a/b?c").User.ID
	mustCreate(t, a, "a") // what an unescaped path would name
	app.sent()
	recs, err := a.FindUsers(bg, adapters.Lookup{Kind: adapters.ByUserName, Value: "a/b?c"})
	if err != nil || len(recs) != 1 || recs[0].User.ID != id {
		t.Fatalf("FindUsers(ByUserName a/b?c) = %v, %v; want user %s", recs, err, id)
	}
	if got := app.sent(); len(got) != 1 || got[0] != "/users/by-name/a%2Fb%3Fc?" {
		t.Errorf("requests %q; want one to /users/by-name/a%%2Fb%%3Fc without a query", got)
	}
}

// TestEmailVerified: with users.read.email_verified mapped, an account whose e-mail
// the application has not confirmed (false or absent) is Unconfirmed; unmapped, no
// account is.
func TestEmailVerified(t *testing.T) {
	app, base := newFakeApp(t)
	with := fakeAdapter(t, base, fakeMapping(t, nil), "")
	without := fakeAdapter(t, base, fakeMapping(t, func(m *Mapping) { m.Users.Read.EmailVerified = Flag{} }), "")
	if s := summaryOf(t, with.Mapping); !strings.Contains(s, "e-mail confirmation: read from email_verified") {
		t.Errorf("check-mapping does not say where e-mail confirmation is read:\n%s", s)
	}
	for _, tc := range []struct {
		verified    any
		unconfirmed bool
	}{{true, false}, {"true", false}, {false, true}, {nil, true}} {
		u := map[string]any{"login": "u", "active": true}
		if tc.verified != nil {
			u["email_verified"] = tc.verified
		}
		id := app.add(u)
		if r := mustGet(t, with, id); r.Unconfirmed != tc.unconfirmed {
			t.Errorf("email_verified %v: Unconfirmed %v, want %v", tc.verified, r.Unconfirmed, tc.unconfirmed)
		}
		if r := mustGet(t, without, id); r.Unconfirmed {
			t.Errorf("email_verified %v, not mapped: Unconfirmed", tc.verified)
		}
	}
}

// TestDeleteKeepsForeignBlock: a DELETE of an account blocked in the application
// (State.ForeignBlock) leaves the block the application's: it still reads as
// HandBlock, which SCIM never lifts; a DELETE that blocks it itself reads as SCIM's.
func TestDeleteKeepsForeignBlock(t *testing.T) {
	app, base := newFakeApp(t)
	a := fakeAdapter(t, base, fakeMapping(t, nil), "")
	u := scimUser("ada")
	id := mustCreate(t, a, "ada").User.ID
	app.edit(id, func(u map[string]any) { u["active"] = false }) // an administrator blocks it
	if r := mustGet(t, a, id); !handBlocked(r) {
		t.Fatal("a block by hand does not read as HandBlock")
	}
	off := *u
	off.Active = false
	r, err := a.UpdateUser(bg, id, &off, adapters.State{Managed: true, Deleted: true, ForeignBlock: true})
	if err != nil || !r.Deleted || !handBlocked(r) {
		t.Fatalf("DELETE keeping the foreign block: Deleted %v hand-blocked %v, %v; want true and a reason", r.Deleted, handBlocked(r), err)
	}
	if r := mustGet(t, a, id); !r.Deleted || !handBlocked(r) || app.user(id)["scim"].(map[string]any)["blocked"] != false {
		t.Errorf("read again: Deleted %v hand-blocked %v stored %v", r.Deleted, handBlocked(r), app.user(id)["scim"])
	}
	r, err = a.UpdateUser(bg, id, &off, adapters.State{Managed: true, Deleted: true})
	if err != nil || !r.Deleted || handBlocked(r) {
		t.Errorf("DELETE blocking by SCIM: Deleted %v hand-blocked %v, %v; want true and none", r.Deleted, handBlocked(r), err)
	}
}
