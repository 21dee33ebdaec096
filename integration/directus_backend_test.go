package integration_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// Directus refuses e-mail addresses under a TLD that IANA does not list (.test, .local,
// .example; "Value has to be a valid email address"): the suites use example.com.
func init() {
	moreBackends = append(moreBackends, func(t *testing.T) backend { return directusBackend{testenv.Directus(t)} })
}

// directusBackend is the test binary's real Directus 12, provisioned through the rest
// adapter's directus preset. Directus has no usernames: the preset keeps the
// userName in the custom field scim_user_name, which an operator fills in for an
// account made by hand.
type directusBackend struct{ d *testenv.DirectusServer }

func (b directusBackend) name() string  { return "directus" }
func (b directusBackend) groups() bool  { return true }
func (b directusBackend) oneName() bool { return false }
func (b directusBackend) adapter(extra string) (string, []string) {
	return fmt.Sprintf("adapter rest {\n\turl %s\n\tpreset directus\n\ttoken {env.DIRECTUS_TOKEN}\n%s}", b.d.URL, extra),
		[]string{"DIRECTUS_TOKEN=" + b.d.Token}
}
func (b directusBackend) proxy() string     { return strings.TrimPrefix(b.d.URL, "http://") }
func (b directusBackend) adminName() string { return b.d.AdminName }

// user reads account id through a filtered listing: Directus answers 403, not 404,
// for an id it does not have.
func (b directusBackend) user(t *testing.T, id string) upstreamUser {
	filter := url.QueryEscape(fmt.Sprintf(`{"id":{"_eq":%q}}`, id))
	st, raw := b.d.Do(t, "GET", "/users?fields=email,first_name,last_name,status,scim_external_id&filter="+filter, nil)
	var out struct {
		Data []struct {
			Email, Status string
			FirstName     string `json:"first_name"`
			LastName      string `json:"last_name"`
			ExternalID    string `json:"scim_external_id"`
		}
	}
	if st != http.StatusOK || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("directus user %s: %d %.200s", id, st, raw)
	}
	if len(out.Data) == 0 {
		return upstreamUser{}
	}
	u := out.Data[0]
	return upstreamUser{Exists: true, Email: u.Email, FullName: strings.TrimSpace(u.FirstName + " " + u.LastName),
		Blocked: u.Status != "active", State: u.Status, Linked: u.ExternalID}
}

func (b directusBackend) count(t *testing.T) int {
	st, raw := b.d.Do(t, "GET", "/users?limit=0&meta=total_count", nil)
	var out struct {
		Meta struct {
			TotalCount int `json:"total_count"`
		}
	}
	if st != http.StatusOK || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("directus users: %d %.200s", st, raw)
	}
	return out.Meta.TotalCount
}

func (b directusBackend) makeUnmanaged(t *testing.T, username, email string) {
	if st, raw := b.d.Do(t, "POST", "/users?fields=id", map[string]any{"email": email, "first_name": "Hand", "last_name": "Made",
		"password": "Aa1!hand-made-password", "status": "active", "scim_user_name": username, "scim_user_key": strings.ToLower(username)}); st != http.StatusOK {
		t.Fatalf("creating an account by hand: %d %s", st, raw)
	}
}

func (b directusBackend) patch(t *testing.T, id string, fields map[string]any) {
	if st, raw := b.d.Do(t, "PATCH", "/users/"+id+"?fields=id", fields); st != http.StatusOK {
		t.Fatalf("changing account %s by hand: %d %s", id, st, raw)
	}
}

// makeAdmin puts the account in the administrators' role. Directus without a license
// counts at most three active accounts with app or admin access (seats).
func (b directusBackend) makeAdmin(t *testing.T, id string) {
	b.patch(t, id, map[string]any{"role": b.d.AdminRole})
}
func (b directusBackend) blockByHand(t *testing.T, id string) {
	b.patch(t, id, map[string]any{"status": "suspended"})
}

// renameByHand changes the username an administrator filled in: an account's owner
// cannot change scim_user_name.
func (b directusBackend) renameByHand(t *testing.T, id, name string) {
	b.patch(t, id, map[string]any{"scim_user_name": name, "scim_user_key": strings.ToLower(name)})
}

// directusPolicy reads a policy's name and member user ids from Directus itself;
// ok=false when it does not exist.
func directusPolicy(t *testing.T, d *testenv.DirectusServer, id string) (name string, members []string, ok bool) {
	t.Helper()
	filter := url.QueryEscape(fmt.Sprintf(`{"id":{"_eq":%q}}`, id))
	st, raw := d.Do(t, "GET", "/policies?fields=name,users.user&deep="+url.QueryEscape(`{"users":{"_limit":-1}}`)+"&filter="+filter, nil)
	var out struct {
		Data []struct {
			Name  string
			Users []struct{ User *string }
		}
	}
	if st != http.StatusOK || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("directus policy %s: %d %.200s", id, st, raw)
	}
	if len(out.Data) == 0 {
		return "", nil, false
	}
	for _, u := range out.Data[0].Users {
		if u.User != nil {
			members = append(members, *u.User)
		}
	}
	slices.Sort(members)
	return out.Data[0].Name, members, true
}

// TestGroupDirectus: Okta's and Entra's group traffic through a real Caddy onto
// Directus' policies through the rest adapter's directus preset, checked in
// Directus; a policy made by hand stays invisible, and a policy's role assignments
// are no members.
func TestGroupDirectus(t *testing.T) {
	d := testenv.Directus(t)
	e := start(t, directusBackend{d}, "", "")
	f := runGroupFlow(t, e.c, "dg", "directus policy", func(t *testing.T, gid string) (string, []string, bool) { return directusPolicy(t, d, gid) },
		func(f *groupFlow) {
			// a role given the policy in Directus is no member, and stays
			st, raw := d.Do(t, "POST", "/access?fields=id", map[string]any{"role": d.AdminRole, "policy": f.okta})
			if st != http.StatusOK {
				t.Fatalf("giving the policy to a role: %d %s", st, raw)
			}
			members := resources(t, f.c.do("GET", "/Groups?"+filterQuery(`displayName eq "`+f.oktaName+`"`), nil).want(t, 200))
			if len(members) != 1 || len(members[0]["members"].([]any)) != 2 {
				t.Fatalf("group with a role assignment: %v", members)
			}
		})

	// a policy made in Directus by hand is invisible to SCIM
	if st, raw := d.Do(t, "POST", "/policies?fields=id", map[string]any{"name": testenv.UniqueName("Hand Policy "), "icon": "badge"}); st != http.StatusOK {
		t.Fatalf("a policy by hand: %d %s", st, raw)
	}
	f.onlyOurs(t)
	f.deleteBoth(t)
}
