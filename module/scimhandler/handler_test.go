package scimhandler

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/adaptertest"
	"github.com/caddy-scim/caddy-scim/module/auth"
	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/provision"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// emptyUpstream has no users and answers every create with an unavailable upstream
// (Retry-After 7); enough to exercise routing and errors.
func emptyUpstream() *adaptertest.Memory {
	m := &adaptertest.Memory{PageSize: 10}
	m.Fail("CreateUser", adapters.UnavailableFor(7, "upstream down"))
	return m
}

const testToken = "unit-test-token-0123456789"

func testHandler(t *testing.T) *Handler {
	t.Helper()
	a, err := auth.New(context.Background(), auth.Config{Tokens: []string{testToken}})
	if err != nil {
		t.Fatal(err)
	}
	m := emptyUpstream()
	h := &Handler{BasePath: "/scim/v2", MaxBodySize: 1 << 10, MaxResults: 50, Timeout: caddy.Duration(5 * time.Second),
		adapter: m, auth: a, logger: zap.NewNop()}
	h.features = scim.Features{MaxResults: 50, Sort: true, ETag: true, UserAttributes: m.Info().UserAttributes}
	h.svc = &provision.Service{Adapter: m, Links: links.NewMemory(time.Minute, 0), Deprovision: provision.DeprovisionBlock, LinkExisting: provision.LinkOff, MaxResults: 50}
	return h
}

type nextFunc func(http.ResponseWriter, *http.Request) error

func (f nextFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) error { return f(w, r) }

