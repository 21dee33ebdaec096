package integration_test

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/integration/faultproxy"
	"github.com/caddy-scim/caddy-scim/integration/gitlabemu"
	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// importUsers is the size of the directory TestImportAtScale pages through.
const importUsers = 10_000

// seedManaged adds n-1 managed users to the emulator by hand, each a copy of one
// that SCIM created (so they carry exactly the durable marks SCIM writes), and
// returns every id, the template's first.
func seedManaged(t *testing.T, b *gitlabBackend, n int) []string {
	t.Helper()
	tmpl := start(t, b, "", "")
	id := str(tmpl.c.do("POST", "/Users", oktaUser("imp-00000@example.com", "ext-imp-00000")).want(t, 201).JSON, "id")
	tmpl.caddy.Stop()
	num, _ := strconv.Atoi(id)
	proto, ok := b.emu.User(num)
	if !ok {
		t.Fatal("the template user is not in the emulator")
	}
	seeded, err := b.emu.CreateUsersDirect(gitlabemu.Clones(proto, n-1, func(i int) (string, string, string) {
		un := fmt.Sprintf("imp-%05d", i+1)
		return un, un + "@example.com", "ext-" + un
	}))
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{id}
	for _, u := range seeded {
		ids = append(ids, strconv.Itoa(u.ID))
	}
	return ids
}

