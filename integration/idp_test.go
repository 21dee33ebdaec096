package integration_test

import (
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const scimToken = "itest-scim-token-4f1c2b7e9a"

// env is a real Caddy built with the plugin in front of one upstream.
type env struct {
	caddy *testenv.Caddy
	up    backend
	c     *scimClient
}

func filterQuery(f string) string {
	return "filter=" + url.QueryEscape(f)
}

// oktaUser and entraUser are the IdPs' create bodies, with unique names.
func oktaUser(login, externalID string) map[string]any { return testenv.OktaUser(login, externalID) }

func entraUser(userName, email, objectID string) map[string]any {
	return testenv.EntraUser(userName, email, objectID)
}

func TestOktaSequence(t *testing.T) { forEachBackend(t, "", oktaSequence) }

func oktaSequence(t *testing.T, e *env) {
	c := e.c
	login := testenv.UniqueName("okta") + "@okta.example.com"
	ext := "00u" + testenv.UniqueName("x")

	// connection test and existence check
	lr := c.do("GET", "/Users?startIndex=1&count=2", nil, "User-Agent", "Okta SCIM Client 1.0.0").want(t, 200)
	resources(t, lr)
	none := c.do("GET", "/Users?"+filterQuery(`userName eq "`+login+`"`)+"&startIndex=1&count=100", nil).want(t, 200)
	if n := len(resources(t, none)); n != 0 || none.JSON["totalResults"].(float64) != 0 {
		t.Fatalf("existence check found %d users before create", n)
	}

	// create
	cr := c.do("POST", "/Users", oktaUser(login, ext)).want(t, 201)
	id := str(cr.JSON, "id")
	if id == "" || str(cr.JSON, "userName") != login || str(cr.JSON, "externalId") != ext || cr.JSON["active"] != true {
		t.Fatalf("created user: %s", cr.Body)
	}
	if loc := cr.Header.Get("Location"); !strings.HasSuffix(loc, "/scim/v2/Users/"+id) || loc != str(cr.JSON, "meta.location") {
		t.Fatalf("Location %q, meta.location %q", loc, str(cr.JSON, "meta.location"))
	}
	if cr.Header.Get("ETag") == "" || cr.Header.Get("ETag") != str(cr.JSON, "meta.version") {
		t.Fatalf("ETag %q, meta.version %q", cr.Header.Get("ETag"), str(cr.JSON, "meta.version"))
	}
	if _, leaked := cr.JSON["password"]; leaked {
		t.Fatal("password returned")
	}
	k := keepsOf(e.up)
	if gu := e.up.user(t, id); k.email && gu.Email != login || k.name && gu.FullName != "Test User" || gu.Blocked || gu.Linked != ext {
		t.Fatalf("upstream user after create: %+v", gu)
	}

	// the same existence check now finds it, case-insensitively
	found := resources(t, c.do("GET", "/Users?"+filterQuery(`userName eq "`+strings.ToUpper(login)+`"`)+"&startIndex=1&count=100", nil).want(t, 200))
	if len(found) != 1 || str(found[0], "id") != id {
		t.Fatalf("filter by userName found %v", found)
	}

	// profile update: GET then PUT of the whole object
	got := c.do("GET", "/Users/"+id, nil).want(t, 200).JSON
	got["name"] = map[string]any{"givenName": "Tessa", "familyName": "User"}
	got["displayName"] = "Tessa User"
	got["groups"] = []any{}
	got["emails"] = []any{map[string]any{"primary": true, "value": login, "type": "work", "display": login}}
	put := c.do("PUT", "/Users/"+id, got).want(t, 200)
	if k.name && str(put.JSON, "name.givenName") != "Tessa" {
		t.Fatalf("PUT answer: %s", put.Body)
	}
	if gu := e.up.user(t, id); k.name && gu.FullName != "Tessa User" {
		t.Fatalf("upstream full name after PUT: %+v", gu)
	}

	// deactivate (unassign): pathless PATCH
	deact := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`
	p := c.do("PATCH", "/Users/"+id, deact).want(t, 200)
	if p.JSON["active"] != false || str(p.JSON, "id") != id {
		t.Fatalf("PATCH active=false answer: %s", p.Body)
	}
	if gu := e.up.user(t, id); !gu.Blocked || gu.Linked != ext {
		t.Fatalf("upstream user after deactivate (must be blocked and still linked): %+v", gu)
	}
	// still visible, inactive
	if g := c.do("GET", "/Users/"+id, nil).want(t, 200); g.JSON["active"] != false {
		t.Fatalf("deactivated user: %s", g.Body)
	}

	// reactivate: same Gitea user, same SCIM id
	react := strings.Replace(deact, "false", "true", 1)
	if p := c.do("PATCH", "/Users/"+id, react).want(t, 200); p.JSON["active"] != true {
		t.Fatalf("PATCH active=true: %s", p.Body)
	}
	if gu := e.up.user(t, id); gu.Blocked {
		t.Fatalf("upstream user after reactivate: %+v", gu)
	}

	// a duplicate POST of an active user is 409
	c.do("POST", "/Users", oktaUser(login, ext)).wantError(t, 409, "uniqueness")

	// the unsolicited password Okta sends never reaches a log line
	if strings.Contains(e.caddy.Logs(), "1mz050nq") || strings.Contains(e.caddy.Logs(), scimToken) {
		t.Fatal("a password or token reached Caddy's logs")
	}

	// import pages: the user is listed, paging fields are integers
	all := listAll(t, c)
	seen := false
	for _, u := range all {
		if str(u, "id") == id {
			seen = true
		}
	}
	if !seen {
		t.Fatalf("import does not list %s", id)
	}
}

// entraUser is Entra ID's create body (idp-clients.md §3.2).
func TestEntraSequence(t *testing.T) { forEachBackend(t, "", entraSequence) }

// TestEntraSequenceWithRedis: the same on Gitea with the Redis link store, whose
// index entries carry a copy of the link: after a userName PATCH the entry of the
// old name still held the old link, and a filter on the old name answered the user
// (found by TestActivityPage).
func TestEntraSequenceWithRedis(t *testing.T) {
	e := start(t, giteaBackend{testenv.Gitea(t)}, redisBlock(t, testenv.UniqueName("entra")+":"), "")
	waitFor(t, "the index to be complete", func() bool { return indexGauge(t, e) == 1 })
	entraSequence(t, e)
}

func entraSequence(t *testing.T, e *env) {
	c := e.c
	// Test Connection: a random userName must give 200 and an empty list
	probe := c.do("GET", "/Users?"+filterQuery(`userName eq "7f4a1b2c-93d1-4c3e-8a55-0c1d2e3f4a5b"`), nil, "ADSCIMVersion", "6.0").want(t, 200)
	if len(resources(t, probe)) != 0 {
		t.Fatal("probe matched a user")
	}

	userName := "Test_User_" + testenv.UniqueName("e")
	email := strings.ToLower(userName) + "@testuser.com"
	objectID := "0a21f0f2-8d2a-4f8e-bf98-" + testenv.UniqueName("")
	cr := c.do("POST", "/Users", entraUser(userName, email, objectID)).want(t, 201)
	id := str(cr.JSON, "id")

	byExt := resources(t, c.do("GET", "/Users?"+filterQuery(`externalId eq "`+objectID+`"`), nil).want(t, 200))
	if len(byExt) != 1 || str(byExt[0], "id") != id {
		t.Fatalf("filter by externalId: %v", byExt)
	}
	// externalId is case-exact
	if n := len(resources(t, c.do("GET", "/Users?"+filterQuery(`externalId eq "`+strings.ToUpper(objectID)+`"`), nil).want(t, 200))); n != 0 {
		t.Fatalf("externalId matched case-insensitively (%d)", n)
	}
	// Microsoft's reference client projects with a value filter (#16): the
	// attribute it names is answered, not just the id
	pr := c.do("GET", "/Users/"+id+"?attributes="+url.QueryEscape(`emails[type eq "work"]`), nil).want(t, 200)
	if (pr.JSON["emails"] == nil) == keepsOf(e.up).email || pr.JSON["id"] != id || pr.JSON["userName"] != nil {
		t.Fatalf("attributes=emails[type eq \"work\"] answered %s", pr.Body)
	}

	newEmail := "testbcwqnm" + testenv.UniqueName("") + "@test.microsoft.com"
	newExt := "Eqpj" + testenv.UniqueName("")
	update := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
	 {"op":"Replace","path":"displayName","value":"Pvlo"},
	 {"op":"Replace","path":"emails[type eq \"work\"].value","value":"` + newEmail + `"},
	 {"op":"Replace","path":"name.givenName","value":"Gtfd"},
	 {"op":"Replace","path":"externalId","value":"` + newExt + `"},
	 {"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"Eqpj"}]}`
	p := c.do("PATCH", "/Users/"+id, update).want(t, 200)
	if str(p.JSON, "externalId") != newExt {
		t.Fatalf("PATCH answer: %s", p.Body)
	}
	if gu := e.up.user(t, id); keepsOf(e.up).email && gu.Email != newEmail || gu.Linked != newExt {
		t.Fatalf("upstream user after Entra PATCH: %+v", gu)
	}
	if byNew := resources(t, c.do("GET", "/Users?"+filterQuery(`externalId eq "`+newExt+`"`), nil).want(t, 200)); len(byNew) != 1 {
		t.Fatalf("filter by the new externalId: %v", byNew)
	}

	// Microsoft's validator: manager add (bare string), replace, remove; and a userName
	// update. The adapters do not store manager; the PATCH must still succeed.
	for _, op := range []string{
		`{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"271"}`,
		`{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"272"}`,
		`{"op":"Remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}`,
	} {
		c.do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[`+op+`]}`).want(t, 200)
	}
	renamed := userName + "x"
	r := c.do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"userName","value":"`+renamed+`"}]}`).want(t, 200)
	// userName is case-insensitive (RFC 7643 §4.1.1): an application may keep it in
	// one case (Miniflux: lower)
	if !strings.EqualFold(str(r.JSON, "userName"), renamed) {
		t.Fatalf("userName update: %s", r.Body)
	}
	if got := resources(t, c.do("GET", "/Users?"+filterQuery(`userName eq "`+renamed+`"`), nil).want(t, 200)); len(got) != 1 || str(got[0], "id") != id {
		t.Fatalf("filter by the new userName: %v", got)
	}
	if got := resources(t, c.do("GET", "/Users?"+filterQuery(`userName eq "`+userName+`"`), nil).want(t, 200)); len(got) != 0 {
		t.Fatalf("the old userName still matches: %v", got)
	}
	userName = renamed

	// disable with a string boolean, then enable
	disable := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`
	if p := c.do("PATCH", "/Users/"+id, disable).want(t, 200); p.JSON["active"] != false {
		t.Fatalf("disable: %s", p.Body)
	}
	if gu := e.up.user(t, id); !gu.Blocked {
		t.Fatalf("upstream user after disable: %+v", gu)
	}
	enable := strings.Replace(disable, `"False"`, `"True"`, 1)
	if p := c.do("PATCH", "/Users/"+id, enable).want(t, 200); p.JSON["active"] != true {
		t.Fatalf("enable: %s", p.Body)
	}

	// aadOptscim062020: one pathless replace with dotted keys
	dotted := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{
	  "name.formatted":"Kkom Bjfe","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"Aklq"}}]}`
	c.do("PATCH", "/Users/"+id, dotted).want(t, 200)
	if gu := e.up.user(t, id); e.up.oneName() && keepsOf(e.up).name && gu.FullName != "Kkom Bjfe" {
		t.Fatalf("upstream full name after dotted PATCH: %+v", gu)
	}

	// hard delete: 204, then 404, but the Gitea user is kept and blocked
	c.do("DELETE", "/Users/"+id, nil).want(t, 204)
	c.do("GET", "/Users/"+id, nil).wantError(t, 404, "")
	c.do("DELETE", "/Users/"+id, nil).wantError(t, 404, "")
	if n := len(resources(t, c.do("GET", "/Users?"+filterQuery(`externalId eq "`+newExt+`"`), nil).want(t, 200))); n != 0 {
		t.Fatalf("deleted user still matches a filter")
	}
	if gu := e.up.user(t, id); !gu.Exists || !gu.Blocked || gu.Linked != newExt {
		t.Fatalf("upstream user after DELETE (must be kept, blocked, linked): %+v", gu)
	}

	// the IdP adds the user back: same Gitea user, same SCIM id
	body := entraUser(userName, newEmail, newExt)
	again := c.do("POST", "/Users", body).want(t, 201)
	if str(again.JSON, "id") != id || again.JSON["active"] != true {
		t.Fatalf("re-created user %s, want id %s: %s", str(again.JSON, "id"), id, again.Body)
	}
	if gu := e.up.user(t, id); gu.Blocked {
		t.Fatalf("upstream user after re-add: %+v", gu)
	}
	c.do("GET", "/Users/"+id, nil).want(t, 200)
}

