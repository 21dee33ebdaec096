package scimhandler

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/caddyserver/caddy/v2"

	_ "github.com/caddy-scim/caddy-scim/adapters/gitlab" // scim.adapters.gitlab
)

// TestLinkExistingPrecedence: link_existing inside the gitlab block applies only when
// the scim block does not set it; an explicit "off" at the scim level wins (it used
// to be overridden, because the handler filled its default before it looked).
func TestLinkExistingPrecedence(t *testing.T) {
	for _, c := range []struct{ handler, adapter, want string }{
		{"", "", "off"},
		{"", "email", "email"},
		{"off", "email", "off"},
		{"username", "email", "username"},
		{"email", "", "email"},
	} {
		raw, _ := json.Marshal(map[string]any{"driver": "gitlab", "url": "https://gl.example", "token": "t", "link_existing": c.adapter})
		h := &Handler{Tokens: []string{testToken}, AdapterRaw: raw, LinkExisting: c.handler, LinksFile: filepath.Join(t.TempDir(), "links.db")}
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		err := h.Provision(ctx)
		if err == nil {
			err = h.Validate()
		}
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		if h.svc.LinkExisting != c.want {
			t.Errorf("scim %q, gitlab %q: link_existing %q, want %q", c.handler, c.adapter, h.svc.LinkExisting, c.want)
		}
		_ = h.Cleanup()
		cancel()
	}
}
