package gitlab

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
	"github.com/caddy-scim/caddy-scim/integration/gitlabemu"
	"github.com/caddy-scim/caddy-scim/module/provision"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

func scimUser(userName, ext, email string) *adapters.User {
	return &adapters.User{
		UserName:   userName,
		ExternalID: ext,
		Name:       &adapters.Name{GivenName: "Grace", FamilyName: "Hopper"},
		Emails:     []adapters.MultiValue{{Value: email, Type: "work", Primary: true}},
		Active:     true,
	}
}

// asSCIM is what the IdP sees of an adapter's answer.
func asSCIM(t *testing.T, err error, status int) *scim.Error {
	t.Helper()
	se, ok := provision.SCIMError(err)
	if err == nil || !ok {
		t.Fatalf("error %v (%T); want SCIM %d", err, err, status)
	}
	if se.Status != status {
		t.Fatalf("SCIM %d %q (%s); want %d", se.Status, se.ScimType, se.Detail, status)
	}
	return se
}

func (e *env) create(t *testing.T, u *adapters.User) adapters.Record {
	t.Helper()
	rec, err := e.a.CreateUser(tctx(t), u)
	if err != nil {
		t.Fatalf("CreateUser(%q): %v", u.UserName, err)
	}
	return rec
}

func TestCreateStoresIdentityAndAttributes(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{}, func(a *Adapter) { a.IdentityProvider = "saml" })
	u := scimUser("Grace.Hopper@Navy.example", "NameID-42", "grace@navy.example")
	rec := e.create(t, u)
	gu := e.user(t, rec.User.ID)

	if gu.Username != "Grace.Hopper" {
		t.Errorf("GitLab username %q, want the sanitised Grace.Hopper", gu.Username)
	}
	if gu.Name != "Grace Hopper" || gu.Email != "grace@navy.example" {
		t.Errorf("name %q email %q", gu.Name, gu.Email)
	}
	if len(gu.Identities) != 1 || gu.Identities[0] != (gitlabemu.Identity{Provider: "saml", ExternUID: "NameID-42"}) {
		t.Errorf("identities %+v, want one saml/NameID-42", gu.Identities)
	}
	want := map[string]string{attrManaged: "true", attrUserName: u.UserName}
	if fmt.Sprint(gu.CustomAttributes) != fmt.Sprint(want) {
		t.Errorf("custom attributes %v, want %v", gu.CustomAttributes, want)
	}
	if !gu.PasswordAutomaticallySet || gu.ConfirmedAt == nil {
		t.Errorf("want a random password and a confirmed email: auto %v confirmed %v", gu.PasswordAutomaticallySet, gu.ConfirmedAt)
	}
	if gu.Admin || gu.State != "active" {
		t.Errorf("admin %v state %q", gu.Admin, gu.State)
	}
	if rec.User.UserName != u.UserName || rec.User.ExternalID != "NameID-42" || !rec.Managed || rec.User.Meta.Created.IsZero() {
		t.Errorf("record %+v managed %v", rec.User, rec.Managed)
	}
	// One POST and two attribute PUTs, nothing else.
	if n := e.a.UpstreamCalls(); n != 3 {
		t.Errorf("UpstreamCalls = %d, want 3; calls %v", n, e.emu.Calls())
	}
}

