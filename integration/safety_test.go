package integration_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// TestSafety runs the identity-safety rules of #11 through a real Caddy against
// real Gitea and the GitLab emulator; each case failed before the rule existed.
func TestSafety(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name(), func(t *testing.T) {
			keeper := testenv.UniqueName("keeper")
			e := start(t, b, "protect "+keeper, "")
			t.Run("AdminIsNeverChanged", func(t *testing.T) { adminIsNeverChanged(t, e, b) })
			t.Run("ProtectOption", func(t *testing.T) { protectOption(t, e, b, keeper) })
			t.Run("NewHireNeverGetsTheOldAccount", func(t *testing.T) { newHire(t, e, b) })
			t.Run("NameChangesAreKept", func(t *testing.T) { nameChanges(t, e, b) })
			t.Run("HandSetBlockStays", func(t *testing.T) { skipWithoutBlock(t, b); handBlock(t, e, b) })
			t.Run("RenameNeverChangesTheIdentity", func(t *testing.T) { renamed(t, e, b) })
		})
	}
}

// #11 case 1: a SCIM-created user made an administrator in the application stays
// writable no more: PATCH (e-mail to an outside address, rename), PUT and DELETE
// are 403 and the application's account is unchanged.
func adminIsNeverChanged(t *testing.T, e *env, b backend) {
	name := testenv.UniqueName("boss")
	id := str(e.c.do("POST", "/Users", oktaUser(name+"@example.com", "ext-"+name)).want(t, 201).JSON, "id")
	b.makeAdmin(t, id)
	before := b.user(t, id)
	steal := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
	  {"op":"replace","path":"emails[type eq \"work\"].value","value":"thief@outside.example.com"},
	  {"op":"replace","path":"userName","value":"thief@outside.example.com"}]}`
	r := e.c.do("PATCH", "/Users/"+id, steal).wantError(t, 403, "")
	if !strings.Contains(str(r.JSON, "detail"), "administrator") {
		t.Errorf("403 detail: %s", r.Body)
	}
	e.c.do("PUT", "/Users/"+id, oktaUser("thief@outside.example.com", "ext-"+name)).wantError(t, 403, "")
	e.c.do("DELETE", "/Users/"+id, nil).wantError(t, 403, "")
	if after := b.user(t, id); after != before {
		t.Fatalf("the administrator changed: %+v → %+v", before, after)
	}
	if !e.caddy.LogsContain("refused by a safety rule") {
		t.Error("no log line for the refusal")
	}
}

// protect names an account SCIM leaves alone.
func protectOption(t *testing.T, e *env, b backend, name string) {
	u := oktaUser(name, "ext-"+name)
	u["emails"] = []any{map[string]any{"primary": true, "type": "work", "value": name + "@example.com"}}
	id := str(e.c.do("POST", "/Users", u).want(t, 201).JSON, "id")
	before := b.user(t, id)
	off := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`
	r := e.c.do("PATCH", "/Users/"+id, off).wantError(t, 403, "")
	if !strings.Contains(str(r.JSON, "detail"), "protect") {
		t.Errorf("403 detail: %s", r.Body)
	}
	e.c.do("DELETE", "/Users/"+id, nil).wantError(t, 403, "")
	if after := b.user(t, id); after != before || after.Blocked {
		t.Fatalf("the protected account changed: %+v → %+v", before, after)
	}
}

// #11 case 3: after DELETE of u3, a POST with the same userName but another
// externalId and e-mail is 409, never 201 with the deleted account's id.
func newHire(t *testing.T, e *env, b backend) {
	name := testenv.UniqueName("u3")
	first := oktaUser(name, "ext-first-"+name)
	first["emails"] = []any{map[string]any{"primary": true, "type": "work", "value": "first-" + name + "@example.com"}}
	id := str(e.c.do("POST", "/Users", first).want(t, 201).JSON, "id")
	e.c.do("DELETE", "/Users/"+id, nil).want(t, 204)
	before := b.user(t, id)
	hire := oktaUser(name, "ext-second-"+name)
	hire["emails"] = []any{map[string]any{"primary": true, "type": "work", "value": "second-" + name + "@example.com"}}
	r := e.c.do("POST", "/Users", hire)
	if r.Status == 201 && str(r.JSON, "id") == id {
		t.Fatal("the deleted account went to a new identity")
	}
	r.wantError(t, 409, "uniqueness")
	if after := b.user(t, id); after != before || !after.Blocked || after.Linked != "ext-first-"+name {
		t.Fatalf("the deleted account changed: %+v → %+v", before, after)
	}
	// the same identity still comes back to the same account
	back := e.c.do("POST", "/Users", first).want(t, 201)
	if str(back.JSON, "id") != id || b.user(t, id).Blocked {
		t.Fatalf("re-add of the same identity: %s", back.Body)
	}
}

