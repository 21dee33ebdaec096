package gitea_test

import (
	"context"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-scim/caddy-scim/adapters/adaptertest"
	"github.com/caddy-scim/caddy-scim/adapters/gitea"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// TestGroupConformance runs the shared group suite against teams of a fresh
// organization of the real Gitea.
func TestGroupConformance(t *testing.T) {
	g := testenv.Gitea(t)
	org := strings.ReplaceAll(testenv.UniqueName("conf"), "_", "-")
	if st, _, b := g.Do(t, "POST", "/orgs", map[string]any{"username": org}); st != 201 {
		t.Fatalf("creating org: %d %s", st, b)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	a := &gitea.Adapter{Config: upstream.Config{URL: g.URL, Token: g.Token}, Organization: org}
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Cleanup() })
	adaptertest.RunGroups(t, adaptertest.GroupHarness{Adapter: a, Users: a})
}