func TestCreateUsernameCollisionGetsSuffix(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	a := e.create(t, scimUser("jdoe@a.example", "ext-a", "jdoe@a.example"))
	b := e.create(t, scimUser("jdoe@b.example", "ext-b", "jdoe@b.example"))
	c := e.create(t, scimUser("JDoe@c.example", "ext-c", "jdoe@c.example"))
	names := []string{e.user(t, a.User.ID).Username, e.user(t, b.User.ID).Username, e.user(t, c.User.ID).Username}
	if strings.Join(names, ",") != "jdoe,jdoe1,JDoe2" {
		t.Errorf("GitLab usernames %v, want jdoe, jdoe1, JDoe2", names)
	}
	if e.emu.Calls()["POST /users"] != 6 {
		t.Errorf("POST /users calls = %d, want 1+2+3", e.emu.Calls()["POST /users"])
	}
	// The SCIM view keeps each userName as sent, and lookups find the suffixed ones.
	for _, r := range []adapters.Record{a, b, c} {
		recs, err := e.a.FindUsers(tctx(t), adapters.Lookup{Kind: adapters.ByUserName, Value: strings.ToUpper(r.User.UserName)})
		if err != nil || len(recs) != 1 || recs[0].User.ID != r.User.ID {
			t.Errorf("FindUsers(ByUserName %q) = %v, %v; want id %s", r.User.UserName, recs, err, r.User.ID)
		}
	}
	// A group path also blocks a username: GitLab's 400 base error "A user,
	// alias, or group already exists with that username." (no 409).
	if _, err := e.emu.CreateGroupDirect(gitlabemu.GroupState{Path: "team"}); err != nil {
		t.Fatal(err)
	}
	d := e.create(t, scimUser("team", "ext-d", "team@example.com"))
	if got := e.user(t, d.User.ID).Username; got != "team1" {
		t.Errorf("username next to a group path = %q, want team1", got)
	}
	// A reserved name likewise.
	r := e.create(t, scimUser("admin@example.com", "ext-r", "admin2@example.com"))
	if got := e.user(t, r.User.ID).Username; got != "admin1" {
		t.Errorf("reserved username became %q, want admin1", got)
	}
}

func TestCreateConflicts(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	e.create(t, scimUser("ada", "ext-ada", "ada@example.com"))

	_, err := e.a.CreateUser(tctx(t), scimUser("ada2", "ext-ada2", "ADA@example.com"))
	se := asSCIM(t, err, http.StatusConflict)
	if se.ScimType != scim.ErrUniqueness || !strings.Contains(se.Detail, "email") {
		t.Errorf("email conflict: %q %q", se.ScimType, se.Detail)
	}
	_, err = e.a.CreateUser(tctx(t), scimUser("ada3", "EXT-ADA", "ada3@example.com"))
	se = asSCIM(t, err, http.StatusConflict)
	if !strings.Contains(se.Detail, "externalId") {
		t.Errorf("identity conflict detail %q", se.Detail)
	}
	_, err = e.a.CreateUser(tctx(t), scimUser("ADA", "ext-ada4", "ada4@example.com"))
	se = asSCIM(t, err, http.StatusConflict)
	if se.ScimType != scim.ErrUniqueness || !strings.Contains(se.Detail, "userName") {
		t.Errorf("userName conflict: %q %q", se.ScimType, se.Detail)
	}

	_, err = e.a.CreateUser(tctx(t), scimUser("bad", "ext-bad", "bad address"))
	se = asSCIM(t, err, http.StatusBadRequest)
	if se.ScimType != scim.ErrInvalidValue || !strings.Contains(se.Detail, "email: is invalid") {
		t.Errorf("invalid email: %q %q", se.ScimType, se.Detail)
	}
	long := scimUser("long", "ext-long", "long@example.com")
	long.Name = &adapters.Name{Formatted: strings.Repeat("n", 300)}
	_, err = e.a.CreateUser(tctx(t), long)
	se = asSCIM(t, err, http.StatusBadRequest)
	if !strings.Contains(se.Detail, "name: is too long") {
		t.Errorf("long name detail %q", se.Detail)
	}
	noMail := scimUser("nomail", "ext-nomail", "")
	noMail.Emails = nil
	_, err = e.a.CreateUser(tctx(t), noMail)
	asSCIM(t, err, http.StatusBadRequest)
	if n := len(e.emu.Users()); n != 2 {
		t.Errorf("%d users after refused creates, want root + ada", n)
	}
}

func TestGrapeErrorIsInvalidValue(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	resp := &upstream.Response{Status: 400, Body: []byte(`{"error":"extern_uid, provider provide all or none of parameters"}`)}
	se := asSCIM(t, e.a.writeError(resp, "", ""), http.StatusBadRequest)
	if se.ScimType != scim.ErrInvalidValue || !strings.Contains(se.Detail, "all or none") {
		t.Errorf("%q %q", se.ScimType, se.Detail)
	}
}

