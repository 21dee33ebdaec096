package rest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/adaptertest"
	"github.com/caddy-scim/caddy-scim/adapters/adaptertest/roundtrip"
	"github.com/caddy-scim/caddy-scim/adapters/rest"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// wordpress calls the real WordPress REST API as its administrator, behind the
// adapter's back.
func wordpress(t *testing.T, w *testenv.WordPressServer, method, route string, body any) (int, map[string]any) {
	t.Helper()
	st, _, raw := w.Do(t, method, route, body)
	return decoded(st, raw)
}

func newWordPressAdapter(t *testing.T, w *testenv.WordPressServer, role string) *rest.Adapter {
	t.Helper()
	return provisioned(t, &rest.Adapter{Config: upstream.Config{URL: w.URL, Token: w.Token}, Preset: "wordpress",
		Params: map[string]string{"role": role}})
}

// wordpressUser makes a user by hand, as an administrator would in Users → Add New.
func wordpressUser(t *testing.T, w *testenv.WordPressServer, username, email, password string, roles ...string) string {
	t.Helper()
	st, out := wordpress(t, w, "POST", "/wp/v2/users", map[string]any{"username": username, "email": email,
		"password": password, "roles": roles})
	if st != http.StatusCreated {
		t.Fatalf("creating a user by hand: %d %v", st, out)
	}
	return wpID(out["id"])
}

// wpID is a numeric id of a decoded answer as text.
func wpID(v any) string {
	if f, ok := v.(float64); ok {
		return strconv.FormatInt(int64(f), 10)
	}
	return fmt.Sprint(v)
}

// wordpressRoles are user id's roles as WordPress keeps them.
func wordpressRoles(t *testing.T, w *testenv.WordPressServer, id string) []string {
	t.Helper()
	st, out := wordpress(t, w, "GET", "/wp/v2/users/"+id+"?context=edit&_fields=roles", nil)
	if st != http.StatusOK {
		t.Fatalf("reading user %s: %d %v", id, st, out)
	}
	var roles []string
	for _, r := range out["roles"].([]any) {
		roles = append(roles, r.(string))
	}
	return roles
}

func wordpressSetRoles(t *testing.T, w *testenv.WordPressServer, id string, roles ...string) {
	t.Helper()
	if roles == nil {
		roles = []string{}
	}
	if st, out := wordpress(t, w, "POST", "/wp/v2/users/"+id, map[string]any{"roles": roles}); st != http.StatusOK {
		t.Fatalf("setting the roles of %s: %d %v", id, st, out)
	}
}

// TestWordPressPresetChecks: caddy scim check-mapping accepts the preset and says
// what it costs: SCIM's marks and active in the link store, deprovisioning the
// mapping's actions, the login as the userName of record.
func TestWordPressPresetChecks(t *testing.T) {
	b, _ := presetSummary(t, "wordpress", "in the link store only", "cannot block an account", "runs users.deactivate",
		"fixed by the application", "only the default tenant", "find_username: not mapped", "paging page")
	if _, err := rest.Check(b, map[string]string{"group": "x"}); err == nil {
		t.Error("a param the preset does not declare was accepted")
	}
}

// wordpressNoRename names the conformance case WordPress cannot pass: Update renames
// the account through the adapter, and WordPress never changes a login ("Username
// is not editable", in its REST API and its admin screens alike). The provisioning
// service keeps a renamed userName in the link store (the roundtrip's userName case),
// and TestWordPressUpdate checks the rest of what Update checks.
const wordpressNoRename = "Update"

// wordpressChild carries the parent's WordPress (url, token) to the process that
// runs the suite without wordpressNoRename.
const wordpressChild = "CADDY_SCIM_WORDPRESS_CONFORMANCE"

