package gitlabemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

const adminTok = "admin-token"

type env struct {
	t   *testing.T
	emu *Server
	srv *httptest.Server
}

func newEnv(t *testing.T, o Options) *env {
	t.Helper()
	o.AdminToken = adminTok
	if o.ExtraTokens == nil {
		o.ExtraTokens = map[string]TokenInfo{
			"user-token": {Username: "alice"},
			"read-token": {Username: "reader", Admin: true, Scopes: []string{"read_api"}},
		}
	}
	emu := New(o)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return &env{t: t, emu: emu, srv: srv}
}

type resp struct {
	code int
	hdr  http.Header
	body string
}

func (r resp) json(t *testing.T) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return v
}

func (e *env) req(method, path, token string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	r, err := http.NewRequest(method, e.srv.URL+"/api/v4"+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		r.Header.Set("PRIVATE-TOKEN", token)
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{code: res.StatusCode, hdr: res.Header, body: string(b)}
}

func (e *env) admin(method, path string, body any) resp {
	e.t.Helper()
	return e.req(method, path, adminTok, body)
}

// expect checks status and exact body.
func expect(t *testing.T, r resp, code int, body string) {
	t.Helper()
	if r.code != code || (body != "*" && r.body != body) {
		t.Fatalf("got %d %s, want %d %s", r.code, r.body, code, body)
	}
}

func (e *env) createUser(username, email string, extra map[string]any) int {
	e.t.Helper()
	b := map[string]any{"username": username, "email": email, "name": "N " + username,
		"force_random_password": true, "skip_confirmation": true}
	for k, v := range extra {
		b[k] = v
	}
	r := e.admin("POST", "/users", b)
	expect(e.t, r, 201, "*")
	return int(r.json(e.t).(map[string]any)["id"].(float64))
}

func TestAuth(t *testing.T) {
	e := newEnv(t, Options{})
	expect(t, e.req("GET", "/users", "", nil), 401, `{"message":"401 Unauthorized"}`)
	expect(t, e.req("GET", "/users", "nope", nil), 401, `{"message":"401 Unauthorized"}`)

	r, _ := http.NewRequest("GET", e.srv.URL+"/api/v4/users/1", nil)
	r.Header.Set("Authorization", "Bearer "+adminTok)
	res, err := http.DefaultClient.Do(r)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("bearer: %v %v", res, err)
	}
	res.Body.Close()
	res, err = http.Get(e.srv.URL + "/api/v4/users/1?private_token=" + adminTok)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("private_token: %v %v", res, err)
	}
	res.Body.Close()

	body := map[string]any{"username": "x1", "email": "x1@example.com", "name": "X", "password": "secret123"}
	expect(t, e.req("POST", "/users", "user-token", body), 403, `{"message":"403 Forbidden"}`)
	expect(t, e.req("POST", "/users/1/block", "user-token", nil), 403, `{"message":"403 Forbidden"}`)
	expect(t, e.req("GET", "/users?extern_uid=a&provider=saml", "user-token", nil), 403, `{"message":"403 Forbidden"}`)
	expect(t, e.req("PUT", "/users/1/custom_attributes/k", "user-token", map[string]any{"value": "v"}), 403, `{"message":"403 Forbidden"}`)
	// Grape validation precedes authenticated_as_admin!.
	expect(t, e.req("POST", "/users", "user-token", map[string]any{}), 400, "*")

	r2 := e.req("POST", "/users", "read-token", body)
	if r2.code != 403 || !strings.Contains(r2.body, `"error":"insufficient_scope"`) {
		t.Fatalf("read_api write: %d %s", r2.code, r2.body)
	}
	expect(t, e.req("GET", "/users/1", "read-token", nil), 200, "*")

	expect(t, e.admin("GET", "/nope", nil), 404, `{"error":"404 Not Found"}`)
	expect(t, e.admin("GET", "/users/abc", nil), 404, `{"error":"404 Not Found"}`)
	expect(t, e.admin("GET", "/users/999", nil), 404, `{"message":"404 User Not Found"}`)

	// A blocked user's own token stops working.
	alice, _ := e.emu.FindByUsername("alice")
	expect(t, e.admin("POST", fmt.Sprintf("/users/%d/block", alice.ID), nil), 201, "true")
	expect(t, e.req("GET", "/users/1", "user-token", nil), 401, `{"message":"401 Unauthorized"}`)
}

