package bench_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// TestBenchEmulator measures the plugin's own cost in front of a fast application:
// the GitLab emulator (in memory, in this process) as the upstream, and for each
// operation the upstream call the plugin itself makes, sent straight to the emulator
// (direct) and through a Caddy with only reverse_proxy (proxy), with the plugin on
// Redis links and on the default embedded store, all four in turns within each cell.
// It runs at each directory size of CADDY_SCIM_BENCH_EMU_SIZES (default 1000,10000),
// a fresh plugin Caddy per size (link index rebuilt from the emulator). It prints,
// never asserts.
func TestBenchEmulator(t *testing.T) {
	benchOnly(t)
	sizes := envSizes(t, "CADDY_SCIM_BENCH_EMU_SIZES", 1000, 10000)
	cellDur := envDuration("CADDY_SCIM_BENCH_DURATION", 2*time.Second)
	profDir := os.Getenv("CADDY_SCIM_BENCH_PROFILE")
	rd := testenv.Redis(t)
	up := emulatorUpstream(t)
	proxy := startCaddy(t, "\treverse_proxy "+strings.TrimPrefix(up.direct, "http://"))
	rep := &report{}
	rep.printf("\n## In front of a fast application: the GitLab emulator\n\n%s\n", machine(""))
	rep.printf("Concurrency c, %s per target and cell in turns of 1 s. *direct* is the emulator call the plugin makes for that operation (warm link store), *proxy* the same call through a Caddy with only `reverse_proxy`; *plugin (Redis)* keeps its links in Redis, *plugin (embedded)* in the default embedded store. Upstream calls and link store round trips per request from the plugin's metrics; *CPU µs/req* is the CPU time of each Caddy process over its own turns (user + system, from /proc), divided by its requests: what one request costs the plugin, whatever else the machine runs.\n\n", cellDur)
	rep.printf("| users | operation | c | plugin (Redis) req/s | p50 ms | p99 ms | plugin (embedded) req/s | proxy req/s | direct req/s | Redis ÷ proxy | embedded ÷ proxy | Redis ÷ direct | upstream calls/op | Redis RT/op | CPU µs/req: Redis | embedded | proxy |\n")
	rep.printf("|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")

	type key struct {
		n  int
		op string
		c  int
	}
	type cell struct {
		redis, embedded, proxy, direct result
		calls, rts                     float64
		cpu                            [3]float64 // µs per request: plugin (Redis), plugin (embedded), proxy
	}
	cells := map[key]cell{}
	for _, n := range sizes {
		up.grow(t, up.users, n)
		up.users = n
		withRedis := startCaddy(t, up.site(rd.Addr, testenv.UniqueName("emu")+":"), up.env...)
		embedded := startCaddy(t, strings.Replace(up.site(rd.Addr, "x"), redisBlock(rd.Addr, "x"), "", 1), up.env...)
		waitIndex(t, withRedis.Admin)
		waitIndex(t, embedded.Admin)
		pool := emuPool(t, withRedis.URL, n)
		for _, o := range emuOps(up, pool) {
			for _, c := range []int{1, 8} {
				m0 := pluginCounters(withRedis.Admin)
				procs := []*caddyProc{withRedis, embedded, proxy}
				var cpu0 [3]float64
				for i, p := range procs {
					cpu0[i] = testenv.CPUSeconds(p.pid())
				}
				rs := interleave(c, cellDur, o.max, o.plugin(withRedis.URL), o.plugin(embedded.URL), o.direct(proxy.URL), o.direct(up.direct))
				cl := cell{redis: rs[0], embedded: rs[1], proxy: rs[2], direct: rs[3]}
				for i, p := range procs {
					cl.cpu[i] = 1e6 * (testenv.CPUSeconds(p.pid()) - cpu0[i]) / float64(max(1, rs[i].n+rs[i].errs))
				}
				if k := float64(rs[0].n + rs[0].errs); k > 0 {
					d := pluginCounters(withRedis.Admin)
					cl.calls, cl.rts = (d[0]-m0[0])/k, (d[1]-m0[1])/k
				}
				for i, r := range rs {
					if r.errs > 0 {
						t.Errorf("%d users, %s c=%d, target %d: %d errors, first: %v", n, o.name, c, i, r.errs, r.firstErr)
					}
				}
				cells[key{n, o.name, c}] = cl
				rep.printf("| %d | %s | %d | %.0f | %s | %s | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f | %.0f | %.0f | %.0f |\n", n, o.name, c,
					cl.redis.rps(), ms(cl.redis.pct(.5)), ms(cl.redis.pct(.99)), cl.embedded.rps(), cl.proxy.rps(), cl.direct.rps(),
					cl.redis.rps()/cl.proxy.rps(), cl.embedded.rps()/cl.proxy.rps(), cl.redis.rps()/cl.direct.rps(), cl.calls, cl.rts,
					cl.cpu[0], cl.cpu[1], cl.cpu[2])
			}
		}
		if profDir != "" && n == sizes[len(sizes)-1] {
			for _, o := range emuOps(up, pool) { // creates last: they grow the directory
				for _, c := range []struct {
					store string
					p     *caddyProc
				}{{"redis", withRedis}, {"embedded", embedded}} {
					cpuProfile(t, rep, c.p.Admin, filepath.Join(profDir, "emu-"+c.store+"-"+o.file+".pprof"), 8, o.plugin(c.p.URL))
				}
			}
		}
		withRedis.stop()
		embedded.stop()
	}

	rep.printf("\n### Targets\n\n| target | measured | met |\n|---|---|---|\n")
	check := func(name, measured string, ok bool) {
		rep.printf("| %s | %s | %s |\n", name, measured, map[bool]string{true: "yes", false: "**no**"}[ok])
	}
	for _, n := range sizes {
		for _, name := range []string{"GET /Users/{id}", "filter userName eq"} {
			cl := cells[key{n, name, 8}]
			e, r := cl.embedded.rps()/cl.proxy.rps(), cl.redis.rps()/cl.proxy.rps()
			check(fmt.Sprintf("%d users, %s: plugin ÷ reverse_proxy ≥ 0.9 (c=8), embedded store (the default)", n, name), fmt.Sprintf("%.2f", e), e >= 0.9)
			check(fmt.Sprintf("%d users, %s: plugin ÷ reverse_proxy ≥ 0.9 (c=8), Redis links", n, name), fmt.Sprintf("%.2f (one Redis round trip a read)", r), r >= 0.9)
		}
		g := cells[key{n, "GET /Users/{id}", 8}]
		check(fmt.Sprintf("%d users, GET /Users/{id}: 1 upstream call", n), fmt.Sprintf("%.2f", g.calls), g.calls <= 1.0001)
		l := cells[key{n, "list page of 100", 8}]
		check(fmt.Sprintf("%d users, a list page of 100: ≤ 5 upstream calls", n), fmt.Sprintf("%.2f", l.calls), l.calls <= 5)
	}
	if len(sizes) > 1 {
		first, last := sizes[0], sizes[len(sizes)-1]
		a, b := cells[key{first, "POST /Users", 8}], cells[key{last, "POST /Users", 8}]
		r := b.redis.rps() / a.redis.rps()
		check(fmt.Sprintf("creates at %d users ≥ 0.8× their rate at %d (c=8)", last, first),
			fmt.Sprintf("%.2f (%.0f → %.0f/s; the emulator alone %.2f)", r, a.redis.rps(), b.redis.rps(), b.direct.rps()/a.direct.rps()), r >= 0.8)
	}
	if out := os.Getenv("CADDY_SCIM_BENCH_EMU_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(rep.b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// pluginCounters reads the plugin's upstream call and link store round trip counters.
func pluginCounters(admin string) [2]float64 {
	up, _ := metric(admin+"/metrics", "caddy_scim_upstream_requests_total")
	rt, _ := metric(admin+"/metrics", "caddy_scim_link_store_round_trips_total")
	return [2]float64{up, rt}
}

// redisBlock is the redis block of scimSite.
func redisBlock(addr, prefix string) string {
	return fmt.Sprintf("\n\t\tredis {\n\t\t\taddress %s\n\t\t\tprefix %s\n\t\t}", addr, prefix)
}

// emuUser is one user of the pool, as SCIM and the emulator know it.
type emuUser struct{ id, userName, ext string }

// emuPool reads 64 users (one per worker of the widest cell, so that writes never
// wait on another request's lock) spread over the directory, through the plugin.
func emuPool(t *testing.T, base string, n int) []emuUser {
	var pool []emuUser
	for k := 0; len(pool) < 64; k++ {
		start := 1 + (k*7919)%max(1, n-10)
		b, err := call("GET", base+"/scim/v2/Users?count=8&startIndex="+strconv.Itoa(start), "Bearer "+scimToken, nil, 200)
		var lr struct {
			Resources []struct{ ID, UserName, ExternalID string }
		}
		if err != nil || json.Unmarshal(b, &lr) != nil || len(lr.Resources) == 0 {
			t.Fatalf("the pool: %v %.200s", err, b)
		}
		for _, r := range lr.Resources {
			pool = append(pool, emuUser{r.ID, r.UserName, r.ExternalID})
		}
	}
	return pool[:64]
}

// emuOp is one row: plugin is the SCIM request, direct the emulator call the plugin
// makes for it (sent to the emulator or through the proxy).
type emuOp struct {
	name, file     string
	plugin, direct func(base string) func(w, i int) error
	max            int
}

func emuOps(up *listUpstream, pool []emuUser) []emuOp {
	sauth := "Bearer " + scimToken
	pick := func(i int) emuUser { return pool[i%len(pool)] }
	get := func(base string) func(w, i int) error {
		return func(w, i int) error {
			_, err := call("GET", base+"/api/v4/users/"+pick(i).id+"?with_custom_attributes=true", up.dauth, nil, 200)
			return err
		}
	}
	find := func(base, filter string) error {
		_, err := call("GET", base+"/scim/v2/Users?filter="+url.QueryEscape(filter), sauth, nil, 200)
		return err
	}
	return []emuOp{
		{name: "GET /Users/{id}", file: "get", direct: get, plugin: func(base string) func(w, i int) error {
			return func(w, i int) error {
				_, err := call("GET", base+"/scim/v2/Users/"+pick(i).id, sauth, nil, 200)
				return err
			}
		}},
		{name: "filter userName eq", file: "filter", direct: get, plugin: func(base string) func(w, i int) error {
			return func(w, i int) error { return find(base, `userName eq "`+pick(i).userName+`"`) }
		}},
		{name: "filter externalId eq", file: "filter-ext", direct: get, plugin: func(base string) func(w, i int) error {
			return func(w, i int) error { return find(base, `externalId eq "`+pick(i).ext+`"`) }
		}},
		{name: "list page of 100", file: "list",
			plugin: func(base string) func(w, i int) error {
				return func(w, i int) error {
					start := 1 + (i*7919)%max(1, up.users-100)
					_, err := call("GET", base+"/scim/v2/Users?count=100&startIndex="+strconv.Itoa(start), sauth, nil, 200)
					return err
				}
			},
			// GitLab's managed listing from a keyset cursor: one call of 100
			direct: func(base string) func(w, i int) error {
				return func(w, i int) error {
					id, _ := strconv.Atoi(pick(i).id)
					cur := base64.URLEncoding.EncodeToString([]byte(`{"id":"` + strconv.Itoa(id-1) + `","_kd":"n"}`))
					_, err := call("GET", base+"/api/v4/users?custom_attributes%5Bscim_managed%5D=true&order_by=id&sort=asc&with_custom_attributes=true&pagination=keyset&per_page=100&cursor="+cur, up.dauth, nil, 200)
					return err
				}
			}},
		{name: "PATCH (Entra)", file: "patch",
			plugin: func(base string) func(w, i int) error {
				return func(w, i int) error {
					body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
{"op":"Replace","path":"displayName","value":"Given%[1]d Family"},
{"op":"Replace","path":"name.givenName","value":"Given%[1]d"},
{"op":"Replace","path":"name.formatted","value":"Given%[1]d Family"}]}`, i)
					_, err := call("PATCH", base+"/scim/v2/Users/"+pool[w%len(pool)].id, sauth, []byte(body), 200)
					return err
				}
			},
			direct: func(base string) func(w, i int) error {
				return func(w, i int) error {
					b := fmt.Sprintf(`{"name":"Given%d Family"}`, i)
					_, err := call("PUT", base+"/api/v4/users/"+pool[w%len(pool)].id, up.dauth, []byte(b), 200)
					return err
				}
			}},
		{name: "POST /Users", file: "post", max: 300,
			plugin: func(base string) func(w, i int) error {
				run := testenv.UniqueName("p")
				return func(w, i int) error {
					un := fmt.Sprintf("%s-%d@example.com", run, i)
					b, _ := json.Marshal(entraUser(un, "ext-"+un, "Post"))
					_, err := call("POST", base+"/scim/v2/Users", sauth, b, 201)
					return err
				}
			},
			direct: func(base string) func(w, i int) error {
				run := testenv.UniqueName("d")
				return func(w, i int) error {
					un := fmt.Sprintf("%s-%d", run, i)
					b, _ := json.Marshal(map[string]any{"username": un, "email": un + "@example.com", "name": "Post User",
						"password": "Aa1!bench-password-0123456789", "skip_confirmation": true})
					_, err := call("POST", base+"/api/v4/users", up.dauth, b, 201)
					return err
				}
			}},
	}
}
