package integration_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

func init() {
	moreBackends = append(moreBackends, func(t *testing.T) backend { return &wordpressBackend{w: testenv.WordPress(t)} })
}

// wordpressBackend is the test binary's real WordPress 6.1, provisioned through the
// rest adapter's wordpress preset. WordPress has no room for SCIM's state and no
// block state: the link store keeps which accounts are SCIM's, their externalId and
// SCIM's active, and deprovisioning is the preset's action, every role removed (the
// role param, subscriber here, given back). Its administrators are the accounts with
// the administrator role.
type wordpressBackend struct {
	storeRecord
	w *testenv.WordPressServer
}

func (b *wordpressBackend) name() string  { return "wordpress" }
func (b *wordpressBackend) oneName() bool { return false }

// keeps: an e-mail and a name, but no record of SCIM's (the link store is it).
func (b *wordpressBackend) keeps() kept { return kept{email: true, name: true} }
func (b *wordpressBackend) noBlock() string {
	return "WordPress cannot block an account: there is no block to set by hand (its deprovisioning is the preset's action, every role removed: TestWordPressDeprovisioning)"
}
func (b *wordpressBackend) adapter(extra string) (string, []string) {
	return fmt.Sprintf("adapter rest {\n\turl %s\n\tpreset wordpress\n\ttoken {env.WORDPRESS_AUTHORIZATION}\n\tparams role=subscriber\n%s}", b.w.URL, extra),
		[]string{"WORDPRESS_AUTHORIZATION=" + b.w.Token}
}
func (b *wordpressBackend) proxy() string     { return strings.TrimPrefix(b.w.URL, "http://") }
func (b *wordpressBackend) adminName() string { return b.w.Admin }

// wordpressAccount is a user as WordPress's REST API answers it (context=edit).
type wordpressAccount struct {
	ID        int64    `json:"id"`
	Username  string   `json:"username"`
	Email     string   `json:"email"`
	FirstName string   `json:"first_name"`
	LastName  string   `json:"last_name"`
	Roles     []string `json:"roles"`
}

func (b *wordpressBackend) account(t *testing.T, id string) (wordpressAccount, bool) {
	t.Helper()
	st, _, raw := b.w.Do(t, "GET", "/wp/v2/users/"+id+"?context=edit", nil)
	if st == http.StatusNotFound {
		return wordpressAccount{}, false
	}
	var a wordpressAccount
	if st != http.StatusOK || json.Unmarshal(raw, &a) != nil {
		t.Fatalf("wordpress user %s: %d %.200s", id, st, raw)
	}
	return a, true
}

// user is WordPress's account id: Blocked means it has no role left (what the
// preset's deactivate leaves), State its roles, Linked the externalId its link keeps
// (WordPress keeps none).
func (b *wordpressBackend) user(t *testing.T, id string) upstreamUser {
	t.Helper()
	a, ok := b.account(t, id)
	if !ok {
		return upstreamUser{}
	}
	return upstreamUser{Exists: true, Email: a.Email, FullName: strings.TrimSpace(a.FirstName + " " + a.LastName),
		Blocked: len(a.Roles) == 0, State: strings.Join(a.Roles, ","), Linked: b.linked(t, id)}
}

func (b *wordpressBackend) count(t *testing.T) int {
	st, h, raw := b.w.Do(t, "GET", "/wp/v2/users?context=edit&per_page=1", nil)
	n, err := strconv.Atoi(h.Get("X-WP-Total"))
	if st != http.StatusOK || err != nil {
		t.Fatalf("wordpress users: %d %.200s", st, raw)
	}
	return n
}

// makeUnmanaged creates a user as an administrator would in Users → Add New.
func (b *wordpressBackend) makeUnmanaged(t *testing.T, username, email string) {
	if st, _, raw := b.w.Do(t, "POST", "/wp/v2/users", map[string]any{"username": username, "email": email,
		"password": "Hand-made-password-1", "roles": []string{"subscriber"}}); st != http.StatusCreated {
		t.Fatalf("creating a user by hand: %d %s", st, raw)
	}
}