func TestCreateUserErrors(t *testing.T) {
	e := newEnv(t, Options{})
	expect(t, e.admin("POST", "/users", map[string]any{}), 400,
		`{"error":"email is missing, password, reset_password, force_random_password are missing, at least one parameter must be provided, name is missing, username is missing"}`)
	expect(t, e.admin("POST", "/users", map[string]any{"email": "a@b.c", "name": "A", "username": "a", "password": "12345678", "extern_uid": "x"}), 400,
		`{"error":"extern_uid, provider provide all or none of parameters"}`)
	expect(t, e.admin("POST", "/users", map[string]any{"email": "a@b.c", "name": "A", "username": "a", "password": "12345678", "skip_confirmation": "maybe"}), 400,
		`{"error":"skip_confirmation is invalid"}`)

	r := e.admin("POST", "/users", map[string]any{"email": "jane@example.com", "name": "Jane Doe", "username": "jane",
		"force_random_password": true, "skip_confirmation": true, "provider": "saml", "extern_uid": "Jane-UID"})
	expect(t, r, 201, "*")
	u := r.json(t).(map[string]any)
	if u["state"] != "active" || u["email"] != "jane@example.com" || u["is_admin"] != false {
		t.Fatalf("entity: %v", u)
	}
	ids := u["identities"].([]any)
	if len(ids) != 1 || !strings.Contains(fmt.Sprint(ids[0]), "extern_uid:Jane-UID") || !strings.Contains(r.body, `"saml_provider_id":null`) {
		t.Fatalf("identities: %s", r.body)
	}
	jane := int(u["id"].(float64))

	base := func(extra map[string]any) map[string]any {
		b := map[string]any{"email": "other@example.com", "name": "Other", "username": "other", "password": "secret123"}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	expect(t, e.admin("POST", "/users", base(map[string]any{"email": "JANE@example.com"})), 409, `{"message":"Email has already been taken"}`)
	expect(t, e.admin("POST", "/users", base(map[string]any{"username": "JANE"})), 409, `{"message":"Username has already been taken"}`)
	// E-mail wins when both are taken, as in lib/api/users.rb.
	expect(t, e.admin("POST", "/users", base(map[string]any{"username": "jane", "email": "jane@example.com"})), 409, `{"message":"Email has already been taken"}`)

	// Confirmed secondary → 409; unconfirmed secondary → model error 400.
	expect(t, e.admin("POST", fmt.Sprintf("/users/%d/emails", jane), map[string]any{"email": "jd@example.com", "skip_confirmation": true}), 201, "*")
	expect(t, e.admin("POST", fmt.Sprintf("/users/%d/emails", jane), map[string]any{"email": "pending@example.com"}), 201, "*")
	expect(t, e.admin("POST", "/users", base(map[string]any{"email": "JD@example.com"})), 409, `{"message":"Email has already been taken"}`)
	expect(t, e.admin("POST", "/users", base(map[string]any{"email": "pending@example.com"})), 400, `{"message":{"email":["has already been taken"]}}`)

	expect(t, e.admin("POST", "/users", base(map[string]any{"username": "-bad"})), 400,
		`{"message":{"username":["`+pathFormatMessage+`"]}}`)
	expect(t, e.admin("POST", "/users", base(map[string]any{"username": "admin"})), 400, `{"message":{"username":["admin is a reserved name"]}}`)
	expect(t, e.admin("POST", "/users", base(map[string]any{"password": "short"})), 400, `{"message":{"password":["is too short (minimum is 8 characters)"]}}`)
	expect(t, e.admin("POST", "/users", base(map[string]any{"email": "not-an-email"})), 400, `{"message":{"email":["is invalid"]}}`)
	expect(t, e.admin("POST", "/users", base(map[string]any{"provider": "saml", "extern_uid": "jane-uid"})), 400,
		`{"message":{"identities.extern_uid":["`+identityTakenMessage+`"]}}`)
	// Same extern_uid under another provider is fine.
	expect(t, e.admin("POST", "/users", base(map[string]any{"provider": "scim_sidecar", "extern_uid": "jane-uid"})), 201, "*")
}

func TestBlockUnblockAndModeration(t *testing.T) {
	e := newEnv(t, Options{})
	id := e.createUser("bob", "bob@example.com", nil)
	p := func(action string) resp { return e.admin("POST", fmt.Sprintf("/users/%d/%s", id, action), nil) }

	expect(t, p("unblock"), 201, "false")
	expect(t, p("block"), 201, "true")
	expect(t, p("block"), 201, "null")
	expect(t, p("activate"), 403, `{"message":"Error occurred. A blocked user must be unblocked to be activated"}`)
	expect(t, p("deactivate"), 403, `{"message":"Error occurred. A blocked user cannot be deactivated"}`)
	expect(t, p("ban"), 403, `{"message":"You cannot ban blocked users."}`)
	expect(t, p("unblock"), 201, "true")
	if u, _ := e.emu.User(id); u.State != StateActive {
		t.Fatalf("state %s", u.State)
	}

	if err := e.emu.SetState(id, StateLDAPBlocked); err != nil {
		t.Fatal(err)
	}
	expect(t, p("block"), 403, `{"message":"403 Forbidden - LDAP blocked users cannot be modified by the API"}`)
	expect(t, p("unblock"), 403, `{"message":"403 Forbidden - LDAP blocked users cannot be unblocked by the API"}`)

	e.emu.SetState(id, StateDeactivated)
	expect(t, p("unblock"), 403, `{"message":"403 Forbidden - Deactivated users cannot be unblocked by the API"}`)
	expect(t, p("deactivate"), 201, "null")
	expect(t, p("activate"), 201, "true")

	// Recently active (or signed-in) users are not dormant; created_at does not
	// count (User#last_active_at, app/models/user.rb).
	now, old := time.Now(), time.Now().AddDate(0, 0, -100)
	e.emu.ModifyUser(id, func(u *UserState) { u.CreatedAt = old; u.LastActivityOn = &old; u.CurrentSignInAt = &now })
	expect(t, p("deactivate"), 403, `{"message":"The user you are trying to deactivate has been active in the past 90 days and cannot be deactivated"}`)
	e.emu.ModifyUser(id, func(u *UserState) { u.CurrentSignInAt = nil })
	expect(t, p("deactivate"), 201, "true")
	expect(t, p("block"), 201, "true") // deactivated → blocked
	expect(t, p("unblock"), 201, "true")

	expect(t, p("unban"), 403, `{"message":"You cannot unban active users."}`)
	expect(t, p("ban"), 201, "true")
	expect(t, p("ban"), 403, `{"message":"You cannot ban banned users."}`)
	expect(t, p("unban"), 201, "true")

	expect(t, e.admin("POST", "/users/1/block", nil), 403, `{"message":"403 Forbidden - The API initiating user cannot be blocked by the API"}`)
	expect(t, e.admin("POST", "/users/999/block", nil), 404, `{"message":"404 User Not Found"}`)
}

func TestOffsetPagination(t *testing.T) {
	e := newEnv(t, Options{ExtraTokens: map[string]TokenInfo{}})
	for i := 0; i < 44; i++ {
		e.createUser(fmt.Sprintf("u%02d", i), fmt.Sprintf("u%02d@example.com", i), nil)
	}
	r := e.admin("GET", "/users?per_page=20&page=2", nil) // 45 users with root
	expect(t, r, 200, "*")
	h := r.hdr
	for k, want := range map[string]string{"X-Page": "2", "X-Per-Page": "20", "X-Next-Page": "3", "X-Prev-Page": "1", "X-Total": "45", "X-Total-Pages": "3"} {
		if h.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, h.Get(k), want)
		}
	}
	rels := regexp.MustCompile(`rel="(\w+)"`).FindAllStringSubmatch(h.Get("Link"), -1)
	var got []string
	for _, m := range rels {
		got = append(got, m[1])
	}
	if strings.Join(got, ",") != "prev,next,first,last" {
		t.Fatalf("Link rels %v in %s", got, h.Get("Link"))
	}
	if !strings.Contains(h.Get("Link"), e.srv.URL+"/api/v4/users?page=3&per_page=20>; rel=\"next\"") {
		t.Fatalf("Link: %s", h.Get("Link"))
	}
	list := r.json(t).([]any)
	if len(list) != 20 {
		t.Fatalf("len %d", len(list))
	}
	// Default order is id desc: page 2 starts at id 45-20.
	if id := list[0].(map[string]any)["id"].(float64); id != 25 {
		t.Fatalf("first id on page 2 = %v", id)
	}
	r = e.admin("GET", "/users?per_page=20&page=3", nil)
	if r.hdr.Get("X-Next-Page") != "" || len(r.json(t).([]any)) != 5 || strings.Contains(r.hdr.Get("Link"), `rel="next"`) {
		t.Fatalf("last page: %v %s", r.hdr, r.body)
	}
	r = e.admin("GET", "/users?per_page=500&order_by=username&sort=asc", nil)
	if r.hdr.Get("X-Per-Page") != "100" || r.json(t).([]any)[0].(map[string]any)["username"] != "root" {
		t.Fatalf("per_page cap / order: %v", r.hdr)
	}
	expect(t, e.admin("GET", "/users?order_by=email", nil), 400, `{"error":"order_by does not have a valid value"}`)
}

