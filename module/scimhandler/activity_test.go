package scimhandler

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// TestActivityToken: the page answers only its own token, as HTTP Basic password or
// bearer token; a token too short fails the config.
func TestActivityToken(t *testing.T) {
	a := &Activity{Token: "page-token-0123456789"}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		set  func(r *http.Request)
		want int
	}{
		{"none", func(*http.Request) {}, 401},
		{"wrong basic", func(r *http.Request) { r.SetBasicAuth("ops", "page-token-x") }, 401},
		{"basic", func(r *http.Request) { r.SetBasicAuth("anyone", "page-token-0123456789") }, 200},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer page-token-0123456789") }, 200},
	} {
		r := httptest.NewRequest("GET", "/scim-activity", nil)
		c.set(r)
		w := httptest.NewRecorder()
		if err := a.ServeHTTP(w, r, nil); err != nil {
			t.Fatal(err)
		}
		if w.Code != c.want {
			t.Errorf("%s: %d, want %d", c.name, w.Code, c.want)
		}
		if c.want == 200 && !strings.Contains(w.Body.String(), "SCIM activity") {
			t.Errorf("%s: no page: %.200s", c.name, w.Body.String())
		}
		if c.want == 401 && !strings.Contains(w.Header().Get("WWW-Authenticate"), "Basic") {
			t.Errorf("%s: no Basic challenge", c.name)
		}
	}
	if err := (&Activity{Token: "short"}).Provision(ctx); err == nil {
		t.Error("a short token was accepted")
	}
}
