// Package load_test drives IdP-shaped traffic from many tenants through one real
// Caddy (one scim handler per tenant, each with its own base path, token, Redis
// prefix and Gitea organization) in front of one real Gitea, with upstream faults
// injected, and ends with the invariant check: one Gitea account per identity, each
// found with the state its IdP last set, its links in Redis, and every group's
// members exactly those its IdP asked for.
//
// It runs in the README's test command for a short time; ./xcaddy.sh load runs it
// longer. It never fails on time or rate, only on a broken invariant or on an
// operation that still failed after the IdP's retries.
//
//	CADDY_SCIM_LOAD_DURATION  how long the traffic runs (default 15s)
//	CADDY_SCIM_LOAD_TENANTS   scim handlers, half Entra-shaped, half Okta-shaped (default 10)
//	CADDY_SCIM_LOAD_RATE      operations per second per tenant (default 25)
//	CADDY_SCIM_LOAD_FAULTS    share of upstream requests given a fault (default 0.05)
package load_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-scim/caddy-scim/integration/faultproxy"
	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func envOr[T any](name string, def T, parse func(string) (T, error)) T {
	if v := os.Getenv(name); v != "" {
		if x, err := parse(v); err == nil {
			return x
		}
	}
	return def
}

// TestLoad (#14): see the package comment.
func TestLoad(t *testing.T) {
	dur := envOr("CADDY_SCIM_LOAD_DURATION", 15*time.Second, time.ParseDuration)
	ntenants := envOr("CADDY_SCIM_LOAD_TENANTS", 10, strconv.Atoi)
	rate := envOr("CADDY_SCIM_LOAD_RATE", 25.0, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) })
	faultShare := envOr("CADDY_SCIM_LOAD_FAULTS", 0.05, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) })

	g := testenv.Gitea(t)
	rs := testenv.Redis(t)
	proxy, err := faultproxy.New(g.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)

	run := testenv.UniqueName("load")
	tenants := make([]*tenant, ntenants)
	var site strings.Builder
	env := []string{"GITEA_TOKEN=" + g.Token}
	for i := range tenants {
		tn := &tenant{n: i, entra: i%2 == 0, token: fmt.Sprintf("load-token-%d-%s", i, run), prefix: fmt.Sprintf("%s-t%d:", run, i),
			org: strings.ReplaceAll(fmt.Sprintf("%s-t%d", run, i), "_", "-"), tag: fmt.Sprintf("%s-t%d", run, i)}
		if st, _, b := g.Do(t, "POST", "/orgs", map[string]any{"username": tn.org}); st != 201 {
			t.Fatalf("creating org %s: %d %s", tn.org, st, b)
		}
		env = append(env, fmt.Sprintf("SCIM_TOKEN_%d=%s", i, tn.token))
		fmt.Fprintf(&site, "scim {\n\tbase_path /t%d/scim/v2\n\ttoken {env.SCIM_TOKEN_%d}\n\ttenant %s-t%d\n\tadapter gitea {\n\t\turl %s\n\t\ttoken {env.GITEA_TOKEN}\n\t\torganization %s\n\t}\n\tredis %s {\n\t\tprefix %s\n\t}\n}\n",
			i, i, run, i, proxy.URL, tn.org, rs.Addr, tn.prefix)
		tenants[i] = tn
	}
	site.WriteString("reverse_proxy " + strings.TrimPrefix(g.URL, "http://"))
	cd := testenv.StartCaddy(t, testenv.CaddyOptions{Site: site.String(), Env: env, Quiet: true})
	for _, tn := range tenants {
		tn.base = fmt.Sprintf("%s/t%d/scim/v2", cd.URL, tn.n)
		tn.c = newIdP(tn.base, tn.token)
		tn.setup(t)
	}

	// Faults: five kinds on every request, each on one request in `every`, and the
	// answer of a committed write lost on as many writes again.
	every := int(5/faultShare + 0.5)
	for _, f := range []faultproxy.Fault{
		{Status: 503, RetryAfter: 1}, {Status: 429, RetryAfter: 1}, {Status: 502},
		{Reset: true}, {Latency: 300 * time.Millisecond},
	} {
		f.Every = every
		proxy.Add(f)
	}
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		proxy.Add(faultproxy.Fault{Method: m, Reset: true, AfterCommit: true, Every: every})
	}

	t.Logf("load: %d tenants × %.0f operations/s for %s, upstream faults on about %.0f%% of requests", ntenants, rate, dur, 100*faultShare)
	began := time.Now()
	cpu0 := [2]float64{testenv.CPUSeconds(cd.Pid()), testenv.CPUSeconds(g.Pid)}
	var wg sync.WaitGroup
	for _, tn := range tenants {
		wg.Add(1)
		go func() { defer wg.Done(); tn.drive(rate, dur) }()
	}
	wg.Wait()
	took := time.Since(began)
	cpu := [2]float64{testenv.CPUSeconds(cd.Pid()) - cpu0[0], testenv.CPUSeconds(g.Pid) - cpu0[1]}
	faulted, total := proxy.Hits()
	proxy.Clear()

	report(t, tenants, took, faulted, total)
	t.Logf("load: CPU used during the run: Caddy %.1f s (%.0f%% of a core), Gitea %.1f s (%.0f%% of a core), of %d cores; Caddy peak RSS %.0f MiB",
		cpu[0], 100*cpu[0]/took.Seconds(), cpu[1], 100*cpu[1]/took.Seconds(), runtime.NumCPU(), cd.PeakRSS())
	rc := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rc.Close()
	for _, tn := range tenants {
		tn.check(t, g, rc)
	}
}