// The seed's story on GitLab: block on removal with the identity still linked, then
// reactivation of the same user from each state the REST API can lift, and a clear
// 409 for the one it cannot (ldap_blocked).
func TestGitLabReactivationByState(t *testing.T) {
	b := newGitLab(t)
	e := start(t, b, "", "")
	deact := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`
	react := strings.Replace(deact, `"False"`, `"True"`, 1)
	for _, state := range []string{"blocked", "deactivated", "banned"} {
		t.Run(state, func(t *testing.T) {
			name := testenv.UniqueName("gl") + "@example.com"
			ext := "ext-" + name
			id := str(e.c.do("POST", "/Users", oktaUser(name, ext)).want(t, 201).JSON, "id")
			e.c.do("PATCH", "/Users/"+id, deact).want(t, 200)
			if gu := b.user(t, id); gu.State != "blocked" || gu.Linked != ext {
				t.Fatalf("after removal: %+v, want blocked and linked", gu)
			}
			n, _ := strconv.Atoi(id)
			if err := b.emu.SetState(n, state); err != nil {
				t.Fatal(err)
			}
			r := e.c.do("PATCH", "/Users/"+id, react).want(t, 200)
			if r.JSON["active"] != true || str(r.JSON, "id") != id {
				t.Fatalf("reactivation answer: %s", r.Body)
			}
			if gu := b.user(t, id); gu.State != "active" || gu.Linked != ext {
				t.Fatalf("after re-add: %+v", gu)
			}
		})
	}
	t.Run("ldap_blocked", func(t *testing.T) {
		name := testenv.UniqueName("gl") + "@example.com"
		id := str(e.c.do("POST", "/Users", oktaUser(name, "ext-"+name)).want(t, 201).JSON, "id")
		n, _ := strconv.Atoi(id)
		if err := b.emu.SetState(n, "ldap_blocked"); err != nil {
			t.Fatal(err)
		}
		r := e.c.do("PATCH", "/Users/"+id, react).wantError(t, 409, "")
		if !strings.Contains(strings.ToLower(str(r.JSON, "detail")), "ldap") {
			t.Fatalf("409 should say why: %s", r.Body)
		}
		if gu := b.user(t, id); gu.State != "ldap_blocked" {
			t.Fatalf("state changed: %+v", gu)
		}
	})
}
