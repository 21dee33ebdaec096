package load_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

const groupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group"

func oktaUser(login, ext string) map[string]any { return testenv.OktaUser(login, ext) }

// entraUser is Entra ID's create body with its default mapping of displayName.
func entraUser(login, objectID string) map[string]any {
	u := testenv.EntraUser(login, login, objectID)
	u["displayName"] = "Test User"
	u["name"] = map[string]any{"formatted": "Test User", "familyName": "User", "givenName": "Test"}
	return u
}

func patch(ops ...string) string {
	return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + strings.Join(ops, ",") + `]}`
}

func queryEscape(s string) string { return url.QueryEscape(s) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func anySlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func resources(m map[string]any) []map[string]any {
	var out []map[string]any
	for _, r := range anySlice(m["Resources"]) {
		if rm, ok := r.(map[string]any); ok {
			out = append(out, rm)
		}
	}
	return out
}

// idp is one IdP's SCIM client: keep-alive connections, its retries, its stats.
type idp struct {
	base, token string
	http        *http.Client
	stats       *stats
}

func newIdP(base, token string) *idp {
	return &idp{base: base, token: token, stats: newStats(), http: &http.Client{
		Timeout:   60 * time.Second, // what Entra and Okta wait (reliability-facts.md)
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second},
	}}
}

// result is an operation's last answer.
type result struct {
	status  int // 0: no answer (transport error)
	body    []byte
	json    map[string]any
	retried bool // an earlier attempt failed
}

// op sends one SCIM operation with the IdP's retries: up to six attempts on a
// transport error, 5xx or 429, waiting Retry-After (at most 2 s) or a backoff of
// 250 ms doubling to 2 s.
func (c *idp) op(name, method, path string, body any) result {
	var payload []byte
	switch b := body.(type) {
	case nil:
	case string:
		payload = []byte(b)
	default:
		payload, _ = json.Marshal(b)
	}
	began := time.Now()
	var r result
	backoff := 250 * time.Millisecond
	for attempt := 0; attempt < 6; attempt++ {
		var retryAfter time.Duration
		r.status, r.body, retryAfter = c.once(name, method, path, payload)
		r.retried = attempt > 0
		if r.status != 0 && r.status < 500 && r.status != 429 {
			break
		}
		wait := backoff
		if retryAfter > 0 {
			wait = min(retryAfter, 2*time.Second)
		}
		time.Sleep(wait)
		backoff = min(2*backoff, 2*time.Second)
	}
	r.json = nil
	if len(r.body) > 0 && r.body[0] == '{' {
		_ = json.Unmarshal(r.body, &r.json)
	}
	c.stats.op(name, time.Since(began), r.retried)
	return r
}

func (c *idp) once(name, method, path string, payload []byte) (int, []byte, time.Duration) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		panic(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if payload != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	t0 := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.stats.request(name, time.Since(t0), "transport error")
		return 0, []byte(err.Error()), 0
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	class := strconv.Itoa(resp.StatusCode)
	if err != nil {
		class = "transport error"
	}
	c.stats.request(name, time.Since(t0), class)
	ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	return resp.StatusCode, b, time.Duration(ra) * time.Second
}

// stats collects latencies and answers; merged over tenants for the report.
type stats struct {
	mu       sync.Mutex
	reqs     []time.Duration
	ops      map[string][]time.Duration
	byStatus map[string]int
	retried  int
}

func newStats() *stats {
	return &stats{ops: map[string][]time.Duration{}, byStatus: map[string]int{}}
}

func (s *stats) request(name string, d time.Duration, class string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, d)
	s.byStatus[class]++
}

func (s *stats) op(name string, d time.Duration, retried bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops[name] = append(s.ops[name], d)
	if retried {
		s.retried++
	}
}

func (s *stats) merge(o *stats) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, o.reqs...)
	for k, v := range o.ops {
		if k != "check" {
			s.ops[k] = append(s.ops[k], v...)
		}
	}
	for k, v := range o.byStatus {
		s.byStatus[k] += v
	}
	s.retried += o.retried
}

type opSummary struct {
	n        int
	p50, p99 time.Duration
}

type summary struct {
	requests, ops, retriedOps int
	p50, p99, max             time.Duration
	opP50, opP99, opMax       time.Duration
	byStatus                  string
	opNames                   []string
	perOp                     map[string]opSummary
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sorted := append([]time.Duration(nil), ds...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))].Round(time.Millisecond)
}

func (s *stats) summary() summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := summary{requests: len(s.reqs), retriedOps: s.retried, perOp: map[string]opSummary{},
		p50: quantile(s.reqs, 0.5), p99: quantile(s.reqs, 0.99), max: quantile(s.reqs, 1)}
	var all []time.Duration
	for name, ds := range s.ops {
		out.opNames = append(out.opNames, name)
		out.perOp[name] = opSummary{len(ds), quantile(ds, 0.5), quantile(ds, 0.99)}
		all = append(all, ds...)
	}
	sort.Strings(out.opNames)
	out.ops = len(all)
	out.opP50, out.opP99, out.opMax = quantile(all, 0.5), quantile(all, 0.99), quantile(all, 1)
	var classes []string
	for k := range s.byStatus {
		classes = append(classes, k)
	}
	sort.Strings(classes)
	var b strings.Builder
	for i, k := range classes {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %d", k, s.byStatus[k])
	}
	out.byStatus = b.String()
	return out
}
