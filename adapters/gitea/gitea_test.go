package gitea_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/gitea"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
	"github.com/caddy-scim/caddy-scim/integration/testenv"
	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/provision"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// recorder is a transparent reverse proxy in front of the real Gitea that records the
// paths the adapter calls, so tests can assert what reached the upstream.
type recorder struct {
	mu    sync.Mutex
	paths []string
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.paths = nil
	r.mu.Unlock()
}

func (r *recorder) calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.paths)
}

// newAdapter provisions a scim.adapters.gitea against the test Gitea, through a
// recording proxy.
func newAdapter(t *testing.T, token string) (*gitea.Adapter, *recorder, *testenv.GiteaServer) {
	t.Helper()
	return newAdapterSource(t, token, 0)
}

func newAdapterSource(t *testing.T, token string, sourceID int64) (*gitea.Adapter, *recorder, *testenv.GiteaServer) {
	t.Helper()
	g := testenv.Gitea(t)
	target, err := url.Parse(g.URL)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.paths = append(rec.paths, r.Method+" "+r.URL.EscapedPath())
		rec.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	if token == "" {
		token = g.Token
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	a := &gitea.Adapter{Config: upstream.Config{URL: srv.URL, Token: token}, SourceID: sourceID}
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Cleanup() })
	return a, rec, g
}

func newUser(userName, externalID, email, given, family string) *adapters.User {
	return &adapters.User{
		UserName:   userName,
		ExternalID: externalID,
		Name:       &adapters.Name{GivenName: given, FamilyName: family},
		Emails:     []adapters.MultiValue{{Value: email, Type: "work", Primary: true}},
		Active:     true,
	}
}

// scimStatus is what the IdP sees of an adapter's answer.
func scimStatus(err error) (int, string) {
	if err == nil {
		return 0, ""
	}
	se, _ := provision.SCIMError(err)
	return se.Status, se.ScimType
}

func find(t *testing.T, a *gitea.Adapter, kind adapters.LookupKind, value, hint string) []adapters.Record {
	t.Helper()
	recs, err := a.FindUsers(context.Background(), adapters.Lookup{Kind: kind, Value: value, UserNameHint: hint})
	if err != nil {
		t.Fatalf("FindUsers(%v, %q): %v", kind, value, err)
	}
	return recs
}

func findOne(t *testing.T, a *gitea.Adapter, kind adapters.LookupKind, value, hint string) adapters.Record {
	t.Helper()
	recs := find(t, a, kind, value, hint)
	if len(recs) != 1 {
		t.Fatalf("FindUsers(%v, %q) found %d records, want 1", kind, value, len(recs))
	}
	return recs[0]
}

func idOf(t *testing.T, rec adapters.Record) int64 {
	t.Helper()
	n, err := strconv.ParseInt(rec.User.ID, 10, 64)
	if err != nil {
		t.Fatalf("id %q is not numeric", rec.User.ID)
	}
	return n
}