func TestDeprovisionBlocksAndKeepsIdentity(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	u := scimUser("blockme", "ext-block", "block@example.com")
	rec := e.create(t, u)
	off := *u
	off.Active = false
	got, err := e.a.UpdateUser(tctx(t), rec.User.ID, &off, adapters.State{Managed: true})
	if err != nil {
		t.Fatal(err)
	}
	gu := e.user(t, rec.User.ID)
	if gu.State != "blocked" || got.User.Active {
		t.Errorf("state %q active %v; want blocked, false", gu.State, got.User.Active)
	}
	if len(gu.Identities) != 1 || gu.Identities[0].ExternUID != "ext-block" {
		t.Errorf("identity lost on block: %+v", gu.Identities)
	}
	if got.User.Meta.Version == rec.User.Meta.Version {
		t.Error("Meta.Version unchanged by a block")
	}
	// Already blocked: no second block call.
	e.emu.ResetCalls()
	if _, err := e.a.UpdateUser(tctx(t), rec.User.ID, &off, adapters.State{Managed: true}); err != nil {
		t.Fatal(err)
	}
	if n := e.emu.Calls()["POST /users/:id/block"]; n != 0 {
		t.Errorf("blocked a blocked user again (%d calls)", n)
	}
	// Nothing changed: one GET, no write at all.
	if calls := e.emu.Calls(); e.emu.TotalCalls() != 1 {
		t.Errorf("a no-op update made calls %v", calls)
	}
}

