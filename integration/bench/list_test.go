package bench_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/integration/gitlabemu"
	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// listUpstream is a directory the list curve grows and measures.
type listUpstream struct {
	name  string
	site  func(redisAddr, prefix string) string // the scim block and its env
	env   []string
	grow  func(t *testing.T, from, to int) // add managed users from..to-1
	users int
	// direct is the application's own URL and auth (for rows that call it straight)
	direct, dauth string
}

// TestListCurve measures what a list page costs as the directory grows: Okta's
// import page (count=100 at a random startIndex), a full paged import, a filter and
// a GET, at each size (CADDY_SCIM_BENCH_LIST_SIZES, default 1000,10000,50000), on
// the GitLab emulator (an instant upstream: the plugin's own cost) and on Gitea, in
// one run. Every size gets a fresh Caddy whose Redis link index is rebuilt from the
// upstream. It prints, never asserts.
func TestListCurve(t *testing.T) {
	benchOnly(t)
	sizes := envSizes(t, "CADDY_SCIM_BENCH_LIST_SIZES", 1000, 10000, 50000)
	cellDur := envDuration("CADDY_SCIM_BENCH_DURATION", 2*time.Second)
	rd := testenv.Redis(t)
	rep := &report{}
	rep.printf("\n## List curve: a page costs the page\n\nEach size: a fresh plugin Caddy (Redis link index rebuilt from the upstream), then at concurrency 8 for %s each: `GET /Users?startIndex=<random>&count=100`, `filter=userName eq` and `GET /Users/{id}`; and one sequential Okta import (count=100, startIndex += 100) of the whole directory. Upstream calls and Redis round trips per request from the plugin's metrics; RSS of the plugin's Caddy.\n\n", cellDur)
	rep.printf("| upstream | managed users | list req/s | p50 ms | p99 ms | upstream calls/page | Redis RT/page | import wall time | filter req/s | GET req/s | index rebuild | RSS MiB (peak) |\n")
	rep.printf("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")

	for _, up := range []*listUpstream{emulatorUpstream(t), giteaUpstream(t)} {
		type point struct{ rps, calls float64 }
		var first, last point
		for i, n := range sizes {
			up.grow(t, up.users, n)
			up.users = n
			prefix := testenv.UniqueName("curve") + ":"
			c := startCaddy(t, up.site(rd.Addr, prefix), up.env...)
			waitIndex(t, c.Admin)
			rebuild := strings.TrimPrefix(rebuildLine(c.Log), "rebuilt from Gitea: ")

			// the import: every page in turn, as Okta does it
			ids, names := []string{}, []string{}
			began := time.Now()
			for start := 1; ; start += 100 {
				var lr struct {
					TotalResults int
					Resources    []struct{ ID, UserName string }
				}
				b, err := call("GET", c.URL+"/scim/v2/Users?startIndex="+strconv.Itoa(start)+"&count=100", "Bearer "+scimToken, nil, 200)
				if err != nil || json.Unmarshal(b, &lr) != nil {
					t.Fatalf("%s import page %d: %v %.200s", up.name, start, err, b)
				}
				for _, r := range lr.Resources {
					ids, names = append(ids, r.ID), append(names, r.UserName)
				}
				if start+100 > lr.TotalResults {
					break
				}
			}
			importTook := time.Since(began)
			if len(ids) < n {
				t.Errorf("%s: the import saw %d users, want %d", up.name, len(ids), n)
			}

			measure := func(f func(w, i int) error) (result, float64, float64) {
				up0, _ := metric(c.Admin+"/metrics", "caddy_scim_upstream_requests_total")
				rt0, _ := metric(c.Admin+"/metrics", "caddy_scim_link_store_round_trips_total")
				r := load(8, cellDur, 0, f)
				up1, _ := metric(c.Admin+"/metrics", "caddy_scim_upstream_requests_total")
				rt1, _ := metric(c.Admin+"/metrics", "caddy_scim_link_store_round_trips_total")
				if r.errs > 0 {
					t.Errorf("%s at %d users: %d errors, first %v", up.name, n, r.errs, r.firstErr)
				}
				k := float64(max(1, r.n+r.errs))
				return r, (up1 - up0) / k, (rt1 - rt0) / k
			}
			auth := "Bearer " + scimToken
			list, calls, rts := measure(func(w, i int) error {
				start := 1 + (i*7919)%max(1, len(ids)-99)
				_, err := call("GET", c.URL+"/scim/v2/Users?startIndex="+strconv.Itoa(start)+"&count=100", auth, nil, 200)
				return err
			})
			filter, _, _ := measure(func(w, i int) error {
				f := `userName eq "` + names[(i*7919)%len(names)] + `"`
				_, err := call("GET", c.URL+"/scim/v2/Users?filter="+url.QueryEscape(f), auth, nil, 200)
				return err
			})
			get, _, _ := measure(func(w, i int) error {
				_, err := call("GET", c.URL+"/scim/v2/Users/"+ids[(i*7919)%len(ids)], auth, nil, 200)
				return err
			})
			rep.printf("| %s | %d | %.0f | %s | %s | %.1f | %.1f | %.1f s | %.0f | %.0f | %s | %.0f |\n", up.name, n, list.rps(), ms(list.pct(.5)), ms(list.pct(.99)),
				calls, rts, importTook.Seconds(), filter.rps(), get.rps(), rebuild, peakRSS(c.pid()))
			c.stop()
			p := point{list.rps(), calls}
			if i == 0 {
				first = p
			}
			last = p
		}
		if len(sizes) > 1 {
			rep.printf("| %s: %d ÷ %d users | | %.2f× | | | %.2f× | | | | | | |\n", up.name, sizes[len(sizes)-1], sizes[0], last.rps/first.rps, last.calls/first.calls)
		}
	}
	rep.printf("\nTarget: a list page at the largest size within 2× of one at the smallest (req/s and upstream calls); the ÷ rows give both.\n")
	if out := os.Getenv("CADDY_SCIM_BENCH_LIST_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(rep.b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

func scimSite(adapter, redisAddr, prefix string) string {
	return fmt.Sprintf("\tscim {\n\t\ttoken {env.SCIM_TOKEN}\n%s\n\t\tredis {\n\t\t\taddress %s\n\t\t\tprefix %s\n\t\t}\n\t}", adapter, redisAddr, prefix)
}

// emulatorUpstream is the GitLab emulator, grown with copies of a user SCIM created.
func emulatorUpstream(t *testing.T) *listUpstream {
	const token = "glpat-bench-0123456789abcdef"
	emu := gitlabemu.New(gitlabemu.Options{AdminToken: token})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	adapter := fmt.Sprintf("\t\tadapter gitlab {\n\t\t\turl %s\n\t\t\ttoken {env.GITLAB_TOKEN}\n\t\t}", srv.URL)
	up := &listUpstream{name: "GitLab emulator", env: []string{"SCIM_TOKEN=" + scimToken, "GITLAB_TOKEN=" + token},
		direct: srv.URL, dauth: "Bearer " + token,
		site: func(addr, prefix string) string { return scimSite(adapter, addr, prefix) }}
	var proto gitlabemu.UserState
	up.grow = func(t *testing.T, from, to int) {
		if from == 0 {
			c := startCaddy(t, scimSite(adapter, testenv.Redis(t).Addr, testenv.UniqueName("tmpl")+":"), up.env...)
			b, _ := json.Marshal(map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
				"userName": "curve-0@example.com", "externalId": "ext-curve-0", "active": true,
				"name":   map[string]any{"givenName": "Curve", "familyName": "Zero"},
				"emails": []map[string]any{{"value": "curve-0@example.com", "primary": true, "type": "work"}}})
			out, err := call("POST", c.URL+"/scim/v2/Users", "Bearer "+scimToken, b, 201)
			c.stop()
			var u struct{ ID string }
			if err != nil || json.Unmarshal(out, &u) != nil {
				t.Fatalf("template user: %v %.200s", err, out)
			}
			id, _ := strconv.Atoi(u.ID)
			proto, _ = emu.User(id)
			from = 1
		}
		if _, err := emu.CreateUsersDirect(gitlabemu.Clones(proto, to-from, func(i int) (string, string, string) {
			un := fmt.Sprintf("curve-%d", from+i)
			return un, un + "@example.com", "ext-" + un
		})); err != nil {
			t.Fatal(err)
		}
	}
	return up
}

// giteaUpstream is a real Gitea, grown by creating managed users straight into it
// (POST /admin/users with SCIM's login_name) at concurrency 16.
func giteaUpstream(t *testing.T) *listUpstream {
	g := testenv.Gitea(t)
	adapter := fmt.Sprintf("\t\tadapter gitea {\n\t\t\turl %s\n\t\t\ttoken {env.GITEA_TOKEN}\n\t\t}", g.URL)
	run := testenv.UniqueName("c")
	return &listUpstream{name: "Gitea", env: []string{"SCIM_TOKEN=" + scimToken, "GITEA_TOKEN=" + g.Token},
		site: func(addr, prefix string) string { return scimSite(adapter, addr, prefix) },
		grow: func(t *testing.T, from, to int) {
			began := time.Now()
			r := load(16, 0, to-from, func(w, i int) error {
				login := fmt.Sprintf("%s-%d", run, from+i)
				b, _ := json.Marshal(map[string]any{"username": login, "email": login + "@example.com", "full_name": "Curve User",
					"login_name": "~scim:email:ext-" + login, "source_id": 0, "password": "Aa1!bench-password-0123456789",
					"must_change_password": false, "send_notify": false})
				_, err := call("POST", g.URL+"/api/v1/admin/users", "token "+g.Token, b, 201)
				return err
			})
			if r.errs > 0 {
				t.Fatalf("growing Gitea: %d errors, first %v", r.errs, r.firstErr)
			}
			fmt.Printf("(Gitea grown by %d users in %s)\n", to-from, time.Since(began).Round(time.Second))
		}}
}
