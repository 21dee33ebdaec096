package integration_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// Bad input gets a precise SCIM error, and Gitea is left as it was. With
// unknown_attributes reject, unknown attributes and schemas are bad input too.
func TestBadInputLeavesUpstreamUnchanged(t *testing.T) {
	forEachBackend(t, "max_body_size 64KiB\nunknown_attributes reject", badInput)
}

// TestUnknownAttributesIgnored (#11, nothing silently lost): by default the custom
// attributes and extension schemas IdPs send are accepted and ignored, counted and
// logged once per name; what the server knows is applied.
func TestUnknownAttributesIgnored(t *testing.T) { forEachBackend(t, "", unknownIgnored) }

func unknownIgnored(t *testing.T, e *env) {
	name := testenv.UniqueName("custom")
	body := oktaUser(name+"@example.com", "ext-"+name)
	body["schemas"] = []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"}
	body["favouriteColour"] = "blue"
	body["urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"] = map[string]any{"costCode": "cc-1"}
	id := str(e.c.do("POST", "/Users", body).want(t, 201).JSON, "id")
	patch := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
	  {"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:costCode","value":"cc-2"},
	  {"op":"Replace","path":"displayName","value":"Renamed Custom"}]}`
	want := "Renamed Custom"
	if !e.up.oneName() { // the application keeps the name parts, not displayName
		patch = strings.Replace(patch, `"path":"displayName","value":"Renamed Custom"`, `"path":"name.givenName","value":"Renamed"`, 1)
		want = "Renamed " + str(body, "name.familyName")
	}
	e.c.do("PATCH", "/Users/"+id, patch).want(t, 200)
	if got := e.up.user(t, id).FullName; keepsOf(e.up).name && got != want {
		t.Errorf("the known part of the PATCH was not applied: full name %q", got)
	}
	e.caddy.LogsContain("CustomExtensionName:2.0:User:costCode")
	logs := e.caddy.Logs()
	if n := strings.Count(logs, `"attribute":"urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:costCode"`); n != 1 {
		t.Errorf("costCode logged %d times, want once", n)
	}
	if !strings.Contains(logs, `"attribute":"favouriteColour"`) {
		t.Error("favouriteColour not logged")
	}
	// the schema, the extension object and favouriteColour on POST, costCode on PATCH
	if v, _ := metricValue(t, e, "caddy_scim_unknown_attributes_total"); v != 4 {
		t.Errorf("caddy_scim_unknown_attributes_total = %v, want 4", v)
	}
}

func badInput(t *testing.T, e *env) {
	c := e.c
	before := e.up.count(t)
	name := testenv.UniqueName("bad")
	valid := func() map[string]any { return oktaUser(name+"@example.com", "ext-"+name) }

	cases := []struct {
		name     string
		method   string
		path     string
		body     any
		status   int
		scimType string
	}{
		{"malformed JSON", "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":`, 400, "invalidSyntax"},
		{"not an object", "POST", "/Users", `["x"]`, 400, "invalidSyntax"},
		{"oversized body", "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + strings.Repeat("a", 70<<10) + `"}`, 413, ""},
		{"unknown schema", "POST", "/Users", func() map[string]any {
			u := valid()
			u["schemas"] = []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:example:custom:2.0:User"}
			return u
		}(), 400, "invalidSyntax"},
		{"unknown attribute", "POST", "/Users", func() map[string]any { u := valid(); u["favouriteColour"] = "blue"; return u }(), 400, "invalidSyntax"},
		{"wrong type: active", "POST", "/Users", func() map[string]any { u := valid(); u["active"] = "maybe"; return u }(), 400, "invalidValue"},
		{"wrong type: userName", "POST", "/Users", func() map[string]any { u := valid(); u["userName"] = 42; return u }(), 400, "invalidValue"},
		{"wrong type: emails", "POST", "/Users", func() map[string]any { u := valid(); u["emails"] = "a@b.c"; return u }(), 400, "invalidValue"},
		{"missing userName", "POST", "/Users", func() map[string]any { u := valid(); delete(u, "userName"); return u }(), 400, "invalidValue"},
		{"missing schemas", "POST", "/Users", func() map[string]any { u := valid(); delete(u, "schemas"); return u }(), 400, "invalidSyntax"},
		{"invalid filter", "GET", "/Users?" + filterQuery(`userName eq`), nil, 400, "invalidFilter"},
		{"unknown filter attribute", "GET", "/Users?" + filterQuery(`shoeSize gt 3`), nil, 400, "invalidFilter"},
		{"unbalanced filter", "GET", "/Users?" + filterQuery(`(userName eq "a"`), nil, 400, "invalidFilter"},
		{"filter on password", "GET", "/Users?" + filterQuery(`password eq "1mz050nq"`), nil, 400, "invalidFilter"},
		{"non-integer count", "GET", "/Users?count=ten", nil, 400, "invalidValue"},
		{"patch without PatchOp schema", "PATCH", "/Users/1", `{"Operations":[{"op":"replace","value":{"active":false}}]}`, 400, "invalidSyntax"},
		{"bulk without its schema", "POST", "/Bulk", `{}`, 400, "invalidSyntax"},
		{"bulk that is not JSON", "POST", "/Bulk", `{"schemas":`, 400, "invalidSyntax"},
		{"me", "GET", "/Me", nil, 501, ""},
		{"unknown endpoint", "GET", "/Widgets", nil, 404, ""},
		{"method not allowed", "DELETE", "/Users", nil, 405, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.do(tc.method, tc.path, tc.body).wantError(t, tc.status, tc.scimType)
		})
	}
	if after := e.up.count(t); after != before {
		t.Fatalf("upstream users %d → %d after bad input", before, after)
	}
	// a userName Gitea cannot hold in a URL never reaches another path
	c.do("GET", "/Users?"+filterQuery(`userName eq "../admin/users"`), nil).want(t, 200)

	// a bad PATCH on a real user changes nothing (atomic)
	cr := c.do("POST", "/Users", valid()).want(t, 201)
	id := str(cr.JSON, "id")
	before2 := e.up.user(t, id)
	bad := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
	  {"op":"replace","path":"displayName","value":"Changed"},
	  {"op":"replace","path":"active","value":"perhaps"}]}`
	c.do("PATCH", "/Users/"+id, bad).wantError(t, 400, "invalidValue")
	c.do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove"}]}`).wantError(t, 400, "noTarget")
	c.do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"nosuch","value":1}]}`).wantError(t, 400, "invalidPath")
	if after2 := e.up.user(t, id); after2 != before2 {
		t.Fatalf("failed PATCH changed the upstream: %+v → %+v", before2, after2)
	}
	// stale If-Match is 412 and changes nothing
	c.do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`,
		"If-Match", `W/"stale"`).wantError(t, 412, "")
	if e.up.user(t, id).Blocked {
		t.Fatal("PATCH with a stale If-Match was applied")
	}
	// If-None-Match with the current ETag is 304
	tag := c.do("GET", "/Users/"+id, nil).want(t, 200).Header.Get("ETag")
	c.do("GET", "/Users/"+id, nil, "If-None-Match", tag).want(t, 304)
	if strings.Contains(e.caddy.Logs(), scimToken) || strings.Contains(e.caddy.Logs(), gitlabToken) || strings.Contains(e.caddy.Logs(), testenv.Gitea(t).Token) {
		t.Fatal("a token reached Caddy's logs")
	}
}

