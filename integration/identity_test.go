package integration_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-scim/caddy-scim/integration/gitlabemu"
	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// Identity state with a durable home (#21): each case through a real Caddy on real
// Gitea (and the GitLab emulator where GitLab is concerned), with the default
// configuration (the embedded link store) and with Redis. Each failed before.

const (
	deactivateOp = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`
	activateOp   = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"True"}]}`
)

// storeMode is one way of keeping the links: the default embedded store, or Redis.
type storeMode struct {
	name  string
	block func(t *testing.T) string
}

func storeModes() []storeMode {
	return []storeMode{
		{"embedded", func(*testing.T) string { return "" }},
		{"redis", func(t *testing.T) string { return redisBlock(t, testenv.UniqueName("id")+":") }},
	}
}

func userNameCount(t *testing.T, e *env, name string) []map[string]any {
	t.Helper()
	return resources(t, e.c.do("GET", "/Users?"+filterQuery(`userName eq "`+name+`"`), nil).want(t, 200))
}

// TestRenameSquat (#21 case 1): a managed user renames his Gitea login (or changes
// his primary e-mail, when that is his userName) to another person's. After a
// restart, a reload or (with Redis) a FLUSHALL, `userName eq "<the other's name>"` —
// what Okta and Entra ask before a create — used to answer his account.
func TestRenameSquat(t *testing.T) {
	g := giteaBackend{testenv.Gitea(t)}
	for _, m := range storeModes() {
		t.Run(m.name, func(t *testing.T) {
			var rs *testenv.RedisServer
			block := m.block(t)
			if m.name == "redis" { // its own server: it is stopped below
				rs = testenv.RedisPrivate(t)
				block = fmt.Sprintf("redis %s {\n\tdial_timeout 200ms\n\tread_timeout 200ms\n}", rs.Addr)
			}
			e := start(t, g, block, "")
			// a plain userName renamed, and an e-mail userName whose e-mail changed
			bob, alice := testenv.UniqueName("bob"), testenv.UniqueName("alice")
			body := oktaUser(bob, "ext-"+bob)
			body["emails"] = []any{map[string]any{"primary": true, "type": "work", "value": bob + "@example.com"}}
			id := str(e.c.do("POST", "/Users", body).want(t, 201).JSON, "id")
			carol, dave := testenv.UniqueName("carol")+"@example.com", testenv.UniqueName("dave")+"@example.com"
			cid := str(e.c.do("POST", "/Users", oktaUser(carol, "ext-"+carol)).want(t, 201).JSON, "id")
			g.renameByHand(t, id, alice)
			g.editUser(t, cid, map[string]any{"email": dave})

			squat := func(phase string) {
				t.Helper()
				for _, name := range []string{alice, dave} {
					if got := userNameCount(t, e, name); len(got) != 0 {
						t.Fatalf("%s: a renamed account answers to %q, another person's name: %v", phase, name, got)
					}
				}
			}
			ofRecord := func(phase string) {
				t.Helper()
				for name, want := range map[string]string{bob: id, carol: cid} {
					if got := userNameCount(t, e, name); len(got) != 1 || str(got[0], "id") != want {
						t.Fatalf("%s: the renamed account no longer answers to the IdP's %q: %v", phase, name, got)
					}
				}
			}
			squat("warm")
			ofRecord("warm")
			e.caddy.Restart(t)
			squat("after a restart")
			ofRecord("after a restart")
			e.caddy.Reload(t)
			squat("after a reload")
			ofRecord("after a reload")
			if m.name != "redis" {
				return
			}
			rs.Stop(t)
			squat("with Redis down")
			rs.Start(t)
			cli := redis.NewClient(&redis.Options{Addr: rs.Addr})
			t.Cleanup(func() { cli.Close() })
			if err := cli.FlushAll(context.Background()).Err(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the link index to be rebuilt", func() bool { return indexGauge(t, e) == 1 })
			squat("after FLUSHALL")
			// Gitea keeps no copy of the userName: the record is gone with the store,
			// and is not guessed back. The account still reads by id, and the IdP's
			// next POST of the identity (its externalId is SCIM's own mark) proves it.
			if got := userNameCount(t, e, bob); len(got) != 0 {
				t.Fatalf("after FLUSHALL the account answers to a userName nobody can prove: %v", got)
			}
			if got := str(e.c.do("GET", "/Users/"+id, nil).want(t, 200).JSON, "id"); got != id {
				t.Fatal("reads by id stopped")
			}
			var r resp
			waitFor(t, "writes after Redis came back", func() bool { // the guard's back-off
				r = e.c.do("POST", "/Users", body)
				return r.Status != 503
			})
			r.wantError(t, 409, "uniqueness")
			if !strings.Contains(str(r.JSON, "detail"), "userName of record") {
				t.Errorf("409 detail: %s", r.Body)
			}
			if got := userNameCount(t, e, bob); len(got) != 1 || str(got[0], "id") != id {
				t.Fatalf("the IdP's POST did not prove the userName: %v", got)
			}
			squat("after the relink")
		})
	}
}

// TestPostWithoutExternalID (#21 case 2): bob (ext-old-bob) is deprovisioned or
// DELETEd; a POST of userName bob without an externalId (Keycloak, authentik) used
// to answer 201 with bob's account, reactivated, still linked to ext-old-bob.
func TestPostWithoutExternalID(t *testing.T) {
	g := giteaBackend{testenv.Gitea(t)}
	for _, m := range storeModes() {
		t.Run(m.name, func(t *testing.T) {
			e := start(t, g, m.block(t), "")
			for _, how := range []string{"PATCH", "DELETE"} {
				bob := testenv.UniqueName("bob") + "@example.com"
				id := str(e.c.do("POST", "/Users", oktaUser(bob, "ext-old-"+bob)).want(t, 201).JSON, "id")
				if how == "DELETE" {
					e.c.do("DELETE", "/Users/"+id, nil).want(t, 204)
				} else {
					e.c.do("PATCH", "/Users/"+id, deactivateOp).want(t, 200)
				}
				r := e.c.do("POST", "/Users", oktaUser(bob, ""))
				if r.Status == 201 && str(r.JSON, "id") == id {
					t.Fatalf("%s: a POST without externalId took bob's account", how)
				}
				r.wantError(t, 409, "uniqueness")
				if u := g.user(t, id); !u.Blocked || u.Linked != "ext-old-"+bob {
					t.Fatalf("%s: bob's account changed: %+v", how, u)
				}
				back := e.c.do("POST", "/Users", oktaUser(bob, "ext-old-"+bob)).want(t, 201)
				if str(back.JSON, "id") != id || g.user(t, id).Blocked {
					t.Fatalf("%s: bob's own identity does not come back: %s", how, back.Body)
				}
			}
		})
	}
}

// TestHandBlocksSurvive (#21 case 3a, 3b): a user blocked by hand whom the IdP
// DELETEs and re-POSTs used to be unblocked; and SCIM's block marker outlived an
// administrator lifting the block, so a later block by hand read as SCIM's.
func TestHandBlocksSurvive(t *testing.T) {
	g := giteaBackend{testenv.Gitea(t)}
	for _, m := range storeModes() {
		t.Run(m.name, func(t *testing.T) {
			e := start(t, g, m.block(t), "")
			name := testenv.UniqueName("hb") + "@example.com"
			body := oktaUser(name, "ext-"+name)
			id := str(e.c.do("POST", "/Users", body).want(t, 201).JSON, "id")
			g.blockByHand(t, id)
			e.c.do("DELETE", "/Users/"+id, nil).want(t, 204)
			e.c.do("POST", "/Users", body).wantError(t, 409, "")
			if !g.user(t, id).Blocked {
				t.Fatal("3a: the block set by hand was lifted by DELETE and re-POST")
			}

			other := testenv.UniqueName("sm") + "@example.com"
			oid := str(e.c.do("POST", "/Users", oktaUser(other, "ext-"+other)).want(t, 201).JSON, "id")
			e.c.do("PATCH", "/Users/"+oid, deactivateOp).want(t, 200)
			g.editUser(t, oid, map[string]any{"prohibit_login": false}) // an administrator lifts SCIM's block
			if got := e.c.do("GET", "/Users/"+oid, nil).want(t, 200).JSON; got["active"] != true {
				t.Fatalf("SCIM does not see the account active: %v", got)
			}
			g.blockByHand(t, oid) // and blocks it by hand later
			e.c.do("PATCH", "/Users/"+oid, activateOp).wantError(t, 409, "")
			if !g.user(t, oid).Blocked {
				t.Fatal("3b: a block set by hand after SCIM's was lifted read as SCIM's and was lifted")
			}
		})
	}
}

// TestGitLabHalfDoneBlock (#21 case 3c): GitLab blocked the account and then a 5xx
// kept SCIM's mark from being written; the IdP's retry saw a hand block and
// recorded it as one, so the IdP could never reactivate the account.
func TestGitLabHalfDoneBlock(t *testing.T) {
	gl := newGitLab(t)
	e := start(t, gl, "", "")
	for _, dir := range []string{"block", "unblock"} {
		name := testenv.UniqueName("half") + "@example.com"
		id := str(e.c.do("POST", "/Users", oktaUser(name, "ext-"+name)).want(t, 201).JSON, "id")
		if dir == "unblock" {
			e.c.do("PATCH", "/Users/"+id, deactivateOp).want(t, 200)
		}
		// every attempt at a custom attribute fails (the adapter retries 3 times)
		gl.emu.InjectFault(gitlabemu.Fault{Route: "PUT /users/:id/custom_attributes/:key", Status: 500, Count: 4})
		gl.emu.InjectFault(gitlabemu.Fault{Route: "DELETE /users/:id/custom_attributes/:key", Status: 500, Count: 4})
		op := deactivateOp
		if dir == "unblock" {
			op = activateOp
		}
		if r := e.c.do("PATCH", "/Users/"+id, op); r.Status < 500 {
			t.Fatalf("%s: the failing write answered %d %s", dir, r.Status, r.Body)
		}
		gl.emu.ClearFaults()
		e.c.do("PATCH", "/Users/"+id, op).want(t, 200) // the IdP's retry
		want := dir == "block"
		if gl.user(t, id).Blocked != want {
			t.Fatalf("%s: after the retry blocked=%v", dir, !want)
		}
		// SCIM's own block is still SCIM's to lift
		e.c.do("PATCH", "/Users/"+id, deactivateOp).want(t, 200)
		e.c.do("PATCH", "/Users/"+id, activateOp).want(t, 200)
		if gl.user(t, id).Blocked {
			t.Fatalf("%s: SCIM cannot lift its own block after a half-done write", dir)
		}
	}
}

// TestTenantsApart (#21 case 4): two scim handlers (two IdPs, own path, token and
// tenant) in front of one Gitea used to see, PATCH and DELETE each other's users.
func TestTenantsApart(t *testing.T) {
	g := testenv.Gitea(t)
	for _, m := range storeModes() {
		t.Run(m.name, func(t *testing.T) {
			handler := func(tenant, store string) string {
				return fmt.Sprintf("scim {\n\tbase_path /scim/%s/v2\n\ttoken {env.TOKEN_%s}\n\ttenant %s\n\tadapter gitea {\n\t\turl %s\n\t\ttoken {env.GITEA_TOKEN}\n\t}\n%s\n}\n",
					tenant, strings.ToUpper(tenant), tenant, g.URL, store)
			}
			storeA, storeB := m.block(t), m.block(t)
			site := handler("a", storeA) + handler("b", storeB) + "reverse_proxy " + strings.TrimPrefix(g.URL, "http://")
			tokA, tokB := "token-of-tenant-a-0123456789", "token-of-tenant-b-0123456789"
			cd := testenv.StartCaddy(t, testenv.CaddyOptions{Site: site, Env: []string{"GITEA_TOKEN=" + g.Token, "TOKEN_A=" + tokA, "TOKEN_B=" + tokB}})
			a := &env{caddy: cd, up: giteaBackend{g}, c: newClient(t, cd.URL+"/scim/a/v2", tokA)}
			b := &env{caddy: cd, up: giteaBackend{g}, c: newClient(t, cd.URL+"/scim/b/v2", tokB)}
			alice := testenv.UniqueName("alice") + "@example.com"
			id := str(a.c.do("POST", "/Users", oktaUser(alice, "ext-"+alice)).want(t, 201).JSON, "id")
			b.c.do("GET", "/Users/"+id, nil).wantError(t, 404, "")
			if got := userNameCount(t, b, alice); len(got) != 0 {
				t.Fatalf("tenant b finds tenant a's user: %v", got)
			}
			b.c.do("PATCH", "/Users/"+id, deactivateOp).wantError(t, 404, "")
			b.c.do("DELETE", "/Users/"+id, nil).wantError(t, 404, "")
			r := b.c.do("POST", "/Users", oktaUser(alice, "ext-b-"+alice)).wantError(t, 409, "uniqueness")
			if !strings.Contains(str(r.JSON, "detail"), "tenant") {
				t.Errorf("409 detail: %s", r.Body)
			}
			for _, u := range listAll(t, b.c) {
				if str(u, "id") == id {
					t.Fatal("tenant b lists tenant a's user")
				}
			}
			if u := (giteaBackend{g}).user(t, id); u.Blocked || u.Linked != "ext-"+alice {
				t.Fatalf("tenant a's user changed: %+v", u)
			}
			// tenant b's own users work as usual
			bob := testenv.UniqueName("bob") + "@example.com"
			bid := str(b.c.do("POST", "/Users", oktaUser(bob, "ext-"+bob)).want(t, 201).JSON, "id")
			a.c.do("GET", "/Users/"+bid, nil).wantError(t, 404, "")
			b.c.do("PATCH", "/Users/"+bid, deactivateOp).want(t, 200)
		})
	}
	// one application, one tenant, two namespaces: refused at config load
	h := func(path string) string {
		return fmt.Sprintf("scim {\n\tbase_path %s\n\ttoken 0123456789abcdef0123\n\tadapter gitea {\n\t\turl %s\n\t\ttoken x\n\t}\n}\n", path, g.URL)
	}
	out := testenv.StartCaddyExpectFailure(t, testenv.CaddyOptions{Site: h("/scim/a/v2") + h("/scim/b/v2") + "respond 404"})
	if !strings.Contains(out, "give each IdP its own tenant") {
		t.Fatalf("two handlers on one application as one tenant were accepted:\n%s", out)
	}
}

// TestWriteLockFailsClosed (#21 case 5): with Redis configured but unreachable, the
// cross-instance write lock silently became a per-process lock. Writes now answer
// 503 with Retry-After; reads still work.
func TestWriteLockFailsClosed(t *testing.T) {
	g := giteaBackend{testenv.Gitea(t)}
	rs := testenv.RedisPrivate(t)
	e := start(t, g, fmt.Sprintf("redis %s {\n\tdial_timeout 200ms\n\tread_timeout 200ms\n}", rs.Addr), "")
	name := testenv.UniqueName("lock") + "@example.com"
	id := str(e.c.do("POST", "/Users", oktaUser(name, "ext-"+name)).want(t, 201).JSON, "id")
	rs.Stop(t)
	for _, w := range []struct{ method, path, body string }{
		{"PATCH", "/Users/" + id, deactivateOp},
		{"DELETE", "/Users/" + id, ""},
	} {
		var body any
		if w.body != "" {
			body = w.body
		}
		r := e.c.do(w.method, w.path, body).wantError(t, 503, "")
		if r.Header.Get("Retry-After") == "" {
			t.Errorf("%s without Retry-After", w.method)
		}
	}
	newName := testenv.UniqueName("lock2") + "@example.com"
	e.c.do("POST", "/Users", oktaUser(newName, "ext-"+newName)).wantError(t, 503, "")
	if g.user(t, id).Blocked {
		t.Fatal("a write ran without the cross-instance lock")
	}
	e.c.do("GET", "/Users/"+id, nil).want(t, 200)
	if got := resources(t, e.c.do("GET", "/Users?"+filterQuery(`externalId eq "ext-`+name+`"`), nil).want(t, 200)); len(got) != 1 {
		t.Fatalf("a read by externalId failed while Redis is down: %v", got)
	}
	rs.Start(t)
	waitFor(t, "writes to work again", func() bool {
		return e.c.do("PATCH", "/Users/"+id, deactivateOp).Status == 200
	})
}

// TestSmallerRules (#21 case 6) on Gitea: protect matches an upstream login; group
// writes never add or remove an administrator or a protected account; deprovision
// delete keeps what the user owns unless purge is asked for.
func TestSmallerRules(t *testing.T) {
	gs := testenv.Gitea(t)
	g := giteaBackend{gs}
	org := strings.ReplaceAll(testenv.UniqueName("org"), "_", "-")
	if st, _, b := gs.Do(t, "POST", "/orgs", map[string]any{"username": org}); st != 201 {
		t.Fatalf("creating org %s: %d %s", org, st, b)
	}
	login := testenv.UniqueName("keeperlogin")
	e := start(t, g, "protect "+login, "organization "+org+"\n")
	keeper := testenv.UniqueName("keeper") + "@example.com"
	kid := str(e.c.do("POST", "/Users", oktaUser(keeper, "ext-"+keeper)).want(t, 201).JSON, "id")
	g.renameByHand(t, kid, login)
	e.c.do("PATCH", "/Users/"+kid, deactivateOp).wantError(t, 403, "")

	boss := testenv.UniqueName("boss") + "@example.com"
	bid := str(e.c.do("POST", "/Users", oktaUser(boss, "ext-"+boss)).want(t, 201).JSON, "id")
	g.makeAdmin(t, bid)
	plain := testenv.UniqueName("plain") + "@example.com"
	pid := str(e.c.do("POST", "/Users", oktaUser(plain, "ext-"+plain)).want(t, 201).JSON, "id")
	grp := e.c.do("POST", "/Groups", map[string]any{"schemas": []string{groupSchema}, "displayName": "Team " + testenv.UniqueName(""),
		"members": []any{map[string]any{"value": bid}, map[string]any{"value": kid}, map[string]any{"value": pid}}}).want(t, 201)
	gid := str(grp.JSON, "id")
	st, _, members := gs.Do(t, "GET", "/teams/"+gid+"/members", nil)
	if st != 200 || strings.Contains(string(members), `"id":`+bid+`,`) || strings.Contains(string(members), `"id":`+kid+`,`) || !strings.Contains(string(members), `"id":`+pid+`,`) {
		t.Fatalf("a group POST added an administrator or a protected account: %d %s", st, members)
	}

	// deprovision delete: a user who owns a repository is kept, unless purge
	for _, purge := range []bool{false, true} {
		extra := ""
		if purge {
			extra = "purge on\n"
		}
		d := start(t, g, "deprovision delete", extra)
		owner := testenv.UniqueName("owner") + "@example.com"
		oid := str(d.c.do("POST", "/Users", oktaUser(owner, "ext-"+owner)).want(t, 201).JSON, "id")
		loginOf := giteaLogin(t, gs, oid)
		if st, _, b := gs.Do(t, "POST", "/admin/users/"+loginOf+"/repos", map[string]any{"name": "work"}); st != 201 {
			t.Fatalf("creating a repository: %d %s", st, b)
		}
		r := d.c.do("DELETE", "/Users/"+oid, nil)
		if !purge {
			r.wantError(t, 409, "")
			if !strings.Contains(str(r.JSON, "detail"), "purge") || !g.user(t, oid).Exists {
				t.Fatalf("delete without purge: %s, exists %v", r.Body, g.user(t, oid).Exists)
			}
			continue
		}
		r.want(t, 204)
		if g.user(t, oid).Exists {
			t.Fatal("purge did not delete the user")
		}
	}
}

func giteaLogin(t *testing.T, g *testenv.GiteaServer, id string) string {
	t.Helper()
	var n int64
	fmt.Sscan(id, &n)
	return g.UserByID(t, n)["login"].(string)
}

// TestLinksExportImport: the embedded store's links go out and back as JSON lines
// through Caddy's admin API; a store that lost its file is restored from them.
func TestLinksExportImport(t *testing.T) {
	g := giteaBackend{testenv.Gitea(t)}
	e := start(t, g, "", "")
	bob, alice := testenv.UniqueName("bob"), testenv.UniqueName("alice")
	body := oktaUser(bob, "ext-"+bob)
	body["emails"] = []any{map[string]any{"primary": true, "type": "work", "value": bob + "@example.com"}}
	id := str(e.c.do("POST", "/Users", body).want(t, 201).JSON, "id")
	g.renameByHand(t, id, alice)
	resp, err := http.Get(e.caddy.Admin + "/scim/links?base_path=/scim/v2")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("export: %v %v", err, resp)
	}
	var backup strings.Builder
	if _, err := fmt.Fprint(&backup, readAll(t, resp)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(backup.String(), `"un":"`+bob+`"`) {
		t.Fatalf("the export lacks bob's link: %s", backup.String())
	}
	// the store file is lost
	e.caddy.Stop()
	files, _ := filepath.Glob(filepath.Join(e.caddy.DataDir(), "caddy", "scim", "links.db"))
	if len(files) != 1 {
		t.Fatalf("no store file in the data directory: %v", files)
	}
	if err := os.Remove(files[0]); err != nil {
		t.Fatal(err)
	}
	e.caddy.Restart(t)
	if got := userNameCount(t, e, bob); len(got) != 0 {
		t.Fatalf("with the store lost, the userName was guessed from the application: %v", got)
	}
	if got := userNameCount(t, e, alice); len(got) != 0 {
		t.Fatalf("with the store lost, the account answers to its owner's new name: %v", got)
	}
	req, _ := http.NewRequest("POST", e.caddy.Admin+"/scim/links?base_path=/scim/v2", strings.NewReader(backup.String()))
	req.Header.Set("Content-Type", "application/jsonl")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("import: %v %v", err, resp)
	}
	if got := userNameCount(t, e, bob); len(got) != 1 || str(got[0], "id") != id {
		t.Fatalf("after the import the account does not answer to the IdP's name: %v", got)
	}
}