func TestPaginationCountLimit(t *testing.T) {
	e := newEnv(t, Options{ExtraTokens: map[string]TokenInfo{}})
	e.emu.mu.Lock()
	for i := 0; i < countLimit; i++ { // root + 10 000 = 10 001 rows
		e.emu.insertUserLocked(UserState{Username: fmt.Sprintf("bulk%d", i), Email: fmt.Sprintf("bulk%d@example.com", i)})
	}
	e.emu.mu.Unlock()
	r := e.admin("GET", "/users?per_page=100", nil)
	if r.hdr.Get("X-Total") != "" || r.hdr.Get("X-Total-Pages") != "" || strings.Contains(r.hdr.Get("Link"), `rel="last"`) {
		t.Fatalf("over 10k rows must omit totals: %v", r.hdr)
	}
	if r.hdr.Get("X-Next-Page") != "2" {
		t.Fatalf("X-Next-Page %q", r.hdr.Get("X-Next-Page"))
	}
}

func TestKeysetPagination(t *testing.T) {
	e := newEnv(t, Options{ExtraTokens: map[string]TokenInfo{}, KeysetRequiredAbove: 20})
	for i := 0; i < 24; i++ {
		e.createUser(fmt.Sprintf("k%02d", i), fmt.Sprintf("k%02d@example.com", i), nil)
	}
	next := e.srv.URL + "/api/v4/users?pagination=keyset&order_by=id&sort=asc&per_page=10"
	var ids []int
	pages := 0
	for next != "" {
		r, _ := http.NewRequest("GET", next, nil)
		r.Header.Set("PRIVATE-TOKEN", adminTok)
		res, err := http.DefaultClient.Do(r)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("%v %v", res, err)
		}
		if res.Header.Get("X-Total") != "" {
			t.Fatal("keyset must not send X-Total")
		}
		var list []map[string]any
		json.NewDecoder(res.Body).Decode(&list)
		res.Body.Close()
		for _, u := range list {
			ids = append(ids, int(u["id"].(float64)))
		}
		next = ""
		if m := regexp.MustCompile(`<([^>]+)>; rel="next"`).FindStringSubmatch(res.Header.Get("Link")); m != nil {
			next = m[1]
			if !strings.Contains(next, "cursor=") {
				t.Fatalf("next link without cursor: %s", next)
			}
		}
		pages++
	}
	if pages != 3 || len(ids) != 25 {
		t.Fatalf("pages %d ids %v", pages, ids)
	}
	for i := range ids {
		if ids[i] != i+1 {
			t.Fatalf("ids %v", ids)
		}
	}
	expect(t, e.admin("GET", "/users?pagination=keyset&order_by=name", nil), 405, `{"error":"Keyset pagination is not yet available for this type of request"}`)
	expect(t, e.admin("GET", "/users?page=3&per_page=10", nil), 405,
		`{"error":"Offset pagination has a maximum allowed offset of 20 for requests that return objects of type User. Remaining records can be retrieved using keyset pagination."}`)
}