// TestAdoptionNeedsAConfirmedEmail (#11 case 9): with link_existing email, a Gitea
// account whose e-mail was never confirmed (not activated) is not adopted; once an
// administrator activates it, it is.
func TestAdoptionNeedsAConfirmedEmail(t *testing.T) {
	g := testenv.Gitea(t)
	b := giteaBackend{g}
	e := start(t, b, "link_existing email", "")
	name := testenv.UniqueName("squat")
	u := g.CreateUnmanagedUser(t, name, name+"@example.com")
	g.SetActivated(t, name, false)
	body := oktaUser(name+"@example.com", "ext-"+name)
	r := e.c.do("POST", "/Users", body).wantError(t, 409, "uniqueness")
	if !strings.Contains(str(r.JSON, "detail"), "not confirmed") {
		t.Fatalf("detail: %s", r.Body)
	}
	if ln := g.GetUser(t, name)["login_name"]; ln != u["login_name"] {
		t.Fatalf("the unconfirmed account was changed: login_name %v", ln)
	}
	g.SetActivated(t, name, true)
	e.c.do("POST", "/Users", body).want(t, 201)
	if !e.caddy.LogsContain("scim adopted an existing upstream account") {
		t.Error("the adoption was not logged")
	}
}

// #11 case 5: a PATCH of displayName, or of name.givenName / name.familyName, used to
// answer 200 and change nothing whenever the user had a name.formatted — which every
// user read back has.
func nameChanges(t *testing.T, e *env, b backend) {
	if !b.oneName() {
		t.Skip("the application keeps the name parts, not one name: adaptertest/roundtrip checks each part through every PATCH form")
	}
	name := testenv.UniqueName("names")
	id := str(e.c.do("POST", "/Users", oktaUser(name+"@example.com", "ext-"+name)).want(t, 201).JSON, "id")
	if got := e.c.do("GET", "/Users/"+id, nil).want(t, 200).JSON; str(got, "name.formatted") == "" {
		t.Fatalf("setup: no name.formatted in %v", got)
	}
	for _, c := range []struct{ op, want string }{
		{`{"op":"Replace","path":"displayName","value":"Grace Hopper"}`, "Grace Hopper"},             // Entra
		{`{"op":"replace","path":"name.familyName","value":"Murray Hopper"}`, "Grace Murray Hopper"}, // Okta
		{`{"op":"replace","value":{"name.givenName":"Amazing"}}`, "Amazing Murray Hopper"},
	} {
		r := e.c.do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[`+c.op+`]}`).want(t, 200)
		if got := b.user(t, id).FullName; got != c.want {
			t.Fatalf("after %s the application has %q, want %q", c.op, got, c.want)
		}
		if str(r.JSON, "displayName") != c.want {
			t.Errorf("the answer says displayName %q, want %q", str(r.JSON, "displayName"), c.want)
		}
	}
}

// #11 case 4: a user blocked by hand in the application used to be unblocked by the
// next IdP active:true (Okta's PUT and Entra's PATCHes carry it routinely).
func handBlock(t *testing.T, e *env, b backend) {
	name := testenv.UniqueName("hb")
	body := oktaUser(name+"@example.com", "ext-"+name)
	id := str(e.c.do("POST", "/Users", body).want(t, 201).JSON, "id")
	b.blockByHand(t, id)
	before := b.user(t, id)
	r := e.c.do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"True"}]}`).wantError(t, 409, "")
	if !strings.Contains(str(r.JSON, "detail"), "lifts only blocks it set") {
		t.Errorf("detail: %s", r.Body)
	}
	body["displayName"] = "Okta Push"
	e.c.do("PUT", "/Users/"+id, body).wantError(t, 409, "")
	if after := b.user(t, id); after != before || !after.Blocked {
		t.Fatalf("the block set by hand was lifted or the account written: %+v → %+v", before, after)
	}
	if !e.caddy.LogsContain("lifts only blocks it set") {
		t.Error("the refusal was not logged")
	}
	// a block SCIM sets is SCIM's to lift
	other := testenv.UniqueName("sb")
	oid := str(e.c.do("POST", "/Users", oktaUser(other+"@example.com", "ext-"+other)).want(t, 201).JSON, "id")
	e.c.do("PATCH", "/Users/"+oid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`).want(t, 200)
	e.c.do("PATCH", "/Users/"+oid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":true}}]}`).want(t, 200)
	if b.user(t, oid).Blocked {
		t.Fatal("SCIM did not lift its own block")
	}
}

