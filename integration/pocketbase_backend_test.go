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
	moreBackends = append(moreBackends, func(t *testing.T) backend { return pocketbaseBackend{testenv.PocketBase(t)} })
}

// pocketbaseBackend is the test binary's real PocketBase, provisioned through the
// rest adapter's pocketbase preset. Its administrators are superusers, a collection
// of their own that SCIM never sees, so no user is an administrator.
type pocketbaseBackend struct{ p *testenv.PocketBaseServer }

const pocketbaseUsers = "/api/collections/users/records"

func (b pocketbaseBackend) name() string  { return "pocketbase" }
func (b pocketbaseBackend) oneName() bool { return true }
func (b pocketbaseBackend) adapter(extra string) (string, []string) {
	return fmt.Sprintf("adapter rest {\n\turl %s\n\tpreset pocketbase\n\ttoken {env.POCKETBASE_TOKEN}\n%s}", b.p.URL, extra),
		[]string{"POCKETBASE_TOKEN=" + b.p.Token}
}
func (b pocketbaseBackend) proxy() string     { return strings.TrimPrefix(b.p.URL, "http://") }
func (b pocketbaseBackend) adminName() string { return "" }

func (b pocketbaseBackend) user(t *testing.T, id string) upstreamUser {
	st, raw := b.p.Do(t, "GET", pocketbaseUsers+"/"+id, nil)
	if st == http.StatusNotFound {
		return upstreamUser{}
	}
	var u struct {
		Email, Name string
		Disabled    bool
		SCIM        struct {
			ExternalID string `json:"external_id"`
		}
	}
	if st != http.StatusOK || json.Unmarshal(raw, &u) != nil {
		t.Fatalf("pocketbase user %s: %d %.200s", id, st, raw)
	}
	return upstreamUser{Exists: true, Email: u.Email, FullName: u.Name, Blocked: u.Disabled,
		State: map[bool]string{true: "disabled", false: "active"}[u.Disabled], Linked: u.SCIM.ExternalID}
}

func (b pocketbaseBackend) count(t *testing.T) int {
	st, raw := b.p.Do(t, "GET", pocketbaseUsers+"?perPage=1", nil)
	var out struct {
		TotalItems int `json:"totalItems"`
	}
	if st != http.StatusOK || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("pocketbase users: %d %.200s", st, raw)
	}
	return out.TotalItems
}

// makeUnmanaged creates a user as an operator would in PocketBase's dashboard, with
// the address marked verified (an unverified one is never adopted).
func (b pocketbaseBackend) makeUnmanaged(t *testing.T, username, email string) {
	if st, raw := b.p.Do(t, "POST", pocketbaseUsers, map[string]any{"username": username, "email": email, "verified": true,
		"password": "hand-made-password", "passwordConfirm": "hand-made-password"}); st != http.StatusOK {
		t.Fatalf("creating a user by hand: %d %s", st, raw)
	}
}

func (b pocketbaseBackend) patch(t *testing.T, id string, fields map[string]any) {
	if st, raw := b.p.Do(t, "PATCH", pocketbaseUsers+"/"+id, fields); st != http.StatusOK {
		t.Fatalf("changing user %s by hand: %d %s", id, st, raw)
	}
}

func (b pocketbaseBackend) makeAdmin(t *testing.T, id string) {
	t.Skip("PocketBase's administrators are superusers, another collection than its users")
}
func (b pocketbaseBackend) blockByHand(t *testing.T, id string) {
	b.patch(t, id, map[string]any{"disabled": true})
}
func (b pocketbaseBackend) renameByHand(t *testing.T, id, name string) {
	b.patch(t, id, map[string]any{"username": name})
}

// TestPocketBaseAdoptionNeedsAVerifiedEmail: with link_existing email, a PocketBase
// user whose address is not verified is not adopted (its holder may not own it);
// once a superuser marks it verified, it is, and keeps its id.
func TestPocketBaseAdoptionNeedsAVerifiedEmail(t *testing.T) {
	b := pocketbaseBackend{testenv.PocketBase(t)}
	e := start(t, b, "link_existing email", "")
	name := testenv.UniqueName("squat")
	st, raw := b.p.Do(t, "POST", pocketbaseUsers, map[string]any{"username": name, "email": name + "@example.com",
		"password": "hand-made-password", "passwordConfirm": "hand-made-password"})
	var hand struct{ ID string }
	if st != http.StatusOK || json.Unmarshal(raw, &hand) != nil {
		t.Fatalf("creating a user by hand: %d %s", st, raw)
	}
	body := oktaUser(name+"@example.com", "ext-"+name)
	r := e.c.do("POST", "/Users", body).wantError(t, 409, "uniqueness")
	if !strings.Contains(str(r.JSON, "detail"), "not confirmed") {
		t.Fatalf("detail: %s", r.Body)
	}
	if u := b.user(t, hand.ID); u.Linked != "" {
		t.Fatalf("the unverified account was changed: %+v", u)
	}
	b.patch(t, hand.ID, map[string]any{"verified": true})
	if id := str(e.c.do("POST", "/Users", body).want(t, 201).JSON, "id"); id != hand.ID {
		t.Fatalf("adopted as %s, want the account %s", id, hand.ID)
	}
	if u := b.user(t, hand.ID); u.Linked != "ext-"+name {
		t.Fatalf("the adopted account: %+v", u)
	}
}
