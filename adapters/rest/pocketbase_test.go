package rest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/adaptertest"
	"github.com/caddy-scim/caddy-scim/adapters/adaptertest/roundtrip"
	"github.com/caddy-scim/caddy-scim/adapters/rest"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

const pbUsers = "/api/collections/users/records"

// pocketbase calls the real PocketBase API as its superuser, behind the adapter's
// back.
func pocketbase(t *testing.T, p *testenv.PocketBaseServer, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return decoded(p.Do(t, method, path, body))
}

func newPocketBaseAdapter(t *testing.T, p *testenv.PocketBaseServer) *rest.Adapter {
	t.Helper()
	return provisioned(t, &rest.Adapter{Config: upstream.Config{URL: p.URL, Token: p.Token}, Preset: "pocketbase"})
}

// pocketbaseUnmanaged creates users by hand, as an operator would: no SCIM marks.
func pocketbaseUnmanaged(p *testenv.PocketBaseServer) func(t *testing.T, username, email string) string {
	return func(t *testing.T, username, email string) string {
		st, out := pocketbase(t, p, "POST", pbUsers, map[string]any{"username": username, "email": email,
			"password": "hand-made-password", "passwordConfirm": "hand-made-password"})
		if st != http.StatusOK {
			t.Fatalf("creating a user by hand: %d %v", st, out)
		}
		return out["id"].(string)
	}
}

// pocketbasePatch changes user id as a superuser would in PocketBase's dashboard.
func pocketbasePatch(t *testing.T, p *testenv.PocketBaseServer, id string, fields map[string]any) {
	t.Helper()
	if st, out := pocketbase(t, p, "PATCH", pbUsers+"/"+id, fields); st != http.StatusOK {
		t.Fatalf("changing user %s by hand: %d %v", id, st, out)
	}
}

// TestPocketBaseConformance runs the shared adapter suite against a real PocketBase
// through the pocketbase preset. PocketBase's administrators are superusers, a
// collection of their own that SCIM never sees: there is no admin case.
func TestPocketBaseConformance(t *testing.T) {
	p := testenv.PocketBase(t)
	adaptertest.Run(t, adaptertest.Harness{
		Adapter:       newPocketBaseAdapter(t, p),
		MakeUnmanaged: pocketbaseUnmanaged(p),
		BlockByHand: func(t *testing.T, id string) {
			pocketbasePatch(t, p, id, map[string]any{"disabled": true})
		},
		Upstream: adaptertest.Upstream{
			UserExists: func(t *testing.T, id string) bool {
				st, out := pocketbase(t, p, "GET", pbUsers+"/"+id, nil)
				if st != http.StatusOK && st != http.StatusNotFound {
					t.Fatalf("GET user %s: %d %v", id, st, out)
				}
				return st == http.StatusOK
			},
		},
	})
}

// TestPocketBaseRoundTrip: every attribute the preset advertises round-trips exactly
// through POST, PUT and the PATCH forms of Okta and Entra.
func TestPocketBaseRoundTrip(t *testing.T) {
	roundtrip.Run(t, newPocketBaseAdapter(t, testenv.PocketBase(t)))
}

// TestPocketBaseIdentityOfRecord: the userName of record and the tenant live in the
// hidden field scim, which a user cannot read or write, while he may rename himself
// (username).
func TestPocketBaseIdentityOfRecord(t *testing.T) {
	p := testenv.PocketBase(t)
	identityOfRecord(t, realApp{
		adapter: func(t *testing.T, tenant string) *rest.Adapter {
			return withTenant(t, newPocketBaseAdapter(t, p), tenant)
		},
		rename:      func(t *testing.T, id, name string) { pocketbasePatch(t, p, id, map[string]any{"username": name}) },
		blockByHand: func(t *testing.T, id string) { pocketbasePatch(t, p, id, map[string]any{"disabled": true}) },
	})
}

