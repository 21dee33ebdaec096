package integration_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/integration/faultproxy"
	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// viaProxy is a backend whose adapter reaches the application through a fault
// proxy; everything else (the site's reverse_proxy, the checks) goes straight to it.
type viaProxy struct {
	backend
	from, to string
}

func (v viaProxy) adapter(extra string) (string, []string) {
	block, env := v.backend.adapter(extra)
	return strings.Replace(block, v.from, v.to, 1), env
}

// startFaulty starts Caddy with the plugin in front of the real Gitea, its adapter
// going through a fault proxy; extra goes inside the scim block.
func startFaulty(t *testing.T, adapterExtra string, extra ...string) (*env, *faultproxy.Proxy) {
	t.Helper()
	g := testenv.Gitea(t)
	p, err := faultproxy.New(g.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return start(t, viaProxy{giteaBackend{g}, g.URL, p.URL}, strings.Join(extra, "\n"), adapterExtra), p
}

// TestFaultLostCreateAnswer (#14): Gitea commits a create and its answer is lost.
// The IdP gets a SCIM 503, never a 201 it cannot trust; its replay of the same POST
// makes no second account, and the account is found by its externalId.
func TestFaultLostCreateAnswer(t *testing.T) {
	e, p := startFaulty(t, "")
	name := testenv.UniqueName("lost")
	body := oktaUser(name+"@example.com", "ext-"+name)
	p.Add(faultproxy.Fault{Method: "POST", PathPrefix: "/api/v1/admin/users", Reset: true, AfterCommit: true, Times: 1})
	before := e.up.count(t)
	e.c.do("POST", "/Users", body).wantError(t, 503, "")
	if n := e.up.count(t); n != before+1 {
		t.Fatalf("gitea has %d users, want %d: the create was to be committed", n, before+1)
	}
	r := e.c.do("POST", "/Users", body)
	t.Logf("the replayed POST answered %d %s", r.Status, str(r.JSON, "scimType"))
	if r.Status != 201 && r.Status != 409 {
		t.Fatalf("the replayed POST answered %d: %s", r.Status, r.Body)
	}
	if n := e.up.count(t); n != before+1 {
		t.Fatalf("the replay made a second account: %d users, want %d", n, before+1)
	}
	got := resources(t, e.c.do("GET", "/Users?"+filterQuery(`externalId eq "ext-`+name+`"`), nil).want(t, 200))
	if len(got) != 1 || str(got[0], "userName") != name+"@example.com" {
		t.Fatalf("the account by externalId: %v", got)
	}
	if f, _ := p.Hits(); f != 1 {
		t.Fatalf("%d faults hit, want 1", f)
	}
}

// TestFaultRetriesThen503 (#14): reads are retried through short upstream trouble;
// a lasting 429 answers 503 with the upstream's Retry-After, never a 404 or an empty
// list; a write that failed is not retried and leaves Gitea unchanged.
func TestFaultRetriesThen503(t *testing.T) {
	e, p := startFaulty(t, "")
	name := testenv.UniqueName("retry")
	id := str(e.c.do("POST", "/Users", oktaUser(name+"@example.com", "ext-"+name)).want(t, 201).JSON, "id")

	p.Add(faultproxy.Fault{Method: "GET", Status: 502, Times: 2})
	e.c.do("GET", "/Users/"+id, nil).want(t, 200) // two 502s, then through

	p.Clear()
	p.Add(faultproxy.Fault{Method: "GET", Status: 429, RetryAfter: 7})
	for _, path := range []string{"/Users/" + id, "/Users?" + filterQuery(`userName eq "`+name+`@example.com"`), "/Users?startIndex=1&count=10"} {
		r := e.c.do("GET", path, nil).wantError(t, 503, "")
		if r.Header.Get("Retry-After") != "7" {
			t.Errorf("GET %s: Retry-After %q, want the upstream's 7", path, r.Header.Get("Retry-After"))
		}
	}

	p.Clear()
	p.Add(faultproxy.Fault{Method: "PATCH", Status: 503, Times: 1})
	patch := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`
	e.c.do("PATCH", "/Users/"+id, patch).wantError(t, 503, "")
	if u := e.up.user(t, id); u.Blocked {
		t.Fatal("a write answered 503 changed Gitea")
	}
	e.c.do("PATCH", "/Users/"+id, patch).want(t, 200) // the IdP's retry converges
	if u := e.up.user(t, id); !u.Blocked {
		t.Fatal("the retried write did not apply")
	}
}

// TestFaultTokenRevoked (#14): the adapter's admin token stops working: 502 with a
// detail that says so, never a 401 (which the IdP would read as its own credentials).
func TestFaultTokenRevoked(t *testing.T) {
	e, p := startFaulty(t, "")
	name := testenv.UniqueName("revoked")
	id := str(e.c.do("POST", "/Users", oktaUser(name+"@example.com", "ext-"+name)).want(t, 201).JSON, "id")
	p.Add(faultproxy.Fault{Status: 401, Body: []byte(`{"message":"token is required"}`)})
	for _, r := range []resp{e.c.do("GET", "/Users/"+id, nil), e.c.do("POST", "/Users", oktaUser("x"+name+"@example.com", "ext-x"+name))} {
		if r.Status != 502 || !strings.Contains(str(r.JSON, "detail"), "admin token") {
			t.Errorf("with a revoked admin token: %d %s; want 502 naming the admin token", r.Status, r.Body)
		}
	}
}

// TestFaultBadUpstreamAnswers (#14): malformed and huge answers are 502, with memory
// bounded (answers are read up to 16 MiB).
func TestFaultBadUpstreamAnswers(t *testing.T) {
	e, p := startFaulty(t, "")
	name := testenv.UniqueName("bad")
	id := str(e.c.do("POST", "/Users", oktaUser(name+"@example.com", "ext-"+name)).want(t, 201).JSON, "id")
	for _, f := range []faultproxy.Fault{
		{Method: "GET", Body: []byte(`{"id": 1, "login": "trunc`)},
		{Method: "GET", Body: []byte(`<html>maintenance</html>`)},
		{Method: "GET", Body: []byte(`[`), Size: 256 << 20},
	} {
		p.Clear()
		p.Add(f)
		if r := e.c.do("GET", "/Users/"+id, nil); r.Status != 502 {
			t.Errorf("an answer of %d bytes starting %.20q: %d %s; want 502", max(len(f.Body), f.Size), f.Body, r.Status, r.Body)
		}
	}
	if rss := e.caddy.PeakRSS(); rss > 200 {
		t.Errorf("Caddy's peak RSS %.0f MiB after a 256 MiB answer: the answer was not bounded", rss)
	} else {
		t.Logf("Caddy's peak RSS after a 256 MiB answer: %.0f MiB", rss)
	}
}

// TestFaultStalledUpstream (#14): an upstream that never answers gets a SCIM 503
// well before the IdP's 60 s, never a hang.
func TestFaultStalledUpstream(t *testing.T) {
	e, p := startFaulty(t, "timeout 2s\n")
	name := testenv.UniqueName("stall")
	id := str(e.c.do("POST", "/Users", oktaUser(name+"@example.com", "ext-"+name)).want(t, 201).JSON, "id")
	p.Add(faultproxy.Fault{Method: "GET", Stall: 2 * time.Minute})
	t0 := time.Now()
	e.c.do("GET", "/Users/"+id, nil).wantError(t, 503, "")
	took := time.Since(t0)
	t.Logf("a stalled upstream answered 503 after %s", took.Round(time.Millisecond))
	if took > 50*time.Second {
		t.Fatalf("the 503 took %s: past what an IdP waits", took)
	}
}

// startFaultyRedis is startFaulty with the Redis link store (and its index) under a
// prefix of its own, once the index is complete.
func startFaultyRedis(t *testing.T, prefix string) (*env, *faultproxy.Proxy) {
	t.Helper()
	e, p := startFaulty(t, "", redisBlock(t, prefix))
	waitFor(t, "the index to be complete", func() bool { return indexGauge(t, e) == 1 })
	return e, p
}

func redisBlock(t *testing.T, prefix string) string {
	return fmt.Sprintf("redis %s {\n\tprefix %s\n}", testenv.Redis(t).Addr, prefix)
}

// TestFaultLostLinkWrite (#14): with the Redis link index complete, Gitea commits a
// create whose answer never reaches the plugin, or whose Caddy is killed before it
// writes the link; a restarted Caddy must still find the account by externalId (an
// Entra GET before its POST) and the replayed POST must make no second account.
func TestFaultLostLinkWrite(t *testing.T) {
	prefix := testenv.UniqueName("lostlink") + ":"
	for _, kill := range []bool{false, true} {
		e, p := startFaultyRedis(t, prefix)
		name := testenv.UniqueName("ll")
		body := oktaUser(name+"@example.com", "ext-"+name)
		before := e.up.count(t)
		if kill {
			p.Add(faultproxy.Fault{Method: "POST", PathPrefix: "/api/v1/admin/users", AfterCommit: true, Stall: time.Minute, Times: 1})
			done := make(chan struct{})
			go func() { // this request dies with its Caddy: no answer to check
				defer close(done)
				b, _ := json.Marshal(body)
				req, _ := http.NewRequest("POST", e.caddy.URL+"/scim/v2/Users", bytes.NewReader(b))
				req.Header.Set("Authorization", "Bearer "+scimToken)
				req.Header.Set("Content-Type", "application/scim+json")
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}()
			waitFor(t, "gitea to commit the create", func() bool { return e.up.count(t) == before+1 })
			e.caddy.Kill()
			<-done
			e = start(t, viaProxy{giteaBackend{testenv.Gitea(t)}, testenv.Gitea(t).URL, p.URL}, redisBlock(t, prefix), "")
			waitFor(t, "the index to be trusted", func() bool { return indexGauge(t, e) == 1 })
		} else {
			p.Add(faultproxy.Fault{Method: "POST", PathPrefix: "/api/v1/admin/users", Reset: true, AfterCommit: true, Times: 1})
			e.c.do("POST", "/Users", body).wantError(t, 503, "")
		}
		if n := e.up.count(t); n != before+1 {
			t.Fatalf("kill=%v: gitea has %d users, want %d", kill, n, before+1)
		}
		got := resources(t, e.c.do("GET", "/Users?"+filterQuery(`externalId eq "ext-`+name+`"`), nil).want(t, 200))
		if len(got) != 1 {
			t.Fatalf("kill=%v: the committed account is not found by its externalId: %v", kill, got)
		}
		r := e.c.do("POST", "/Users", body)
		if n := e.up.count(t); n != before+1 || (r.Status != 201 && r.Status != 409) {
			t.Fatalf("kill=%v: the replayed POST answered %d and gitea has %d users, want %d", kill, r.Status, n, before+1)
		}
	}
}

// startFaultyGroups is startGroups with the adapter going through a fault proxy.
func startFaultyGroups(t *testing.T) (*groupEnv, *faultproxy.Proxy) {
	t.Helper()
	g := testenv.Gitea(t)
	org := strings.ReplaceAll(testenv.UniqueName("org"), "_", "-")
	if st, _, b := g.Do(t, "POST", "/orgs", map[string]any{"username": org}); st != 201 {
		t.Fatalf("creating org %s: %d %s", org, st, b)
	}
	e, p := startFaulty(t, "organization "+org+"\n")
	return &groupEnv{env: e, g: g, org: org}, p
}

// teamCount counts the organization's teams, read from Gitea.
func (ge *groupEnv) teamCount(t *testing.T) int {
	t.Helper()
	st, _, b := ge.g.Do(t, "GET", "/orgs/"+ge.org+"/teams?limit=50", nil)
	if st != 200 {
		t.Fatalf("gitea teams: %d %s", st, b)
	}
	var ts []map[string]any
	_ = json.Unmarshal(b, &ts)
	return len(ts)
}

// memberPath is the tail of Gitea's membership endpoint for the user with SCIM id.
func (ge *groupEnv) memberPath(t *testing.T, id string) string {
	t.Helper()
	u := ge.g.UserByID(t, int64(atoiT(t, id)))
	if u == nil {
		t.Fatalf("no gitea user %s", id)
	}
	return "/members/" + u["login"].(string)
}

// TestFaultGroupMidway (#14): a group operation is many Gitea calls (one per member
// added or removed, a rename); when one of them keeps failing midway, the IdP gets
// an error (never a success for a half-done change), and its retry of the same
// request converges on exactly what it asked.
func TestFaultGroupMidway(t *testing.T) {
	ge, p := startFaultyGroups(t)
	ids := ge.users(t, 40)
	ok := func(r resp) {
		t.Helper()
		if r.Status != 200 && r.Status != 204 {
			t.Fatalf("the retried PATCH answered %d: %s", r.Status, r.Body)
		}
	}
	failed := func(r resp) {
		t.Helper()
		if r.Status < 500 {
			t.Fatalf("with a membership write failing the request answered %d, want 5xx: %s", r.Status, r.Body)
		}
	}

	// Okta: an empty group, then its 40 members in one PATCH; the 21st keeps failing
	name := "Big " + testenv.UniqueName("")
	gid := str(ge.c.do("POST", "/Groups", map[string]any{"schemas": []string{groupSchema}, "displayName": name}).want(t, 201).JSON, "id")
	add := patchOps(`{"op":"add","path":"members","value":` + memberValues(ids...) + `}`)
	p.Add(faultproxy.Fault{Method: "PUT", PathContains: ge.memberPath(t, ids[20]), Status: 503, RetryAfter: 1})
	r := ge.c.do("PATCH", "/Groups/"+gid, add)
	if r.Status != 503 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("PATCH with a failing member answered %d (Retry-After %q), want 503 with Retry-After: %s", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	if got := ge.members(t, gid); len(got) != 39 {
		t.Fatalf("after the failed PATCH gitea has %d members, want the 39 that succeeded", len(got))
	}
	p.Clear()
	ok(ge.c.do("PATCH", "/Groups/"+gid, add))
	ge.wantMembers(t, gid, ids...)

	// Entra: one PATCH renames the group and removes ten members; Gitea commits one
	// removal and its answers are lost, every time
	renamed := "Renamed " + testenv.UniqueName("")
	ops := patchOps(`{"op":"Replace","path":"displayName","value":"`+renamed+`"}`,
		`{"op":"Remove","path":"members","value":`+memberValues(ids[:10]...)+`}`)
	p.Add(faultproxy.Fault{Method: "DELETE", PathContains: ge.memberPath(t, ids[4]), Reset: true, AfterCommit: true})
	failed(ge.c.do("PATCH", "/Groups/"+gid, ops))
	p.Clear()
	ok(ge.c.do("PATCH", "/Groups/"+gid, ops))
	ge.wantMembers(t, gid, ids[10:]...)
	got := ge.c.do("GET", "/Groups/"+gid, nil).want(t, 200)
	if got.JSON["displayName"] != renamed {
		t.Fatalf("group after the retry: %s", got.Body)
	}

	// a group POSTed with its members, one of which keeps failing: no team is left
	// behind, and the IdP's retry creates one with every member
	posted := "Posted " + testenv.UniqueName("")
	body := map[string]any{"schemas": []string{groupSchema}, "displayName": posted, "members": json.RawMessage(memberValues(ids[:10]...))}
	teams := ge.teamCount(t)
	p.Add(faultproxy.Fault{Method: "PUT", PathContains: ge.memberPath(t, ids[5]), Status: 502})
	failed(ge.c.do("POST", "/Groups", body))
	if n := ge.teamCount(t); n != teams {
		t.Fatalf("the failed POST left %d teams behind", n-teams)
	}
	p.Clear()
	created := ge.c.do("POST", "/Groups", body).want(t, 201)
	if n := ge.teamCount(t); n != teams+1 {
		t.Fatalf("gitea has %d new teams after the retried POST, want 1", n-teams)
	}
	ge.wantMembers(t, str(created.JSON, "id"), ids[:10]...)
	if got := resources(t, ge.c.do("GET", "/Groups?"+filterQuery(`displayName eq "`+posted+`"`), nil).want(t, 200)); len(got) != 1 {
		t.Fatalf("groups named %q: %v", posted, got)
	}
}

// TestFaultLateCompletion (#14): Gitea takes longer than the plugin waits for a
// create and commits it after the IdP got its 503. The IdP's replay then finds the
// account (by externalId) instead of making a second one.
func TestFaultLateCompletion(t *testing.T) {
	e, p := startFaulty(t, "timeout 2s\n")
	name := testenv.UniqueName("late")
	body := oktaUser(name+"@example.com", "ext-"+name)
	before := e.up.count(t)
	p.Add(faultproxy.Fault{Method: "POST", PathPrefix: "/api/v1/admin/users", Latency: 4 * time.Second, Late: true, Times: 1})
	t0 := time.Now()
	e.c.do("POST", "/Users", body).wantError(t, 503, "")
	t.Logf("the IdP got its 503 after %s", time.Since(t0).Round(time.Millisecond))
	waitFor(t, "gitea to complete the create late", func() bool { return e.up.count(t) == before+1 })
	r := e.c.do("POST", "/Users", body)
	if r.Status != 201 && r.Status != 409 {
		t.Fatalf("the replayed POST answered %d: %s", r.Status, r.Body)
	}
	got := resources(t, e.c.do("GET", "/Users?"+filterQuery(`externalId eq "ext-`+name+`"`), nil).want(t, 200))
	if n := e.up.count(t); n != before+1 || len(got) != 1 {
		t.Fatalf("gitea has %d new users and the externalId finds %d, want 1 and 1", n-before, len(got))
	}
}
