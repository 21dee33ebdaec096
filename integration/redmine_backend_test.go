package integration_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// redmineBackend is the test binary's real Redmine 5, provisioned through the rest
// adapter's redmine preset.
type redmineBackend struct{ r *testenv.RedmineServer }

func (b redmineBackend) name() string  { return "redmine" }
func (b redmineBackend) groups() bool  { return true }
func (b redmineBackend) oneName() bool { return false }
func (b redmineBackend) adapter(extra string) (string, []string) {
	return fmt.Sprintf("adapter rest {\n\turl %s\n\tpreset redmine\n\ttoken {env.REDMINE_KEY}\n\tparams external_id_field=%s state_field=%s group_external_id_field=%s group_state_field=%s\n%s}",
		b.r.URL, b.r.ExternalIDField, b.r.StateField, b.r.GroupExternalIDField, b.r.GroupStateField, extra), []string{"REDMINE_KEY=" + b.r.APIKey}
}
func (b redmineBackend) proxy() string     { return strings.TrimPrefix(b.r.URL, "http://") }
func (b redmineBackend) adminName() string { return "admin" }

func (b redmineBackend) user(t *testing.T, id string) upstreamUser {
	st, raw := b.r.Do(t, "GET", "/users/"+id+".json", nil)
	if st == http.StatusNotFound {
		return upstreamUser{}
	}
	var out struct {
		User struct {
			Login, Firstname, Lastname, Mail string
			Status                           int
			CustomFields                     []struct {
				Name, Value string
			} `json:"custom_fields"`
		}
	}
	if st != http.StatusOK || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("redmine user %s: %d %.200s", id, st, raw)
	}
	u := upstreamUser{Exists: true, Email: out.User.Mail, FullName: out.User.Firstname + " " + out.User.Lastname,
		Blocked: out.User.Status != 1, State: fmt.Sprint(out.User.Status)}
	for _, f := range out.User.CustomFields {
		if f.Name == "scim_external_id" {
			u.Linked = f.Value
		}
	}
	return u
}

func (b redmineBackend) count(t *testing.T) int {
	st, raw := b.r.Do(t, "GET", "/users.json?status=&limit=1", nil)
	var out struct {
		TotalCount int `json:"total_count"`
	}
	if st != http.StatusOK || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("redmine users: %d %.200s", st, raw)
	}
	return out.TotalCount
}

func (b redmineBackend) makeUnmanaged(t *testing.T, username, email string) {
	if st, raw := b.r.Do(t, "POST", "/users.json", map[string]any{"user": map[string]any{
		"login": username, "firstname": "Hand", "lastname": "Made", "mail": email, "password": "Aa1!hand-made-password"}}); st != http.StatusCreated {
		t.Fatalf("creating a user by hand: %d %s", st, raw)
	}
}

func (b redmineBackend) put(t *testing.T, id string, fields map[string]any) {
	if st, raw := b.r.Do(t, "PUT", "/users/"+id+".json", map[string]any{"user": fields}); st != http.StatusNoContent {
		t.Fatalf("editing user %s: %d %s", id, st, raw)
	}
}

func (b redmineBackend) makeAdmin(t *testing.T, id string) {
	b.put(t, id, map[string]any{"admin": true})
}
func (b redmineBackend) blockByHand(t *testing.T, id string) {
	b.put(t, id, map[string]any{"status": 3})
}
func (b redmineBackend) renameByHand(t *testing.T, id, name string) {
	b.put(t, id, map[string]any{"login": name})
}