// TestImportAtScale: Okta's import (count=100, startIndex += 100) of 10,000 users on
// the GitLab emulator, through a real Caddy with a real Redis link index, while the
// IdP keeps creating users and deactivating others: every user that existed when
// the import began is seen exactly once, no user twice, and a page costs its own
// reads (the last page of the directory as much as the first).
func TestImportAtScale(t *testing.T) {
	b := newGitLab(t)
	ids := seedManaged(t, b, importUsers)
	p, err := faultproxy.New(b.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	e := start(t, viaProxy{b, b.url, p.URL}, fmt.Sprintf("redis %s {\n\tprefix %s\n}", testenv.Redis(t).Addr, testenv.UniqueName("imp")+":"), "")
	waitFor(t, "the index to be complete", func() bool { return indexGauge(t, e) == 1 })

	pageCost := func(start int) (int, int) {
		before := upstreamCalls(t, e)
		r := e.c.do("GET", fmt.Sprintf("/Users?startIndex=%d&count=100", start), nil).want(t, 200)
		return upstreamCalls(t, e) - before, len(resources(t, r))
	}
	firstCost, firstN := pageCost(1)
	lastCost, lastN := pageCost(importUsers - 99)
	t.Logf("upstream calls: first page %d (%d users), last page %d (%d users)", firstCost, firstN, lastCost, lastN)
	if firstN != 100 || lastN != 100 || firstCost > 100 || lastCost > 100 {
		t.Fatalf("a page of 100 cost %d (first) and %d (last) upstream calls for %d and %d users; want ≤ 100 each", firstCost, lastCost, firstN, lastN)
	}

	importWhileBusy(t, e, ids, false)
	if t.Failed() {
		return
	}
	// the deactivated users are still listed, with active false
	r := e.c.do("GET", "/Users/"+ids[0], nil).want(t, 200)
	if r.JSON["active"] != false {
		t.Errorf("user %s: active %v after the deactivation", ids[0], r.JSON["active"])
	}

	// #14: the same import with about 5% of the upstream requests failing (503, 502,
	// a reset, a lost write answer); the IdP retries what failed
	for _, f := range []faultproxy.Fault{{Status: 503}, {Status: 502}, {Reset: true}} {
		f.Every = 36
		p.Add(f)
	}
	for _, m := range []string{"POST", "PUT"} {
		p.Add(faultproxy.Fault{Method: m, Reset: true, AfterCommit: true, Every: 20})
	}
	importWhileBusy(t, e, ids, true)
	faulted, total := p.Hits()
	t.Logf("under faults: %d of %d upstream requests failed (%.1f%%)", faulted, total, 100*float64(faulted)/float64(max(total, 1)))
	if faulted == 0 {
		t.Error("no fault was injected: the faulty import proves nothing")
	}
}

// TestImportOnGitea: the same import on a real Gitea (a smaller directory: Gitea
// creates users slowly), whose listing cannot filter on the managed marker: with
// the link index a page still costs its own reads, not a scan of /admin/users.
func TestImportOnGitea(t *testing.T) {
	b := giteaBackend{testenv.Gitea(t)}
	e := start(t, b, fmt.Sprintf("redis %s {\n\tprefix %s\n}", testenv.Redis(t).Addr, testenv.UniqueName("gimp")+":"), "")
	run := testenv.UniqueName("gi")
	ids := make([]string, 150)
	for i := range ids {
		ids[i] = str(e.c.do("POST", "/Users", oktaUser(fmt.Sprintf("%s-%d@example.com", run, i), fmt.Sprintf("ext-%s-%d", run, i))).want(t, 201).JSON, "id")
	}
	waitFor(t, "the index to be complete", func() bool { return indexGauge(t, e) == 1 })
	before := upstreamCalls(t, e)
	r := e.c.do("GET", "/Users?startIndex=1&count=100", nil).want(t, 200)
	cost, n := upstreamCalls(t, e)-before, len(resources(t, r))
	t.Logf("a page of %d users cost %d Gitea calls (%d users in Gitea)", n, cost, b.count(t))
	if n != 100 || cost > 2*n {
		t.Fatalf("a page of %d users cost %d Gitea calls, want at most 2 per user", n, cost)
	}
	importWhileBusy(t, e, ids, false)
}

// importWhileBusy pages through /Users as Okta imports while the IdP keeps creating
// users and deactivating some of ids, and checks that every one of ids (users that
// existed before the import) is seen exactly once and no user twice. With retry the
// IdP retries a 5xx or 429 (upstream faults are injected), as Okta does.
func importWhileBusy(t *testing.T, e *env, ids []string, retry bool) {
	t.Helper()
	var retries atomic.Int64
	call := func(method, path string, body any) resp {
		r := e.c.do(method, path, body)
		for try := 0; retry && try < 6 && (r.Status >= 500 || r.Status == 429); try++ {
			retries.Add(1)
			time.Sleep(200 * time.Millisecond)
			r = e.c.do(method, path, body)
		}
		return r
	}
	// The IdP's other work, while the import runs: a create and a deactivation in turn.
	var mu sync.Mutex
	var created []string
	var failures []string
	stop, done := make(chan struct{}), make(chan struct{})
	run := testenv.UniqueName("late")
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ext := fmt.Sprintf("ext-%s-%d", run, i)
			r := call("POST", "/Users", oktaUser(fmt.Sprintf("%s-%d@example.com", run, i), ext))
			if r.Status == 409 && retry { // a lost answer: the create went through; find it
				if found := resources(t, e.c.do("GET", "/Users?"+filterQuery(`externalId eq "`+ext+`"`), nil)); len(found) == 1 {
					r = resp{Status: 201, JSON: found[0]}
				}
			}
			mu.Lock()
			if r.Status == 201 {
				created = append(created, str(r.JSON, "id"))
			} else {
				failures = append(failures, fmt.Sprintf("POST: %d %s", r.Status, r.Body))
			}
			mu.Unlock()
			victim := ids[(i*7919)%len(ids)]
			r = call("PATCH", "/Users/"+victim, map[string]any{
				"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []map[string]any{{"op": "replace", "value": map[string]any{"active": false}}},
			})
			if r.Status != 200 {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("PATCH %s: %d %s", victim, r.Status, r.Body))
				mu.Unlock()
			}
		}
	}()
	began := time.Now()
	seen := map[string]int{}
	pages := 0
	for start := 1; ; start += 100 {
		r := call("GET", "/Users?startIndex="+itoa(start)+"&count=100", nil).want(t, 200)
		pages++
		for _, u := range resources(t, r) {
			seen[str(u, "id")]++
		}
		if start+100 > int(r.JSON["totalResults"].(float64)) {
			break
		}
	}
	took := time.Since(began)
	close(stop)
	<-done
	mu.Lock()
	defer mu.Unlock()
	t.Logf("import of %d users: %d pages in %s, while %d users were created and as many deactivated; %d requests retried by the IdP",
		len(ids), pages, took.Round(time.Millisecond), len(created), retries.Load())
	for _, f := range failures {
		t.Error(f)
	}
	if len(created) == 0 {
		t.Error("nothing was created during the import: the test proves nothing")
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("user %s seen %d times", id, seen[id])
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("user %s seen %d times", id, n)
		}
	}
}