// TestPocketBaseDeprovisionSignsOut: deprovisioning is PocketBase's own refusal to
// sign the user in (authRule "disabled = false") and ends the sessions he has (a new
// tokenKey invalidates every token issued before); reactivation lets him sign in
// again.
func TestPocketBaseDeprovisionSignsOut(t *testing.T) {
	p := testenv.PocketBase(t)
	a := newPocketBaseAdapter(t, p)
	ctx := context.Background()
	name := testenv.UniqueName("pbso")
	u := &adapters.User{UserName: name, ExternalID: "ext-" + name, Active: true,
		Emails: []adapters.MultiValue{{Value: name + "@example.com", Primary: true}}}
	r, err := a.CreateUser(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	id := r.User.ID
	const pw = "the-user-password"
	pocketbasePatch(t, p, id, map[string]any{"password": pw, "passwordConfirm": pw})
	login := func() (int, string) {
		st, raw := pocketbaseAs(t, p, "", "POST", "/api/collections/users/auth-with-password", map[string]any{"identity": name, "password": pw})
		tok, _ := raw["token"].(string)
		return st, tok
	}
	st, token := login()
	if st != http.StatusOK || token == "" {
		t.Fatalf("signing in: %d", st)
	}
	if st, _ := pocketbaseAs(t, p, token, "GET", pbUsers+"/"+id, nil); st != http.StatusOK {
		t.Fatalf("the user reading himself: %d, want 200", st)
	}

	off := *u
	off.Active = false
	if r, err := a.UpdateUser(ctx, id, &off, adapters.State{Managed: true}); err != nil || r.User.Active || !r.BlockMark {
		t.Fatalf("deprovisioning: active %v, SCIM's block %v, %v", r.User.Active, r.BlockMark, err)
	}
	if st, _ := pocketbaseAs(t, p, token, "GET", pbUsers+"/"+id, nil); st == http.StatusOK {
		t.Error("a token issued before deprovisioning still works")
	}
	if st, _ := login(); st != http.StatusForbidden {
		t.Errorf("signing in while deprovisioned: %d, want 403", st)
	}

	if r, err := a.UpdateUser(ctx, id, u, adapters.State{Managed: true}); err != nil || !r.User.Active || r.BlockMark {
		t.Fatalf("reactivating: active %v, SCIM's block %v, %v", r.User.Active, r.BlockMark, err)
	}
	if st, _ := login(); st != http.StatusOK {
		t.Errorf("signing in after reactivation: %d, want 200", st)
	}
}

// pocketbaseAs calls PocketBase as the holder of token ("": anonymously).
func pocketbaseAs(t *testing.T, p *testenv.PocketBaseServer, token, method, path string, body any) (int, map[string]any) {
	t.Helper()
	q := *p
	q.Token = token
	return pocketbase(t, &q, method, path, body)
}

// TestPocketBaseLookupQuoting: lookups are PocketBase filters, and a value is a
// quoted string in them (printf "%q"): quotes and backslashes in a userName, an
// e-mail or an externalId neither break the filter nor widen it, and userName and
// e-mail are found in any case.
func TestPocketBaseLookupQuoting(t *testing.T) {
	p := testenv.PocketBase(t)
	a := newPocketBaseAdapter(t, p)
	ctx := context.Background()
	suffix := testenv.UniqueName("")
	u := &adapters.User{UserName: `O'Neil "q" a\b ` + suffix, ExternalID: `ext "'\ ` + suffix, Active: true,
		Emails: []adapters.MultiValue{{Value: "o'neil." + suffix + "@example.com", Primary: true}}}
	r, err := a.CreateUser(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.DeleteUser(ctx, r.User.ID) })
	for _, q := range []adapters.Lookup{
		{Kind: adapters.ByUserName, Value: u.UserName}, {Kind: adapters.ByUserName, Value: strings.ToUpper(u.UserName)},
		{Kind: adapters.ByEmail, Value: strings.ToUpper(u.PrimaryEmail())}, {Kind: adapters.ByExternalID, Value: u.ExternalID},
	} {
		recs, err := a.FindUsers(ctx, q)
		if err != nil || len(recs) != 1 || recs[0].User.ID != r.User.ID {
			t.Errorf("FindUsers(%v) = %v, %v; want the user", q, recs, err)
		}
	}
	// a value that would close the quotes of an unquoted filter finds nobody
	for _, v := range []string{`" || id != "`, `' || id != '`} {
		if recs, err := a.FindUsers(ctx, adapters.Lookup{Kind: adapters.ByExternalID, Value: v}); err != nil || len(recs) != 0 {
			t.Errorf("FindUsers(externalId %q) = %v, %v; want none", v, recs, err)
		}
	}
}

// TestPocketBasePresetChecks: caddy scim check-mapping accepts the preset and says
// where it keeps SCIM's state.
func TestPocketBasePresetChecks(t *testing.T) {
	presetSummary(t, "pocketbase", "scim.user_name", "scim.tenant", "verified", "paging page")
}

// TestPocketBaseLogin: the preset with the login the README shows (the superuser's
// password as the adapter's token) logs in and provisions; the token's lifetime
// comes from PocketBase's JWT.
func TestPocketBaseLogin(t *testing.T) {
	p := testenv.PocketBase(t)
	raw, err := rest.PresetJSON("pocketbase")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["params"] = []string{"superuser"}
	m["login"] = map[string]any{"method": "POST", "path": "/api/collections/_superusers/auth-with-password",
		"body": map[string]any{"identity": "{{.Params.superuser}}", "password": "{{.Secret}}"}, "token": "token"}
	b, _ := json.Marshal(m)
	path := filepath.Join(t.TempDir(), "pb.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	a := provisioned(t, &rest.Adapter{Config: upstream.Config{URL: p.URL, Token: p.AdminPassword}, MappingFile: path,
		Params: map[string]string{"superuser": p.AdminEmail}})
	ctx := context.Background()
	name := testenv.UniqueName("pblogin")
	r, err := a.CreateUser(ctx, &adapters.User{UserName: name, ExternalID: "ext-" + name, Active: true,
		Emails: []adapters.MultiValue{{Value: name + "@example.com", Primary: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if recs, err := a.FindUsers(ctx, adapters.Lookup{Kind: adapters.ByUserName, Value: name}); err != nil || len(recs) != 1 || recs[0].User.ID != r.User.ID {
		t.Fatalf("a lookup through the login: %v %v", recs, err)
	}
	wrong := provisioned(t, &rest.Adapter{Config: upstream.Config{URL: p.URL, Token: "not-" + p.AdminPassword}, MappingFile: path,
		Params: map[string]string{"superuser": p.AdminEmail}})
	if _, err := wrong.FindUsers(ctx, adapters.Lookup{Kind: adapters.ByUserName, Value: name}); !adapters.Is(err, adapters.Misconfigured) {
		t.Errorf("a wrong password: %v, want misconfigured", err)
	}
}
