// Package bench_test measures what caddy-scim costs, against the same reads and writes
// sent straight to Gitea and through a plain Caddy reverse_proxy, all in one run on
// loopback with a real Gitea, a real Redis and the real Caddy build. It only runs when
// asked (CADDY_SCIM_BENCH=1, which ./xcaddy.sh bench sets) and never fails on a
// number: it prints a markdown table and the targets it met or missed.
//
// Knobs (environment):
//
//	CADDY_SCIM_BENCH_USERS     users in the first and steady-state syncs (default 10000)
//	CADDY_SCIM_BENCH_DURATION  time per target and table cell (default 2s)
//	CADDY_SCIM_BENCH_PROFILE   directory: save CPU profiles of the plugin under load
//	CADDY_SCIM_BENCH_OUT       file: also write the report there
//	CADDY_SCIM_BENCH_PIN=1     Gitea on CPU 0, everything else on CPU 1 (taskset)
package bench_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const scimToken = "bench-scim-token-7d2e4a91c3"

var concurrencies = []int{1, 8, 64}

// user is one benchmark user, known to both the plugin and Gitea.
type user struct {
	id, userName, ext string // SCIM view
	login, loginName  string // Gitea view
	n                 int
}

// target is one way of reaching Gitea's data.
type target struct {
	name string
	do   func(w, i int) error
}

// op is one row group of the table.
type op struct {
	name           string
	plugin, direct func(base string) func(w, i int) error // base: plugin URL, or Gitea / proxy URL
	max            int                                    // bound on requests per cell (writes create data)
}

type env struct {
	gitea, proxy, plugin string // base URLs
	gauth, sauth         string
	pool                 []user
	seq                  atomic.Int64
	runID                string
}

func envDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}

// benchOnly skips a benchmark unless asked for: they take minutes and print, never assert.
func benchOnly(t *testing.T) {
	if os.Getenv("CADDY_SCIM_BENCH") != "1" {
		t.Skip("benchmark: run ./xcaddy.sh bench (or set CADDY_SCIM_BENCH=1)")
	}
}

// envSizes reads directory sizes from name ("1000,10000"; each ≥ 200), else def.
func envSizes(t *testing.T, name string, def ...int) []int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var sizes []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 200 {
			t.Fatalf("%s: %q (sizes ≥ 200)", name, f)
		}
		sizes = append(sizes, n)
	}
	return sizes
}

// report collects the output; it is printed as it grows (a long run shows progress)
// and written to CADDY_SCIM_BENCH_OUT at the end.
type report struct{ b strings.Builder }

func (r *report) printf(format string, a ...any) {
	s := fmt.Sprintf(format, a...)
	r.b.WriteString(s)
	fmt.Print(s)
}