// #11 case 2: a provisioned u1 who renames his account to u2 used to answer to the
// new name: `GET /Users?filter=userName eq "u2"` returned u1's account, and Entra and
// Okta look users up exactly this way before creating them.
func renamed(t *testing.T, e *env, b backend) {
	u1, u2 := testenv.UniqueName("uone"), testenv.UniqueName("utwo")
	body := oktaUser(u1, "ext-"+u1)
	body["emails"] = []any{map[string]any{"primary": true, "type": "work", "value": u1 + "@example.com"}}
	id := str(e.c.do("POST", "/Users", body).want(t, 201).JSON, "id")
	b.renameByHand(t, id, u2)
	if rs := resources(t, e.c.do("GET", "/Users?"+filterQuery(`userName eq "`+u2+`"`), nil).want(t, 200)); len(rs) != 0 {
		t.Fatalf("the renamed account answers to the new name %s: %v", u2, rs)
	}
	rs := resources(t, e.c.do("GET", "/Users?"+filterQuery(`userName eq "`+u1+`"`), nil).want(t, 200))
	if len(rs) != 1 || str(rs[0], "id") != id {
		t.Fatalf("the account no longer answers to the IdP's name: %v", rs)
	}
	if got := str(e.c.do("GET", "/Users/"+id, nil).want(t, 200).JSON, "userName"); got != u1 {
		t.Errorf("GET answers userName %q, want %q", got, u1)
	}
	// the IdP's next write renames it back
	e.c.do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"displayName","value":"U One"}]}`).want(t, 200)
	if rs := resources(t, e.c.do("GET", "/Users?"+filterQuery(`userName eq "`+u2+`"`), nil).want(t, 200)); len(rs) != 0 {
		t.Fatal("still answers to the new name after the IdP's write")
	}
}

// slowPair starts two Caddy instances sharing one Redis in front of one Gitea; B
// reaches Gitea through a proxy that holds each of its writes (Gitea's PATCH) for
// delay.
func slowPair(t *testing.T, delay time.Duration) (g *testenv.GiteaServer, a, b *env) {
	g = testenv.Gitea(t)
	target, _ := url.Parse(g.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch {
			time.Sleep(delay)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(slow.Close)
	viaSlow := *g
	viaSlow.URL = slow.URL
	block := fmt.Sprintf("redis %s {\n\tprefix %s\n}", testenv.Redis(t).Addr, testenv.UniqueName("pair")+":")
	return g, start(t, giteaBackend{g}, block, ""), start(t, giteaBackend{&viaSlow}, block, "")
}

// TestWritesSerialisedAcrossInstances (#11 case 6): a PUT on instance B that read the
// user before a DELETE on instance A used to write the whole state back and clear
// the block. B reaches Gitea through a proxy that holds its writes back, so A's
// DELETE always falls between B's read and B's write; with the cross-instance lock
// in Redis the DELETE waits for B, and the user ends blocked and hidden.
func TestWritesSerialisedAcrossInstances(t *testing.T) {
	g, a, b := slowPair(t, 700*time.Millisecond)
	for i := range 3 {
		name := testenv.UniqueName("race")
		body := oktaUser(name+"@example.com", "ext-"+name)
		id := str(a.c.do("POST", "/Users", body).want(t, 201).JSON, "id")
		done := make(chan resp, 1)
		go func() {
			put := oktaUser(name+"@example.com", "ext-"+name)
			put["displayName"] = "Changed"
			done <- b.c.do("PUT", "/Users/"+id, put)
		}()
		time.Sleep(200 * time.Millisecond) // B has read and holds its write back
		if r := a.c.do("DELETE", "/Users/"+id, nil); r.Status != 204 && r.Status != 404 {
			t.Fatalf("DELETE: %d %s", r.Status, r.Body)
		}
		<-done
		if up := (giteaBackend{g}).user(t, id); !up.Blocked {
			t.Fatalf("round %d: after a DELETE on A and a PUT on B the user is not blocked: %+v", i, up)
		}
		a.c.do("GET", "/Users/"+id, nil).wantError(t, 404, "")
	}
}
