package integration_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// scimClient talks SCIM to a running Caddy the way an IdP does.
type scimClient struct {
	tb    testing.TB
	base  string // …/scim/v2
	token string
	ua    string // User-Agent, when set (an IdP's)
	http  *http.Client
}

// resp is one SCIM answer.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
}

func newClient(tb testing.TB, base, token string) *scimClient {
	return &scimClient{tb: tb, base: base, token: token, http: &http.Client{Timeout: 60 * time.Second}}
}

// do sends method path with body (string, []byte, or a value encoded as JSON) and
// extra header pairs.
func (c *scimClient) do(method, path string, body any, headers ...string) resp {
	c.tb.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			c.tb.Fatal(err)
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.tb.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	if c.ua != "" {
		req.Header.Set("User-Agent", c.ua)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	r, err := c.http.Do(req)
	if err != nil {
		c.tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer r.Body.Close()
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		c.tb.Fatal(err)
	}
	out := resp{Status: r.StatusCode, Header: r.Header, Body: raw}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out.JSON); err != nil {
			c.tb.Fatalf("%s %s: answer is not JSON: %v\n%s", method, path, err, raw)
		}
	}
	return out
}

// want fails the test unless the answer has the status; it returns the answer.
func (r resp) want(tb testing.TB, status int) resp {
	tb.Helper()
	if r.Status != status {
		tb.Fatalf("status %d, want %d; body: %s", r.Status, status, r.Body)
	}
	return r
}

// wantError checks an RFC 7644 §3.12 error: status, media type, string status and
// scimType ("" when none is expected).
func (r resp) wantError(tb testing.TB, status int, scimType string) resp {
	tb.Helper()
	r.want(tb, status)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/scim+json") {
		tb.Fatalf("error Content-Type %q, want application/scim+json", ct)
	}
	if s, ok := r.JSON["status"].(string); !ok || s != itoa(status) {
		tb.Fatalf("error status field %#v, want the string %q", r.JSON["status"], itoa(status))
	}
	schemas, _ := r.JSON["schemas"].([]any)
	if len(schemas) != 1 || schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" {
		tb.Fatalf("error schemas %v", r.JSON["schemas"])
	}
	if got, _ := r.JSON["scimType"].(string); got != scimType {
		tb.Fatalf("scimType %q, want %q; body %s", got, scimType, r.Body)
	}
	return r
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// str reads a string at a dotted path of a decoded JSON object.
func str(m map[string]any, path string) string {
	var cur any = m
	for _, p := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[p]
	}
	s, _ := cur.(string)
	return s
}

func resources(tb testing.TB, r resp) []map[string]any {
	tb.Helper()
	for _, k := range []string{"totalResults", "itemsPerPage", "startIndex"} {
		if _, ok := r.JSON[k].(float64); !ok {
			tb.Fatalf("ListResponse %s is %#v, want an integer", k, r.JSON[k])
		}
	}
	list, ok := r.JSON["Resources"].([]any)
	if !ok {
		tb.Fatalf("ListResponse without Resources array: %s", r.Body)
	}
	out := make([]map[string]any, len(list))
	for i, x := range list {
		out[i] = x.(map[string]any)
	}
	return out
}

// listAll pages through GET /Users the way Okta imports (count=100, startIndex+=100)
// and returns every resource, checking that pages do not overlap.
func listAll(tb testing.TB, c *scimClient) []map[string]any {
	tb.Helper()
	var all []map[string]any
	seen := map[string]bool{}
	for start := 1; ; start += 100 {
		r := c.do("GET", "/Users?startIndex="+itoa(start)+"&count=100", nil).want(tb, 200)
		page := resources(tb, r)
		for _, u := range page {
			if id := str(u, "id"); seen[id] {
				tb.Fatalf("user %s on two pages", id)
			} else {
				seen[id] = true
			}
		}
		all = append(all, page...)
		if len(page) == 0 || start+100 > int(r.JSON["totalResults"].(float64)) {
			return all
		}
	}
}