func TestBench(t *testing.T) {
	benchOnly(t)
	nUsers := envInt("CADDY_SCIM_BENCH_USERS", 10000)
	cellDur := envDuration("CADDY_SCIM_BENCH_DURATION", 2*time.Second)
	profDir := os.Getenv("CADDY_SCIM_BENCH_PROFILE")
	rep := &report{}
	started := time.Now()
	pinned := false

	g := testenv.Gitea(t)
	rd := testenv.Redis(t)
	gHost := strings.TrimPrefix(g.URL, "http://")
	scimSite := func(upstream string) string {
		return fmt.Sprintf("\tscim {\n\t\ttoken {env.SCIM_TOKEN}\n\t\tadapter gitea {\n\t\t\turl %s\n\t\t\ttoken {env.GITEA_TOKEN}\n\t\t}\n\t\tredis {\n\t\t\taddress %s\n\t\t\tprefix bench:\n\t\t}\n\t}\n\treverse_proxy %s", upstream, rd.Addr, gHost)
	}
	cenv := []string{"SCIM_TOKEN=" + scimToken, "GITEA_TOKEN=" + g.Token}
	plugin := startCaddy(t, scimSite(g.URL), cenv...)
	proxy := startCaddy(t, "\treverse_proxy "+gHost)
	// A third instance reaches Gitea through a counting proxy in this process, to check
	// the plugin's own upstream counter against calls seen on the wire.
	var wire atomic.Int64
	gu, _ := url.Parse(g.URL)
	rp := httputil.NewSingleHostReverseProxy(gu)
	counter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wire.Add(1)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(counter.Close)
	counted := startCaddy(t, scimSite(counter.URL), cenv...)

	e := &env{gitea: g.URL, proxy: proxy.URL, plugin: plugin.URL, gauth: "token " + g.Token, sauth: "Bearer " + scimToken,
		runID: testenv.UniqueName("")}
	rep.printf("\n## caddy-scim benchmark\n\n%s\n", machine(g.URL))
	rep.printf("Cell duration %s; %d users in the syncs. Setup: %v\n\n", cellDur, nUsers, testenv.SetupTimes())
	if os.Getenv("CADDY_SCIM_BENCH_PIN") == "1" {
		// Gitea on a core of its own, everything else on the other: what the plugin
		// costs when it does not take CPU from the application.
		pin(t, "0", pidFromFile(t, filepath.Join(g.Dir, "gitea.pid")))
		pin(t, "1", pidFromFile(t, filepath.Join(rd.Dir, "redis.pid")), plugin.pid(), proxy.pid(), counted.pid(), os.Getpid())
		pinned = true
		rep.printf("Pinned (CADDY_SCIM_BENCH_PIN=1): Gitea on CPU 0; Redis, the Caddies and the load generator on CPU 1.\n\n")
	}
	// Measure the steady state: the Redis link index is complete (the instances
	// rebuild it from Gitea when they start).
	for _, c := range []*caddyProc{plugin, counted} {
		waitIndex(t, c.Admin)
	}
	rep.printf("Link index at start: %s\n\n", rebuildLine(plugin.Log))

	// 64 users, one per worker at the highest concurrency, so writes never wait on
	// another request's per-user lock.
	e.pool = e.seed(t, plugin.URL, 64)

	ops := e.ops()
	rep.printf("### Per-operation throughput and latency\n\n")
	rep.printf("Latencies in ms. *direct* is the Gitea call the plugin itself makes for that operation on a warm link store (reads) or Gitea's own write endpoint (writes), sent straight to Gitea; *proxy* is the same call through a Caddy with only `reverse_proxy`. The three run in turns of 1 s within each cell (%s each), so that the machine's drift falls on all of them alike. Upstream calls and Redis round trips are counted by the plugin (`/metrics`), averaged over the cell.\n\n", cellDur)
	rep.printf("| operation | c | plugin req/s | p50 | p99 | proxy req/s | p50 | p99 | direct req/s | p50 | p99 | plugin÷direct | plugin÷proxy | +p50 vs direct | +p99 vs direct | upstream calls/op | Redis RT/op |\n")
	rep.printf("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	type key struct {
		op string
		c  int
	}
	type cell struct{ plugin, direct, proxy result }
	cells := map[key]cell{}
	perOp := map[string][2]float64{}
	for _, o := range ops {
		for _, c := range concurrencies {
			// The targets of a cell run interleaved (see interleave). Only the plugin's
			// turns move its counters, so their deltas over the cell are its own.
			var cl cell
			var fs []func(w, i int) error
			if o.direct != nil {
				fs = append(fs, o.direct(e.gitea), o.direct(e.proxy))
			}
			if o.plugin != nil {
				fs = append(fs, o.plugin(e.plugin))
			}
			up0, _ := metric(plugin.Admin+"/metrics", "caddy_scim_upstream_requests_total")
			rt0, _ := metric(plugin.Admin+"/metrics", "caddy_scim_link_store_round_trips_total")
			rs := interleave(c, cellDur, o.max, fs...)
			up1, _ := metric(plugin.Admin+"/metrics", "caddy_scim_upstream_requests_total")
			rt1, _ := metric(plugin.Admin+"/metrics", "caddy_scim_link_store_round_trips_total")
			if o.direct != nil {
				cl.direct, cl.proxy, rs = rs[0], rs[1], rs[2:]
			}
			var up, rt float64
			if o.plugin != nil {
				cl.plugin = rs[0]
				if n := float64(cl.plugin.n + cl.plugin.errs); n > 0 {
					up, rt = (up1-up0)/n, (rt1-rt0)/n
				}
				perOp[o.name] = [2]float64{up, rt}
			}
			cells[key{o.name, c}] = cl
			for _, r := range []result{cl.plugin, cl.direct, cl.proxy} {
				if r.errs > 0 {
					t.Errorf("%s c=%d: %d errors, first: %v", o.name, c, r.errs, r.firstErr)
				}
			}
			row := fmt.Sprintf("| %s | %d ", o.name, c)
			cols := func(r result, ok bool) string {
				if !ok {
					return "| – | – | – "
				}
				return fmt.Sprintf("| %.0f | %s | %s ", r.rps(), ms(r.pct(.5)), ms(r.pct(.99)))
			}
			row += cols(cl.plugin, o.plugin != nil) + cols(cl.proxy, o.direct != nil) + cols(cl.direct, o.direct != nil)
			if o.plugin != nil && o.direct != nil {
				row += fmt.Sprintf("| %.2f | %.2f | %+.2f | %+.2f | %.2f | %.2f |", cl.plugin.rps()/cl.direct.rps(), cl.plugin.rps()/cl.proxy.rps(),
					float64(cl.plugin.pct(.5)-cl.direct.pct(.5))/1e6, float64(cl.plugin.pct(.99)-cl.direct.pct(.99))/1e6, up, rt)
			} else if o.plugin != nil {
				row += fmt.Sprintf("| – | – | – | – | %.2f | %.2f |", up, rt)
			} else {
				row += "| – | – | – | – | – | – |"
			}
			rep.printf("%s\n", row)
		}
	}

	// Cross-check: the plugin's upstream counter against requests seen on the wire.
	rep.printf("\n### Upstream calls per operation, counted twice (20 sequential requests each, after one unmeasured request per pool user, warm link store)\n\n")
	rep.printf("| operation | on the wire (counting proxy) | plugin metric | Redis RT |\n|---|--:|--:|--:|\n")
	for _, o := range ops {
		if o.plugin == nil {
			continue
		}
		const n = 20
		// A first pass refreshes the links of users that the direct writes changed
		// (a read re-stores a link whose version moved); the second pass is counted
		// and numbers its requests on, so its writes still change something.
		warm := o.plugin(counted.URL)
		load(1, 0, len(e.pool), warm) // every pool user once: reads pick users by request number
		w0 := wire.Load()
		up0, _ := metric(counted.Admin+"/metrics", "caddy_scim_upstream_requests_total")
		rt0, _ := metric(counted.Admin+"/metrics", "caddy_scim_link_store_round_trips_total")
		r := load(1, 0, n, func(w, i int) error { return warm(w, len(e.pool)+i) })
		if r.errs > 0 {
			t.Errorf("cross-check %s: %v", o.name, r.firstErr)
		}
		up1, _ := metric(counted.Admin+"/metrics", "caddy_scim_upstream_requests_total")
		rt1, _ := metric(counted.Admin+"/metrics", "caddy_scim_link_store_round_trips_total")
		rep.printf("| %s | %.2f | %.2f | %.2f |\n", o.name, float64(wire.Load()-w0)/n, (up1-up0)/n, (rt1-rt0)/n)
	}

	// First sync: nUsers new users through SCIM and straight into Gitea, at
	// concurrency 16, in interleaved chunks so that both see the same table sizes.
	rep.printf("\n### First sync: %d users created at concurrency 16\n\n", nUsers)
	const syncConc, chunk = 16, 500
	var tPlugin, tDirect time.Duration
	created := make([]user, 0, nUsers)
	var createdMu sync.Mutex
	up0, _ := metric(plugin.Admin+"/metrics", "caddy_scim_upstream_requests_total")
	rt0, _ := metric(plugin.Admin+"/metrics", "caddy_scim_link_store_round_trips_total")
	var pluginErrs, directErrs int
	for done := 0; done < nUsers; done += chunk {
		n := min(chunk, nUsers-done)
		d := load(syncConc, 0, n, e.directCreate(e.gitea, "fs"))
		p := load(syncConc, 0, n, func(w, i int) error {
			u, err := e.scimCreate(e.plugin, "fs")
			if err == nil {
				createdMu.Lock()
				created = append(created, u)
				createdMu.Unlock()
			}
			return err
		})
		tDirect += d.elapsed
		tPlugin += p.elapsed
		directErrs += d.errs
		pluginErrs += p.errs
		if p.errs+d.errs > 0 {
			t.Errorf("first sync chunk: plugin %d errors (%v), direct %d errors (%v)", p.errs, p.firstErr, d.errs, d.firstErr)
		}
	}
	up1, _ := metric(plugin.Admin+"/metrics", "caddy_scim_upstream_requests_total")
	rt1, _ := metric(plugin.Admin+"/metrics", "caddy_scim_link_store_round_trips_total")
	syncRatio := tPlugin.Seconds() / tDirect.Seconds()
	rep.printf("| | wall time | users/s | upstream calls/user | Redis RT/user |\n|---|--:|--:|--:|--:|\n")
	rep.printf("| through the plugin (SCIM POST) | %.1f s | %.0f | %.2f | %.2f |\n", tPlugin.Seconds(), float64(nUsers)/tPlugin.Seconds(),
		(up1-up0)/float64(nUsers), (rt1-rt0)/float64(nUsers))
	rep.printf("| straight into Gitea (POST /admin/users) | %.1f s | %.0f | 1 | – |\n", tDirect.Seconds(), float64(nUsers)/tDirect.Seconds())
	rep.printf("| ratio plugin ÷ direct | %.2f× | | | |\n", syncRatio)

	// A rebuild of the link index over everything the sync created: what an instance
	// pays after Redis restarts or fails over. A fresh instance with a prefix of its own
	// finds no index and rebuilds it from Gitea.
	fresh := startCaddy(t, strings.Replace(scimSite(g.URL), "prefix bench:", "prefix bench-rebuild:", 1), cenv...)
	if pinned {
		pin(t, "1", fresh.pid())
	}
	waitIndex(t, fresh.Admin)
	rep.printf("\nLink index after the first sync: %s\n", rebuildLine(fresh.Log))

	// Steady state: the Entra cycle looks every assigned user up by externalId.
	rep.printf("\n### Steady-state sync: %d existing users looked up by externalId at concurrency 16\n\n", len(created))
	up0, _ = metric(plugin.Admin+"/metrics", "caddy_scim_upstream_requests_total")
	rt0, _ = metric(plugin.Admin+"/metrics", "caddy_scim_link_store_round_trips_total")
	ss := load(syncConc, 0, len(created), func(w, i int) error { return e.findByExt(e.plugin, created[i].ext, created[i].id) })
	up1, _ = metric(plugin.Admin+"/metrics", "caddy_scim_upstream_requests_total")
	rt1, _ = metric(plugin.Admin+"/metrics", "caddy_scim_link_store_round_trips_total")
	sd := load(syncConc, 0, len(created), func(w, i int) error {
		_, err := call("GET", e.gitea+"/api/v1/admin/users?limit=1&login_name="+url.QueryEscape("~scim:email:"+created[i].ext), e.gauth, nil, 200)
		return err
	})
	if ss.errs+sd.errs > 0 {
		t.Errorf("steady state: plugin %d errors (%v), direct %d errors (%v)", ss.errs, ss.firstErr, sd.errs, sd.firstErr)
	}
	rep.printf("| | wall time | lookups/s | p50 ms | p99 ms | upstream calls/lookup | Redis RT/lookup |\n|---|--:|--:|--:|--:|--:|--:|\n")
	rep.printf("| plugin, warm link store | %.1f s | %.0f | %s | %s | %.2f | %.2f |\n", ss.elapsed.Seconds(), ss.rps(), ms(ss.pct(.5)), ms(ss.pct(.99)),
		(up1-up0)/float64(max(1, len(created))), (rt1-rt0)/float64(max(1, len(created))))
	rep.printf("| Gitea alone (GET /admin/users?login_name=…) | %.1f s | %.0f | %s | %s | 1 | – |\n", sd.elapsed.Seconds(), sd.rps(), ms(sd.pct(.5)), ms(sd.pct(.99)))

	if profDir != "" {
		e.profile(t, rep, plugin.Admin, profDir)
	}

	rep.printf("\n### Memory\n\npeak RSS (VmHWM): plugin Caddy %.0f MiB, reverse_proxy Caddy %.0f MiB\n", peakRSS(plugin.pid()), peakRSS(proxy.pid()))

	// Targets: printed, never asserted (wall-clock numbers depend on the machine).
	rep.printf("\n### Targets (concurrency 8)\n\n| target | measured | met |\n|---|---|---|\n")
	check := func(name, measured string, ok bool) {
		rep.printf("| %s | %s | %s |\n", name, measured, map[bool]string{true: "yes", false: "**no**"}[ok])
	}
	for _, name := range []string{"GET /Users/{id}", "filter userName eq", "filter externalId eq"} {
		up := perOp[name][0]
		check(name+": upstream calls per lookup ≤ 1 (warm)", fmt.Sprintf("%.2f", up), up <= 1.0001)
		cl := cells[key{name, 8}]
		// The proxy's own figures, measured in the same turns, show what a Caddy hop
		// alone costs here: the floor under the plugin's.
		r := cl.plugin.rps() / cl.direct.rps()
		check(name+": plugin ÷ direct throughput ≥ 0.9", fmt.Sprintf("%.2f (reverse_proxy alone: %.2f)", r, cl.proxy.rps()/cl.direct.rps()), r >= 0.9)
		d50, d99 := cl.plugin.pct(.5)-cl.direct.pct(.5), cl.plugin.pct(.99)-cl.direct.pct(.99)
		p50, p99 := cl.proxy.pct(.5)-cl.direct.pct(.5), cl.proxy.pct(.99)-cl.direct.pct(.99)
		check(name+": added p50 ≤ 1 ms, added p99 ≤ 3 ms", fmt.Sprintf("%+.2f ms, %+.2f ms (reverse_proxy alone: %+.2f ms, %+.2f ms)",
			float64(d50)/1e6, float64(d99)/1e6, float64(p50)/1e6, float64(p99)/1e6),
			d50 <= time.Millisecond && d99 <= 3*time.Millisecond)
	}
	check(fmt.Sprintf("first sync of %d users ≤ 1.2× direct creation", nUsers), fmt.Sprintf("%.2f×", syncRatio), syncRatio <= 1.2)
	rep.printf("\nload average at the end: %s; bench wall time %s\n", loadavg(), time.Since(started).Round(time.Second))

	if out := os.Getenv("CADDY_SCIM_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(rep.b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// ops are the table rows. Reads cycle over the pool; writes give each worker its own
// user. Writes change a value on every request so that each one reaches Gitea.
func (e *env) ops() []op {
	pick := func(w, i int) user { return e.pool[i%len(e.pool)] }
	mine := func(w, i int) user { return e.pool[w%len(e.pool)] }
	directGet := func(base string) func(w, i int) error {
		return func(w, i int) error {
			_, err := call("GET", base+"/api/v1/users/search?limit=1&uid="+pick(w, i).id, e.gauth, nil, 200)
			return err
		}
	}
	directWrite := func(base string) func(w, i int) error {
		return func(w, i int) error {
			u := mine(w, i)
			b, _ := json.Marshal(map[string]any{"login_name": u.loginName, "source_id": 0, "email": u.userName,
				"full_name": fmt.Sprintf("Given%d Family", i), "prohibit_login": false, "active": true})
			_, err := call("PATCH", base+"/api/v1/admin/users/"+u.login, e.gauth, b, 200)
			return err
		}
	}
	return []op{
		{name: "GET /Users/{id}",
			plugin: func(base string) func(w, i int) error {
				return func(w, i int) error {
					_, err := call("GET", base+"/scim/v2/Users/"+pick(w, i).id, e.sauth, nil, 200)
					return err
				}
			},
			direct: directGet},
		{name: "filter userName eq",
			plugin: func(base string) func(w, i int) error {
				return func(w, i int) error {
					u := pick(w, i)
					return e.find(base, `userName eq "`+u.userName+`"`, u.id)
				}
			},
			direct: directGet},
		{name: "filter externalId eq",
			plugin: func(base string) func(w, i int) error {
				return func(w, i int) error { u := pick(w, i); return e.findByExt(base, u.ext, u.id) }
			},
			direct: directGet},
		{name: "Gitea-native lookup by e-mail (admin/users?q=)",
			direct: func(base string) func(w, i int) error {
				return func(w, i int) error {
					_, err := call("GET", base+"/api/v1/admin/users?limit=50&q="+url.QueryEscape(pick(w, i).userName), e.gauth, nil, 200)
					return err
				}
			}},
		{name: "Gitea-native lookup by login_name (admin/users?login_name=)",
			direct: func(base string) func(w, i int) error {
				return func(w, i int) error {
					_, err := call("GET", base+"/api/v1/admin/users?limit=1&login_name="+url.QueryEscape(pick(w, i).loginName), e.gauth, nil, 200)
					return err
				}
			}},
		{name: "PATCH (Entra)",
			plugin: func(base string) func(w, i int) error {
				return func(w, i int) error {
					u := mine(w, i)
					body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
{"op":"Replace","path":"displayName","value":"Given%[1]d Family"},
{"op":"Replace","path":"name.givenName","value":"Given%[1]d"},
{"op":"Replace","path":"name.formatted","value":"Given%[1]d Family"},
{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"%[1]d"}]}`, i)
					_, err := call("PATCH", base+"/scim/v2/Users/"+u.id, e.sauth, []byte(body), 200)
					return err
				}
			},
			direct: directWrite},
		{name: "PUT",
			plugin: func(base string) func(w, i int) error {
				return func(w, i int) error {
					u := mine(w, i)
					b, _ := json.Marshal(entraUser(u.userName, u.ext, fmt.Sprintf("Given%d", i)))
					_, err := call("PUT", base+"/scim/v2/Users/"+u.id, e.sauth, b, 200)
					return err
				}
			},
			direct: directWrite},
		{name: "POST /Users", max: 2000,
			plugin: func(base string) func(w, i int) error {
				return func(w, i int) error { _, err := e.scimCreate(base, "op"); return err }
			},
			direct: func(base string) func(w, i int) error { return e.directCreate(base, "op") }},
	}
}

// entraUser is Entra ID's create body (idp-clients.md §3.2), also sent as a PUT.
func entraUser(userName, ext, given string) map[string]any {
	return map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
		"externalId": ext,
		"userName":   userName,
		"active":     true,
		"emails":     []any{map[string]any{"primary": true, "type": "work", "value": userName}},
		"meta":       map[string]any{"resourceType": "User"},
		"name":       map[string]any{"formatted": given + " Family", "familyName": "Family", "givenName": given},
		"roles":      []any{},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"employeeNumber": "701984", "department": "Bench"},
	}
}

// names returns a fresh Entra-style userName (a UPN) and externalId (an object id).
func (e *env) names(kind string) (string, string) {
	n := e.seq.Add(1)
	return fmt.Sprintf("b%s%s%d@bench.example", kind, e.runID, n), fmt.Sprintf("0a21f0f2-%s-%s-%012d", kind, e.runID, n)
}

func (e *env) scimCreate(base, kind string) (user, error) {
	un, ext := e.names(kind)
	b, _ := json.Marshal(entraUser(un, ext, "Given"))
	out, err := call("POST", base+"/scim/v2/Users", e.sauth, b, 201)
	if err != nil {
		return user{}, err
	}
	var r struct{ ID string }
	if err := json.Unmarshal(out, &r); err != nil || r.ID == "" {
		return user{}, fmt.Errorf("POST answer without id: %.200s", out)
	}
	return user{id: r.ID, userName: un, ext: ext}, nil
}

func (e *env) directCreate(base, kind string) func(w, i int) error {
	return func(w, i int) error {
		un, ext := e.names("d" + kind)
		login, _, _ := strings.Cut(un, "@")
		b, _ := json.Marshal(map[string]any{"username": login, "email": un, "full_name": "Given Family",
			"login_name": "~scim:email:" + ext, "source_id": 0, "password": "Aa1!bench-password-0123456789",
			"must_change_password": false, "send_notify": false})
		_, err := call("POST", base+"/api/v1/admin/users", e.gauth, b, 201)
		return err
	}
}

func (e *env) find(base, filter, wantID string) error {
	b, err := call("GET", base+"/scim/v2/Users?filter="+url.QueryEscape(filter), e.sauth, nil, 200)
	if err != nil {
		return err
	}
	var lr struct {
		Resources []struct{ ID string }
	}
	if err := json.Unmarshal(b, &lr); err != nil || len(lr.Resources) != 1 || lr.Resources[0].ID != wantID {
		return fmt.Errorf("filter %s: want id %s, got %.200s", filter, wantID, b)
	}
	return nil
}

func (e *env) findByExt(base, ext, wantID string) error {
	return e.find(base, `externalId eq "`+ext+`"`, wantID)
}

// seed creates n users through the plugin (which also warms the link store) and
// reads their Gitea login and login_name for the direct requests.
func (e *env) seed(t *testing.T, base string, n int) []user {
	pool := make([]user, n)
	r := load(8, 0, n, func(w, i int) error {
		u, err := e.scimCreate(base, "pool")
		if err != nil {
			return err
		}
		b, err := call("GET", e.gitea+"/api/v1/users/search?limit=1&uid="+u.id, e.gauth, nil, 200)
		if err != nil {
			return err
		}
		var res struct {
			Data []struct {
				Login     string `json:"login"`
				LoginName string `json:"login_name"`
			} `json:"data"`
		}
		if err := json.Unmarshal(b, &res); err != nil || len(res.Data) != 1 {
			return fmt.Errorf("gitea user %s: %.200s", u.id, b)
		}
		u.login, u.loginName, u.n = res.Data[0].Login, res.Data[0].LoginName, i
		if u.loginName == "" {
			// the admin view (login_name) needs the admin endpoint
			ab, err := call("GET", e.gitea+"/api/v1/admin/users?limit=1&login_name="+url.QueryEscape("~scim:email:"+u.ext), e.gauth, nil, 200)
			if err != nil {
				return err
			}
			if !strings.Contains(string(ab), `"id":`+u.id+",") {
				return fmt.Errorf("login_name of %s not found: %.200s", u.id, ab)
			}
			u.loginName = "~scim:email:" + u.ext
		}
		pool[i] = u
		return nil
	})
	if r.errs > 0 {
		t.Fatalf("seeding: %d errors: %v", r.errs, r.firstErr)
	}
	// one read of each, so that every link is warm whatever path the create took
	for _, u := range pool {
		if err := e.findByExt(base, u.ext, u.id); err != nil {
			t.Fatal(err)
		}
	}
	return pool
}

// profile takes CPU profiles of the running plugin through Caddy's admin
// /debug/pprof while it serves the hot paths.
func (e *env) profile(t *testing.T, rep *report, admin, dir string) {
	for _, p := range []struct {
		file string
		conc int
		f    func(w, i int) error
	}{
		{"cpu-filter-externalid.pprof", 8, func(w, i int) error {
			u := e.pool[i%len(e.pool)]
			return e.findByExt(e.plugin, u.ext, u.id)
		}},
		{"cpu-post.pprof", 16, func(w, i int) error { _, err := e.scimCreate(e.plugin, "prof"); return err }},
	} {
		cpuProfile(t, rep, admin, filepath.Join(dir, p.file), p.conc, p.f)
	}
}

// cpuProfile saves a 10 s CPU profile of the Caddy at admin while f runs at conc.
func cpuProfile(t *testing.T, rep *report, admin, file string, conc int, f func(w, i int) error) {
	const secs = 10
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var perr error
	wg.Go(func() {
		resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", admin, secs))
		if err != nil {
			perr = err
			return
		}
		defer resp.Body.Close()
		out, err := os.Create(file)
		if err != nil {
			perr = err
			return
		}
		defer out.Close()
		_, perr = io.Copy(out, resp.Body)
	})
	r := load(conc, secs*time.Second+500*time.Millisecond, 0, f)
	wg.Wait()
	if perr != nil {
		t.Errorf("profile %s: %v", file, perr)
	}
	rep.printf("\nprofile %s: %d requests at %.0f req/s (c=%d)\n", file, r.n, r.rps(), conc)
}

// machine describes where the numbers come from.
func machine(giteaURL string) string {
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
		if len(f) >= 2 {
			kb, _ := strconv.ParseFloat(f[1], 64)
			mem = fmt.Sprintf("%.0f GiB", kb/1024/1024)
		}
	}
	upstream := "the GitLab emulator in the test process"
	if giteaURL != "" {
		gv := "?"
		if b, err := call("GET", giteaURL+"/api/v1/version", "", nil, 200); err == nil {
			var v struct{ Version string }
			_ = json.Unmarshal(b, &v)
			gv = v.Version
		}
		upstream = "Gitea " + gv + " on SQLite (WAL)"
	}
	return fmt.Sprintf("Machine: %d CPUs (%s), %s RAM, %s/%s, %s; %s; Redis on loopback; load average at start: %s\n",
		runtime.NumCPU(), cpu, mem, runtime.GOOS, runtime.GOARCH, runtime.Version(), upstream, loadavg())
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// waitIndex waits until the instance trusts its Redis link index.
func waitIndex(t *testing.T, admin string) {
	t.Helper()
	start := time.Now()
	for {
		if v, err := metric(admin+"/metrics", "caddy_scim_link_index_complete"); err == nil && v == 1 {
			return
		}
		if time.Since(start) > 5*time.Minute {
			t.Fatalf("the link index of %s was not complete after 5 minutes", admin)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rebuildLine reports the rebuild the instance logged (links written, time taken).
func rebuildLine(logFile string) string {
	b, _ := os.ReadFile(logFile)
	for line := range strings.Lines(string(b)) {
		if !strings.Contains(line, "link index rebuilt from the upstream") {
			continue
		}
		var l struct {
			Links int     `json:"links"`
			Took  float64 `json:"took"` // seconds, as Caddy's log encodes a duration
		}
		if json.Unmarshal([]byte(line), &l) == nil {
			return fmt.Sprintf("rebuilt from Gitea: %d links in %.2f s", l.Links, l.Took)
		}
	}
	return "no rebuild logged (another instance built it)"
}

// pin restricts every thread of the processes to the CPU list cpus (taskset).
func pin(t *testing.T, cpus string, pids ...int) {
	t.Helper()
	for _, pid := range pids {
		if out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(pid)).CombinedOutput(); err != nil {
			t.Fatalf("taskset %s %d: %v\n%s", cpus, pid, err, out)
		}
	}
}

func pidFromFile(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pid
}
