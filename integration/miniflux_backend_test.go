package integration_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// minifluxBackend is the test binary's real Miniflux, provisioned through the rest
// adapter's miniflux preset. Miniflux has no room for SCIM's state and no block
// state: the link store keeps which accounts are SCIM's, their externalId and SCIM's
// active, and deprovisioning is the preset's action, the lock password. It keeps no
// e-mail and no name, only a username (in lower case) and the administrator flag.
//
// The shared suites check, in Miniflux, only what it keeps (keeps) and read the
// externalId from the Caddy's link store (started).
type minifluxBackend struct {
	storeRecord
	m *testenv.MinifluxServer
}

func init() {
	moreBackends = append(moreBackends, func(t *testing.T) backend { return newMinifluxBackend(t) })
}

func newMinifluxBackend(t *testing.T) *minifluxBackend {
	return &minifluxBackend{m: testenv.Miniflux(t)}
}

func (b *minifluxBackend) name() string  { return "miniflux" }
func (b *minifluxBackend) keeps() kept   { return kept{} }
func (b *minifluxBackend) oneName() bool { return false }
func (b *minifluxBackend) noBlock() string {
	return "Miniflux cannot block an account: there is no block to set by hand (its deprovisioning is the preset's lock password, TestMinifluxIdPSequences)"
}
func (b *minifluxBackend) adapter(extra string) (string, []string) {
	return fmt.Sprintf("adapter rest {\n\turl %s\n\tpreset miniflux\n\ttoken {env.MINIFLUX_API_KEY}\n\tparams lock_password={env.MINIFLUX_LOCK_PASSWORD}\n%s}", b.m.URL, extra),
		[]string{"MINIFLUX_API_KEY=" + b.m.APIKey, "MINIFLUX_LOCK_PASSWORD=" + b.m.LockPassword}
}
func (b *minifluxBackend) proxy() string     { return strings.TrimPrefix(b.m.URL, "http://") }
func (b *minifluxBackend) adminName() string { return b.m.Admin }

// minifluxAccount is a user as Miniflux's API answers it.
type minifluxAccount struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	IsAdmin  bool   `json:"is_admin"`
}

func (b *minifluxBackend) account(t *testing.T, id string) (minifluxAccount, bool) {
	t.Helper()
	st, raw := b.m.Do(t, "GET", "/v1/users/"+url.PathEscape(id), nil)
	if st == http.StatusNotFound {
		return minifluxAccount{}, false
	}
	var a minifluxAccount
	if st != http.StatusOK || json.Unmarshal(raw, &a) != nil {
		t.Fatalf("miniflux user %s: %d %.200s", id, st, raw)
	}
	return a, true
}

// user is what Miniflux keeps of account id: no e-mail, no name; Blocked means the
// preset's lock password opens it (SCIM's deprovisioning holds), State is its
// username, Linked the externalId its link keeps (Miniflux keeps none).
func (b *minifluxBackend) user(t *testing.T, id string) upstreamUser {
	t.Helper()
	a, ok := b.account(t, id)
	if !ok {
		return upstreamUser{}
	}
	locked := b.m.SignIn(t, a.Username, b.m.LockPassword, "GET", "/v1/me") == http.StatusOK
	return upstreamUser{Exists: true, Blocked: locked, State: a.Username, Linked: b.linked(t, id)}
}

func (b *minifluxBackend) count(t *testing.T) int {
	st, raw := b.m.Do(t, "GET", "/v1/users", nil)
	var all []minifluxAccount
	if st != http.StatusOK || json.Unmarshal(raw, &all) != nil {
		t.Fatalf("miniflux users: %d %.200s", st, raw)
	}
	return len(all)
}

// makeUnmanaged creates an account as Miniflux's administrator would; Miniflux
// keeps no e-mail.
func (b *minifluxBackend) makeUnmanaged(t *testing.T, username, email string) {
	if st, raw := b.m.Do(t, "POST", "/v1/users", map[string]any{"username": username, "password": "hand-made-password"}); st != http.StatusCreated {
		t.Fatalf("creating a user by hand: %d %s", st, raw)
	}
}

func (b *minifluxBackend) put(t *testing.T, id string, fields map[string]any) {
	if st, raw := b.m.Do(t, "PUT", "/v1/users/"+id, fields); st != http.StatusCreated {
		t.Fatalf("changing user %s by hand: %d %s", id, st, raw)
	}
}

func (b *minifluxBackend) makeAdmin(t *testing.T, id string) {
	b.put(t, id, map[string]any{"is_admin": true})
}
func (b *minifluxBackend) blockByHand(t *testing.T, id string) {
	t.Skip(b.noBlock())
}
func (b *minifluxBackend) renameByHand(t *testing.T, id, name string) {
	b.put(t, id, map[string]any{"username": name})
}

// TestMinifluxDeprovisionDelete: with deprovision delete, DELETE removes the
// Miniflux account (Miniflux answers at once and removes it, with its feeds and
// entries, in the background), and the IdP's next POST of the identity makes a new
// one.
func TestMinifluxDeprovisionDelete(t *testing.T) {
	b := newMinifluxBackend(t)
	e := start(t, b, "deprovision delete", "")
	name := testenv.UniqueName("gone") + "@example.com"
	id := str(e.c.do("POST", "/Users", oktaUser(name, "ext-"+name)).want(t, 201).JSON, "id")
	e.c.do("DELETE", "/Users/"+id, nil).want(t, 204)
	e.c.do("GET", "/Users/"+id, nil).wantError(t, 404, "")
	deadline := time.Now().Add(5 * time.Second)
	for _, ok := b.account(t, id); ok; _, ok = b.account(t, id) {
		if time.Now().After(deadline) {
			t.Fatalf("Miniflux still has account %s after DELETE", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
	again := str(e.c.do("POST", "/Users", oktaUser(name, "ext-"+name)).want(t, 201).JSON, "id")
	if again == id {
		t.Fatalf("the new account has the deleted one's id %s", id)
	}
}
