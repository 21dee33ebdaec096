package links_test

import (
	"testing"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/links/linkstest"
)

// TestMain runs the tests through testenv, which stops the real Redis servers the
// Redis tests start.
func TestMain(m *testing.M) { testenv.Main(m) }

func TestMemoryConformance(t *testing.T) {
	linkstest.Run(t, func(t *testing.T) links.Store { return links.NewMemory(linkstest.TTL, 1000) })
}

// TestGuardConformance: a guarded healthy store behaves like the store itself.
func TestGuardConformance(t *testing.T) {
	linkstest.Run(t, func(t *testing.T) links.Store {
		return links.Guard(links.NewMemory(linkstest.TTL, 1000), func(err error) { t.Errorf("onDown: %v", err) }, nil)
	})
}
