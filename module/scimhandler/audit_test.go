package scimhandler

import (
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
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