// TestWordPressConformance runs the shared adapter suite against a real WordPress
// through the wordpress preset in the modes it needs (MarksInStore, NoBlock), but
// for the wordpressNoRename case: go test skips a subtest only by its -test.skip
// flag, so the suite runs in a child test process.
func TestWordPressConformance(t *testing.T) {
	env := os.Getenv(wordpressChild)
	if env == "" {
		w := testenv.WordPress(t)
		args := []string{"-test.run=^TestWordPressConformance$", "-test.skip=^TestWordPressConformance$/^(" + wordpressNoRename + ")$", "-test.count=1"}
		if testing.Verbose() {
			args = append(args, "-test.v")
		}
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), wordpressChild+"="+w.URL+"\n"+w.Token)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the suite without %s: %v\n%s", wordpressNoRename, err, out)
		}
		t.Logf("the suite without %s (WordPress never renames a login: TestWordPressUpdate):\n%s", wordpressNoRename, out)
		return
	}
	u, token, _ := strings.Cut(env, "\n")
	w := &testenv.WordPressServer{URL: u, Token: token}
	adaptertest.Run(t, adaptertest.Harness{
		Adapter:      newWordPressAdapter(t, w, "subscriber"),
		MarksInStore: true, NoBlock: true,
		MakeUnmanaged: func(t *testing.T, username, email string) string {
			return wordpressUser(t, w, username, email, "Hand-made-1", "subscriber")
		},
		Admin: func(t *testing.T) (string, string) {
			name := testenv.UniqueName("root")
			return wordpressUser(t, w, name, name+"@example.com", "Hand-made-1", "administrator"), name
		},
		Deprovisioned: func(t *testing.T, id string) bool { return len(wordpressRoles(t, w, id)) == 0 },
		Upstream: adaptertest.Upstream{UserExists: func(t *testing.T, id string) bool {
			st, out := wordpress(t, w, "GET", "/wp/v2/users/"+id+"?context=edit", nil)
			if st != http.StatusOK && st != http.StatusNotFound {
				t.Fatalf("GET user %s: %d %v", id, st, out)
			}
			return st == http.StatusOK
		}},
	})
}