func (b *wordpressBackend) setRoles(t *testing.T, id string, roles ...string) {
	t.Helper()
	if roles == nil {
		roles = []string{}
	}
	if st, _, raw := b.w.Do(t, "POST", "/wp/v2/users/"+id, map[string]any{"roles": roles}); st != http.StatusOK {
		t.Fatalf("setting the roles of %s: %d %s", id, st, raw)
	}
}

func (b *wordpressBackend) makeAdmin(t *testing.T, id string) { b.setRoles(t, id, "administrator") }
func (b *wordpressBackend) blockByHand(t *testing.T, id string) {
	t.Skip(b.noBlock())
}

// renameByHand changes the login in the database, as a "username changer" plugin
// does: WordPress itself never renames an account (its REST API and its admin
// screens refuse), so only such a plugin or the database can.
func (b *wordpressBackend) renameByHand(t *testing.T, id, name string) {
	t.Helper()
	if _, err := strconv.Atoi(id); err != nil {
		t.Fatalf("WordPress ids are numeric, not %q", id)
	}
	b.w.SQL(t, fmt.Sprintf("UPDATE wp_users SET user_login = '%s' WHERE ID = %s", strings.ReplaceAll(name, "'", "''"), id))
}

// TestWordPressDeprovisioning: deprovisioning removes every role and reactivation
// gives the role param back, each when SCIM's active changes and only then: roles an
// administrator changed on an active account survive the IdP's pushes (Okta's PUT,
// Entra's PATCH of active true), a write that keeps an account inactive gives
// nothing back, and the reactivation replaces what the administrator gave.
func TestWordPressDeprovisioning(t *testing.T) {
	b := &wordpressBackend{w: testenv.WordPress(t)}
	e := start(t, b, "", "")
	name := testenv.UniqueName("roles") + "@example.com"
	body := oktaUser(name, "ext-"+name)
	id := str(e.c.do("POST", "/Users", body).want(t, 201).JSON, "id")
	roles := func() []string { a, _ := b.account(t, id); return a.Roles }
	if got := roles(); !slices.Equal(got, []string{"subscriber"}) {
		t.Fatalf("roles after create: %v", got)
	}
	b.setRoles(t, id, "editor")
	body["displayName"] = "Okta Push"
	e.c.do("PUT", "/Users/"+id, body).want(t, 200)
	active := func(v string) string {
		return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":` + v + `}]}`
	}
	e.c.do("PATCH", "/Users/"+id, active("true")).want(t, 200)
	if got := roles(); !slices.Equal(got, []string{"editor"}) {
		t.Fatalf("the IdP's pushes to an active account changed the roles an administrator gave: %v", got)
	}
	if r := e.c.do("PATCH", "/Users/"+id, active("false")).want(t, 200); r.JSON["active"] != false || len(roles()) != 0 {
		t.Fatalf("deprovision: active %v roles %v", r.JSON["active"], roles())
	}
	body["name"] = map[string]any{"givenName": "Still", "familyName": "Away"}
	body["active"] = false
	e.c.do("PUT", "/Users/"+id, body).want(t, 200)
	if got := e.c.do("GET", "/Users/"+id, nil).want(t, 200); got.JSON["active"] != false || len(roles()) != 0 {
		t.Fatalf("a write that keeps the account inactive: active %v roles %v", got.JSON["active"], roles())
	}
	if u := b.user(t, id); u.FullName != "Still Away" {
		t.Fatalf("the write of an inactive account was not applied: %+v", u)
	}
	if r := e.c.do("PATCH", "/Users/"+id, active("true")).want(t, 200); r.JSON["active"] != true || !slices.Equal(roles(), []string{"subscriber"}) {
		t.Fatalf("reactivation: active %v roles %v", r.JSON["active"], roles())
	}
}

