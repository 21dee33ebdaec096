package rest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/adaptertest"
	"github.com/caddy-scim/caddy-scim/adapters/adaptertest/roundtrip"
	"github.com/caddy-scim/caddy-scim/adapters/rest"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// miniflux calls the real Miniflux API as its administrator, behind the adapter's
// back.
func miniflux(t *testing.T, m *testenv.MinifluxServer, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return decoded(m.Do(t, method, path, body))
}

func newMinifluxAdapter(t *testing.T, m *testenv.MinifluxServer) *rest.Adapter {
	t.Helper()
	return provisioned(t, &rest.Adapter{Config: upstream.Config{URL: m.URL, Token: m.APIKey}, Preset: "miniflux",
		Params: map[string]string{"lock_password": m.LockPassword}})
}

// minifluxUser creates an account by hand, as Miniflux's administrator would, and
// returns its id.
func minifluxUser(t *testing.T, m *testenv.MinifluxServer, username, password string, admin bool) string {
	t.Helper()
	st, out := miniflux(t, m, "POST", "/v1/users", map[string]any{"username": username, "password": password, "is_admin": admin})
	if st != http.StatusCreated {
		t.Fatalf("creating a user by hand: %d %v", st, out)
	}
	return fmt.Sprint(out["id"])
}

// minifluxExists reports whether Miniflux still has user id. Miniflux answers a
// DELETE at once and removes the user in the background, so a user that is still
// there is asked about again for a few seconds.
func minifluxExists(t *testing.T, m *testenv.MinifluxServer, id string) bool {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st, out := miniflux(t, m, "GET", "/v1/users/"+id, nil)
		if st != http.StatusOK && st != http.StatusNotFound {
			t.Fatalf("GET user %s: %d %v", id, st, out)
		}
		if st == http.StatusNotFound || time.Now().After(deadline) {
			return st == http.StatusOK
		}
	}
}

// TestMinifluxConformance runs the shared adapter suite against a real Miniflux
// in the modes of an application without room for SCIM's state (MarksInStore,
// NoBlock). Miniflux keeps no e-mail and no name, so the preset advertises neither
// and the suite checks neither; it keeps usernames in lower case (UserNameFolded).
// Deprovisioned tells whether the lock password opens the account.
func TestMinifluxConformance(t *testing.T) {
	m := testenv.Miniflux(t)
	adaptertest.Run(t, adaptertest.Harness{
		Adapter:      newMinifluxAdapter(t, m),
		MarksInStore: true, NoBlock: true, UserNameFolded: true,
		MakeUnmanaged: func(t *testing.T, username, email string) string {
			return minifluxUser(t, m, username, "hand-made-password", false)
		},
		Admin:         func(t *testing.T) (string, string) { return minifluxAdmin(t, m), m.Admin },
		Deprovisioned: func(t *testing.T, id string) bool { return minifluxLocked(t, m, id) },
		Upstream:      adaptertest.Upstream{UserExists: func(t *testing.T, id string) bool { return minifluxExists(t, m, id) }},
	})
}

// minifluxLocked reports whether account id carries SCIM's deprovisioning: the lock
// password opens it.
func minifluxLocked(t *testing.T, m *testenv.MinifluxServer, id string) bool {
	t.Helper()
	st, out := miniflux(t, m, "GET", "/v1/users/"+id, nil)
	if st != http.StatusOK {
		t.Fatalf("GET user %s: %d %v", id, st, out)
	}
	return m.SignIn(t, fmt.Sprint(out["username"]), m.LockPassword, "GET", "/v1/me") == http.StatusOK
}

// minifluxAdmin is the id of the administrator Miniflux was installed with.
func minifluxAdmin(t *testing.T, m *testenv.MinifluxServer) string {
	t.Helper()
	st, out := miniflux(t, m, "GET", "/v1/users/"+m.Admin, nil)
	if st != http.StatusOK {
		t.Fatalf("GET the administrator: %d %v", st, out)
	}
	return fmt.Sprint(out["id"])
}