func TestAuthentication(t *testing.T) {
	e := start(t, giteaBackend{testenv.Gitea(t)}, "", "")
	base := e.caddy.URL + "/scim/v2"
	for _, tc := range []struct{ name, header string }{
		{"no header", ""},
		{"wrong token", "Bearer wrong-token-000000000000"},
		{"okta spec non-token", "non-token"},
		{"basic", "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+scimToken))},
		{"token in the wrong scheme", "Token " + scimToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, base, "")
			var r resp
			if tc.header == "" {
				r = c.do("GET", "/Users", nil)
			} else {
				r = c.do("GET", "/Users", nil, "Authorization", tc.header)
			}
			r.wantError(t, 401, "")
			if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("WWW-Authenticate %q", r.Header.Get("WWW-Authenticate"))
			}
			if strings.Contains(string(r.Body), scimToken) {
				t.Fatal("token echoed in the error")
			}
		})
	}
	// a lowercase scheme is fine (RFC 7235: case-insensitive)
	newClient(t, base, "").do("GET", "/Users?count=1", nil, "Authorization", "bearer "+scimToken).want(t, 200)
	if strings.Contains(e.caddy.Logs(), scimToken) {
		t.Fatal("token in logs")
	}
}

// hs256 signs claims with secret; header is merged over {"alg":"HS256","typ":"JWT"}.
func hs256(header map[string]any, claims map[string]any, secret string) string {
	h := map[string]any{"alg": "HS256", "typ": "JWT"}
	for k, v := range header {
		h[k] = v
	}
	hb, _ := json.Marshal(h)
	cb, _ := json.Marshal(claims)
	signing := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	if h["alg"] == "none" {
		return signing + "."
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func TestJWTAuthentication(t *testing.T) {
	const secret = "jwt-test-secret-that-is-long-enough-0123456789"
	g := testenv.Gitea(t)
	site := fmt.Sprintf("scim {\n\tjwt {\n\t\tissuer https://idp.example.test\n\t\taudience caddy-scim\n\t\tsecret {env.JWT_SECRET}\n\t}\n\tadapter gitea {\n\t\turl %s\n\t\ttoken {env.GITEA_TOKEN}\n\t}\n}", g.URL)
	cd := testenv.StartCaddy(t, testenv.CaddyOptions{Site: site, Env: []string{"JWT_SECRET=" + secret, "GITEA_TOKEN=" + g.Token}})
	base := cd.URL + "/scim/v2"
	now := time.Now().Unix()
	good := map[string]any{"iss": "https://idp.example.test", "aud": "caddy-scim", "sub": "entra-app", "exp": now + 300, "iat": now}
	newClient(t, base, hs256(nil, good, secret)).do("GET", "/Users?count=1", nil).want(t, 200)

	expired := map[string]any{"iss": "https://idp.example.test", "aud": "caddy-scim", "sub": "x", "exp": now - 3600}
	wrongAud := map[string]any{"iss": "https://idp.example.test", "aud": "other", "sub": "x", "exp": now + 300}
	for name, tok := range map[string]string{
		"alg none":     hs256(map[string]any{"alg": "none"}, good, ""),
		"expired":      hs256(nil, expired, secret),
		"wrong secret": hs256(nil, good, "another-secret-another-secret-0000"),
		"wrong aud":    hs256(nil, wrongAud, secret),
	} {
		t.Run(name, func(t *testing.T) {
			newClient(t, base, tok).do("GET", "/Users", nil).wantError(t, 401, "")
		})
	}
}

// TestJWTRequiredClaims (#11 case 10): with require_scope and require_client_id a
// token of the right issuer and audience is refused unless it is the provisioning
// client's and carries the scope; a user's own ID token for that client no longer
// provisions anything.
func TestJWTRequiredClaims(t *testing.T) {
	const secret = "jwt-test-secret-that-is-long-enough-0123456789"
	g := testenv.Gitea(t)
	site := fmt.Sprintf("scim {\n\tjwt {\n\t\tissuer https://idp.example.test\n\t\taudience caddy-scim\n\t\tsecret {env.JWT_SECRET}\n"+
		"\t\trequire_scope scim.write\n\t\trequire_client_id okta-app\n\t}\n\tadapter gitea {\n\t\turl %s\n\t\ttoken {env.GITEA_TOKEN}\n\t}\n}", g.URL)
	cd := testenv.StartCaddy(t, testenv.CaddyOptions{Site: site, Env: []string{"JWT_SECRET=" + secret, "GITEA_TOKEN=" + g.Token}})
	base := cd.URL + "/scim/v2"
	now := time.Now().Unix()
	claims := func(extra map[string]any) map[string]any {
		c := map[string]any{"iss": "https://idp.example.test", "aud": "caddy-scim", "sub": "someone", "exp": now + 300, "iat": now}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	newClient(t, base, hs256(nil, claims(map[string]any{"client_id": "okta-app", "scp": []string{"scim.write"}}), secret)).do("GET", "/Users?count=1", nil).want(t, 200)
	for name, extra := range map[string]map[string]any{
		"a user's ID token": {"name": "A User", "email": "a@example.com"},
		"no scope":          {"client_id": "okta-app"},
		"another client":    {"client_id": "other-app", "scp": "scim.write"},
	} {
		r := newClient(t, base, hs256(nil, claims(extra), secret)).do("GET", "/Users", nil).wantError(t, 401, "")
		if !strings.Contains(str(r.JSON, "detail"), "required claim") {
			t.Errorf("%s: detail %s", name, r.Body)
		}
	}
}

func TestDiscovery(t *testing.T) { forEachBackend(t, "", discovery) }

func discovery(t *testing.T, e *env) {
	c := e.c
	spc := c.do("GET", "/ServiceProviderConfig", nil).want(t, 200).JSON
	if spc["patch"].(map[string]any)["supported"] != true || spc["bulk"].(map[string]any)["supported"] != true {
		t.Fatalf("SPC: %v", spc)
	}
	if spc["filter"].(map[string]any)["maxResults"].(float64) < 100 {
		t.Fatalf("filter.maxResults: %v", spc["filter"])
	}
	// Gitea serves groups only with an organization (not set here)
	groups := servesGroups(e.up)
	rts := resources(t, c.do("GET", "/ResourceTypes", nil).want(t, 200))
	ids := []string{}
	for _, rt := range rts {
		ids = append(ids, str(rt, "id"))
	}
	want := map[bool]string{true: "User Group", false: "User"}[groups]
	if strings.Join(ids, " ") != want {
		t.Fatalf("ResourceTypes lists %v, want %s", ids, want)
	}
	c.do("GET", "/ResourceTypes/User", nil).want(t, 200)
	if groups {
		c.do("GET", "/ResourceTypes/Group", nil).want(t, 200)
		c.do("GET", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group", nil).want(t, 200)
		c.do("GET", "/Groups", nil).want(t, 200)
	} else {
		c.do("GET", "/ResourceTypes/Group", nil).wantError(t, 404, "")
		c.do("GET", "/Groups", nil).wantError(t, 501, "")
	}
	user := c.do("GET", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", nil).want(t, 200).JSON
	names := map[string]bool{}
	for _, a := range user["attributes"].([]any) {
		names[a.(map[string]any)["name"].(string)] = true
	}
	if !names["userName"] || names["emails"] != keepsOf(e.up).email || !names["active"] || names["phoneNumbers"] || names["x509Certificates"] {
		t.Fatalf("User schema advertises %v; it must list exactly what the upstream stores", names)
	}
}

// Requests outside base_path reach the application untouched.
func TestPassThrough(t *testing.T) {
	e := start(t, giteaBackend{testenv.Gitea(t)}, "", "")
	r, err := http.Get(e.caddy.URL + "/api/v1/version")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(r.Body).Decode(&v); err != nil || r.StatusCode != 200 || v["version"] == nil {
		t.Fatalf("proxied /api/v1/version: %d %v %v", r.StatusCode, v, err)
	}
	// /scim/v2x is not under base_path either
	r2, err := http.Get(e.caddy.URL + "/scim/v2x")
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.Header.Get("Content-Type") == "application/scim+json" {
		t.Fatal("/scim/v2x answered by the plugin")
	}
}

// Scope: hand-made users are invisible; POSTing over one is 409 unless link_existing.
func TestScopeAndAdoption(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name(), func(t *testing.T) { scopeAndAdoption(t, b) })
	}
}

func scopeAndAdoption(t *testing.T, b backend) {
	e := start(t, b, "", "")
	hand := testenv.UniqueName("hand")
	b.makeUnmanaged(t, hand, hand+"@example.com")
	for _, u := range listAll(t, e.c) {
		if str(u, "userName") == hand || str(u, "userName") == b.adminName() {
			t.Fatalf("unmanaged user %q is visible", str(u, "userName"))
		}
	}
	if n := len(resources(t, e.c.do("GET", "/Users?"+filterQuery(`userName eq "`+hand+`"`), nil).want(t, 200))); n != 0 {
		t.Fatal("filter finds an unmanaged user")
	}
	body := oktaUser(hand, "ext-"+hand)
	body["emails"] = []any{map[string]any{"primary": true, "type": "work", "value": hand + "@example.com"}}
	r := e.c.do("POST", "/Users", body).wantError(t, 409, "uniqueness")
	if !strings.Contains(str(r.JSON, "detail"), "link_existing") {
		t.Fatalf("409 detail should name link_existing: %s", r.Body)
	}
	// the admin is never adopted, even with link_existing
	adopt := start(t, b, "link_existing username", "")
	if b.adminName() != "" {
		admin := oktaUser(b.adminName(), "ext-admin-"+hand)
		admin["emails"] = []any{map[string]any{"primary": true, "type": "work", "value": "other-" + hand + "@example.com"}}
		adopt.c.do("POST", "/Users", admin).wantError(t, 409, "uniqueness")
	}
	a := adopt.c.do("POST", "/Users", body).want(t, 201)
	if got := resources(t, adopt.c.do("GET", "/Users?"+filterQuery(`externalId eq "ext-`+hand+`"`), nil).want(t, 200)); len(got) != 1 || str(got[0], "id") != str(a.JSON, "id") {
		t.Fatalf("adopted user not found by externalId: %v", got)
	}
}

func TestConfigRefusesUnsetSecret(t *testing.T) {
	g := testenv.Gitea(t)
	out := testenv.StartCaddyExpectFailure(t, testenv.CaddyOptions{Site: fmt.Sprintf(
		"scim {\n\ttoken {env.SCIM_TOKEN_THAT_IS_NOT_SET}\n\tadapter gitea {\n\t\turl %s\n\t\ttoken %s\n\t}\n}", g.URL, "x")})
	if !strings.Contains(out, "token") {
		t.Fatalf("unexpected failure output: %s", out)
	}
}

// The plugin's own metrics reach Caddy's admin /metrics: requests by operation, and
// the upstream calls the adapter made (counted, for operators and benchmarks).
func TestMetrics(t *testing.T) {
	e := start(t, giteaBackend{testenv.Gitea(t)}, "", "")
	e.c.do("GET", "/Users?count=1", nil).want(t, 200)
	e.c.do("GET", "/Users/999999999", nil).wantError(t, 404, "")
	r, err := http.Get(e.caddy.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	for _, want := range []string{
		`caddy_scim_requests_total{adapter="gitea",base_path="/scim/v2",code="2xx",op="users.list"} 1`,
		`caddy_scim_requests_total{adapter="gitea",base_path="/scim/v2",code="4xx",op="users.get"} 1`,
		`caddy_scim_upstream_requests_total{adapter="gitea",base_path="/scim/v2"}`,
	} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("/metrics lacks %s", want)
		}
	}
}

// Secrets from files: {file./path} tokens work (Docker/Kubernetes secrets), and the
// trailing newline of such files is not part of the token.
func TestTokenFromFile(t *testing.T) {
	g := testenv.Gitea(t)
	path := t.TempDir() + "/scim_token"
	const tok = "file-token-0123456789abcdef"
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	site := fmt.Sprintf("scim {\n\ttoken {file.%s}\n\tadapter gitea {\n\t\turl %s\n\t\ttoken {env.GITEA_TOKEN}\n\t}\n}", path, g.URL)
	cd := testenv.StartCaddy(t, testenv.CaddyOptions{Site: site, Env: []string{"GITEA_TOKEN=" + g.Token}})
	newClient(t, cd.URL+"/scim/v2", tok).do("GET", "/Users?count=1", nil).want(t, 200)
	newClient(t, cd.URL+"/scim/v2", tok+"x").do("GET", "/Users?count=1", nil).wantError(t, 401, "")
	if strings.Contains(cd.Logs(), tok) {
		t.Fatal("the file token reached the logs")
	}
}