// TestWordPressLoginStays: WordPress never changes a login, so a userName the IdP
// changes lives in the link store: SCIM answers to the new name and no longer to the
// old one, while the WordPress account keeps the login it was created with (and
// signs in with it, or with its e-mail, which SCIM does change).
func TestWordPressLoginStays(t *testing.T) {
	b := &wordpressBackend{w: testenv.WordPress(t)}
	e := start(t, b, "", "")
	old := "Old_" + testenv.UniqueName("e")
	id := str(e.c.do("POST", "/Users", entraUser(old, strings.ToLower(old)+"@example.com", "obj-"+old)).want(t, 201).JSON, "id")
	renamed := "New_" + testenv.UniqueName("e")
	e.c.do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
	  {"op":"Replace","path":"userName","value":"`+renamed+`"},
	  {"op":"Replace","path":"emails[type eq \"work\"].value","value":"`+strings.ToLower(renamed)+`@example.com"}]}`).want(t, 200)
	if got := resources(t, e.c.do("GET", "/Users?"+filterQuery(`userName eq "`+renamed+`"`), nil).want(t, 200)); len(got) != 1 || str(got[0], "id") != id {
		t.Fatalf("the new userName finds %v", got)
	}
	if got := resources(t, e.c.do("GET", "/Users?"+filterQuery(`userName eq "`+old+`"`), nil).want(t, 200)); len(got) != 0 {
		t.Fatalf("the old userName still finds %v", got)
	}
	if a, _ := b.account(t, id); a.Username != old || a.Email != strings.ToLower(renamed)+"@example.com" {
		t.Fatalf("WordPress's account: login %q e-mail %q; want the login %q kept and the e-mail changed", a.Username, a.Email, old)
	}
}

// TestWordPressTakenWithTheIndex: with the link index complete, a POST of a new
// identity goes to WordPress's create at once and relies on WordPress to refuse a
// login or e-mail a hand-made account holds. WordPress answers that with HTTP 500;
// the preset's error rules read it as taken, so the service gives its
// precise 409 (naming link_existing), or adopts the account when told to, and
// WordPress is left as it was.
func TestWordPressTakenWithTheIndex(t *testing.T) {
	b := &wordpressBackend{w: testenv.WordPress(t)}
	e := start(t, b, "", "")
	waitFor(t, "the index to be complete", func() bool { return indexGauge(t, e) == 1 })
	hand := testenv.UniqueName("hand")
	b.makeUnmanaged(t, hand, hand+"@example.com")
	before := b.count(t)
	byName := oktaUser(hand, "ext-"+hand)
	byName["emails"] = []any{map[string]any{"primary": true, "type": "work", "value": "other-" + hand + "@example.com"}}
	byEmail := oktaUser("other-"+hand, "ext-other-"+hand)
	byEmail["emails"] = []any{map[string]any{"primary": true, "type": "work", "value": strings.ToUpper(hand) + "@EXAMPLE.COM"}}
	for what, body := range map[string]map[string]any{"login": byName, "e-mail": byEmail} {
		r := e.c.do("POST", "/Users", body).wantError(t, 409, "uniqueness")
		if !strings.Contains(str(r.JSON, "detail"), "link_existing") {
			t.Errorf("a %s a hand-made account holds: %s", what, r.Body)
		}
	}
	if after := b.count(t); after != before {
		t.Fatalf("WordPress had %d users, now %d", before, after)
	}
	adopt := start(t, b, "link_existing email", "")
	waitFor(t, "the index to be complete", func() bool { return indexGauge(t, adopt) == 1 })
	if r := adopt.c.do("POST", "/Users", byEmail).want(t, 201); str(r.JSON, "userName") != "other-"+hand {
		t.Fatalf("adopted by e-mail: %s", r.Body)
	}
}