// TestMinifluxContract checks, against a real Miniflux, what the shared suite
// (TestMinifluxConformance) cannot see: every record names the account's own
// username, in Miniflux's lower case, as its Login, and says that its userName of
// record lives only in the link store (Unrecorded); and the deprovisioning action
// runs on the transitions only: a password an administrator sets while the account
// is inactive, or active again, survives the IdP's writes that keep the state (the
// suite's Deprovisioned cannot tell a lock left alone from one set again).
func TestMinifluxContract(t *testing.T) {
	m := testenv.Miniflux(t)
	a := newMinifluxAdapter(t, m)
	ctx := context.Background()
	ofRecord := func(what string, r adapters.Record, login string) {
		t.Helper()
		if r.Login != login || !r.Unrecorded {
			t.Errorf("%s: Login %q Unrecorded %v; want Miniflux's own username %q, the userName of record in the store only", what, r.Login, r.Unrecorded, login)
		}
	}

	name := "Ct." + testenv.UniqueName("Con")
	u := &adapters.User{UserName: name, ExternalID: "ext-" + name, Active: true}
	r, err := a.CreateUser(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	id := r.User.ID
	ofRecord("CreateUser", r, strings.ToLower(name))
	if recs, err := a.FindUsers(ctx, adapters.Lookup{Kind: adapters.ByID, Value: id}); err != nil || len(recs) != 1 {
		t.Fatalf("FindUsers(ByID %s) = %v, %v; want the user", id, recs, err)
	} else {
		ofRecord("FindUsers(ByID)", recs[0], strings.ToLower(name))
	}
	renamed := name + ".x"
	v := *u
	v.UserName = renamed
	if r, err := a.UpdateUser(ctx, id, &v, adapters.State{Managed: true}); err != nil {
		t.Fatal(err)
	} else {
		ofRecord("UpdateUser (rename)", r, strings.ToLower(renamed))
	}

	// the action runs on the transitions only: a password set while the account is
	// inactive, or active again, survives the IdP's writes that keep the state
	locked := func() bool { return minifluxLocked(t, m, id) }
	const pw = "set-by-an-administrator"
	setPassword := func() {
		if st, out := miniflux(t, m, "PUT", "/v1/users/"+id, map[string]any{"password": pw}); st != http.StatusCreated {
			t.Fatalf("setting a password by hand: %d %v", st, out)
		}
	}
	off := v
	off.Active = false
	if _, err := a.UpdateUser(ctx, id, &off, adapters.State{Managed: true, Deactivating: true}); err != nil || !locked() {
		t.Fatalf("deprovisioning: %v; the lock password opens the account: %v", err, locked())
	}
	setPassword()
	if _, err := a.UpdateUser(ctx, id, &off, adapters.State{Managed: true}); err != nil || locked() {
		t.Errorf("a write that keeps the account inactive ran the action again: %v, locked %v", err, locked())
	}
	if _, err := a.UpdateUser(ctx, id, &off, adapters.State{Managed: true, Deleted: true, Deactivating: true}); err != nil || !locked() {
		t.Errorf("a DELETE's write: %v; the lock password opens the account: %v", err, locked())
	}
	if _, err := a.UpdateUser(ctx, id, &v, adapters.State{Managed: true, Reactivating: true}); err != nil || locked() {
		t.Errorf("reactivation: %v; the lock password still opens the account: %v", err, locked())
	}
	setPassword()
	if _, err := a.UpdateUser(ctx, id, &v, adapters.State{Managed: true}); err != nil || m.SignIn(t, renamed, pw, "GET", "/v1/me") != http.StatusOK {
		t.Errorf("a write that keeps the account active changed its password: %v", err)
	}
}

// TestMinifluxRoundTrip: every attribute the preset advertises (userName, and
// active and externalId, which the link store keeps) round-trips through the
// provisioning service.
func TestMinifluxRoundTrip(t *testing.T) {
	roundtrip.Run(t, newMinifluxAdapter(t, testenv.Miniflux(t)))
}

// TestMinifluxPresetChecks: caddy scim check-mapping accepts the preset and reports
// the modes of an application without room: the marks in the link store, no block
// state and the deprovisioning action, the userName of record in the store only.
func TestMinifluxPresetChecks(t *testing.T) {
	b, _ := presetSummary(t, "miniflux", "in the link store only", "Miniflux cannot block an account", "runs users.deactivate",
		"users.find_username: not mapped", "users.find_external_id: not mapped: the link store", "paging none", "only the default tenant",
		"userName of record: only in the link store")
	if _, err := rest.Check(b, map[string]string{"lock_password": "x", "typo": "y"}); err == nil || !strings.Contains(err.Error(), "typo") {
		t.Errorf("an unknown param: %v, want it named", err)
	}
}

// TestMinifluxDeprovisioning: deprovisioning gives the account the lock password,
// which ends what the account's own password opened, HTTP Basic on the API and the
// web login, and every web session it had (Miniflux 2.3.5 removes a user's
// sessions when an administrator sets a password); the API keys the user made still
// work (an administrator can neither list nor revoke another user's keys).
// Reactivation lifts the lock (a random password nobody knows) and gives nothing
// back: Miniflux keeps only a hash of the password it replaced.
func TestMinifluxDeprovisioning(t *testing.T) {
	m := testenv.Miniflux(t)
	a := newMinifluxAdapter(t, m)
	ctx := context.Background()
	name := testenv.UniqueName("mfso")
	u := &adapters.User{UserName: name, ExternalID: "ext-" + name, Active: true}
	r, err := a.CreateUser(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	id := r.User.ID
	const pw = "the-user-password"
	if st, out := miniflux(t, m, "PUT", "/v1/users/"+id, map[string]any{"password": pw}); st != http.StatusCreated {
		t.Fatalf("setting the user's password: %d %v", st, out)
	}
	if st := m.SignIn(t, name, pw, "GET", "/v1/me"); st != http.StatusOK {
		t.Fatalf("Basic auth with the user's password: %d", st)
	}
	key := minifluxUserKey(t, m, name, pw)
	web := minifluxWebLogin(t, m, name, pw)
	if !minifluxWebSession(t, m, web) {
		t.Fatal("the web login gave no session")
	}

	off := *u
	off.Active = false
	if _, err := a.UpdateUser(ctx, id, &off, adapters.State{Managed: true, Deactivating: true}); err != nil {
		t.Fatal(err)
	}
	if st := m.SignIn(t, name, pw, "GET", "/v1/me"); st != http.StatusUnauthorized {
		t.Errorf("Basic auth with the user's password after deprovisioning: %d, want 401", st)
	}
	if minifluxWebSession(t, m, web) {
		t.Error("the web session outlived deprovisioning")
	}
	if st := m.SignIn(t, name, m.LockPassword, "GET", "/v1/me"); st != http.StatusOK {
		t.Errorf("the lock password does not open the account (%d): deprovisioning did not set it", st)
	}
	if st := minifluxWithKey(t, m, key); st != http.StatusOK {
		t.Errorf("the user's API key after deprovisioning: %d; Miniflux was expected to keep it working (the README says so)", st)
	}

	if _, err := a.UpdateUser(ctx, id, u, adapters.State{Managed: true, Reactivating: true}); err != nil {
		t.Fatal(err)
	}
	if st := m.SignIn(t, name, pw, "GET", "/v1/me"); st != http.StatusUnauthorized {
		t.Errorf("Basic auth with the old password after reactivation: %d, want 401 (nothing is given back)", st)
	}
	if minifluxLocked(t, m, id) {
		t.Error("the lock password still opens the reactivated account")
	}
	if st := m.SignIn(t, name, m.LockPassword+"-"+id, "GET", "/v1/me"); st != http.StatusUnauthorized {
		t.Errorf("a password derived from the lock password opens the reactivated account: %d", st)
	}
}

// minifluxUserKey makes an API key as user (Basic auth), as a feed reader app's
// owner would, and returns it.
func minifluxUserKey(t *testing.T, m *testenv.MinifluxServer, user, password string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", m.URL+"/v1/api-keys", strings.NewReader(`{"description":"reader app"}`))
	req.SetBasicAuth(user, password)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	st, out := decoded(resp.StatusCode, raw)
	tok, _ := out["token"].(string)
	if st != http.StatusCreated || tok == "" {
		t.Fatalf("the user making an API key: %d %s", st, raw)
	}
	return tok
}

// minifluxWithKey calls GET /v1/me with an API key and answers the status.
func minifluxWithKey(t *testing.T, m *testenv.MinifluxServer, key string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", m.URL+"/v1/me", nil)
	req.Header.Set("X-Auth-Token", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// minifluxWebLogin signs in through Miniflux's login form and returns the browser
// (its cookie jar holds the session).
func minifluxWebLogin(t *testing.T, m *testenv.MinifluxServer, user, password string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(m.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tok := csrfRE.FindSubmatch(page)
	if tok == nil {
		t.Fatalf("no CSRF token on the login page (%d)", resp.StatusCode)
	}
	resp, err = c.PostForm(m.URL+"/login", url.Values{"csrf": {string(tok[1])}, "username": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the web login answered %d, want a redirect", resp.StatusCode)
	}
	return c
}

// minifluxWebSession reports whether browser c is signed in: its settings page
// answers, not a redirect to the login form.
func minifluxWebSession(t *testing.T, m *testenv.MinifluxServer, c *http.Client) bool {
	t.Helper()
	resp, err := c.Get(m.URL + "/settings")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// TestMinifluxLookups: a userName is found by reading the listing, not through
// GET /v1/users/{name}, which takes a name of digits for an id: an all-digit
// userName is found, the lookup of "1" never answers the administrator (id 1), and
// a ByID lookup of a username finds no one.
// Miniflux keeps usernames in lower case: a userName is found in any case.
func TestMinifluxLookups(t *testing.T) {
	m := testenv.Miniflux(t)
	a := newMinifluxAdapter(t, m)
	ctx := context.Background()
	digits := fmt.Sprint(time.Now().UnixNano() % 1_000_000_000)
	r, err := a.CreateUser(ctx, &adapters.User{UserName: digits, ExternalID: "ext-" + digits, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	mixed := "Mixed.Case." + testenv.UniqueName("") + "@Example.org"
	r2, err := a.CreateUser(ctx, &adapters.User{UserName: mixed, ExternalID: "ext-" + mixed, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		value, id string
	}{{digits, r.User.ID}, {mixed, r2.User.ID}, {strings.ToUpper(mixed), r2.User.ID}, {strings.ToLower(mixed), r2.User.ID}} {
		recs, err := a.FindUsers(ctx, adapters.Lookup{Kind: adapters.ByUserName, Value: q.value})
		if err != nil || len(recs) != 1 || recs[0].User.ID != q.id {
			t.Errorf("FindUsers(userName %q) = %v, %v; want user %s", q.value, recs, err, q.id)
		}
	}
	if recs, err := a.FindUsers(ctx, adapters.Lookup{Kind: adapters.ByUserName, Value: "1"}); err != nil || len(recs) != 0 {
		t.Errorf(`FindUsers(userName "1") = %v, %v; want none`, recs, err)
	}
	// a username is no id, though GET /v1/users/{name} would answer its user
	if recs, err := a.FindUsers(ctx, adapters.Lookup{Kind: adapters.ByID, Value: strings.ToLower(mixed)}); err != nil || len(recs) != 0 {
		t.Errorf("FindUsers(ByID %q) = %v, %v; want none", strings.ToLower(mixed), recs, err)
	}
}

// TestMinifluxRefusals: what Miniflux refuses reads as the fact it is: a taken
// username (400 "This user already exists.") as taken, in any case; a username
// with characters it does not allow as invalid, with its message.
func TestMinifluxRefusals(t *testing.T) {
	m := testenv.Miniflux(t)
	a := newMinifluxAdapter(t, m)
	ctx := context.Background()
	name := testenv.UniqueName("mftaken")
	minifluxUser(t, m, name, "hand-made-password", false)
	if _, err := a.CreateUser(ctx, &adapters.User{UserName: strings.ToUpper(name), Active: true}); !adapters.Is(err, adapters.Taken) {
		t.Errorf("creating a taken username: %v, want taken", err)
	}
	_, err := a.CreateUser(ctx, &adapters.User{UserName: "Ada Lovelace", Active: true})
	if !adapters.Is(err, adapters.Invalid) || !strings.Contains(err.Error(), "Only letters, numbers") {
		t.Errorf("creating a username with a space: %v, want invalid with Miniflux's message", err)
	}
	r, err := a.CreateUser(ctx, &adapters.User{UserName: testenv.UniqueName("mfren"), Active: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.UpdateUser(ctx, r.User.ID, &adapters.User{UserName: name, Active: true}, adapters.State{Managed: true}); !adapters.Is(err, adapters.Taken) {
		t.Errorf("renaming to a taken username: %v, want taken", err)
	}
}