func TestUserLifecycle(t *testing.T) {
	a, _, g := newAdapter(t, "")
	ctx := context.Background()
	run := testenv.UniqueName("")
	name, ext, email := "lc-"+run, "ext-"+run, "lc-"+run+"@example.test"

	// Create.
	rec, err := a.CreateUser(ctx, newUser(name, ext, email, "Ada", "Lovelace"))
	if err != nil {
		t.Fatal(err)
	}
	id := rec.User.ID
	if !rec.Managed || rec.Deleted || rec.Admin || !rec.User.Active {
		t.Fatalf("created record state: %+v", rec)
	}
	if rec.User.UserName != name || rec.User.ExternalID != ext || rec.User.PrimaryEmail() != email ||
		rec.User.Name == nil || rec.User.Name.Formatted != "Ada Lovelace" || rec.User.Name.GivenName != "Ada" ||
		rec.User.Name.FamilyName != "Lovelace" || rec.User.DisplayName != "Ada Lovelace" {
		t.Fatalf("created user: %+v name %+v", rec.User, rec.User.Name)
	}
	if rec.User.Meta.Created.IsZero() || rec.User.Meta.Version == "" {
		t.Fatalf("meta not filled: %+v", rec.User.Meta)
	}
	gu := g.GetUser(t, name)
	if gu == nil || gu["login_name"] != ext || gu["source_id"] != float64(0) || gu["prohibit_login"] != false {
		t.Fatalf("gitea view after create: %v", gu)
	}

	// Lookups.
	for _, tc := range []struct {
		kind        adapters.LookupKind
		value, hint string
	}{
		{adapters.ByUserName, name, ""},
		{adapters.ByUserName, strings.ToUpper(name), ""},
		{adapters.ByExternalID, ext, ""},
		{adapters.ByEmail, email, ""},
		{adapters.ByEmail, strings.ToUpper(email), ""},
		{adapters.ByID, id, ""},
		{adapters.ByID, id, name},
		{adapters.ByID, id, g.AdminName}, // a wrong hint is verified and ignored
	} {
		got := findOne(t, a, tc.kind, tc.value, tc.hint)
		if got.User.ID != id || !got.Managed || got.User.ExternalID != ext {
			t.Errorf("FindUsers(%v, %q, hint %q) = %+v", tc.kind, tc.value, tc.hint, got.User)
		}
	}
	if recs := find(t, a, adapters.ByExternalID, "EXT-"+run+"-nope", ""); len(recs) != 0 {
		t.Errorf("unknown externalId found %d", len(recs))
	}
	if recs := find(t, a, adapters.ByUserName, "nobody-"+run, ""); len(recs) != 0 {
		t.Errorf("unknown userName found %d", len(recs))
	}
	if recs := find(t, a, adapters.ByID, "99999999", ""); len(recs) != 0 {
		t.Errorf("unknown id found %d", len(recs))
	}

	// Update: name, e-mail, rename, externalId.
	name2, ext2, email2 := "lc2-"+run, "ext2-"+run, "lc2-"+run+"@example.test"
	u := newUser(name2, ext2, email2, "Grace", "Hopper")
	rec2, err := a.UpdateUser(ctx, id, u, adapters.State{Managed: true})
	if err != nil {
		t.Fatal(err)
	}
	if rec2.User.ID != id || rec2.User.UserName != name2 || rec2.User.ExternalID != ext2 ||
		rec2.User.PrimaryEmail() != email2 || rec2.User.Name.Formatted != "Grace Hopper" {
		t.Fatalf("updated user: %+v", rec2.User)
	}
	if rec2.User.Meta.Version == rec.User.Meta.Version {
		t.Error("meta.version did not change with the user")
	}
	if g.GetUser(t, name) != nil {
		t.Error("old username still resolves")
	}
	gu = g.GetUser(t, name2)
	if gu == nil || gu["full_name"] != "Grace Hopper" || gu["email"] != email2 || gu["login_name"] != ext2 {
		t.Fatalf("gitea view after update: %v", gu)
	}
	if recs := find(t, a, adapters.ByUserName, name, ""); len(recs) != 0 {
		t.Errorf("old userName still found after rename: %+v", recs[0].User)
	}
	if recs := find(t, a, adapters.ByExternalID, ext, ""); len(recs) != 0 {
		t.Errorf("old externalId still found")
	}
	findOne(t, a, adapters.ByID, id, name) // stale hint: falls back to the id search

	// Deprovision, then reactivate.
	u.Active = false
	rec3, err := a.UpdateUser(ctx, id, u, adapters.State{Managed: true})
	if err != nil {
		t.Fatal(err)
	}
	if rec3.User.Active || rec3.Deleted || !rec3.Managed {
		t.Fatalf("deprovisioned record: %+v", rec3)
	}
	// the block is recorded as SCIM's (#11: SCIM lifts only blocks it set)
	if gu = g.GetUser(t, name2); gu["prohibit_login"] != true || gu["login_name"] != "~scim:blocked:"+ext2 {
		t.Fatalf("gitea view after deprovision: %v", gu)
	}
	if got := findOne(t, a, adapters.ByExternalID, ext2, ""); got.User.Active {
		t.Error("deprovisioned user reads active")
	}
	u.Active = true
	rec4, err := a.UpdateUser(ctx, id, u, adapters.State{Managed: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rec4.User.Active {
		t.Fatal("reactivated user reads inactive")
	}
	if gu = g.GetUser(t, name2); gu["prohibit_login"] != false || gu["active"] != true || gu["login_name"] != ext2 {
		t.Fatalf("gitea view after reactivate (login_name back to the verbatim externalId): %v", gu)
	}

	// SCIM-deleted flag (block mode) round trip, read back from Gitea alone.
	rec5, err := a.UpdateUser(ctx, id, u, adapters.State{Managed: true, Deleted: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rec5.Deleted || rec5.User.Active || rec5.User.ExternalID != ext2 {
		t.Fatalf("deleted record: %+v", rec5)
	}
	if gu = g.GetUser(t, name2); gu["login_name"] != "~scim:deleted:"+ext2 || gu["prohibit_login"] != true {
		t.Fatalf("gitea view after SCIM delete: %v", gu)
	}
	for _, kind := range []adapters.LookupKind{adapters.ByExternalID, adapters.ByID, adapters.ByUserName} {
		v := map[adapters.LookupKind]string{adapters.ByExternalID: ext2, adapters.ByID: id, adapters.ByUserName: name2}[kind]
		if got := findOne(t, a, kind, v, ""); !got.Deleted || got.User.ExternalID != ext2 {
			t.Errorf("FindUsers(%v) of a deleted user: %+v", kind, got)
		}
	}
	list, _, err := a.ListUsers(ctx, adapters.Page{Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(list, func(r adapters.Record) bool { return r.User.ID == id }); i < 0 || !list[i].Deleted {
		t.Errorf("deleted user not listed as deleted")
	}
	rec6, err := a.UpdateUser(ctx, id, u, adapters.State{Managed: true})
	if err != nil {
		t.Fatal(err)
	}
	if rec6.Deleted || !rec6.User.Active || g.GetUser(t, name2)["login_name"] != ext2 {
		t.Fatalf("undeleted record: %+v", rec6)
	}

	// DeleteUser.
	if err := a.DeleteUser(ctx, id); err != nil {
		t.Fatal(err)
	}
	if g.GetUser(t, name2) != nil {
		t.Fatal("user still in gitea after DeleteUser")
	}
	if recs := find(t, a, adapters.ByID, id, name2); len(recs) != 0 {
		t.Fatal("deleted user still found by id")
	}
	if err := a.DeleteUser(ctx, id); !errors.Is(err, adapters.ErrNotFound) {
		t.Fatalf("second DeleteUser: %v, want ErrNotFound", err)
	}
	if _, err := a.UpdateUser(ctx, id, u, adapters.State{Managed: true}); !errors.Is(err, adapters.ErrNotFound) {
		t.Fatalf("UpdateUser of a deleted user: %v, want ErrNotFound", err)
	}
}

func TestNoExternalIDAndEscapedExternalID(t *testing.T) {
	a, _, g := newAdapter(t, "")
	ctx := context.Background()
	run := testenv.UniqueName("")

	rec, err := a.CreateUser(ctx, newUser("noext-"+run, "", "noext-"+run+"@example.test", "No", "Ext"))
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Managed || rec.User.ExternalID != "" || g.GetUser(t, "noext-"+run)["login_name"] != "~scim:managed:" {
		t.Fatalf("managed user without externalId: %+v", rec)
	}
	if got := findOne(t, a, adapters.ByUserName, "noext-"+run, ""); !got.Managed {
		t.Fatal("reads unmanaged")
	}

	weird := "~scim:deleted:" + run // an externalId that looks like the reserved form
	rec, err = a.CreateUser(ctx, newUser("weird-"+run, weird, "weird-"+run+"@example.test", "W", ""))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Deleted || rec.User.ExternalID != weird {
		t.Fatalf("escaped externalId: %+v", rec)
	}
	if got := findOne(t, a, adapters.ByExternalID, weird, ""); got.Deleted || got.User.ID != rec.User.ID {
		t.Fatalf("lookup of escaped externalId: %+v", got)
	}
	for _, id := range []string{rec.User.ID, findOne(t, a, adapters.ByUserName, "noext-"+run, "").User.ID} {
		if err := a.DeleteUser(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCreateInactive: adapters create active users and the service deprovisions one
// created inactive at once (the rule lives once, in module/provision).
func TestCreateInactive(t *testing.T) {
	a, _, g := newAdapter(t, "")
	run := testenv.UniqueName("")
	u := newUser("inact-"+run, "x-"+run, "inact-"+run+"@example.test", "In", "Active")
	u.Active = false
	svc := &provision.Service{Adapter: a, Links: links.NewMemory(time.Minute, 0)}
	rec, err := svc.CreateUser(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	if rec.User.Active || g.GetUser(t, u.UserName)["prohibit_login"] != true {
		t.Fatalf("user created inactive reads active: %+v", rec.User)
	}
	_ = a.DeleteUser(context.Background(), rec.User.ID)
}

func TestListUsersPaging(t *testing.T) {
	a, _, _ := newAdapter(t, "")
	ctx := context.Background()
	run := testenv.UniqueName("")
	var mine []string
	for i := range 7 {
		n := "page" + strconv.Itoa(i) + "-" + run
		rec, err := a.CreateUser(ctx, newUser(n, "p"+strconv.Itoa(i)+"-"+run, n+"@example.test", "P", strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		mine = append(mine, rec.User.ID)
	}
	t.Cleanup(func() {
		for _, id := range mine {
			_ = a.DeleteUser(ctx, id)
		}
	})

	all, total, err := a.ListUsers(ctx, adapters.Page{Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if total != len(all) || total < 7 {
		t.Fatalf("total %d, %d records", total, len(all))
	}
	if _, t0, err := a.ListUsers(ctx, adapters.Page{Limit: 0}); err != nil || t0 != total {
		t.Fatalf("Limit 0: total %d err %v", t0, err)
	}
	var ids []int64
	for _, r := range all {
		if !r.Managed {
			t.Errorf("unmanaged user %s listed", r.User.UserName)
		}
		ids = append(ids, idOf(t, r))
	}
	if !slices.IsSorted(ids) {
		t.Fatalf("ids not ascending: %v", ids)
	}
	var paged []string
	for off := 0; off < total; off += 3 {
		page, tot, err := a.ListUsers(ctx, adapters.Page{Offset: off, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if tot != total || len(page) != min(3, total-off) {
			t.Fatalf("page at %d: %d records, total %d", off, len(page), tot)
		}
		for _, r := range page {
			paged = append(paged, r.User.ID)
		}
	}
	var full []string
	for _, r := range all {
		full = append(full, r.User.ID)
	}
	if !slices.Equal(paged, full) {
		t.Fatalf("pages %v != full list %v", paged, full)
	}
	// The 7 new users are the last ones (highest ids), in creation order.
	if !slices.Equal(full[len(full)-7:], mine) {
		t.Fatalf("tail of list %v, want %v", full[len(full)-7:], mine)
	}
	if page, _, _ := a.ListUsers(ctx, adapters.Page{Offset: total + 5, Limit: 3}); len(page) != 0 {
		t.Fatalf("page beyond the end has %d records", len(page))
	}
}

func TestScope(t *testing.T) {
	a, _, g := newAdapter(t, "")
	ctx := context.Background()
	run := testenv.UniqueName("")
	name, email := "hand-"+run, "hand-"+run+"@example.test"
	hu := g.CreateUnmanagedUser(t, name, email)
	id := strconv.FormatInt(int64(hu["id"].(float64)), 10)
	t.Cleanup(func() { g.DeleteUser(t, name) })

	for kind, v := range map[adapters.LookupKind]string{adapters.ByUserName: name, adapters.ByEmail: email, adapters.ByID: id} {
		got := findOne(t, a, kind, v, "")
		if got.Managed || got.Deleted || got.Admin || got.User.ExternalID != "" || got.User.ID != id {
			t.Errorf("FindUsers(%v) of a hand-made user: %+v", kind, got)
		}
	}
	inList := func() bool {
		all, _, err := a.ListUsers(ctx, adapters.Page{Limit: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(all, func(r adapters.Record) bool { return r.User.ID == id })
	}
	if inList() {
		t.Fatal("unmanaged user is listed")
	}
	admin := findOne(t, a, adapters.ByUserName, g.AdminName, "")
	if !admin.Admin || admin.Managed {
		t.Fatalf("site admin: %+v", admin)
	}

	// An unmanaged user cannot be updated without adopting it (Gitea needs login_name).
	u := newUser(name, "", email, "Hand", "Made")
	if _, err := a.UpdateUser(ctx, id, u, adapters.State{}); err == nil {
		t.Fatal("update of an unmanaged user succeeded")
	}
	// Adoption.
	u.ExternalID = "adopt-" + run
	rec, err := a.UpdateUser(ctx, id, u, adapters.State{Managed: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Managed || rec.User.ExternalID != u.ExternalID || !inList() {
		t.Fatalf("adopted user: %+v", rec)
	}
}

func TestOrganizationIsNotAUser(t *testing.T) {
	a, _, g := newAdapter(t, "")
	org := testenv.UniqueName("org-")
	st, _, b := g.Do(t, http.MethodPost, "/orgs", map[string]any{"username": org})
	if st != http.StatusCreated {
		t.Fatalf("creating org: %d %s", st, b)
	}
	t.Cleanup(func() { g.Do(t, http.MethodDelete, "/orgs/"+org, nil) })
	if recs := find(t, a, adapters.ByUserName, org, ""); len(recs) != 0 {
		t.Fatalf("organization found as a user: %+v", recs[0].User)
	}
}

func TestCreateConflicts(t *testing.T) {
	a, _, _ := newAdapter(t, "")
	ctx := context.Background()
	run := testenv.UniqueName("")
	name, email := "dup-"+run, "dup-"+run+"@example.test"
	rec, err := a.CreateUser(ctx, newUser(name, "d-"+run, email, "D", "Up"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.DeleteUser(ctx, rec.User.ID) })

	for _, u := range []*adapters.User{
		newUser(name, "d2-"+run, "other-"+run+"@example.test", "D", "Up"),            // same userName
		newUser(strings.ToUpper(name), "d3-"+run, "o3-"+run+"@example.test", "", ""), // case-insensitively
		newUser("dup2-"+run, "d4-"+run, email, "D", "Up"),                            // same e-mail
	} {
		_, err := a.CreateUser(ctx, u)
		if st, typ := scimStatus(err); st != http.StatusConflict || typ != scim.ErrUniqueness {
			t.Errorf("duplicate create %s/%s: %v, want 409 uniqueness", u.UserName, u.PrimaryEmail(), err)
		}
	}
	// Renaming onto a taken name, and taking a used e-mail, conflict too.
	other, err := a.CreateUser(ctx, newUser("dup3-"+run, "d5-"+run, "dup3-"+run+"@example.test", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.DeleteUser(ctx, other.User.ID) })
	_, err = a.UpdateUser(ctx, other.User.ID, newUser(name, "d5-"+run, "dup3-"+run+"@example.test", "", ""), adapters.State{Managed: true})
	if st, _ := scimStatus(err); st != http.StatusConflict {
		t.Errorf("rename onto a taken name: %v, want 409", err)
	}
	_, err = a.UpdateUser(ctx, other.User.ID, newUser("dup3-"+run, "d5-"+run, email, "", ""), adapters.State{Managed: true})
	if st, _ := scimStatus(err); st != http.StatusConflict {
		t.Errorf("e-mail change onto a used e-mail: %v, want 409", err)
	}
	// A Gitea-side validation error is a 400 with Gitea's reason.
	_, err = a.CreateUser(ctx, newUser("bademail-"+run, "", "not-an-email", "", ""))
	if st, typ := scimStatus(err); st != http.StatusBadRequest || typ != scim.ErrInvalidValue {
		t.Errorf("invalid e-mail: %v, want 400 invalidValue", err)
	}
}

func TestInvalidInputNeverReachesGitea(t *testing.T) {
	a, rec, _ := newAdapter(t, "")
	ctx := context.Background()
	for _, name := range []string{"../admin", "..", "a/b", "x/../../admin/users", "%2e%2e", "a?sudo=admin", "a#b", ".hidden", ""} {
		rec.reset()
		_, err := a.CreateUser(ctx, newUser(name, "", "x@example.test", "", ""))
		if st, typ := scimStatus(err); st != http.StatusBadRequest || typ != scim.ErrInvalidValue {
			t.Errorf("CreateUser(%q): %v, want 400 invalidValue", name, err)
		}
		if recs := find(t, a, adapters.ByUserName, name, ""); len(recs) != 0 {
			t.Errorf("FindUsers(userName %q) matched", name)
		}
		if c := rec.calls(); len(c) != 0 {
			t.Errorf("userName %q reached gitea: %v", name, c)
		}
	}
	rec.reset()
	for _, id := range []string{"1/../2", "../admin", "-1", "0", "abc", "01", ""} {
		if recs := find(t, a, adapters.ByID, id, ""); len(recs) != 0 {
			t.Errorf("FindUsers(id %q) matched", id)
		}
		if err := a.DeleteUser(ctx, id); !errors.Is(err, adapters.ErrNotFound) {
			t.Errorf("DeleteUser(%q) = %v", id, err)
		}
	}
	if _, err := a.CreateUser(ctx, &adapters.User{UserName: "noemail", Active: true}); err == nil ||
		!strings.Contains(err.Error(), "email is required") {
		t.Errorf("create without e-mail: %v", err)
	}
	if c := rec.calls(); len(c) != 0 {
		t.Errorf("invalid input reached gitea: %v", c)
	}
	// A hint that is not a valid username is ignored, never put in a path.
	rec.reset()
	find(t, a, adapters.ByID, "1", "../admin")
	for _, c := range rec.calls() {
		if !strings.HasPrefix(c, "GET /api/v1/users/search") {
			t.Errorf("unexpected call %s", c)
		}
	}
}

func TestBadToken(t *testing.T) {
	a, _, _ := newAdapter(t, "0000000000000000000000000000000000000000")
	_, err := a.FindUsers(context.Background(), adapters.Lookup{Kind: adapters.ByEmail, Value: "x@example.test"})
	if st, _ := scimStatus(err); st != http.StatusBadGateway {
		t.Fatalf("bad token: %v, want 502", err)
	}
	if strings.Contains(err.Error(), "0000000000") {
		t.Fatal("token in error")
	}
}

// TestOAuth2Source runs with source_id set to an OAuth2 source: users are created under
// it with login_name = externalId (what SSO sign-in binds on), users of source 0 are not
// managed, and accounts the source auto-registered (login_name = subject) read as
// managed with the subject as externalId.
func TestOAuth2Source(t *testing.T) {
	g := testenv.Gitea(t)
	var sourceID int64
	oauthOnce.Do(func() { oauthID = g.AddOAuth2Source(t, "scimtest") })
	sourceID = oauthID
	if sourceID == 0 {
		t.Fatal("no oauth2 source")
	}
	a, _, _ := newAdapterSource(t, "", sourceID)
	local, _, _ := newAdapter(t, "")
	ctx := context.Background()
	run := testenv.UniqueName("")

	rec, err := a.CreateUser(ctx, newUser("sso-"+run, "sub-"+run, "sso-"+run+"@example.test", "S", "So"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.DeleteUser(ctx, rec.User.ID) })
	gu := g.GetUser(t, "sso-"+run)
	if gu["source_id"] != float64(sourceID) || gu["login_name"] != "sub-"+run {
		t.Fatalf("gitea view: source_id %v login_name %v", gu["source_id"], gu["login_name"])
	}
	if got := findOne(t, a, adapters.ByExternalID, "sub-"+run, ""); !got.Managed || got.User.ID != rec.User.ID {
		t.Fatalf("lookup under the source: %+v", got)
	}
	if got := findOne(t, local, adapters.ByUserName, "sso-"+run, ""); got.Managed {
		t.Fatal("a user of the oauth2 source reads managed for a source_id 0 adapter")
	}
	if recs := find(t, local, adapters.ByExternalID, "sub-"+run, ""); len(recs) != 0 {
		t.Fatal("a source_id 0 adapter finds the externalId of another source")
	}

	// Deprovision and SCIM delete keep the source.
	u := newUser("sso-"+run, "sub-"+run, "sso-"+run+"@example.test", "S", "So")
	if rec, err = a.UpdateUser(ctx, rec.User.ID, u, adapters.State{Managed: true, Deleted: true}); err != nil || !rec.Deleted {
		t.Fatalf("delete under the source: %+v %v", rec, err)
	}
	if gu = g.GetUser(t, "sso-"+run); gu["source_id"] != float64(sourceID) || gu["prohibit_login"] != true {
		t.Fatalf("gitea view after delete: %v", gu)
	}

	// A local user made by hand is outside this adapter's scope, and so are the users
	// managed by a source_id 0 adapter.
	lrec, err := local.CreateUser(ctx, newUser("loc-"+run, "l-"+run, "loc-"+run+"@example.test", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = local.DeleteUser(ctx, lrec.User.ID) })
	all, _, err := a.ListUsers(ctx, adapters.Page{Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(all, func(r adapters.Record) bool { return r.User.ID == rec.User.ID }) ||
		slices.ContainsFunc(all, func(r adapters.Record) bool { return r.User.ID == lrec.User.ID }) {
		t.Fatal("list under the source has the wrong users")
	}

	// An account the source registered itself on first SSO sign-in.
	st, _, b := g.Do(t, http.MethodPost, "/admin/users", map[string]any{
		"username": "auto-" + run, "email": "auto-" + run + "@example.test", "login_name": "idp-subject-" + run,
		"source_id": sourceID, "must_change_password": false,
	})
	if st != http.StatusCreated {
		t.Fatalf("creating an sso-style user: %d %s", st, b)
	}
	t.Cleanup(func() { g.DeleteUser(t, "auto-"+run) })
	if got := findOne(t, a, adapters.ByUserName, "auto-"+run, ""); !got.Managed || got.User.ExternalID != "idp-subject-"+run {
		t.Fatalf("auto-registered user: %+v", got)
	}
}

var (
	oauthOnce sync.Once
	oauthID   int64
)

// TestListUsersManyPages: a listing that spans several of Gitea's pages (fetched a few
// at a time) returns every managed user once, in ascending id order.
func TestListUsersManyPages(t *testing.T) {
	a, rec, _ := newAdapter(t, "")
	ctx := context.Background()
	want := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, 230)
	for i := range 230 {
		wg.Go(func() {
			name := testenv.UniqueName("pg") + strconv.Itoa(i)
			r, err := a.CreateUser(ctx, newUser(name, "ext-"+name, name+"@example.com", "Page", "User"))
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			want[r.User.ID] = true
			mu.Unlock()
		})
		if i%8 == 7 {
			wg.Wait()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rec.reset()
	recs, total, err := a.ListUsers(ctx, adapters.Page{Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if calls := len(rec.calls()); calls < 3 {
		t.Fatalf("the listing took %d calls; the test needs several pages", calls)
	}
	if total != len(recs) {
		t.Errorf("total %d, %d records", total, len(recs))
	}
	seen := map[string]bool{}
	last := int64(0)
	for _, r := range recs {
		id := idOf(t, r)
		if id <= last {
			t.Fatalf("ids out of order or repeated: %d after %d", id, last)
		}
		last = id
		seen[r.User.ID] = true
	}
	for id := range want {
		if !seen[id] {
			t.Errorf("user %s missing from the listing", id)
		}
	}
}
