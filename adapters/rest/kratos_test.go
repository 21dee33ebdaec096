package rest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-scim/caddy-scim/adapters/adaptertest"
	"github.com/caddy-scim/caddy-scim/adapters/adaptertest/roundtrip"
	"github.com/caddy-scim/caddy-scim/adapters/rest"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// decoded is a status and a JSON object answer, as the services' Do return them.
func decoded(st int, raw []byte) (int, map[string]any) {
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return st, out
}

// provisioned provisions and validates a, and cleans it up when t ends.
// presetSummary loads a shipped preset as caddy scim check-mapping does and checks
// that its summary says each of want; it returns the preset and the summary.
func presetSummary(t *testing.T, name string, want ...string) ([]byte, string) {
	t.Helper()
	b, err := rest.PresetJSON(name)
	if err != nil {
		t.Fatal(err)
	}
	summary, err := rest.Check(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(summary, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("check-mapping summary of %s lacks %q:\n%s", name, w, all)
		}
	}
	return b, all
}

func provisioned(t *testing.T, a *rest.Adapter) *rest.Adapter {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Cleanup() })
	return a
}

// kratos calls the real Kratos admin API behind the adapter's back.
func kratos(t *testing.T, k *testenv.KratosServer, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return decoded(k.Do(t, method, path, body))
}

// kratosUnmanaged creates identities by hand, as an operator would: no SCIM marks.
func kratosUnmanaged(k *testenv.KratosServer) func(t *testing.T, username, email string) string {
	return func(t *testing.T, username, email string) string {
		st, out := kratos(t, k, "POST", "/admin/identities", map[string]any{"schema_id": "default", "state": "active",
			"traits": map[string]any{"email": email, "username": username}})
		if st != http.StatusCreated {
			t.Fatalf("creating an unmanaged identity: %d %v", st, out)
		}
		return out["id"].(string)
	}
}

func newKratosAdapter(t *testing.T, k *testenv.KratosServer) *rest.Adapter {
	t.Helper()
	return provisioned(t, &rest.Adapter{Config: upstream.Config{URL: k.AdminURL}, Preset: "kratos"})
}

// TestKratosConformance runs the shared adapter suite against a real Ory Kratos
// through the kratos preset.
func TestKratosConformance(t *testing.T) {
	k := testenv.Kratos(t)
	a := newKratosAdapter(t, k)
	adaptertest.Run(t, adaptertest.Harness{
		Adapter:       a,
		MakeUnmanaged: kratosUnmanaged(k),
		BlockByHand: func(t *testing.T, id string) {
			st, out := kratos(t, k, "PATCH", "/admin/identities/"+id, []map[string]any{{"op": "replace", "path": "/state", "value": "inactive"}})
			if st != http.StatusOK {
				t.Fatalf("blocking by hand: %d %v", st, out)
			}
		},
		Upstream: adaptertest.Upstream{
			UserExists: func(t *testing.T, id string) bool {
				st, _ := kratos(t, k, "GET", "/admin/identities/"+id, nil)
				if st != http.StatusOK && st != http.StatusNotFound {
					t.Fatalf("GET identity %s: %d", id, st)
				}
				return st == http.StatusOK
			},
		},
	})
}

// TestKratosRoundTrip: every attribute the preset advertises round-trips exactly
// through POST, PUT and the PATCH forms of Okta and Entra.
func TestKratosRoundTrip(t *testing.T) {
	roundtrip.Run(t, newKratosAdapter(t, testenv.Kratos(t)))
}

// TestKratosJSONPatch: an update written as an RFC 6902 JSON-Patch document (PATCH)
// instead of the preset's PUT passes the same suite against the real Kratos.
func TestKratosJSONPatch(t *testing.T) {
	k := testenv.Kratos(t)
	m, err := rest.Preset("kratos")
	if err != nil {
		t.Fatal(err)
	}
	m.Users.Update = rest.Call{Method: "PATCH", Path: "/admin/identities/{{.ID}}", Body: json.RawMessage(`[
	  {"op": "replace", "path": "/state", "value": "{{if .User.Active}}active{{else}}inactive{{end}}"},
	  {"op": "replace", "path": "/traits", "value": {"email": "{{.User.Email}}", "username": "{{.User.UserName}}",
	    "name": {"givenName": "{{.User.GivenName}}", "familyName": "{{.User.FamilyName}}"}}},
	  {"op": "add", "path": "/metadata_admin", "value": {"scim": {"managed": "{{json .Managed}}", "external_id": "{{.User.ExternalID}}",
	    "deleted": "{{json .Deleted}}", "blocked": "{{json .Blocked}}", "user_name": "{{.User.UserName}}", "tenant": "{{.Tenant}}"}}}
	]`)}
	a := provisioned(t, &rest.Adapter{Config: upstream.Config{URL: k.AdminURL}, Mapping: m})
	roundtrip.Run(t, a)
	adaptertest.Run(t, adaptertest.Harness{Adapter: a,
		MakeUnmanaged: kratosUnmanaged(k)})
}
