package rest_test

import (
	"testing"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/adaptertest"
	"github.com/caddy-scim/caddy-scim/adapters/adaptertest/roundtrip"
	"github.com/caddy-scim/caddy-scim/adapters/rest"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// tinyMapping is the mapping of testenv.TinyApp, an application with no room for
// SCIM's state and no block state, written from the README alone.
const tinyMapping = "../../integration/testdata/tinyapp.json"

func newTinyAdapter(t *testing.T, app *testenv.TinyApp) *rest.Adapter {
	t.Helper()
	return provisioned(t, &rest.Adapter{Config: upstream.Config{URL: app.URL, Token: app.Token}, MappingFile: tinyMapping})
}

// TestTinyAppConformance runs the shared adapter suite against the tiny application
// in the modes it needs (MarksInStore, NoBlock): records unmarked, every account
// listed, deprovisioning its roles removed on State.Deactivating only.
func TestTinyAppConformance(t *testing.T) {
	app := testenv.NewTinyApp(t)
	adaptertest.Run(t, adaptertest.Harness{
		Adapter:      newTinyAdapter(t, app),
		MarksInStore: true, NoBlock: true,
		MakeUnmanaged: func(t *testing.T, username, email string) string {
			return app.Add(username, email, username, "member")
		},
		Admin: func(t *testing.T) (string, string) {
			name := testenv.UniqueName("root")
			return app.Add(name, name+"@example.com", "Root", "admin"), name
		},
		Deprovisioned: func(t *testing.T, id string) bool {
			u, ok := app.User(id)
			return ok && len(u.Roles) == 0
		},
		Upstream: adaptertest.Upstream{UserExists: func(t *testing.T, id string) bool { _, ok := app.User(id); return ok }},
	})
}

// TestTinyAppRoundTrip: every attribute the mapping advertises round-trips through
// the provisioning service (with its link store, which keeps externalId and active).
func TestTinyAppRoundTrip(t *testing.T) {
	roundtrip.Run(t, newTinyAdapter(t, testenv.NewTinyApp(t)))
}

// TestConformanceModesReference: the harness's MarksInStore and NoBlock options pass
// the reference adapter in each mode, so a mapping that fails them fails on its own.
func TestConformanceModesReference(t *testing.T) {
	for _, mode := range []struct {
		name           string
		marks, noBlock bool
	}{{"marks in the application", false, false}, {"marks in the store", true, false}, {"no block state", true, true}} {
		m := &adaptertest.Memory{PageSize: 3, MarksInStore: mode.marks, NoBlock: mode.noBlock}
		t.Run(mode.name, func(t *testing.T) {
			adaptertest.Run(t, adaptertest.Harness{Adapter: m, MarksInStore: mode.marks, NoBlock: mode.noBlock,
				MakeUnmanaged: func(t *testing.T, username, email string) string { return m.AddUnmanaged(username, email, false) },
				BlockByHand: func(t *testing.T, id string) {
					m.EditUser(id, func(r *adapters.Record) { r.User.Active = false })
				},
				Deprovisioned: func(t *testing.T, id string) bool { return m.Deprovisioned(id) },
				Upstream:      adaptertest.Upstream{UserExists: func(t *testing.T, id string) bool { _, ok := m.User(id); return ok }},
			})
		})
	}
}