func TestReactivationByState(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	for i, c := range []struct {
		state, call string
		status      int
		detail      string
	}{
		{state: "blocked", call: "POST /users/:id/unblock"},
		{state: "deactivated", call: "POST /users/:id/activate"},
		{state: "banned", call: "POST /users/:id/unban"},
		{state: "ldap_blocked", status: 409, detail: "cannot unblock"},
		{state: "blocked_pending_approval", status: 409, detail: "must approve"},
	} {
		t.Run(c.state, func(t *testing.T) {
			u := scimUser("re"+strconv.Itoa(i), "ext-re"+strconv.Itoa(i), "re"+strconv.Itoa(i)+"@example.com")
			rec := e.create(t, u)
			if err := e.emu.SetState(atoi(t, rec.User.ID), c.state); err != nil {
				t.Fatal(err)
			}
			e.emu.ResetCalls()
			u.Name.GivenName = "Changed" // must not be written when the state cannot change
			got, err := e.a.UpdateUser(tctx(t), rec.User.ID, u, adapters.State{Managed: true})
			if c.status != 0 {
				se := asSCIM(t, err, c.status)
				if se.ScimType != "" || !strings.Contains(se.Detail, c.detail) {
					t.Errorf("scimType %q detail %q; want no scimType and %q", se.ScimType, se.Detail, c.detail)
				}
				if n := e.emu.Calls()["PUT /users/:id"]; n != 0 {
					t.Errorf("wrote the profile (%d PUTs) before refusing", n)
				}
				if gu := e.user(t, rec.User.ID); gu.State != c.state {
					t.Errorf("state changed to %q", gu.State)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.User.Active || e.user(t, rec.User.ID).State != "active" {
				t.Errorf("not reactivated: %v %q", got.User.Active, e.user(t, rec.User.ID).State)
			}
			if e.emu.Calls()[c.call] != 1 {
				t.Errorf("calls %v; want one %s", e.emu.Calls(), c.call)
			}
		})
	}
	// Deprovisioning a user that is already inactive in another way changes nothing.
	rec := e.create(t, scimUser("ldap", "ext-ldap", "ldap@example.com"))
	_ = e.emu.SetState(atoi(t, rec.User.ID), "ldap_blocked")
	off := scimUser("ldap", "ext-ldap", "ldap@example.com")
	off.Active = false
	if _, err := e.a.UpdateUser(tctx(t), rec.User.ID, off, adapters.State{Managed: true, Deleted: true}); err != nil {
		t.Fatalf("deprovisioning an ldap_blocked user: %v", err)
	}
}

// windowStart is a running clock that starts 5ms into a window of period, so
// that a test's first requests share Rack::Attack's epoch-aligned window.
func windowStart(period time.Duration) func() time.Time {
	now := time.Now()
	offset := now.Truncate(period).Add(period + 5*time.Millisecond).Sub(now)
	return func() time.Time { return time.Now().Add(offset) }
}

func TestRateLimit(t *testing.T) {
	t.Run("long Retry-After is a 503 at once", func(t *testing.T) {
		// 10:29:30 in an hour's window: Rack::Attack's Retry-After is 1830.
		at := time.Date(2026, 1, 5, 10, 29, 30, 0, time.UTC)
		e := newEnv(t, gitlabemu.Options{RateLimit: 1, RateLimitWindow: time.Hour, Clock: func() time.Time { return at }})
		_, _ = e.a.FindUsers(tctx(t), adapters.Lookup{Kind: adapters.ByID, Value: "1"})
		before := e.a.UpstreamCalls()
		_, err := e.a.FindUsers(tctx(t), adapters.Lookup{Kind: adapters.ByID, Value: "1"})
		se := asSCIM(t, err, http.StatusServiceUnavailable)
		if se.RetryAfter != 1830 {
			t.Errorf("RetryAfter = %d, want the window's rest (1830)", se.RetryAfter)
		}
		if n := e.a.UpstreamCalls() - before; n != 1 {
			t.Errorf("%d calls; a Retry-After beyond the wait budget must not be retried", n)
		}
	})
	t.Run("application limit shape", func(t *testing.T) {
		// JSON and no Retry-After: the adapter gives the one-minute window.
		e := newEnv(t, gitlabemu.Options{RateLimit: 1, RateLimitStyle: gitlabemu.ApplicationLimit})
		_, _ = e.a.FindUsers(tctx(t), adapters.Lookup{Kind: adapters.ByID, Value: "1"})
		_, err := e.a.CreateUser(tctx(t), scimUser("rl", "ext-rl", "rl@example.com"))
		se := asSCIM(t, err, http.StatusServiceUnavailable)
		if se.RetryAfter != 60 {
			t.Errorf("RetryAfter = %d, want 60", se.RetryAfter)
		}
	})
	t.Run("short Retry-After is waited out for a GET", func(t *testing.T) {
		e := newEnv(t, gitlabemu.Options{RateLimit: 1, RateLimitWindow: time.Second, Clock: windowStart(time.Second)})
		_, _ = e.a.FindUsers(tctx(t), adapters.Lookup{Kind: adapters.ByID, Value: "1"})
		recs, err := e.a.FindUsers(tctx(t), adapters.Lookup{Kind: adapters.ByID, Value: "1"})
		if err != nil || len(recs) != 1 {
			t.Fatalf("FindUsers after a 1s throttle: %v, %v", recs, err)
		}
		if e.emu.Calls()["throttled"] != 1 {
			t.Errorf("calls %v; want one throttled answer", e.emu.Calls())
		}
	})
	t.Run("POST is not retried", func(t *testing.T) {
		e := newEnv(t, gitlabemu.Options{RateLimit: 1, RateLimitWindow: time.Second, Clock: windowStart(time.Second)})
		_, _ = e.a.FindUsers(tctx(t), adapters.Lookup{Kind: adapters.ByID, Value: "1"})
		_, err := e.a.CreateUser(tctx(t), scimUser("rl", "ext-rl", "rl@example.com"))
		se := asSCIM(t, err, http.StatusServiceUnavailable)
		if se.RetryAfter != 1 {
			t.Errorf("RetryAfter = %d, want 1", se.RetryAfter)
		}
	})
}

func TestServerErrors(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	rec := e.create(t, scimUser("fault", "ext-fault", "fault@example.com"))

	e.emu.FailNext("GET /users/:id", 502, 2)
	recs, err := e.a.FindUsers(tctx(t), adapters.Lookup{Kind: adapters.ByID, Value: rec.User.ID})
	if err != nil || len(recs) != 1 {
		t.Fatalf("GET after two 502s: %v %v", recs, err)
	}
	e.emu.FailNext("GET /users/:id", 500, 3)
	_, err = e.a.FindUsers(tctx(t), adapters.Lookup{Kind: adapters.ByID, Value: rec.User.ID})
	asSCIM(t, err, http.StatusServiceUnavailable)

	e.emu.ResetCalls()
	e.emu.FailNext("POST /users", 503, 1)
	_, err = e.a.CreateUser(tctx(t), scimUser("post", "ext-post", "post@example.com"))
	asSCIM(t, err, http.StatusServiceUnavailable)
	if n := e.emu.Calls()["POST /users"]; n != 1 {
		t.Errorf("POST /users sent %d times; a POST is never retried", n)
	}

	// A lost answer to a block is not retried either; the next write sees the state.
	e.emu.InjectFault(gitlabemu.Fault{Route: "POST /users/:id/block", Status: 504, AfterHandler: true})
	off := scimUser("fault", "ext-fault", "fault@example.com")
	off.Active = false
	_, err = e.a.UpdateUser(tctx(t), rec.User.ID, off, adapters.State{Managed: true})
	asSCIM(t, err, http.StatusServiceUnavailable)
	if got, err := e.a.UpdateUser(tctx(t), rec.User.ID, off, adapters.State{Managed: true}); err != nil || got.User.Active {
		t.Fatalf("retrying the deprovision: %v active %v", err, got.User.Active)
	}

	// Timeouts are 503 too.
	slow := newEnv(t, gitlabemu.Options{}, func(a *Adapter) { a.Timeout = 50_000_000 }) // 50ms
	slow.emu.DelayNext("GET /users/:id", time.Second, 3)
	_, err = slow.a.FindUsers(tctx(t), adapters.Lookup{Kind: adapters.ByID, Value: "1"})
	se := asSCIM(t, err, http.StatusServiceUnavailable)
	if !strings.Contains(se.Detail, "timed out") {
		t.Errorf("timeout detail %q", se.Detail)
	}
}

func TestTokenProblemsAre502(t *testing.T) {
	opts := gitlabemu.Options{ExtraTokens: map[string]gitlabemu.TokenInfo{
		"glpat-user":     {Admin: false},
		"glpat-readonly": {Admin: true, Scopes: []string{"read_api"}},
	}}
	for _, tok := range []string{"glpat-wrong", "glpat-user", "glpat-readonly"} {
		t.Run(tok, func(t *testing.T) {
			e := newEnv(t, opts, func(a *Adapter) { a.Token = tok })
			_, err := e.a.CreateUser(tctx(t), scimUser("tok", "ext-tok", "tok@example.com"))
			se := asSCIM(t, err, http.StatusBadGateway)
			if !strings.Contains(se.Detail, "api scope") {
				t.Errorf("detail %q lacks the hint", se.Detail)
			}
			if strings.Contains(se.Detail, tok) || strings.Contains(se.Error(), tok) {
				t.Errorf("the token leaked into %q", se.Detail)
			}
		})
	}
	// GitLab ignores custom_attributes[...] for non-admins and answers basic rows:
	// the list must fail rather than show unmanaged users.
	e := newEnv(t, opts, func(a *Adapter) { a.Token = "glpat-user" })
	_, _, err := e.a.ListUsers(tctx(t), adapters.Page{Limit: 10})
	asSCIM(t, err, http.StatusBadGateway)
}

func TestCrashHealing(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	// The attribute writes fail for good: the user exists with its identity only.
	e.emu.FailNext("PUT /users/:id/custom_attributes/:key", 500, 3)
	u := scimUser("crash", "ext-crash", "crash@example.com")
	_, err := e.a.CreateUser(tctx(t), u)
	asSCIM(t, err, http.StatusServiceUnavailable)
	gu, ok := e.emu.FindByUsername("crash")
	if !ok || len(gu.CustomAttributes) != 0 {
		t.Fatalf("setup: user %+v", gu)
	}
	id := strconv.Itoa(gu.ID)

	recs, err := e.a.FindUsers(tctx(t), adapters.Lookup{Kind: adapters.ByExternalID, Value: "ext-crash"})
	if err != nil || len(recs) != 1 || !recs[0].Managed || recs[0].User.ID != id {
		t.Fatalf("identity-only user: %+v %v; want managed", recs, err)
	}
	// The IdP retries; the service finds the managed user and updates it: healed.
	if _, err := e.a.UpdateUser(tctx(t), id, u, adapters.State{Managed: true}); err != nil {
		t.Fatal(err)
	}
	gu = e.user(t, id)
	if gu.CustomAttributes[attrManaged] != "true" || gu.CustomAttributes[attrUserName] != "crash" {
		t.Errorf("not healed: %v", gu.CustomAttributes)
	}
	if recs, _, err := e.a.ListUsers(tctx(t), adapters.Page{Limit: 10}); err != nil || len(recs) != 1 {
		t.Errorf("healed user not listed: %v %v", recs, err)
	}

	// Without an externalId nothing would mark the user as ours: it is removed.
	e.emu.FailNext("PUT /users/:id/custom_attributes/:key", 500, 3)
	v := scimUser("noext", "", "noext@example.com")
	_, err = e.a.CreateUser(tctx(t), v)
	asSCIM(t, err, http.StatusServiceUnavailable)
	if _, ok := e.emu.FindByUsername("noext"); ok {
		t.Error("a half-created user without identity was left behind")
	}
	// And a retry of the IdP then succeeds as a plain create.
	if rec := e.create(t, v); !rec.Managed || rec.User.ExternalID != "" {
		t.Errorf("retry: %+v", rec)
	}
}

func TestUpdateIdentityConflictIsDetected(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	e.create(t, scimUser("one", "ext-one", "one@example.com"))
	two := e.create(t, scimUser("two", "ext-two", "two@example.com"))
	u := scimUser("two", "EXT-ONE", "two@example.com")
	_, err := e.a.UpdateUser(tctx(t), two.User.ID, u, adapters.State{Managed: true})
	se := asSCIM(t, err, http.StatusConflict)
	if se.ScimType != scim.ErrUniqueness {
		t.Errorf("scimType %q", se.ScimType)
	}
	if ext := e.user(t, two.User.ID).Identities[0].ExternUID; ext != "ext-two" {
		t.Errorf("identity now %q", ext)
	}
}

func TestUpdateWritesOnlyWhatChanged(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	u := scimUser("first.last@example.com", "ext-fl", "fl@example.com")
	rec := e.create(t, u)

	// Same SCIM userName, another domain: the GitLab username stays.
	v := *u
	v.UserName = "first.last@corp.example"
	// the one name the service merged (provision.TestMergedName: formatted was
	// unchanged, familyName changed, so the family name is the edit)
	v.Name = &adapters.Name{Formatted: "Grace Murray Hopper"}
	got, err := e.a.UpdateUser(tctx(t), rec.User.ID, &v, adapters.State{Managed: true})
	if err != nil {
		t.Fatal(err)
	}
	gu := e.user(t, rec.User.ID)
	if gu.Username != "first.last" || gu.CustomAttributes[attrUserName] != v.UserName || got.User.UserName != v.UserName {
		t.Errorf("username %q attr %q view %q", gu.Username, gu.CustomAttributes[attrUserName], got.User.UserName)
	}
	if gu.Name != "Grace Murray Hopper" {
		t.Errorf("name %q, want Grace Murray Hopper", gu.Name)
	}
	// Privilege fields are never touched by an update.
	if gu.Admin || !gu.CanCreateGroup || gu.ProjectsLimit != 100000 {
		t.Errorf("privileges changed: admin %v can_create_group %v projects_limit %d", gu.Admin, gu.CanCreateGroup, gu.ProjectsLimit)
	}
	// A new local part renames.
	w := v
	w.UserName = "grace@corp.example"
	if _, err := e.a.UpdateUser(tctx(t), rec.User.ID, &w, adapters.State{Managed: true}); err != nil {
		t.Fatal(err)
	}
	if gu := e.user(t, rec.User.ID); gu.Username != "grace" {
		t.Errorf("username after rename %q", gu.Username)
	}
}

func TestAdoptionMarksManaged(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	hand, err := e.emu.CreateUserDirect(gitlabemu.UserState{Username: "byhand", Email: "byhand@example.com", Name: "By Hand"})
	if err != nil {
		t.Fatal(err)
	}
	id := strconv.Itoa(hand.ID)
	recs, err := e.a.FindUsers(tctx(t), adapters.Lookup{Kind: adapters.ByEmail, Value: "BYHAND@example.com"})
	if err != nil || len(recs) != 1 || recs[0].Managed {
		t.Fatalf("unmanaged lookup: %+v %v", recs, err)
	}
	u := scimUser("byhand", "ext-hand", "byhand@example.com")
	rec, err := e.a.UpdateUser(tctx(t), id, u, adapters.State{Managed: true})
	if err != nil || !rec.Managed {
		t.Fatalf("adoption: %+v %v", rec, err)
	}
	gu := e.user(t, id)
	if gu.CustomAttributes[attrManaged] != "true" || len(gu.Identities) != 1 {
		t.Errorf("adopted user state: %v %+v", gu.CustomAttributes, gu.Identities)
	}
}

func TestDeletedAttribute(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	u := scimUser("gone", "ext-gone", "gone@example.com")
	rec := e.create(t, u)
	off := *u
	off.Active = false
	if _, err := e.a.UpdateUser(tctx(t), rec.User.ID, &off, adapters.State{Managed: true, Deleted: true}); err != nil {
		t.Fatal(err)
	}
	if gu := e.user(t, rec.User.ID); gu.CustomAttributes[attrDeleted] != "true" || gu.State != "blocked" {
		t.Errorf("after delete: %v %q", gu.CustomAttributes, gu.State)
	}
	if _, err := e.a.UpdateUser(tctx(t), rec.User.ID, u, adapters.State{Managed: true}); err != nil {
		t.Fatal(err)
	}
	if gu := e.user(t, rec.User.ID); gu.CustomAttributes[attrDeleted] != "" || gu.State != "active" {
		t.Errorf("after reactivation: %v %q", gu.CustomAttributes, gu.State)
	}
}

// seedManaged adds n managed users directly, plus unmanaged ones in between.
func seedManaged(t *testing.T, e *env, n int) []int {
	t.Helper()
	var ids []int
	for i := 0; i < n; i++ {
		u, err := e.emu.CreateUserDirect(gitlabemu.UserState{
			Username: fmt.Sprintf("m%04d", i), Email: fmt.Sprintf("m%04d@example.com", i),
			Identities:       []gitlabemu.Identity{{Provider: DefaultIdentityProvider, ExternUID: fmt.Sprintf("x%04d", i)}},
			CustomAttributes: map[string]string{attrManaged: "true", attrUserName: fmt.Sprintf("M%04d", i)},
		})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
		if i%10 == 0 {
			if _, err := e.emu.CreateUserDirect(gitlabemu.UserState{Username: fmt.Sprintf("u%04d", i), Email: fmt.Sprintf("u%04d@example.com", i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return ids
}

func checkWindow(t *testing.T, e *env, ids []int, off, limit int) {
	t.Helper()
	recs, total, err := e.a.ListUsers(tctx(t), adapters.Page{Offset: off, Limit: limit})
	if err != nil {
		t.Fatalf("ListUsers(%d,%d): %v", off, limit, err)
	}
	if total != len(ids) {
		t.Errorf("ListUsers(%d,%d) total %d, want %d", off, limit, total, len(ids))
	}
	end := min(off+limit, len(ids))
	want := []int{}
	if off < len(ids) {
		want = ids[off:end]
	}
	var got []int
	for _, r := range recs {
		got = append(got, atoi(t, r.User.ID))
		if !r.Managed {
			t.Errorf("unmanaged %s listed", r.User.ID)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) && !(len(got) == 0 && len(want) == 0) {
		t.Errorf("ListUsers(%d,%d) = %v, want %v", off, limit, got, want)
	}
}

func TestListPaging(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	ids := seedManaged(t, e, 230)
	for _, w := range [][2]int{{0, 100}, {100, 100}, {200, 100}, {150, 100}, {37, 5}, {0, 250}, {95, 10}, {229, 1}, {230, 10}, {0, 0}} {
		checkWindow(t, e, ids, w[0], w[1])
	}
	e.emu.ResetCalls()
	checkWindow(t, e, ids, 150, 100) // unaligned: two pages of 100
	if n := e.emu.Calls()["GET /users"]; n != 2 {
		t.Errorf("unaligned window took %d GETs, want 2", n)
	}
	recs, _, _ := e.a.ListUsers(tctx(t), adapters.Page{Offset: 0, Limit: 1})
	if recs[0].User.UserName != "M0000" || recs[0].User.ExternalID != "x0000" {
		t.Errorf("list record %+v", recs[0].User)
	}
}

func TestListFallsBackToKeyset(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{KeysetRequiredAbove: 100})
	ids := seedManaged(t, e, 250)
	checkWindow(t, e, ids, 0, 50)    // offset allowed
	checkWindow(t, e, ids, 120, 50)  // offset refused (405): keyset
	checkWindow(t, e, ids, 240, 100) // keyset to the end
	if e.emu.Calls()["GET /users"] == 0 {
		t.Fatal("no list calls")
	}
}

// TestReadUsers: a list page's users in one keyset call from a cursor made before
// the first id; ids the listing does not hold (unmanaged, unknown) are left out for
// the service to read alone; a refused cursor turns the batch off, not the page.
func TestReadUsers(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	ids := seedManaged(t, e, 230)
	var page []string
	for _, id := range ids[120:220] {
		page = append(page, strconv.Itoa(id))
	}
	e.emu.ResetCalls()
	recs, err := e.a.ReadUsers(tctx(t), page)
	if err != nil {
		t.Fatal(err)
	}
	if n := e.emu.Calls()["GET /users"]; n != 1 {
		t.Errorf("a page of 100 took %d GET /users, want 1", n)
	}
	got := map[string]bool{}
	for _, r := range recs {
		got[r.User.ID] = true
		if !r.Managed || r.User.UserName == "" || r.User.ExternalID == "" {
			t.Errorf("record %+v", r)
		}
	}
	if len(got) != 100 || !got[page[0]] || !got[page[99]] {
		t.Errorf("%d users read, want the 100 of the page", len(got))
	}
	// an unmanaged account's id (the seed puts one after every tenth), an unknown one
	few := []string{strconv.Itoa(ids[10]), strconv.Itoa(ids[10] + 1), "999999"}
	recs, err = e.a.ReadUsers(tctx(t), few)
	if err != nil || len(recs) != 1 || recs[0].User.ID != few[0] {
		t.Errorf("ReadUsers(%v) = %v %v, want only %s", few, recs, err, few[0])
	}
}

func TestNextLink(t *testing.T) {
	h := `<https://gl.example/api/v4/users?cursor=abc&per_page=100>; rel="next", <https://gl.example/api/v4/users?page=1>; rel="first"`
	u := upstream.NextLink(h)
	if u == nil || u.Query().Get("cursor") != "abc" {
		t.Fatalf("nextLink = %v", u)
	}
	if upstream.NextLink(`<https://x/?page=1>; rel="first"`) != nil {
		t.Error("found a next link where there is none")
	}
}

func TestDeleteUser(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	rec := e.create(t, scimUser("del", "ext-del", "del@example.com"))
	if err := e.a.DeleteUser(tctx(t), rec.User.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.emu.User(atoi(t, rec.User.ID)); ok {
		t.Error("user still there")
	}
	if err := e.a.DeleteUser(tctx(t), rec.User.ID); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if err := e.a.DeleteUser(tctx(t), "abc"); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("non-numeric id: %v", err)
	}
	// Sole owner of a group: GitLab refuses without hard_delete.
	owner := e.create(t, scimUser("owner", "ext-owner", "owner@example.com"))
	g, _ := e.emu.CreateGroupDirect(gitlabemu.GroupState{Path: "grp", Members: []gitlabemu.Member{{UserID: atoi(t, owner.User.ID), AccessLevel: 50}}})
	_ = g
	se := asSCIM(t, e.a.DeleteUser(tctx(t), owner.User.ID), http.StatusConflict)
	if !strings.Contains(se.Detail, "sole-owner") {
		t.Errorf("detail %q", se.Detail)
	}
}

func TestMessageSafety(t *testing.T) {
	c, err := upstream.New(upstream.Options{Base: "https://gl.example/api/v4", Secrets: []string{"glpat-secret"}, Message: extractMessage})
	if err != nil {
		t.Fatal(err)
	}
	a := &Adapter{api: c}
	for _, c := range []struct{ body, want string }{
		{`{"message":"409 Conflict glpat-secret"}`, "409 Conflict [redacted]"},
		{`{"message":{"email":["is invalid"],"username":["is too long","has already been taken"]}}`, "email: is invalid; username: is too long, has already been taken"},
		{`{"message":{"error":"This endpoint has been requested too many times. Try again later."}}`, "This endpoint has been requested too many times. Try again later."},
		{`{"error":"email is missing"}`, "email is missing"},
		{"Retry later\n", "Retry later"},
		{``, "no details"},
	} {
		if got := a.message(&upstream.Response{Body: []byte(c.body)}); got != c.want {
			t.Errorf("message(%s) = %q, want %q", c.body, got, c.want)
		}
	}
	long := a.message(&upstream.Response{Body: []byte(`{"message":"` + strings.Repeat("é", 500) + `"}`)})
	if n := len([]rune(long)); n != 200 {
		t.Errorf("long message kept %d runes", n)
	}
}
