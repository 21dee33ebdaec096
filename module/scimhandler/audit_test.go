package scimhandler

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-scim/caddy-scim/module/audit"
)

// TestAuditEvents: a write and every refused request is one event naming the caller,
// the resource and the outcome; reads that succeed are not audited; no event holds
// the token or the password.
func TestAuditEvents(t *testing.T) {
	h := testHandler(t)
	core, logs := observer.New(zap.InfoLevel)
	h.auditLog = zap.New(core)
	body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com","externalId":"ext-ada","password":"s3cret-Passw0rd","active":true}`
	serve(t, h, "POST", "/scim/v2/Users", body, true)                 // the upstream is down: 503
	serve(t, h, "GET", "/scim/v2/Users?count=1", "", true)            // a read: not audited
	serve(t, h, "PATCH", "/scim/v2/Users/42", `{"Operations":`, true) // malformed: 400
	serve(t, h, "POST", "/scim/v2/Users", body, false)                // no token: 401
	got := logs.All()
	if len(got) != 3 {
		t.Fatalf("%d events, want 3: %v", len(got), got)
	}
	want := []map[string]any{
		{"op": "users.create", "status": int64(503), "caller": "token#1", "auth": "token", "external_id": "ext-ada", "name": "ada@example.com", "detail": "upstream unavailable: upstream down"},
		{"op": "users.patch", "status": int64(400), "caller": "token#1", "id": "42", "scim_type": "invalidSyntax"},
		{"op": "users.create", "status": int64(401), "caller": "", "auth": ""},
	}
	for i, e := range got {
		fields := e.ContextMap()
		for k, v := range want[i] {
			if fields[k] != v {
				t.Errorf("event %d (%s): %s = %#v, want %#v (all: %v)", i+1, e.Message, k, fields[k], v, fields)
			}
		}
		all := e.Message
		for _, v := range fields {
			if s, ok := v.(string); ok {
				all += " " + s
			}
		}
		if strings.Contains(all, testToken) || strings.Contains(all, "s3cret") {
			t.Errorf("event %d holds a secret: %v", i+1, fields)
		}
	}
	if got[0].Message != "scim request refused" {
		t.Errorf("message %q", got[0].Message)
	}
}

// TestAuditUnauthenticatedBudget: unauthenticated requests (with 16 KiB User-Agents)
// are events of their own, and log lines, only within the handler's budget; the
// rest are counted into one summary event; every event is bounded; authenticated
// requests are all audited, however many.
func TestAuditUnauthenticatedBudget(t *testing.T) {
	h := testHandler(t)
	h.Audit = &AuditConfig{}
	h.ring = audit.NewRing(ringSize)
	core, logs := observer.New(zap.InfoLevel)
	h.auditLog = zap.New(core).Named("audit")
	h.logger = zap.New(core)
	h.unauth = h.newUnauthGate()
	ua := strings.Repeat("Flood/1.0 ", 16<<10/10)
	const flood = 200
	for range flood {
		req := httptest.NewRequest("GET", "/scim/v2/Users", nil)
		req.Header.Set("User-Agent", ua)
		h.ServeHTTP(httptest.NewRecorder(), req, nil)
	}
	own := logs.FilterLoggerName("audit").FilterMessage("scim request refused").Len()
	if own < unauthBurst || own > unauthBurst+5 {
		t.Fatalf("%d unauthenticated requests audited one by one, want about the burst of %d", own, unauthBurst)
	}
	if n := logs.FilterMessage("scim request rejected").Len(); n != own {
		t.Fatalf("%d rejections logged, want %d (as many as audited)", n, own)
	}
	h.unauth.Flush()
	sums := logs.FilterMessage("scim unauthenticated requests refused (summary)").All()
	if len(sums) != 1 {
		t.Fatalf("%d summaries, want 1", len(sums))
	}
	f := sums[0].ContextMap()
	var counted int
	if _, err := fmt.Sscanf(f["detail"].(string), "%d unauthenticated requests refused", &counted); err != nil ||
		counted+own != flood || f["op"] != opUnauthenticated || f["status"] != int64(401) || f["remote_ip"] != "192.0.2.1" {
		t.Fatalf("summary %v: %d counted + %d audited, want %d", f, counted, own, flood)
	}
	for range 100 { // authenticated: never limited
		serve(t, h, "PATCH", "/scim/v2/Users/42", `{"Operations":`, true)
	}
	if n := logs.FilterLoggerName("audit").Len(); n != own+1+100 {
		t.Fatalf("%d audit events, want %d + 1 summary + 100 authenticated", n, own)
	}
	for _, e := range h.ring.Recent(ringSize) {
		b, _ := json.Marshal(e)
		if len(b) > audit.MaxEventBytes || len(e.Client) > 256 {
			t.Fatalf("an event of %d bytes (client %d)", len(b), len(e.Client))
		}
	}
}

// TestAuditConfigStreamBytes: stream_max_bytes (a Caddyfile size) turns into the
// stream's length cap, counted in events of the bound; too small is refused.
func TestAuditConfigStreamBytes(t *testing.T) {
	var h Handler
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("scim {\n audit {\n  stream_max_bytes 1MiB\n  stream_max_len 400\n }\n}")); err != nil {
		t.Fatal(err)
	}
	if h.Audit.StreamMaxBytes != 1<<20 || h.Audit.StreamMaxLen != 400 {
		t.Fatalf("parsed %+v", h.Audit)
	}
	for _, in := range []string{"stream_max_bytes lots", "stream_max_bytes 100", "stream_max_bytes"} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("scim {\n audit {\n  " + in + "\n }\n}")); err == nil {
			t.Errorf("accepted %q", in)
		}
	}
	for in, want := range map[string]int64{
		`{}`:                            32768, // both defaults: 64 MiB of 2 KiB events
		`{"stream_max_len": 1000}`:      1000,
		`{"stream_max_bytes": 1048576}`: 512,
		`{"stream_max_len": 400, "stream_max_bytes": 1048576}`: 400,
	} {
		var ac AuditConfig
		if err := json.Unmarshal([]byte(in), &ac); err != nil || ac.check() != nil || ac.streamLen() != want {
			t.Errorf("%s: stream cap %d (%v), want %d", in, ac.streamLen(), err, want)
		}
	}
	for _, in := range []string{`{"stream_max_bytes": 100}`, `{"stream_max_bytes": -1}`} {
		var ac AuditConfig
		if err := json.Unmarshal([]byte(in), &ac); err == nil && ac.check() == nil {
			t.Errorf("accepted %s", in)
		}
	}
	if defaultAuditStreamLen != 32768 {
		t.Errorf("default cap %d", defaultAuditStreamLen)
	}
}