// fixedClock is a clock stopped at t.
func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// Rack::Attack's 429 (lib/gitlab/rack_attack.rb, throttled_response_headers):
// windows aligned on the epoch, RateLimit-Reset the window's end as a Unix
// time, Retry-After the seconds to it, RateLimit-Limit per 60 seconds.
func TestRateLimit(t *testing.T) {
	at := time.Date(2026, 1, 5, 10, 29, 30, 0, time.UTC)
	e := newEnv(t, Options{RateLimit: 2, RateLimitWindow: time.Hour, Clock: fixedClock(at)})
	e.admin("GET", "/users/1", nil)
	e.admin("GET", "/users/1", nil)
	r := e.admin("GET", "/users/1", nil)
	expect(t, r, 429, "Retry later\n")
	want := map[string]string{"Retry-After": "1830", "RateLimit-Reset": "1767610800", "RateLimit-ResetTime": "Mon, 05 Jan 2026 11:00:00 GMT",
		"RateLimit-Limit": "1", "RateLimit-Observed": "3", "RateLimit-Remaining": "0", "RateLimit-Name": "throttle_authenticated_api"}
	for k, v := range want {
		if got := r.hdr.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if !strings.HasPrefix(r.hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("headers %v", r.hdr)
	}
	// Limits are per user.
	expect(t, e.req("GET", "/users/1", "user-token", nil), 200, "*")

	// An application limit (lib/api/helpers/rate_limiter.rb): JSON, no Retry-After.
	e2 := newEnv(t, Options{RateLimit: 1, RateLimitStyle: ApplicationLimit})
	e2.admin("GET", "/users/1", nil)
	r = e2.admin("GET", "/users/1", nil)
	expect(t, r, 429, `{"message":{"error":"This endpoint has been requested too many times. Try again later."}}`)
	if r.hdr.Get("Retry-After") != "" || r.hdr.Get("RateLimit-Reset") != "" {
		t.Fatalf("an application limit sends no retry hint: %v", r.hdr)
	}
}

// GET /groups and GET /groups/:id have their own per-user limits (GitLab 17.1+,
// lib/api/groups.rb check_rate_limit_by_user_or_ip!), other routes do not count.
func TestGroupsAPILimits(t *testing.T) {
	e := newEnv(t, Options{GroupsAPILimit: 1, GroupAPILimit: 2})
	expect(t, e.admin("POST", "/groups", map[string]any{"name": "Lim", "path": "lim"}), 201, "*")
	expect(t, e.admin("GET", "/groups", nil), 200, "*")
	expect(t, e.admin("GET", "/groups", nil), 429, appLimitMessage)
	expect(t, e.admin("GET", "/groups/lim", nil), 200, "*")
	expect(t, e.admin("GET", "/groups/lim", nil), 200, "*")
	r := e.admin("GET", "/groups/lim", nil)
	expect(t, r, 429, appLimitMessage)
	if r.hdr.Get("Retry-After") != "" {
		t.Fatalf("Retry-After %q", r.hdr.Get("Retry-After"))
	}
	expect(t, e.admin("GET", "/users/1", nil), 200, "*")
	expect(t, e.req("GET", "/groups", "user-token", nil), 200, "*")
}

func TestUpdateUser(t *testing.T) {
	e := newEnv(t, Options{})
	a := e.createUser("ann", "ann@example.com", map[string]any{"provider": "saml", "extern_uid": "ann-1"})
	b := e.createUser("ben", "ben@example.com", map[string]any{"provider": "saml", "extern_uid": "ben-1"})
	path := fmt.Sprintf("/users/%d", a)

	expect(t, e.admin("PUT", path, map[string]any{"email": "BEN@example.com"}), 409, `{"message":"Email has already been taken"}`)
	expect(t, e.admin("PUT", path, map[string]any{"username": "Ben"}), 409, `{"message":"Username has already been taken"}`)
	// Own values are not conflicts.
	expect(t, e.admin("PUT", path, map[string]any{"username": "ann", "email": "ann@example.com", "name": "Ann B"}), 200, "*")
	expect(t, e.admin("PUT", "/users/999", map[string]any{"name": "x"}), 404, `{"message":"404 User Not Found"}`)
	expect(t, e.admin("PUT", path, map[string]any{"username": "bad name"}), 400, `{"message":{"username":["`+pathFormatMessage+`"]}}`)

	// New address without skip_reconfirmation: only unconfirmed_email.
	expect(t, e.admin("PUT", path, map[string]any{"email": "ann2@example.com"}), 200, "*")
	if u, _ := e.emu.User(a); u.Email != "ann@example.com" || u.UnconfirmedEmail != "ann2@example.com" {
		t.Fatalf("reconfirmable: %+v", u)
	}
	// With skip_reconfirmation: primary at once, old primary kept.
	expect(t, e.admin("PUT", path, map[string]any{"email": "ann3@example.com", "skip_reconfirmation": true}), 200, "*")
	u, _ := e.emu.User(a)
	if u.Email != "ann3@example.com" || len(u.Emails) != 1 || u.Emails[0].Email != "ann@example.com" {
		t.Fatalf("skip_reconfirmation: %+v", u)
	}
	// Back to the (confirmed) secondary: allowed without the flag.
	expect(t, e.admin("PUT", path, map[string]any{"email": "ann@example.com"}), 200, "*")
	if u, _ := e.emu.User(a); u.Email != "ann@example.com" {
		t.Fatalf("secondary promotion: %+v", u)
	}

	// Identity upsert per provider; a taken extern_uid is silently ignored.
	expect(t, e.admin("PUT", path, map[string]any{"provider": "saml", "extern_uid": "ann-2"}), 200, "*")
	expect(t, e.admin("PUT", path, map[string]any{"provider": "scim_sidecar", "extern_uid": "x-1"}), 200, "*")
	r := e.admin("PUT", path, map[string]any{"provider": "saml", "extern_uid": "BEN-1", "name": "Renamed"})
	expect(t, r, 200, "*")
	u, _ = e.emu.User(a)
	if u.Name != "Renamed" || len(u.Identities) != 2 || u.Identities[0].ExternUID != "ann-2" {
		t.Fatalf("identities: %+v", u.Identities)
	}
	_ = b

	// Search and finders.
	list := func(q string) []any {
		r := e.admin("GET", "/users?"+q, nil)
		expect(t, r, 200, "*")
		return r.json(t).([]any)
	}
	if l := list("extern_uid=ANN-2&provider=saml"); len(l) != 1 {
		t.Fatalf("extern_uid lookup: %v", l)
	}
	if l := list("extern_uid=ann-2&provider=scim"); len(l) != 0 {
		t.Fatalf("provider=scim must search scim_identities (empty): %v", l)
	}
	if l := list("username=ANN"); len(l) != 1 {
		t.Fatalf("username: %v", l)
	}
	if l := list("search=ann3@example.com"); len(l) != 1 {
		t.Fatalf("search by confirmed secondary: %v", l)
	}
	e.admin("PUT", path+"/custom_attributes/scim_managed", map[string]any{"value": "true"})
	if l := list("custom_attributes[scim_managed]=true"); len(l) != 1 {
		t.Fatalf("custom_attributes filter: %v", l)
	}
	r = e.admin("GET", path+"?with_custom_attributes=true", nil)
	if !strings.Contains(r.body, `"custom_attributes":[{"key":"scim_managed","value":"true"}]`) {
		t.Fatalf("with_custom_attributes: %s", r.body)
	}
	expect(t, e.admin("GET", path+"/custom_attributes/nope", nil), 404, `{"message":"404 Custom Attribute Not Found"}`)
	expect(t, e.admin("DELETE", path+"/custom_attributes/scim_managed", nil), 204, "")

	expect(t, e.admin("DELETE", path+"/identities/scim_sidecar", nil), 204, "")
	expect(t, e.admin("DELETE", path+"/identities/scim_sidecar", nil), 404, `{"message":"404 Identity Not Found"}`)
	expect(t, e.admin("DELETE", path, nil), 204, "")
	expect(t, e.admin("GET", path, nil), 404, `{"message":"404 User Not Found"}`)
}

func TestGroupsAndMembers(t *testing.T) {
	e := newEnv(t, Options{})
	uid := e.createUser("gina", "gina@example.com", nil)
	r := e.admin("POST", "/groups", map[string]any{"name": "Eng", "path": "eng"})
	expect(t, r, 201, "*")
	gid := int(r.json(t).(map[string]any)["id"].(float64))
	expect(t, e.admin("POST", "/groups", map[string]any{"name": "Eng2", "path": "ENG"}), 400,
		`{"message":"Failed to save group {:path=>[\"has already been taken\"]}"}`)
	expect(t, e.admin("POST", "/groups", map[string]any{"name": "x"}), 400, `{"error":"path is missing"}`)
	expect(t, e.admin("GET", "/groups/eng", nil), 200, "*")
	expect(t, e.admin("GET", "/groups/999", nil), 404, `{"message":"404 Group Not Found"}`)
	if l := e.admin("GET", "/groups?search=en", nil).json(t).([]any); len(l) != 1 {
		t.Fatalf("search: %v", l)
	}

	mp := fmt.Sprintf("/groups/%d/members", gid)
	expect(t, e.admin("POST", mp, map[string]any{"user_id": uid, "access_level": 30}), 201, "*")
	expect(t, e.admin("POST", mp, map[string]any{"username": "gina", "access_level": 30}), 409, `{"message":"Member already exists"}`)
	expect(t, e.admin("POST", mp, map[string]any{"user_id": uid, "access_level": 31}), 400, `{"error":"access_level does not have a valid value"}`)
	r = e.admin("GET", mp+fmt.Sprintf("?user_ids[]=%d", uid), nil)
	if l := r.json(t).([]any); len(l) != 1 || r.hdr.Get("X-Total") != "1" {
		t.Fatalf("members: %s", r.body)
	}
	expect(t, e.admin("PUT", fmt.Sprintf("%s/%d", mp, uid), map[string]any{"access_level": 40}), 200, "*")
	expect(t, e.admin("DELETE", fmt.Sprintf("%s/%d", mp, uid), nil), 204, "")
	expect(t, e.admin("DELETE", fmt.Sprintf("%s/%d", mp, uid), nil), 404, `{"message":"404 Not found"}`)

	// The creator (root) is the sole owner: deleting it needs hard_delete.
	expect(t, e.admin("DELETE", "/users/1", nil), 409, `{"message":"User cannot be removed while is the sole-owner of a group"}`)

	expect(t, e.admin("PUT", fmt.Sprintf("/groups/%d/custom_attributes/scim_group_id", gid), map[string]any{"value": "g-1"}), 200, `{"key":"scim_group_id","value":"g-1"}`)
	if l := e.admin("GET", "/groups?custom_attributes[scim_group_id]=g-1", nil).json(t).([]any); len(l) != 1 {
		t.Fatalf("group custom attribute filter: %v", l)
	}
	expect(t, e.admin("DELETE", fmt.Sprintf("/groups/%d", gid), nil), 202, `{"message":"202 Accepted"}`)
	expect(t, e.admin("GET", fmt.Sprintf("/groups/%d", gid), nil), 404, `{"message":"404 Group Not Found"}`)
}

func TestFaultsAndCalls(t *testing.T) {
	e := newEnv(t, Options{})
	e.emu.FailNext("POST /users", 503, 1)
	body := map[string]any{"username": "f1", "email": "f1@example.com", "name": "F", "force_random_password": true}
	expect(t, e.admin("POST", "/users", body), 503, `{"message":"503 Service Unavailable"}`)
	if _, ok := e.emu.FindByUsername("f1"); ok {
		t.Fatal("failed request must not create")
	}
	expect(t, e.admin("POST", "/users", body), 201, "*")

	// AfterHandler: the change happens, the client sees 502.
	e.emu.InjectFault(Fault{Route: "/users/:id/block", Status: 502, AfterHandler: true})
	u, _ := e.emu.FindByUsername("f1")
	expect(t, e.admin("POST", fmt.Sprintf("/users/%d/block", u.ID), nil), 502, "*")
	if u, _ = e.emu.User(u.ID); u.State != StateBlocked {
		t.Fatalf("state %s", u.State)
	}

	e.emu.DelayNext("*", 300*time.Millisecond, 1)
	c := &http.Client{Timeout: 50 * time.Millisecond}
	rq, _ := http.NewRequest("GET", e.srv.URL+"/api/v4/users/1", nil)
	rq.Header.Set("PRIVATE-TOKEN", adminTok)
	if _, err := c.Do(rq); err == nil {
		t.Fatal("expected a client timeout")
	}

	calls := e.emu.Calls()
	if calls["POST /users"] != 2 || calls["POST /users/:id/block"] != 1 || calls["GET /users/:id"] != 1 {
		t.Fatalf("calls %v", calls)
	}
	e.emu.Reset()
	if len(e.emu.Users()) != 3 || e.emu.TotalCalls() != 0 {
		t.Fatalf("reset: %d users", len(e.emu.Users()))
	}
}

func TestConcurrentCreates(t *testing.T) {
	e := newEnv(t, Options{ExtraTokens: map[string]TokenInfo{}})
	var wg sync.WaitGroup
	codes := make([]int, 40)
	for i := range codes {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// Pairs share a username: exactly one of each pair wins.
			body := map[string]any{"username": fmt.Sprintf("c%d", i/2), "email": fmt.Sprintf("c%d@example.com", i),
				"name": "C", "force_random_password": true}
			codes[i] = e.admin("POST", "/users", body).code
		}(i)
	}
	wg.Wait()
	n201, n409 := 0, 0
	for _, c := range codes {
		switch c {
		case 201:
			n201++
		case 409:
			n409++
		}
	}
	if n201 != 20 || n409 != 20 || len(e.emu.Users()) != 21 {
		t.Fatalf("201=%d 409=%d users=%d", n201, n409, len(e.emu.Users()))
	}
}
