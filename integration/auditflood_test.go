package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// floodEvent is what TestAuditFlood reads of an audit event.
type floodEvent struct {
	Op     string `json:"op"`
	Caller string `json:"caller"`
	ID     string `json:"id"`
	Client string `json:"client"`
	Detail string `json:"detail"`
	Status int    `json:"status"`
}

// Flood sizes: the 16 KiB User-Agents, as many requests as it takes to push
// writes out of a stream capped at floodStreamLen events, and the memory Redis may
// gain from them.
const (
	floodRequests  = 10_000
	floodWorkers   = 16
	floodWrites    = 100
	floodStreamLen = 5000
	floodMaxGrowth = 10 << 20
)

// TestAuditFlood (the issue "unauthenticated requests flush the audit trail"): after
// 100 SCIM writes through a real Caddy on Gitea with Redis, 10,000 unauthenticated
// requests (no token or a wrong one, each with a 16 KiB User-Agent, 16 at a time)
// leave every write in the audit stream (capped at 5000 events here), grow Redis by
// less than 10 MiB and cost the log a line per summary, not per request; each
// refusal is an event of its own or counted in a summary, and no event exceeds 2 KiB.
func TestAuditFlood(t *testing.T) {
	began := time.Now()
	g := giteaBackend{testenv.Gitea(t)}
	rc := redis.NewClient(&redis.Options{Addr: testenv.Redis(t).Addr})
	defer rc.Close()
	prefix := testenv.UniqueName("flood") + ":"

	// as in production (INFO, no access log): 10,000 debug lines of 16 KiB would
	// measure the test's log buffer rather than the plugin
	block, benv := g.adapter("")
	site := fmt.Sprintf("scim {\n\ttoken {env.SCIM_TOKEN}\n%s\n%s\naudit {\n\tstream_max_len %d\n}\n}\nreverse_proxy %s",
		indentBlock(block), redisBlock(t, prefix), floodStreamLen, g.proxy())
	cd := testenv.StartCaddy(t, testenv.CaddyOptions{Site: site, Env: append(benv, "SCIM_TOKEN="+scimToken), Quiet: true})
	e := &env{caddy: cd, up: g, c: newClient(t, cd.URL+"/scim/v2", scimToken)}

	// the writes: a create and a deactivation each of 50 users
	want := map[string]bool{} // op + " " + id
	for i := range floodWrites / 2 {
		login := testenv.UniqueName(fmt.Sprintf("flood%d", i)) + "@example.com"
		id := str(e.c.do("POST", "/Users", oktaUser(login, "ext-"+login)).want(t, 201).JSON, "id")
		e.c.do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`).want(t, 200)
		want["users.create "+id], want["users.patch "+id] = true, true
	}
	waitFor(t, "the writes in the audit stream", func() bool {
		n, _ := rc.XLen(context.Background(), prefix+"audit").Result()
		return n >= floodWrites
	})
	memBefore := usedMemory(t, rc)

	// the flood
	ua := strings.Repeat("FloodBot/1.0 (+https://flood.example) ", 16<<10/38+1)[:16<<10]
	tr := &http.Transport{MaxIdleConnsPerHost: floodWorkers}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var next, not401 atomic.Int64
	var firstErr atomic.Value
	floodStart := time.Now()
	var wg sync.WaitGroup
	for range floodWorkers {
		wg.Go(func() {
			for i := next.Add(1); i <= floodRequests; i = next.Add(1) {
				req, _ := http.NewRequest("GET", cd.URL+"/scim/v2/Users?startIndex="+strconv.FormatInt(i, 10), nil)
				req.Header.Set("User-Agent", ua)
				if i%2 == 0 {
					req.Header.Set("Authorization", "Bearer not-a-token-0123456789")
				}
				resp, err := client.Do(req)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					not401.Add(1)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					not401.Add(1)
				}
			}
		})
	}
	wg.Wait()
	floodTook := time.Since(floodStart)
	if n := not401.Load(); n > 0 {
		t.Fatalf("%d of %d flood requests not answered 401 (first error: %v)", n, floodRequests, firstErr.Load())
	}

	// every refusal accounted for once the interval's summary is written (10 s)
	var evs []json.RawMessage
	var own, summed, summaries int
	var real map[string]bool
	read := func() {
		var body struct{ Events []json.RawMessage }
		admin(t, e, "/scim/events?limit=10000", &body)
		evs, own, summed, summaries, real = body.Events, 0, 0, 0, map[string]bool{}
		for _, raw := range evs {
			var ev floodEvent
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			switch {
			case ev.Op == "unauthenticated":
				var n int
				if _, err := fmt.Sscanf(ev.Detail, "%d unauthenticated requests refused", &n); err != nil || ev.Status != 401 {
					t.Fatalf("summary %+v", ev)
				}
				summaries++
				summed += n
			case ev.Status == 401 && strings.HasPrefix(ev.Client, "FloodBot"):
				own++
			case want[ev.Op+" "+ev.ID] && ev.Caller == "token#1":
				real[ev.Op+" "+ev.ID] = true
			}
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for read(); own+summed < floodRequests && time.Now().Before(deadline); read() {
		time.Sleep(500 * time.Millisecond)
	}
	memAfter := usedMemory(t, rc)
	growth := memAfter - memBefore
	streamLen, _ := rc.XLen(context.Background(), prefix+"audit").Result()
	logs := cd.Logs()
	auditLines := strings.Count(logs, `"logger":"http.handlers.scim.audit"`)
	rejectLines := strings.Count(logs, `"msg":"scim request rejected"`)
	t.Logf("%d writes, then %d unauthenticated requests (%d workers) in %v (%.0f/s)",
		floodWrites, floodRequests, floodWorkers, floodTook.Round(time.Millisecond), floodRequests/floodTook.Seconds())
	t.Logf("events: %d of %d writes kept, %d refusals audited one by one, %d summaries counting %d, stream length %d",
		len(real), floodWrites, own, summaries, summed, streamLen)
	t.Logf("log: %d audit lines, %d rejection lines; Redis used_memory %d -> %d bytes (%+.2f MiB); %v in all",
		auditLines, rejectLines, memBefore, memAfter, float64(growth)/(1<<20), time.Since(began).Round(time.Second))

	if len(real) != floodWrites {
		t.Errorf("%d of the %d writes left in the audit trail after the flood", len(real), floodWrites)
	}
	if growth >= floodMaxGrowth {
		t.Errorf("Redis grew by %d bytes (%.1f MiB), want less than %d MiB", growth, float64(growth)/(1<<20), floodMaxGrowth>>20)
	}
	if own+summed != floodRequests {
		t.Errorf("%d refusals audited + %d summed up, want %d", own, summed, floodRequests)
	}
	if own > 200 || summaries < 1 {
		t.Errorf("%d refusals audited one by one and %d summaries, want a budget's worth and a summary", own, summaries)
	}
	if auditLines > floodWrites+own+summaries || rejectLines > own {
		t.Errorf("%d audit log lines and %d rejection lines, want no more than the events (%d)", auditLines, rejectLines, floodWrites+own+summaries)
	}
	for _, raw := range evs {
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil || b.Len() > 2048 {
			t.Fatalf("an event of %d bytes (%v): %.300s", b.Len(), err, b.String())
		}
	}
}

// usedMemory is Redis's used_memory (INFO memory), in bytes.
func usedMemory(t *testing.T, rc *redis.Client) int64 {
	t.Helper()
	info, err := rc.Info(context.Background(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no used_memory in INFO memory: %.200s", info)
	return 0
}
