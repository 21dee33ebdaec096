package rest_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapters/adaptertest"
	"github.com/caddy-scim/caddy-scim/adapters/adaptertest/roundtrip"
	"github.com/caddy-scim/caddy-scim/adapters/rest"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// redmine calls the real Redmine REST API as its administrator, behind the adapter's
// back.
func redmine(t *testing.T, r *testenv.RedmineServer, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return decoded(r.Do(t, method, path, body))
}

func newRedmineAdapter(t *testing.T, r *testenv.RedmineServer) *rest.Adapter {
	t.Helper()
	return provisioned(t, &rest.Adapter{Config: upstream.Config{URL: r.URL, Token: r.APIKey}, Preset: "redmine",
		Params: r.Params()})
}

func redmineID(t *testing.T, out map[string]any) string {
	t.Helper()
	u, _ := out["user"].(map[string]any)
	n, ok := u["id"].(float64)
	if !ok {
		t.Fatalf("no user id in %v", out)
	}
	return itoa(int(n))
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestRedmineConformance runs the shared adapter suite against a real Redmine 5
// through the redmine preset.
func TestRedmineConformance(t *testing.T) {
	r := testenv.Redmine(t)
	a := newRedmineAdapter(t, r)
	adaptertest.Run(t, adaptertest.Harness{
		Adapter: a,
		MakeUnmanaged: func(t *testing.T, username, email string) string {
			st, out := redmine(t, r, "POST", "/users.json", map[string]any{"user": map[string]any{
				"login": username, "firstname": "Hand", "lastname": "Made", "mail": email, "password": "Aa1!hand-made-password"}})
			if st != http.StatusCreated {
				t.Fatalf("creating a user by hand: %d %v", st, out)
			}
			return redmineID(t, out)
		},
		Admin: func(t *testing.T) (string, string) { return "1", "admin" },
		BlockByHand: func(t *testing.T, id string) {
			if st, out := redmine(t, r, "PUT", "/users/"+id+".json", map[string]any{"user": map[string]any{"status": 3}}); st != http.StatusNoContent {
				t.Fatalf("locking by hand: %d %v", st, out)
			}
		},
		Upstream: adaptertest.Upstream{
			UserExists: func(t *testing.T, id string) bool {
				st, _ := redmine(t, r, "GET", "/users/"+id+".json", nil)
				return st == http.StatusOK
			},
		},
	})
}

// TestRedmineGroups runs the shared group suite against Redmine's groups.
func TestRedmineGroups(t *testing.T) {
	a := newRedmineAdapter(t, testenv.Redmine(t))
	adaptertest.RunGroups(t, adaptertest.GroupHarness{Adapter: a, Users: a})
}

// TestRedmineRoundTrip: every attribute the preset advertises round-trips exactly
// through POST, PUT and the PATCH forms of Okta and Entra.
func TestRedmineRoundTrip(t *testing.T) {
	roundtrip.Run(t, newRedmineAdapter(t, testenv.Redmine(t)))
}