func serve(t *testing.T, h *Handler, method, target, body string, authz bool) (*httptest.ResponseRecorder, bool) {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if authz {
		req.Header.Set("Authorization", "Bearer "+testToken)
	}
	req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	rec := httptest.NewRecorder()
	passed := false
	err := h.ServeHTTP(rec, req, nextFunc(func(w http.ResponseWriter, r *http.Request) error {
		passed = true
		w.WriteHeader(299)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	return rec, passed
}

func TestServeHTTP(t *testing.T) {
	h := testHandler(t)
	for _, tc := range []struct {
		name, method, target, body string
		authz                      bool
		status                     int
		passed                     bool
		scimType                   string
	}{
		{"outside base path", "GET", "/api/v1/version", "", false, 299, true, ""},
		{"prefix lookalike", "GET", "/scim/v2x/Users", "", false, 299, true, ""},
		{"no token", "GET", "/scim/v2/Users", "", false, 401, false, ""},
		{"list", "GET", "/scim/v2/Users", "", true, 200, false, ""},
		{"trailing slash", "GET", "/scim/v2/Users/", "", true, 200, false, ""},
		{"spc", "GET", "/scim/v2/ServiceProviderConfig", "", true, 200, false, ""},
		{"spc wrong method", "POST", "/scim/v2/ServiceProviderConfig", "", true, 405, false, ""},
		{"unknown user", "GET", "/scim/v2/Users/42", "", true, 404, false, ""},
		{"nested path", "GET", "/scim/v2/Users/42/x", "", true, 404, false, ""},
		{"body too large", "POST", "/scim/v2/Users", `{"schemas":["` + scim.SchemaUser + `"],"userName":"` + strings.Repeat("x", 2000) + `"}`, true, 413, false, ""},
		{"upstream down", "POST", "/scim/v2/Users", `{"schemas":["` + scim.SchemaUser + `"],"userName":"a"}`, true, 503, false, ""},
		{"bad filter", "GET", "/scim/v2/Users?filter=userName+eq", "", true, 400, false, "invalidFilter"},
		{"bad sortBy", "GET", "/scim/v2/Users?sortBy=nosuch", "", true, 400, false, "invalidValue"},
		{"search", "POST", "/scim/v2/Users/.search", `{"schemas":["` + scim.MessageSearchRequest + `"],"count":0}`, true, 200, false, ""},
		{"search without schema", "POST", "/scim/v2/.search", `{"count":0}`, true, 400, false, "invalidSyntax"},
		{"groups without adapter support", "GET", "/scim/v2/Groups", "", true, 501, false, ""},
		{"bulk turned off", "POST", "/scim/v2/Bulk", "{}", true, 501, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, passed := serve(t, h, tc.method, tc.target, tc.body, tc.authz)
			if rec.Code != tc.status || passed != tc.passed {
				t.Fatalf("status %d passed %v, want %d %v; body %s", rec.Code, passed, tc.status, tc.passed, rec.Body)
			}
			if passed {
				return
			}
			if ct := rec.Header().Get("Content-Type"); ct != scim.ContentType {
				t.Fatalf("Content-Type %q", ct)
			}
			if rec.Code >= 400 {
				var e map[string]any
				_ = json.Unmarshal(rec.Body.Bytes(), &e)
				if e["status"] != http.StatusText(0)+itoa(rec.Code) || e["scimType"] != nil && e["scimType"] != tc.scimType || (tc.scimType != "" && e["scimType"] != tc.scimType) {
					t.Fatalf("error body %s", rec.Body)
				}
			}
			if rec.Code == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Fatal("401 without a Bearer challenge")
			}
			if rec.Code == 503 && rec.Header().Get("Retry-After") != "7" {
				t.Fatalf("503 Retry-After %q", rec.Header().Get("Retry-After"))
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestOpLabel(t *testing.T) {
	for _, tc := range []struct{ method, rest, want string }{
		{"GET", "/Users", "users.list"},
		{"POST", "/Users", "users.create"},
		{"GET", "/Users/1", "users.get"},
		{"PATCH", "/Users/1", "users.patch"},
		{"PUT", "/Users/1", "users.replace"},
		{"DELETE", "/Users/1", "users.delete"},
		{"POST", "/Users/.search", "users.search"},
		{"GET", "/Groups", "groups.list"},
		{"GET", "/Schemas/urn:x", "discovery"},
		{"POST", "/.search", "search"},
		{"GET", "/Whatever/../x", "unknown"},
		{"GET", "", "unknown"},
	} {
		if got := opLabel(tc.method, tc.rest); got != tc.want {
			t.Errorf("opLabel(%s %s) = %s, want %s", tc.method, tc.rest, got, tc.want)
		}
	}
}

func TestUnmarshalCaddyfileErrors(t *testing.T) {
	for _, in := range []string{
		"scim extra",
		"scim {\n token\n}",
		"scim {\n token a b\n}",
		"scim {\n base_path /a\n base_path /b\n}",
		"scim {\n max_results zero\n}",
		"scim {\n max_scan -1\n}",
		"scim {\n max_body_size lots\n}",
		"scim {\n timeout soon\n}",
		"scim {\n jwt {\n  audience\n }\n}",
		"scim {\n jwt {\n  nosuch x\n }\n}",
		"scim {\n redis {\n  db -1\n }\n}",
		"scim {\n adapter\n}",
		"scim {\n adapter nosuch\n}",
		"scim {\n bogus\n}",
	} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err == nil {
			t.Errorf("accepted %q", in)
		}
	}
	var h Handler
	in := "scim {\n token {env.A}\n token {env.B}\n jwt {\n  issuer https://i\n  audience a b\n  secret {env.S}\n }\n deprovision delete\n link_existing email\n max_results 150\n max_scan 20000\n}"
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err != nil {
		t.Fatal(err)
	}
	if len(h.Tokens) != 2 || h.JWT == nil || len(h.JWT.Audiences) != 2 || h.Deprovision != "delete" || h.LinkExisting != "email" ||
		h.MaxResults != 150 || h.MaxScan != 20000 {
		t.Fatalf("parsed %+v", h)
	}
}

func TestValidateModes(t *testing.T) {
	for _, h := range []Handler{{Deprovision: "purge"}, {LinkExisting: "always"}} {
		if err := h.validateModes(); err == nil {
			t.Errorf("accepted %+v", h)
		}
	}
}

// TestSlowAndCutBodies: a body that does not arrive within the request's time is a
// 408 (the connection is closed after it), one cut short a 400, one too large a 413;
// a later request on the same connection gets its own time.
func TestSlowAndCutBodies(t *testing.T) {
	h := testHandler(t)
	h.Timeout = caddy.Duration(300 * time.Millisecond)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = h.ServeHTTP(w, r, nextFunc(func(w http.ResponseWriter, r *http.Request) error { return nil }))
	}))
	defer srv.Close()
	send := func(t *testing.T, head string, body string, wait time.Duration) string {
		t.Helper()
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = io.WriteString(c, head+"Authorization: Bearer "+testToken+"\r\nHost: x\r\nContent-Type: application/scim+json\r\n\r\n"+body)
		if wait > 0 {
			time.Sleep(wait)
			_ = c.(*net.TCPConn).CloseWrite()
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return fmt.Sprintf("%s close=%v\n%s", resp.Status, resp.Close, b)
	}
	t.Run("slow", func(t *testing.T) {
		got := send(t, "POST /scim/v2/Users HTTP/1.1\r\nContent-Length: 500\r\n", `{"userName":`, 0)
		if !strings.HasPrefix(got, "408") || !strings.Contains(got, "did not arrive within 300ms") || !strings.Contains(got, "close=true") {
			t.Fatalf("slow body answered:\n%s", got)
		}
	})
	t.Run("cut", func(t *testing.T) {
		got := send(t, "PATCH /scim/v2/Users/1 HTTP/1.1\r\nContent-Length: 500\r\n", `{"Operations":`, 50*time.Millisecond)
		if !strings.HasPrefix(got, "400") || !strings.Contains(got, "cut short") {
			t.Fatalf("cut body answered:\n%s", got)
		}
	})
	t.Run("large", func(t *testing.T) {
		got := send(t, "POST /scim/v2/Users HTTP/1.1\r\nContent-Length: 5000\r\n", strings.Repeat(" ", 5000), 0)
		if !strings.HasPrefix(got, "413") {
			t.Fatalf("large body answered:\n%s", got)
		}
	})
	t.Run("keep-alive", func(t *testing.T) {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for i := range 2 {
			_, _ = io.WriteString(c, "GET /scim/v2/ServiceProviderConfig HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+testToken+"\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("request %d on one connection: %v %v", i+1, resp, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			time.Sleep(400 * time.Millisecond) // past the first request's deadline
		}
	})
}