// tenant is one IdP and its scim handler.
type tenant struct {
	n                        int
	entra                    bool
	token, prefix, org, tag  string
	base                     string
	c                        *idp
	group                    string // SCIM id of the tenant's group
	groupMu                  sync.Mutex
	members                  map[string]bool // what the IdP asked the group to hold
	mu                       sync.Mutex
	users                    []*user
	next                     atomic.Int64
	skipped, dropped, failed atomic.Int64
	failures                 []string
}

// user is an identity and the state its IdP last set successfully.
type user struct {
	mu                      sync.Mutex
	login, ext, id, display string
	active                  bool
}

func (tn *tenant) fail(format string, a ...any) {
	tn.failed.Add(1)
	tn.mu.Lock()
	if len(tn.failures) < 20 {
		tn.failures = append(tn.failures, fmt.Sprintf(format, a...))
	}
	tn.mu.Unlock()
}

func (tn *tenant) setup(t *testing.T) {
	r := tn.c.op("groups.create", "POST", "/Groups", map[string]any{"schemas": []string{groupSchema}, "displayName": "Staff " + tn.tag})
	if r.status != 201 {
		t.Fatalf("tenant %d: creating its group: %d %s", tn.n, r.status, r.body)
	}
	tn.group, tn.members = str(r.json, "id"), map[string]bool{}
}

// drive sends operations at rate per second for dur, each in its own goroutine
// (at most 64 in flight; a tick that finds them all busy is counted as dropped).
func (tn *tenant) drive(rate float64, dur time.Duration) {
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	end := time.After(dur)
	rng := rand.New(rand.NewPCG(uint64(tn.n), 14))
	for {
		select {
		case <-end:
			wg.Wait()
			return
		case <-tick.C:
			select {
			case sem <- struct{}{}:
			default:
				tn.dropped.Add(1)
				continue
			}
			roll := rng.IntN(100)
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				tn.step(roll)
			}()
		}
	}
}

// step is one IdP operation, chosen by roll: creates, reads, filters, updates,
// (de)activations, group membership changes and, rarely, an import page.
func (tn *tenant) step(roll int) {
	switch {
	case roll < 20:
		tn.create()
		return
	case roll < 21:
		r := tn.c.op("users.list", "GET", "/Users?startIndex=1&count=100", nil)
		if r.status != 200 {
			tn.fail("list: %d %s", r.status, r.body)
		}
		return
	}
	u := tn.pick()
	if u == nil { // every user is busy (or none exists yet): a read the IdP would make
		if v := tn.any(); v != nil {
			if r := tn.c.op("users.filter", "GET", "/Users?filter="+queryEscape(`externalId eq "`+v.ext+`"`), nil); r.status != 200 {
				tn.fail("filter %s: %d %s", v.ext, r.status, r.body)
			}
			return
		}
		tn.create()
		return
	}
	defer u.mu.Unlock()
	switch {
	case roll < 50:
		if r := tn.c.op("users.get", "GET", "/Users/"+u.id, nil); r.status != 200 {
			tn.fail("GET %s: %d %s", u.id, r.status, r.body)
		}
	case roll < 65:
		if r := tn.c.op("users.filter", "GET", "/Users?filter="+queryEscape(`userName eq "`+u.login+`"`), nil); r.status != 200 {
			tn.fail("filter %s: %d %s", u.login, r.status, r.body)
		}
	case roll < 80:
		tn.update(u)
	case roll < 90:
		tn.toggle(u)
	default:
		tn.membership(u)
	}
}

