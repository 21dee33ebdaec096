package bench_test

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// TestIdentityCost (#21) measures what each SCIM operation costs with each link store
// — the embedded store (the default) and Redis — on real Gitea: upstream calls and
// link store round trips (Redis) or transactions (the embedded store) per operation,
// counted by the plugin's own metrics, and the median latency. Each operation runs n
// times one after the other on a warm store. CADDY_SCIM_COST_BIN names another Caddy
// build to measure the same way (an earlier version, for a before/after table); its
// rows are marked with the file's name. Run with CADDY_SCIM_BENCH=1.
func TestIdentityCost(t *testing.T) {
	benchOnly(t)
	const n = 40
	g := testenv.Gitea(t)
	rd := testenv.Redis(t)
	rep := &report{}
	rep.printf("\n### Cost per operation by link store (Gitea, %d sequential requests each, warm store)\n\n", n)
	rep.printf("| build | store | operation | upstream calls/op | store round trips/op | p50 ms |\n|---|---|---|--:|--:|--:|\n")
	builds := []string{""}
	if b := os.Getenv("CADDY_SCIM_COST_BIN"); b != "" {
		builds = append(builds, b)
	}
	for _, bin := range builds {
		label := "this"
		if bin != "" {
			label = bin[strings.LastIndexByte(bin, '/')+1:]
		}
		for _, store := range []struct{ name, block string }{
			{"embedded", ""},
			{"redis", fmt.Sprintf("\t\tredis {\n\t\t\taddress %s\n\t\t\tprefix cost%s:\n\t\t}\n", rd.Addr, testenv.UniqueName(""))},
		} {
			site := fmt.Sprintf("\tscim {\n\t\ttoken {env.SCIM_TOKEN}\n\t\tadapter gitea {\n\t\t\turl %s\n\t\t\ttoken {env.GITEA_TOKEN}\n\t\t}\n%s\t}\n\treverse_proxy %s",
				g.URL, store.block, strings.TrimPrefix(g.URL, "http://"))
			c := startCaddyBin(t, bin, site, "SCIM_TOKEN="+scimToken, "GITEA_TOKEN="+g.Token)
			if store.name == "redis" || bin == "" {
				waitIndex(t, c.Admin)
			}
			for _, row := range costRows(t, c, n) {
				rep.printf("| %s | %s | %s | %.2f | %.2f | %.2f |\n", label, store.name, row.op, row.calls, row.trips, row.p50)
			}
			c.stop()
		}
	}
}

type costRow struct {
	op                string
	calls, trips, p50 float64
}

// costRows runs each operation n times against c and reads the plugin's counters
// around each batch.
func costRows(t *testing.T, c *caddyProc, n int) []costRow {
	base, auth := c.URL+"/scim/v2", "Bearer "+scimToken
	run := testenv.UniqueName("cost")
	var ids, names []string
	mkUser := func(i int) (string, string) {
		name := fmt.Sprintf("%s-%d@example.test", run, i)
		b, err := call("POST", base+"/Users", auth, jsonBody(testenv.OktaUser(name, "ext-"+name)), 201)
		if err != nil {
			t.Fatal(err)
		}
		return idOf(b), name
	}
	for i := range n {
		id, name := mkUser(i)
		ids, names = append(ids, id), append(names, name)
	}
	patch := func(ops string) []byte {
		return []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + ops + `]}`)
	}
	type step struct {
		op string
		do func(i int) error
	}
	steps := []step{
		{"GET /Users/{id}", func(i int) error { _, err := call("GET", base+"/Users/"+ids[i], auth, nil, 200); return err }},
		{"filter userName eq", func(i int) error {
			_, err := call("GET", base+"/Users?filter="+urlq(`userName eq "`+names[i]+`"`), auth, nil, 200)
			return err
		}},
		{"filter externalId eq", func(i int) error {
			_, err := call("GET", base+"/Users?filter="+urlq(`externalId eq "ext-`+names[i]+`"`), auth, nil, 200)
			return err
		}},
		{"list page of 20", func(i int) error {
			_, err := call("GET", base+"/Users?startIndex=1&count=20", auth, nil, 200)
			return err
		}},
		{"PATCH displayName", func(i int) error {
			_, err := call("PATCH", base+"/Users/"+ids[i], auth, patch(fmt.Sprintf(`{"op":"replace","path":"displayName","value":"Name %d"}`, i)), 200)
			return err
		}},
		{"PATCH active false", func(i int) error {
			_, err := call("PATCH", base+"/Users/"+ids[i], auth, patch(`{"op":"replace","value":{"active":false}}`), 200)
			return err
		}},
		{"POST (reactivation)", func(i int) error {
			_, err := call("POST", base+"/Users", auth, jsonBody(testenv.OktaUser(names[i], "ext-"+names[i])), 201)
			return err
		}},
		{"POST (new identity)", func(i int) error { mkUser(n + i); return nil }},
		{"DELETE", func(i int) error { _, err := call("DELETE", base+"/Users/"+ids[i], auth, nil, 204); return err }},
	}
	var rows []costRow
	for _, s := range steps {
		up0, _ := metric(c.Admin+"/metrics", "caddy_scim_upstream_requests_total")
		rt0, _ := metric(c.Admin+"/metrics", "caddy_scim_link_store_round_trips_total")
		lat := make([]float64, 0, n)
		for i := range n {
			t0 := time.Now()
			if err := s.do(i); err != nil {
				t.Fatalf("%s: %v", s.op, err)
			}
			lat = append(lat, float64(time.Since(t0).Microseconds())/1000)
		}
		up1, _ := metric(c.Admin+"/metrics", "caddy_scim_upstream_requests_total")
		rt1, _ := metric(c.Admin+"/metrics", "caddy_scim_link_store_round_trips_total")
		sort.Float64s(lat)
		rows = append(rows, costRow{s.op, (up1 - up0) / float64(n), (rt1 - rt0) / float64(n), lat[len(lat)/2]})
	}
	return rows
}

func jsonBody(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func urlq(s string) string { return strings.NewReplacer(" ", "%20", `"`, "%22", "@", "%40").Replace(s) }

func idOf(b []byte) string {
	const key = `"id":"`
	s := string(b)
	i := strings.Index(s, key)
	if i < 0 {
		return ""
	}
	s = s[i+len(key):]
	return s[:strings.IndexByte(s, '"')]
}
