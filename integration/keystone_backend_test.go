package integration_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

func init() {
	moreBackends = append(moreBackends, func(t *testing.T) backend { return keystoneBackend{testenv.Keystone(t)} })
}

// keystoneBackend is the test binary's real OpenStack Keystone (Zed), provisioned
// through the rest adapter's keystone preset.
type keystoneBackend struct{ k *testenv.KeystoneServer }

func (b keystoneBackend) name() string  { return "keystone" }
func (b keystoneBackend) oneName() bool { return false }
func (b keystoneBackend) adapter(extra string) (string, []string) {
	return fmt.Sprintf("adapter rest {\n\turl %s\n\tpreset keystone\n\ttoken {env.KEYSTONE_TOKEN}\n\tparams domain_id=%s\n%s}",
		b.k.URL, b.k.DomainID, extra), []string{"KEYSTONE_TOKEN=" + b.k.Token}
}
func (b keystoneBackend) proxy() string     { return strings.TrimPrefix(b.k.URL, "http://") }
func (b keystoneBackend) adminName() string { return "admin" }

// keystoneUser is a user as Keystone's identity API answers it, with the extra
// attributes the keystone preset writes.
type keystoneUser struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Enabled    bool   `json:"enabled"`
	Email      string `json:"email"`
	GivenName  string `json:"given_name"`
	FamilyName string `json:"family_name"`
	SCIM       struct {
		ExternalID string `json:"external_id"`
	} `json:"scim"`
}

func (b keystoneBackend) user(t *testing.T, id string) upstreamUser {
	st, raw := b.k.Do(t, "GET", "/v3/users/"+id, nil)
	if st == http.StatusNotFound {
		return upstreamUser{}
	}
	var out struct{ User keystoneUser }
	if st != http.StatusOK || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("keystone user %s: %d %.200s", id, st, raw)
	}
	u := out.User
	return upstreamUser{Exists: true, Email: u.Email, FullName: strings.TrimSpace(u.GivenName + " " + u.FamilyName),
		Blocked: !u.Enabled, State: map[bool]string{true: "enabled", false: "disabled"}[u.Enabled], Linked: u.SCIM.ExternalID}
}

func (b keystoneBackend) count(t *testing.T) int {
	st, raw := b.k.Do(t, "GET", "/v3/users?domain_id="+b.k.DomainID, nil)
	var out struct{ Users []keystoneUser }
	if st != http.StatusOK || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("keystone users: %d %.200s", st, raw)
	}
	return len(out.Users)
}

func (b keystoneBackend) makeUnmanaged(t *testing.T, username, email string) {
	if st, raw := b.k.Do(t, "POST", "/v3/users", map[string]any{"user": map[string]any{
		"name": username, "domain_id": b.k.DomainID, "email": email, "enabled": true}}); st != http.StatusCreated {
		t.Fatalf("creating a user by hand: %d %s", st, raw)
	}
}

func (b keystoneBackend) patch(t *testing.T, id string, fields map[string]any) {
	if st, raw := b.k.Do(t, "PATCH", "/v3/users/"+id, map[string]any{"user": fields}); st != http.StatusOK {
		t.Fatalf("editing user %s: %d %s", id, st, raw)
	}
}

// makeAdmin gives user id the admin role on project admin, as an operator would
// (openstack role add --project admin --user <id> admin): Keystone's administrators
// are role assignments, which the preset reads with each user.
func (b keystoneBackend) makeAdmin(t *testing.T, id string) {
	project, role := b.idOf(t, "projects", "admin"), b.idOf(t, "roles", "admin")
	if st, raw := b.k.Do(t, "PUT", "/v3/projects/"+project+"/users/"+id+"/roles/"+role, nil); st != http.StatusNoContent {
		t.Fatalf("giving %s the admin role: %d %s", id, st, raw)
	}
}

// idOf is the id of the project or role (what) named name.
func (b keystoneBackend) idOf(t *testing.T, what, name string) string {
	st, raw := b.k.Do(t, "GET", "/v3/"+what+"?name="+name, nil)
	var out map[string]json.RawMessage
	var found []struct{ ID string }
	if st != http.StatusOK || json.Unmarshal(raw, &out) != nil || json.Unmarshal(out[what], &found) != nil || len(found) != 1 {
		t.Fatalf("keystone %s named %s: %d %.200s", what, name, st, raw)
	}
	return found[0].ID
}

func (b keystoneBackend) blockByHand(t *testing.T, id string) {
	b.patch(t, id, map[string]any{"enabled": false})
}
func (b keystoneBackend) renameByHand(t *testing.T, id, name string) {
	b.patch(t, id, map[string]any{"name": name})
}