// TestWordPressUpdate is adaptertest's Update but for the rename: every attribute
// WordPress keeps changes, the old e-mail is free again; the login stays what the
// create made it, and the adapter answers it (the service keeps the IdP's userName
// of record in the link store).
func TestWordPressUpdate(t *testing.T) {
	w := testenv.WordPress(t)
	a := newWordPressAdapter(t, w, "subscriber")
	ctx := context.Background()
	mk := func(prefix string) *adapters.User {
		n := testenv.UniqueName(prefix)
		return &adapters.User{UserName: n, ExternalID: "ext-" + n, Active: true, DisplayName: "Ada " + n,
			Name:   &adapters.Name{GivenName: "Ada", FamilyName: "Lovelace " + n},
			Emails: []adapters.MultiValue{{Value: n + "@example.com", Type: "work", Primary: true}}}
	}
	u := mk("wpupd")
	r, err := a.CreateUser(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	id := r.User.ID
	v := mk("wpupd")
	got, err := a.UpdateUser(ctx, id, v, adapters.State{Managed: true})
	if err != nil {
		t.Fatal(err)
	}
	g := got.User
	if g.UserName != u.UserName || got.Login != u.UserName || g.PrimaryEmail() != v.PrimaryEmail() ||
		g.FullName() != v.FullName() || g.DisplayName != v.DisplayName || !g.Active {
		t.Fatalf("after the update: userName %q login %q e-mail %q name %q display %q active %v; want the login %q kept and the rest of %+v",
			g.UserName, got.Login, g.PrimaryEmail(), g.FullName(), g.DisplayName, g.Active, u.UserName, v)
	}
	find := func(k adapters.LookupKind, val string) bool {
		t.Helper()
		recs, err := a.FindUsers(ctx, adapters.Lookup{Kind: k, Value: val})
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(recs, func(r adapters.Record) bool { return r.User.ID == id })
	}
	if !find(adapters.ByEmail, strings.ToUpper(v.PrimaryEmail())) || find(adapters.ByEmail, u.PrimaryEmail()) ||
		!find(adapters.ByUserName, strings.ToUpper(u.UserName)) || find(adapters.ByUserName, v.UserName) {
		t.Error("lookups after the update do not follow WordPress: the new e-mail and the login find the account, the old e-mail and the unapplied userName do not")
	}
	x := mk("wpupd")
	x.Emails[0].Value = u.PrimaryEmail()
	if _, err := a.CreateUser(ctx, x); err != nil {
		t.Fatalf("the old e-mail is not free again: %v", err)
	}
	// another account's e-mail: WordPress's 400 is the Taken fact, naming emails
	y := *v
	y.Emails = []adapters.MultiValue{{Value: x.PrimaryEmail(), Type: "work", Primary: true}}
	_, err = a.UpdateUser(ctx, id, &y, adapters.State{Managed: true})
	if f, ok := adapters.FactOf(err); !ok || f.Fact != adapters.Taken || f.Field != "emails" {
		t.Fatalf("an update to another account's e-mail: %v; want the Taken fact naming emails", err)
	}
}

// TestWordPressTakenCreatesNothing: WordPress answers a taken login or e-mail on a
// create with HTTP 500 (existing_user_login, existing_user_email), which the preset's
// error rules read as taken, naming the field, rather than as an outage. The refusal
// creates nothing, and a value WordPress finds invalid stays invalid.
func TestWordPressTakenCreatesNothing(t *testing.T) {
	w := testenv.WordPress(t)
	a := newWordPressAdapter(t, w, "subscriber")
	ctx := context.Background()
	count := func() string {
		_, h, _ := w.Do(t, "GET", "/wp/v2/users?context=edit&per_page=1", nil)
		return h.Get("X-WP-Total")
	}
	n := testenv.UniqueName("wptaken")
	u := &adapters.User{UserName: n + "@example.com", Active: true, Emails: []adapters.MultiValue{{Value: n + "@example.com", Primary: true}}}
	if _, err := a.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	before := count()
	for _, c := range []struct {
		what, userName, email string
		fact                  adapters.Fact
	}{
		{"a taken login", u.UserName, "other-" + n + "@example.com", adapters.Taken},
		{"a taken login in another case", strings.ToUpper(u.UserName), "other-" + n + "@example.com", adapters.Taken},
		{"a taken e-mail", "other-" + n, strings.ToUpper(u.UserName), adapters.Taken},
		{"a login WordPress refuses", "a+b/" + n, "ab-" + n + "@example.com", adapters.Invalid},
		{"an e-mail WordPress refuses", "ab-" + n, "not-an-address", adapters.Invalid},
	} {
		v := &adapters.User{UserName: c.userName, Active: true, Emails: []adapters.MultiValue{{Value: c.email, Primary: true}}}
		if _, err := a.CreateUser(ctx, v); !adapters.Is(err, c.fact) {
			t.Errorf("%s: %v; want the %s fact", c.what, err, c.fact)
		}
	}
	if after := count(); after != before {
		t.Fatalf("WordPress had %s users before the refused creates, %s after", before, after)
	}
}

// TestWordPressDeprovision: deprovisioning removes every role, reactivation gives the
// preset's role param, each only when SCIM's active changes, so roles an
// administrator gave an active account survive the IdP's writes. What a user without
// a role keeps is WordPress's: the README says it, this checks it. He still signs in
// (wp-login.php takes his password) but wp-admin, his profile included, answers 403;
// an application password he made still authenticates him to the REST API, where
// he can read and change his own profile and nothing that needs a capability.
func TestWordPressDeprovision(t *testing.T) {
	w := testenv.WordPress(t)
	a := newWordPressAdapter(t, w, "author")
	ctx := context.Background()
	n := testenv.UniqueName("wpdep")
	u := &adapters.User{UserName: n, Active: true, Emails: []adapters.MultiValue{{Value: n + "@example.com", Primary: true}}}
	r, err := a.CreateUser(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	id := r.User.ID
	if got := wordpressRoles(t, w, id); !slices.Equal(got, []string{"author"}) {
		t.Fatalf("roles after create: %v; want the role param's [author]", got)
	}
	wordpressSetRoles(t, w, id, "editor")
	if _, err := a.UpdateUser(ctx, id, u, adapters.State{Managed: true}); err != nil {
		t.Fatal(err)
	}
	if got := wordpressRoles(t, w, id); !slices.Equal(got, []string{"editor"}) {
		t.Fatalf("a write that keeps the account active changed the roles an administrator gave: %v", got)
	}
	const pw = "The-users-own-1"
	if st, out := wordpress(t, w, "POST", "/wp/v2/users/"+id, map[string]any{"password": pw}); st != http.StatusOK {
		t.Fatalf("setting a password: %d %v", st, out)
	}
	st, out := wordpress(t, w, "POST", "/wp/v2/users/"+id+"/application-passwords", map[string]any{"name": "his own"})
	if st != http.StatusCreated {
		t.Fatalf("an application password: %d %v", st, out)
	}
	app, _ := out["password"].(string)

	off := *u
	off.Active = false
	if _, err := a.UpdateUser(ctx, id, &off, adapters.State{Managed: true, Deactivating: true}); err != nil {
		t.Fatal(err)
	}
	if got := wordpressRoles(t, w, id); len(got) != 0 {
		t.Fatalf("roles after deprovisioning: %v; want none", got)
	}
	if st, landed := wordpressSignIn(t, w, n, pw, "/wp-admin/profile.php"); st != http.StatusForbidden || !landed {
		t.Errorf("signed in without a role: wp-admin/profile.php answered %d (signed in %v); want 403 to a signed-in user", st, landed)
	}
	me := func(method string, body any) int {
		t.Helper()
		q := *w
		q.Token = "Basic " + basic(n, app)
		st, _, _ := q.Do(t, method, "/wp/v2/users/me?context=edit", body)
		return st
	}
	if st := me("GET", nil); st != http.StatusOK {
		t.Errorf("his application password without a role: GET users/me answered %d; the README says it still works", st)
	}
	if st := me("POST", map[string]any{"first_name": "Still"}); st != http.StatusOK {
		t.Errorf("his application password without a role: changing his profile answered %d; the README says it still works", st)
	}
	q := *w
	q.Token = "Basic " + basic(n, app)
	if st, _, _ := q.Do(t, "POST", "/wp/v2/posts", map[string]any{"title": "x"}); st != http.StatusForbidden {
		t.Errorf("his application password without a role created a post: %d", st)
	}

	if _, err := a.UpdateUser(ctx, id, &off, adapters.State{Managed: true}); err != nil {
		t.Fatal(err)
	}
	if got := wordpressRoles(t, w, id); len(got) != 0 {
		t.Fatalf("a write that keeps the account inactive gave roles back: %v", got)
	}
	if _, err := a.UpdateUser(ctx, id, u, adapters.State{Managed: true, Reactivating: true}); err != nil {
		t.Fatal(err)
	}
	if got := wordpressRoles(t, w, id); !slices.Equal(got, []string{"author"}) {
		t.Fatalf("roles after reactivation: %v; want the role param's [author] (the editor role an administrator gave is gone)", got)
	}
}

// basic is the credentials of HTTP basic auth.
func basic(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

// wordpressSignIn signs in through wp-login.php as a browser would and reads path;
// landed reports whether WordPress set its logged-in cookie.
func wordpressSignIn(t *testing.T, w *testenv.WordPressServer, login, password, path string) (status int, landed bool) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base, _ := url.Parse(w.URL)
	jar.SetCookies(base, []*http.Cookie{{Name: "wordpress_test_cookie", Value: "WP Cookie check", Path: "/"}})
	resp, err := c.PostForm(w.URL+"/wp-login.php", url.Values{"log": {login}, "pwd": {password}, "testcookie": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, ck := range jar.Cookies(base) {
		landed = landed || strings.HasPrefix(ck.Name, "wordpress_logged_in_")
	}
	if resp, err = c.Get(w.URL + path); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, landed
}

// TestWordPressDeleteKeepsContent: a DELETE with deprovision delete removes the
// WordPress user and hands what he wrote to the administrator whose application
// password the adapter uses (reassign), as wp-admin offers; nothing is deleted with
// him.
func TestWordPressDeleteKeepsContent(t *testing.T) {
	w := testenv.WordPress(t)
	a := newWordPressAdapter(t, w, "author")
	ctx := context.Background()
	n := testenv.UniqueName("wpdel")
	r, err := a.CreateUser(ctx, &adapters.User{UserName: n, Active: true, Emails: []adapters.MultiValue{{Value: n + "@example.com", Primary: true}}})
	if err != nil {
		t.Fatal(err)
	}
	st, post := wordpress(t, w, "POST", "/wp/v2/posts", map[string]any{"title": "by " + n, "status": "publish", "author": json.Number(r.User.ID)})
	if st != http.StatusCreated {
		t.Fatalf("a post by the user: %d %v", st, post)
	}
	if err := a.DeleteUser(ctx, r.User.ID); err != nil {
		t.Fatal(err)
	}
	st, after := wordpress(t, w, "GET", "/wp/v2/posts/"+wpID(post["id"])+"?context=edit", nil)
	if st != http.StatusOK || wpID(after["author"]) != w.AdminID {
		t.Fatalf("the deleted user's post: %d author %v; want it kept and handed to the administrator %s", st, after["author"], w.AdminID)
	}
}

// TestWordPressRoundTrip: every attribute the preset advertises round-trips exactly
// through the provisioning service (with its link store, which keeps externalId,
// active and a renamed userName): POST, PUT and the PATCH forms of Okta and Entra.
func TestWordPressRoundTrip(t *testing.T) {
	roundtrip.Run(t, newWordPressAdapter(t, testenv.WordPress(t), "subscriber"))
}