// pick returns a created user no other operation holds, locked (the IdP sends one
// object's operations in turn); nil if none.
func (tn *tenant) pick() *user {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	if len(tn.users) == 0 {
		return nil
	}
	start := rand.IntN(len(tn.users))
	for i := range min(len(tn.users), 8) {
		u := tn.users[(start+i)%len(tn.users)]
		if u.mu.TryLock() {
			return u
		}
	}
	tn.skipped.Add(1)
	return nil
}

// any returns a created user, without locking it; nil if none.
func (tn *tenant) any() *user {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	if len(tn.users) == 0 {
		return nil
	}
	return tn.users[rand.IntN(len(tn.users))]
}

func (tn *tenant) create() {
	i := tn.next.Add(1)
	u := &user{login: fmt.Sprintf("%s-%d@example.com", tn.tag, i), ext: fmt.Sprintf("ext-%s-%d", tn.tag, i), display: "Test User", active: true}
	var body map[string]any
	if tn.entra { // Entra asks before it creates (idp-clients.md)
		if r := tn.c.op("users.filter", "GET", "/Users?filter="+queryEscape(`userName eq "`+u.login+`"`), nil); r.status != 200 {
			tn.fail("pre-create filter: %d %s", r.status, r.body)
			return
		}
		body = entraUser(u.login, u.ext)
	} else {
		body = oktaUser(u.login, u.ext)
	}
	r := tn.c.op("users.create", "POST", "/Users", body)
	switch {
	case r.status == 201:
		u.id = str(r.json, "id")
	case r.status == 409 && r.retried:
		// an earlier attempt committed but its answer was lost: find it, as an IdP does
		f := tn.c.op("users.filter", "GET", "/Users?filter="+queryEscape(`externalId eq "`+u.ext+`"`), nil)
		if found := resources(f.json); len(found) == 1 {
			u.id = str(found[0], "id")
		}
	}
	if u.id == "" {
		tn.fail("create %s: %d %s", u.login, r.status, r.body)
		return
	}
	tn.mu.Lock()
	tn.users = append(tn.users, u)
	tn.mu.Unlock()
}

// update changes the user's displayName: Entra's PATCH dialect, Okta's PUT.
func (tn *tenant) update(u *user) {
	display := fmt.Sprintf("Renamed %d", rand.IntN(1_000_000))
	var r result
	if tn.entra {
		r = tn.c.op("users.patch", "PATCH", "/Users/"+u.id, patch(`{"op":"Replace","path":"displayName","value":"`+display+`"}`))
	} else {
		body := oktaUser(u.login, u.ext)
		body["id"], body["active"], body["displayName"] = u.id, u.active, display
		r = tn.c.op("users.put", "PUT", "/Users/"+u.id, body)
	}
	if r.status != 200 {
		tn.fail("update %s: %d %s", u.id, r.status, r.body)
		return
	}
	u.display = display
}

// toggle deactivates an active user and reactivates an inactive one.
func (tn *tenant) toggle(u *user) {
	value := `false`
	if !u.active {
		value = `true`
	}
	if tn.entra {
		value = map[string]string{"false": `"False"`, "true": `"True"`}[value]
	}
	r := tn.c.op("users.patch", "PATCH", "/Users/"+u.id, patch(`{"op":"replace","path":"active","value":`+value+`}`))
	if r.status != 200 {
		tn.fail("toggle %s: %d %s", u.id, r.status, r.body)
		return
	}
	u.active = !u.active
}

// membership adds the user to the tenant's group, or removes a member.
func (tn *tenant) membership(u *user) {
	tn.groupMu.Lock() // the IdP serializes the writes of one group
	defer tn.groupMu.Unlock()
	op, verb := "add", "Add"
	if tn.members[u.id] {
		op, verb = "remove", "Remove"
	}
	if !tn.entra {
		verb = op
	}
	r := tn.c.op("groups.patch", "PATCH", "/Groups/"+tn.group, patch(`{"op":"`+verb+`","path":"members","value":[{"value":"`+u.id+`"}]}`))
	if r.status != 204 && r.status != 200 {
		tn.fail("group %s %s: %d %s", op, u.id, r.status, r.body)
		return
	}
	tn.members[u.id] = op == "add"
}

