package gitea_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-scim/caddy-scim/adapters/adaptertest"
	"github.com/caddy-scim/caddy-scim/adapters/adaptertest/roundtrip"
	"github.com/caddy-scim/caddy-scim/adapters/gitea"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// TestConformance runs the shared adapter suite against the real Gitea of this test
// binary (TestMain in gitea_test.go runs testenv.Main).
func TestConformance(t *testing.T) {
	g := testenv.Gitea(t)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	a := &gitea.Adapter{Config: upstream.Config{URL: g.URL, Token: g.Token}}
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Cleanup() })

	idOf := func(t *testing.T, u map[string]any) string {
		t.Helper()
		n, ok := u["id"].(float64)
		if !ok {
			t.Fatalf("gitea user without a numeric id: %v", u)
		}
		return strconv.FormatInt(int64(n), 10)
	}
	adaptertest.Run(t, adaptertest.Harness{
		EmailUserNameIsEmail: true,
		Adapter:              a,
		MakeUnmanaged: func(t *testing.T, username, email string) string {
			return idOf(t, g.CreateUnmanagedUser(t, username, email))
		},
		Admin: func(t *testing.T) (string, string) {
			u := g.GetUser(t, g.AdminName)
			if u == nil {
				t.Fatalf("gitea has no site admin %q", g.AdminName)
			}
			return idOf(t, u), g.AdminName
		},
		BlockByHand: func(t *testing.T, id string) {
			n, _ := strconv.ParseInt(id, 10, 64)
			u := g.UserByID(t, n)
			if st, _, b := g.Do(t, "PATCH", "/admin/users/"+u["login"].(string), map[string]any{
				"login_name": u["login_name"], "source_id": u["source_id"], "prohibit_login": true}); st != 200 {
				t.Fatalf("blocking by hand: %d %s", st, b)
			}
		},
		Upstream: adaptertest.Upstream{
			UserExists: func(t *testing.T, id string) bool {
				n, err := strconv.ParseInt(id, 10, 64)
				if err != nil {
					t.Fatalf("id %q is not numeric", id)
				}
				return g.UserByID(t, n) != nil
			},
		},
	})
}

// TestRoundTrip: every attribute /Schemas advertises for Gitea round-trips exactly
// through POST, PUT and the PATCH forms of Okta and Entra.
func TestRoundTrip(t *testing.T) {
	a, _, _ := newAdapter(t, "")
	roundtrip.Run(t, a)
}
