package integration_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// kratosBackend is the test binary's real Ory Kratos, provisioned through the rest
// adapter's kratos preset. Kratos has no administrators.
type kratosBackend struct{ k *testenv.KratosServer }

func (b kratosBackend) name() string  { return "kratos" }
func (b kratosBackend) oneName() bool { return false }
func (b kratosBackend) adapter(extra string) (string, []string) {
	return fmt.Sprintf("adapter rest {\n\turl %s\n\tpreset kratos\n%s}", b.k.AdminURL, extra), nil
}

// proxy: the site's other traffic goes to Kratos' public API.
func (b kratosBackend) proxy() string     { return strings.TrimPrefix(b.k.PublicURL, "http://") }
func (b kratosBackend) adminName() string { return "" }

func (b kratosBackend) user(t *testing.T, id string) upstreamUser {
	st, raw := b.k.Do(t, "GET", "/admin/identities/"+id, nil)
	if st == http.StatusNotFound {
		return upstreamUser{}
	}
	var k testenv.KratosIdentity
	if st != http.StatusOK || json.Unmarshal(raw, &k) != nil {
		t.Fatalf("kratos identity %s: %d %s", id, st, raw)
	}
	return upstreamUser{Exists: true, Email: k.Traits.Email,
		FullName: strings.TrimSpace(k.Traits.Name.GivenName + " " + k.Traits.Name.FamilyName),
		Blocked:  k.State != "active", State: k.State, Linked: k.MetadataAdmin.SCIM.ExternalID}
}

func (b kratosBackend) count(t *testing.T) int {
	n := 0
	for page := "?page_size=1000"; page != ""; {
		st, raw := b.k.Do(t, "GET", "/admin/identities"+page, nil)
		var list []testenv.KratosIdentity
		if st != http.StatusOK || json.Unmarshal(raw, &list) != nil {
			t.Fatalf("kratos identities: %d %.200s", st, raw)
		}
		n += len(list)
		page = "" // 1000 a page is plenty for the tests
	}
	return n
}

func (b kratosBackend) makeUnmanaged(t *testing.T, username, email string) {
	if st, raw := b.k.Do(t, "POST", "/admin/identities", map[string]any{"schema_id": "default", "state": "active",
		"traits": map[string]any{"email": email, "username": username}}); st != http.StatusCreated {
		t.Fatalf("creating an unmanaged identity: %d %s", st, raw)
	}
}

func (b kratosBackend) patch(t *testing.T, id, path string, value any) {
	if st, raw := b.k.Do(t, "PATCH", "/admin/identities/"+id, []map[string]any{{"op": "replace", "path": path, "value": value}}); st != http.StatusOK {
		t.Fatalf("patching identity %s %s: %d %s", id, path, st, raw)
	}
}

func (b kratosBackend) makeAdmin(t *testing.T, id string) { t.Skip("Kratos has no administrators") }
func (b kratosBackend) blockByHand(t *testing.T, id string) {
	b.patch(t, id, "/state", "inactive")
}
func (b kratosBackend) renameByHand(t *testing.T, id, name string) {
	b.patch(t, id, "/traits/username", name)
}