// check is the invariant check of one tenant, with the faults cleared.
func (tn *tenant) check(t *testing.T, g *testenv.GiteaServer, rc *redis.Client) {
	t.Helper()
	tn.mu.Lock()
	defer tn.mu.Unlock()
	for _, f := range tn.failures {
		t.Errorf("tenant %d: failed after the IdP's retries: %s", tn.n, f)
	}
	accounts := map[string]int{}
	for _, gu := range g.AdminListUsers(t, nil) {
		if strings.HasPrefix(gu["email"].(string), tn.tag+"-") {
			accounts[gu["email"].(string)]++
		}
	}
	if len(accounts) != len(tn.users) {
		t.Errorf("tenant %d: gitea has %d accounts of this tenant, the IdP created %d", tn.n, len(accounts), len(tn.users))
	}
	ctx := context.Background()
	check := newIdP(tn.base, tn.token)
	for _, u := range tn.users {
		if accounts[u.login] != 1 {
			t.Errorf("tenant %d: %s has %d gitea accounts, want 1", tn.n, u.login, accounts[u.login])
		}
		for _, k := range []string{tn.prefix + "ext:" + u.ext, tn.prefix + "id:" + u.id} {
			if n, err := rc.Exists(ctx, k).Result(); err != nil || n != 1 {
				t.Errorf("tenant %d: %s: link key %s missing (%v)", tn.n, u.login, k, err)
			}
		}
		r := check.op("check", "GET", "/Users?filter="+queryEscape(`externalId eq "`+u.ext+`"`), nil)
		found := resources(r.json)
		if len(found) != 1 || str(found[0], "id") != u.id || found[0]["active"] != u.active || found[0]["displayName"] != u.display {
			t.Errorf("tenant %d: %s: externalId lookup found %s, want id %s active %v displayName %q", tn.n, u.login, r.body, u.id, u.active, u.display)
		}
	}
	var want []string
	for id, in := range tn.members {
		if in {
			want = append(want, id)
		}
	}
	r := check.op("check", "GET", "/Groups/"+tn.group, nil)
	var got []string
	for _, m := range anySlice(r.json["members"]) {
		got = append(got, str(m.(map[string]any), "value"))
	}
	// and from Gitea itself: the team's members, by SCIM id
	st, _, b := g.Do(t, "GET", "/teams/"+tn.group+"/members?limit=1000", nil)
	var team []map[string]any
	if st != 200 || jsonUnmarshal(b, &team) != nil {
		t.Fatalf("tenant %d: gitea team %s: %d %s", tn.n, tn.group, st, b)
	}
	var inGitea []string
	for _, m := range team {
		inGitea = append(inGitea, strconv.FormatInt(int64(m["id"].(float64)), 10))
	}
	sort.Strings(want)
	sort.Strings(got)
	sort.Strings(inGitea)
	if !slices.Equal(got, want) || !slices.Equal(inGitea, want) {
		t.Errorf("tenant %d: group members: SCIM %v, gitea %v, the IdP asked for %v", tn.n, got, inGitea, want)
	}
}

// report prints what the run measured.
func report(t *testing.T, tenants []*tenant, took time.Duration, faulted, upstream int) {
	all := newStats()
	var dropped, skipped, failed, users int64
	for _, tn := range tenants {
		all.merge(tn.c.stats)
		dropped += tn.dropped.Load()
		skipped += tn.skipped.Load()
		failed += tn.failed.Load()
		users += int64(len(tn.users))
	}
	s := all.summary()
	t.Logf("load: %d requests in %s = %.1f req/s (%.1f per tenant); %d operations, %d users created",
		s.requests, took.Round(time.Millisecond), float64(s.requests)/took.Seconds(), float64(s.requests)/took.Seconds()/float64(len(tenants)), s.ops, users)
	t.Logf("load: request latency p50 %s p99 %s max %s; operation latency with the IdP's retries p50 %s p99 %s max %s",
		s.p50, s.p99, s.max, s.opP50, s.opP99, s.opMax)
	t.Logf("load: answers by status, retries included: %s", s.byStatus)
	t.Logf("load: upstream faults injected on %d of %d upstream requests (%.1f%%); operations retried by the IdP: %d; failed after retries: %d; ticks dropped (64 in flight): %d, no free user: %d",
		faulted, upstream, 100*float64(faulted)/float64(max(upstream, 1)), s.retriedOps, failed, dropped, skipped)
	for _, op := range s.opNames {
		t.Logf("load:   %-14s %6d ops  p50 %-8s p99 %s", op, s.perOp[op].n, s.perOp[op].p50, s.perOp[op].p99)
	}
}