func readAll(t *testing.T, r *http.Response) string {
	t.Helper()
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestWriteLockOutlivesItsTTL (#21 case 5): the cross-instance lock had a fixed 15 s
// TTL while a request may run 50 s. Instance B's PUT reaches Gitea through a proxy
// that holds it 17 s; instance A's DELETE (retried as an IdP does) used to take the
// expired lock and block the user, and B's late PUT then wrote it active again. The
// lock is renewed while B runs, so A's DELETE comes after B's PUT.
func TestWriteLockOutlivesItsTTL(t *testing.T) {
	g, a, b := slowPair(t, 17*time.Second)
	name := testenv.UniqueName("ttl") + "@example.com"
	id := str(a.c.do("POST", "/Users", oktaUser(name, "ext-"+name)).want(t, 201).JSON, "id")
	done := make(chan resp, 1)
	go func() {
		put := oktaUser(name, "ext-"+name)
		put["displayName"] = "Changed"
		done <- b.c.do("PUT", "/Users/"+id, put)
	}()
	time.Sleep(300 * time.Millisecond) // B holds the lock and its write
	for deadline := time.Now().Add(time.Minute); ; {
		r := a.c.do("DELETE", "/Users/"+id, nil)
		if r.Status == 204 || r.Status == 404 {
			break
		}
		if r.Status != 503 || time.Now().After(deadline) {
			t.Fatalf("DELETE: %d %s", r.Status, r.Body)
		}
	}
	if r := <-done; r.Status != 200 {
		t.Fatalf("B's PUT: %d %s", r.Status, r.Body)
	}
	if up := (giteaBackend{g}).user(t, id); !up.Blocked {
		t.Fatalf("after A's DELETE the user is not blocked: B's PUT ran past its lock: %+v", up)
	}
}
