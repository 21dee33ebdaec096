package integration_test

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const scimToken = "itest-scim-token-4f1c2b7e9a"

// env is a real Caddy built with the plugin in front of the test binary's real Gitea.
type env struct {
	caddy *testenv.Caddy
	gitea *testenv.GiteaServer
	c     *scimClient
}

// startGitea starts Caddy with the gitea adapter; extra is added inside the scim block.
func startGitea(t *testing.T, extra string) *env {
	t.Helper()
	g := testenv.Gitea(t)
	site := fmt.Sprintf("scim {\n\ttoken {env.SCIM_TOKEN}\n\tadapter gitea {\n\t\turl %s\n\t\ttoken {env.GITEA_TOKEN}\n\t}\n%s\n}\nreverse_proxy %s",
		g.URL, extra, strings.TrimPrefix(g.URL, "http://"))
	cd := testenv.StartCaddy(t, testenv.CaddyOptions{Site: site,
		Env: []string{"SCIM_TOKEN=" + scimToken, "GITEA_TOKEN=" + g.Token}})
	return &env{caddy: cd, gitea: g, c: newClient(t, cd.URL+"/scim/v2", scimToken)}
}

// giteaUser returns Gitea's own admin view of the user behind a SCIM id.
func (e *env) giteaUser(t *testing.T, id string) map[string]any {
	t.Helper()
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		t.Fatalf("SCIM id %q is not Gitea's numeric id", id)
	}
	u := e.gitea.UserByID(t, n)
	if u == nil {
		t.Fatalf("Gitea has no user %s", id)
	}
	return u
}

func (e *env) giteaUserCount(t *testing.T) int {
	t.Helper()
	return len(e.gitea.AdminListUsers(t, nil))
}

func filterQuery(f string) string {
	return "filter=" + url.QueryEscape(f)
}

// oktaUser is Okta's create body (idp-clients.md §3.1), with unique names.
func oktaUser(login, externalID string) map[string]any {
	return map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName":    login,
		"name":        map[string]any{"givenName": "Test", "familyName": "User"},
		"emails":      []any{map[string]any{"primary": true, "value": login, "type": "work"}},
		"displayName": "Test User",
		"locale":      "en-US",
		"externalId":  externalID,
		"groups":      []any{},
		"password":    "1mz050nq",
		"active":      true,
	}
}

func TestOktaSequence(t *testing.T) {
	e := startGitea(t, "")
	c := e.c
	login := testenv.UniqueName("okta") + "@okta.local"
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
	gu := e.giteaUser(t, id)
	if gu["email"] != login || gu["full_name"] != "Test User" || gu["prohibit_login"] != false || gu["is_admin"] != false {
		t.Fatalf("gitea user after create: %v", gu)
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
	if str(put.JSON, "name.givenName") != "Tessa" {
		t.Fatalf("PUT answer: %s", put.Body)
	}
	if gu := e.giteaUser(t, id); gu["full_name"] != "Tessa User" {
		t.Fatalf("gitea full_name after PUT: %v", gu["full_name"])
	}

	// deactivate (unassign): pathless PATCH
	deact := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`
	p := c.do("PATCH", "/Users/"+id, deact).want(t, 200)
	if p.JSON["active"] != false || str(p.JSON, "id") != id {
		t.Fatalf("PATCH active=false answer: %s", p.Body)
	}
	if gu := e.giteaUser(t, id); gu["prohibit_login"] != true {
		t.Fatalf("gitea prohibit_login after deactivate: %v", gu["prohibit_login"])
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
	if gu := e.giteaUser(t, id); gu["prohibit_login"] != false {
		t.Fatalf("gitea prohibit_login after reactivate: %v", gu["prohibit_login"])
	}

	// a duplicate POST of an active user is 409
	c.do("POST", "/Users", oktaUser(login, ext)).wantError(t, 409, "uniqueness")

	// import pages: the user is listed, paging fields are integers
	all := resources(t, c.do("GET", "/Users?startIndex=1&count=100", nil).want(t, 200))
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
func entraUser(userName, email, objectID string) map[string]any {
	return map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User",
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
		"externalId": objectID,
		"userName":   userName,
		"active":     true,
		"emails":     []any{map[string]any{"primary": true, "type": "work", "value": email}},
		"meta":       map[string]any{"resourceType": "User"},
		"name":       map[string]any{"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
		"roles":      []any{},
	}
}

func TestEntraSequence(t *testing.T) {
	e := startGitea(t, "")
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
	gu := e.giteaUser(t, id)
	if gu["email"] != newEmail {
		t.Fatalf("gitea email after Entra PATCH: %v", gu["email"])
	}
	if byNew := resources(t, c.do("GET", "/Users?"+filterQuery(`externalId eq "`+newExt+`"`), nil).want(t, 200)); len(byNew) != 1 {
		t.Fatalf("filter by the new externalId: %v", byNew)
	}

	// disable with a string boolean, then enable
	disable := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`
	if p := c.do("PATCH", "/Users/"+id, disable).want(t, 200); p.JSON["active"] != false {
		t.Fatalf("disable: %s", p.Body)
	}
	if gu := e.giteaUser(t, id); gu["prohibit_login"] != true {
		t.Fatalf("gitea prohibit_login after disable: %v", gu["prohibit_login"])
	}
	enable := strings.Replace(disable, `"False"`, `"True"`, 1)
	if p := c.do("PATCH", "/Users/"+id, enable).want(t, 200); p.JSON["active"] != true {
		t.Fatalf("enable: %s", p.Body)
	}

	// aadOptscim062020: one pathless replace with dotted keys
	dotted := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{
	  "name.formatted":"Kkom Bjfe","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"Aklq"}}]}`
	c.do("PATCH", "/Users/"+id, dotted).want(t, 200)
	if gu := e.giteaUser(t, id); gu["full_name"] != "Kkom Bjfe" {
		t.Fatalf("gitea full_name after dotted PATCH: %v", gu["full_name"])
	}

	// hard delete: 204, then 404, but the Gitea user is kept and blocked
	c.do("DELETE", "/Users/"+id, nil).want(t, 204)
	c.do("GET", "/Users/"+id, nil).wantError(t, 404, "")
	c.do("DELETE", "/Users/"+id, nil).wantError(t, 404, "")
	if n := len(resources(t, c.do("GET", "/Users?"+filterQuery(`externalId eq "`+newExt+`"`), nil).want(t, 200))); n != 0 {
		t.Fatalf("deleted user still matches a filter")
	}
	if gu := e.giteaUser(t, id); gu["prohibit_login"] != true {
		t.Fatalf("gitea user after DELETE: %v", gu)
	}

	// the IdP adds the user back: same Gitea user, same SCIM id
	body := entraUser(userName, newEmail, newExt)
	again := c.do("POST", "/Users", body).want(t, 201)
	if str(again.JSON, "id") != id || again.JSON["active"] != true {
		t.Fatalf("re-created user %s, want id %s: %s", str(again.JSON, "id"), id, again.Body)
	}
	if gu := e.giteaUser(t, id); gu["prohibit_login"] != false {
		t.Fatalf("gitea prohibit_login after re-add: %v", gu["prohibit_login"])
	}
	c.do("GET", "/Users/"+id, nil).want(t, 200)
}
