package scimops

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-scim/caddy-scim/adapters/adaptertest"
	"github.com/caddy-scim/caddy-scim/module/scimhandler"
)

// memoryAdapter is the in-memory reference adapter as a module, so that the tests
// provision real scim handlers.
type memoryAdapter struct{ *adaptertest.Memory }

func (memoryAdapter) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "scim.adapters.scimops_memory", New: func() caddy.Module {
		return &memoryAdapter{&adaptertest.Memory{PageSize: 10}}
	}}
}

func init() { caddy.RegisterModule(memoryAdapter{}) }

const testToken = "unit-test-token-0123456789"

// liveHandler provisions a scim handler on the memory adapter, live until the test ends.
func liveHandler(t *testing.T, basePath, tenant string) *scimhandler.Handler {
	t.Helper()
	h := &scimhandler.Handler{BasePath: basePath, Tenant: tenant, Tokens: []string{testToken},
		AdapterRaw: []byte(`{"driver":"scimops_memory"}`), LinksFile: filepath.Join(t.TempDir(), "links.db")}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	if err := h.Provision(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = h.Cleanup()
		cancel()
	})
	return h
}

// serve sends one authenticated request to h.
func serve(t *testing.T, h *scimhandler.Handler, method, target, body string) {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+testToken)
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	if err := h.ServeHTTP(httptest.NewRecorder(), r, nil); err != nil {
		t.Fatal(err)
	}
}

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

// TestActivityTenant: a page for tenant "a" shows tenant a's handler and events
// and neither the handler nor an event of tenant "b"; the default tenant's page
// shows neither.
func TestActivityTenant(t *testing.T) {
	for _, tenant := range []string{"a", "b"} {
		h := liveHandler(t, "/scim/tenant-"+tenant, tenant)
		serve(t, h, "PATCH", h.BasePath+"/Users/user-of-"+tenant, `{"Operations":`) // 400: an event and an error
	}
	var parsed Activity
	if err := parsed.UnmarshalCaddyfile(caddyfile.NewTestDispenser("scim_activity {\n token {env.T}\n tenant a\n}")); err != nil || parsed.Tenant != "a" {
		t.Fatalf("parsed %+v (%v)", parsed, err)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	page := func(tenant string) string {
		a := &Activity{Token: "page-token-0123456789", Tenant: tenant}
		if err := a.Provision(ctx); err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("GET", "/scim-activity", nil)
		r.Header.Set("Authorization", "Bearer page-token-0123456789")
		w := httptest.NewRecorder()
		if err := a.ServeHTTP(w, r, nil); err != nil || w.Code != 200 {
			t.Fatalf("page %q: %d %v", tenant, w.Code, err)
		}
		return w.Body.String()
	}
	body := page("a")
	for _, want := range []string{"/scim/tenant-a", "user-of-a", `data-tenant="a"`} {
		if !strings.Contains(body, want) {
			t.Errorf("tenant a's page lacks %q", want)
		}
	}
	for _, other := range []string{"tenant-b", "user-of-b"} {
		if strings.Contains(body, other) {
			t.Errorf("tenant a's page shows tenant b's %q", other)
		}
	}
	if body := page(""); strings.Contains(body, "tenant-a") || strings.Contains(body, "user-of-b") {
		t.Error("the default tenant's page shows a named tenant's handler or event")
	}
}
