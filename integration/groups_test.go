package integration_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// Groups against the real Gitea: SCIM groups are teams of one organization. Every
// test checks the team's real state through Gitea's own API.

const groupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group"

type groupEnv struct {
	*env
	g   *testenv.GiteaServer
	org string
}

// startGroups creates a fresh organization and starts Caddy with groups enabled.
func startGroups(t *testing.T, extra ...string) *groupEnv {
	t.Helper()
	g := testenv.Gitea(t)
	org := strings.ReplaceAll(testenv.UniqueName("org"), "_", "-")
	if st, _, b := g.Do(t, "POST", "/orgs", map[string]any{"username": org}); st != 201 {
		t.Fatalf("creating org %s: %d %s", org, st, b)
	}
	e := start(t, giteaBackend{g}, strings.Join(extra, "\n"), "organization "+org+"\n")
	return &groupEnv{env: e, g: g, org: org}
}

// team reads a team through Gitea's API; nil when it does not exist.
func (ge *groupEnv) team(t *testing.T, id string) map[string]any {
	t.Helper()
	st, _, b := ge.g.Do(t, "GET", "/teams/"+id, nil)
	if st == 404 {
		return nil
	}
	if st != 200 {
		t.Fatalf("gitea GET /teams/%s: %d %s", id, st, b)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// members returns the sorted Gitea user ids of a team's members, read from Gitea.
func (ge *groupEnv) members(t *testing.T, id string) []string {
	t.Helper()
	var out []string
	for page := 1; ; page++ {
		st, _, b := ge.g.Do(t, "GET", fmt.Sprintf("/teams/%s/members?limit=50&page=%d", id, page), nil)
		if st != 200 {
			t.Fatalf("gitea team members: %d %s", st, b)
		}
		var us []map[string]any
		_ = json.Unmarshal(b, &us)
		for _, u := range us {
			out = append(out, strconv.FormatInt(int64(u["id"].(float64)), 10))
		}
		if len(us) < 50 {
			break
		}
	}
	sortIDs(out)
	return out
}

func sortIDs(ids []string) {
	sort.Slice(ids, func(i, j int) bool {
		a, _ := strconv.Atoi(ids[i])
		b, _ := strconv.Atoi(ids[j])
		return a < b
	})
}

func (ge *groupEnv) wantMembers(t *testing.T, id string, want ...string) {
	t.Helper()
	want = slices.Clone(want)
	sortIDs(want)
	if got := ge.members(t, id); !slices.Equal(got, want) {
		t.Fatalf("gitea team %s members %v, want %v", id, got, want)
	}
}

// users creates n users through SCIM with some client concurrency.
func (ge *groupEnv) users(t *testing.T, n int) []string {
	t.Helper()
	ids := make([]string, n)
	prefix := testenv.UniqueName("gm")
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	var mu sync.Mutex
	var failed []string
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			login := fmt.Sprintf("%s-%d@example.com", prefix, i)
			r := ge.c.do("POST", "/Users", oktaUser(login, fmt.Sprintf("ext-%s-%d", prefix, i)))
			mu.Lock()
			defer mu.Unlock()
			if r.Status != 201 {
				failed = append(failed, fmt.Sprintf("%d: %s", r.Status, r.Body))
				return
			}
			ids[i] = str(r.JSON, "id")
		}()
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("%d user creates failed, first: %s", len(failed), failed[0])
	}
	return ids
}

func patchOps(ops ...string) string {
	return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + strings.Join(ops, ",") + `]}`
}

func memberValues(ids ...string) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = `{"value":"` + id + `"}`
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// upstreamCalls reads the adapter's upstream call counter from Caddy's /metrics.
func upstreamCalls(t *testing.T, e *env) int {
	t.Helper()
	n, ok := metricValue(t, e, "caddy_scim_upstream_requests_total")
	if !ok {
		t.Fatal("no caddy_scim_upstream_requests_total in /metrics")
	}
	return n
}

// metricValue reads one integer series of the handler from Caddy's /metrics.
func metricValue(t *testing.T, e *env, name string) (int, bool) {
	t.Helper()
	r, err := http.Get(e.caddy.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\{[^}]*\} (\d+)`).FindSubmatch(b)
	if m == nil {
		return 0, false
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n, true
}

// Okta Group Push (idp-clients.md §3.1): POST an empty group, rename through a
// pathless replace that carries the id, remove-by-filter + add, full replace
// (also to []), DELETE.
func TestGroupOktaPush(t *testing.T) {
	ge := startGroups(t)
	c := ge.c
	u := ge.users(t, 3)

	cr := c.do("POST", "/Groups", map[string]any{"schemas": []string{groupSchema}, "displayName": "Test SCIMv2", "members": []any{}}).want(t, 201)
	gid := str(cr.JSON, "id")
	if gid == "" || str(cr.JSON, "displayName") != "Test SCIMv2" || !strings.HasSuffix(cr.Header.Get("Location"), "/Groups/"+gid) {
		t.Fatalf("created group: %s", cr.Body)
	}
	tm := ge.team(t, gid)
	if tm == nil || tm["name"] != "Test-SCIMv2" || tm["description"] != "Test SCIMv2 [scim:]" ||
		tm["units_map"].(map[string]any)["repo.code"] != "read" {
		t.Fatalf("gitea team after POST: %v", tm)
	}
	ge.wantMembers(t, gid)

	// rename, Okta style: pathless replace with id inside the value
	c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"replace","value":{"id":"`+gid+`","displayName":"Test SCIMv2 Renamed"}}`)).want(t, 204)
	if tm := ge.team(t, gid); tm["name"] != "Test-SCIMv2-Renamed" || tm["description"] != "Test SCIMv2 Renamed [scim:]" {
		t.Fatalf("gitea team after rename: %v", tm)
	}

	c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"add","path":"members","value":`+memberValues(u[0], u[1])+`}`)).want(t, 204)
	ge.wantMembers(t, gid, u[0], u[1])

	// Okta membership update: remove by filter, add the other, with the rename op again
	c.do("PATCH", "/Groups/"+gid, patchOps(
		`{"op":"replace","value":{"id":"`+gid+`","displayName":"Test SCIMv2 Renamed"}}`,
		`{"op":"remove","path":"members[value eq \"`+u[0]+`\"]"}`,
		`{"op":"add","path":"members","value":[{"value":"`+u[2]+`","display":"x@okta.example.com"}]}`)).want(t, 204)
	ge.wantMembers(t, gid, u[1], u[2])

	got := c.do("GET", "/Groups/"+gid, nil).want(t, 200)
	if ms, _ := got.JSON["members"].([]any); len(ms) != 2 || got.Header.Get("ETag") == "" {
		t.Fatalf("GET group: %s", got.Body)
	}

	// "Push now": full replace, then replace with []
	c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"replace","path":"members","value":`+memberValues(u[0], u[2])+`}`)).want(t, 204)
	ge.wantMembers(t, gid, u[0], u[2])
	c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"replace","path":"members","value":[]}`)).want(t, 204)
	ge.wantMembers(t, gid)

	// PATCH with attributes answers 200 and the group
	r := c.do("PATCH", "/Groups/"+gid+"?attributes=displayName,members", patchOps(`{"op":"add","path":"members","value":`+memberValues(u[1])+`}`)).want(t, 200)
	if str(r.JSON, "displayName") != "Test SCIMv2 Renamed" {
		t.Fatalf("PATCH with attributes: %s", r.Body)
	}
	ge.wantMembers(t, gid, u[1])

	// the user's read-only groups attribute: returned on request
	if plain := c.do("GET", "/Users/"+u[1], nil).want(t, 200); strings.Contains(string(plain.Body), `"groups"`) {
		t.Fatalf("a GET without attributes=groups carries groups (returned \"request\"): %s", plain.Body)
	}
	ur := c.do("GET", "/Users/"+u[1]+"?attributes=groups", nil).want(t, 200)
	if gs, _ := ur.JSON["groups"].([]any); len(gs) != 1 || gs[0].(map[string]any)["value"] != gid || gs[0].(map[string]any)["display"] != "Test SCIMv2 Renamed" {
		t.Fatalf("user groups: %s", ur.Body)
	}
	if ul := c.do("GET", "/Users?"+filterQuery(`id eq "`+u[1]+`"`), nil).want(t, 200); strings.Contains(string(ul.Body), `"groups"`) {
		t.Fatalf("list answer carries groups without attributes=groups: %s", ul.Body)
	}
	if ul := c.do("GET", "/Users?attributes=groups&"+filterQuery(`id eq "`+u[1]+`"`), nil).want(t, 200); !strings.Contains(string(ul.Body), gid) {
		t.Fatalf("list with attributes=groups: %s", ul.Body)
	}

	// members filter
	mf := resources(t, c.do("GET", "/Groups?"+filterQuery(`members[value eq "`+u[1]+`"]`), nil).want(t, 200))
	if len(mf) != 1 || str(mf[0], "id") != gid {
		t.Fatalf("members filter: %v", mf)
	}

	c.do("DELETE", "/Groups/"+gid, nil).want(t, 204)
	c.do("GET", "/Groups/"+gid, nil).wantError(t, 404, "")
	c.do("DELETE", "/Groups/"+gid, nil).wantError(t, 404, "")
	if ge.team(t, gid) != nil {
		t.Fatal("gitea team still exists after DELETE")
	}
}

// Entra ID (idp-clients.md §3.2): existence check excluding members, POST with the
// ADSCIM schema and externalId, Add with several values, Remove with a value list.
func TestGroupEntra(t *testing.T) {
	ge := startGroups(t)
	c := ge.c
	u := ge.users(t, 4)
	name := "Entra Group " + testenv.UniqueName("g")
	ext := "7f4b3c2a-" + testenv.UniqueName("e")

	none := c.do("GET", "/Groups?excludedAttributes=members&"+filterQuery(`displayName eq "`+name+`"`), nil).want(t, 200)
	if len(resources(t, none)) != 0 {
		t.Fatalf("found before create: %s", none.Body)
	}
	cr := c.do("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group","http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
		"externalId":"`+ext+`","displayName":"`+name+`","meta":{"resourceType":"Group"}}`).want(t, 201)
	gid := str(cr.JSON, "id")
	if str(cr.JSON, "externalId") != ext {
		t.Fatalf("created: %s", cr.Body)
	}
	if d, _ := ge.team(t, gid)["description"].(string); d != name+" [scim:"+ext+"]" {
		t.Fatalf("team description %q", d)
	}

	// case-insensitive displayName filter; externalId and id filters
	for _, f := range []string{`displayName eq "` + strings.ToUpper(name) + `"`, `externalId eq "` + ext + `"`, `id eq "` + gid + `"`} {
		rs := resources(t, c.do("GET", "/Groups?excludedAttributes=members&"+filterQuery(f), nil).want(t, 200))
		if len(rs) != 1 || str(rs[0], "id") != gid {
			t.Fatalf("filter %s: %v", f, rs)
		}
		if _, has := rs[0]["members"]; has {
			t.Fatalf("members returned despite excludedAttributes: %v", rs[0])
		}
	}

	c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"Add","path":"members","value":[{"$ref":null,"value":"`+u[0]+`"},{"$ref":null,"value":"`+u[1]+`"},{"value":"`+u[2]+`"},{"value":"`+u[3]+`"}]}`)).want(t, 204)
	ge.wantMembers(t, gid, u...)
	// remove with a value list removes only those
	c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"Remove","path":"members","value":`+memberValues(u[1], u[3])+`}`)).want(t, 204)
	ge.wantMembers(t, gid, u[0], u[2])
	// Replace displayName and externalId
	c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"Replace","path":"displayName","value":"`+name+` 2"}`, `{"op":"Replace","path":"externalId","value":"`+ext+`-2"}`)).want(t, 204)
	ge.wantMembers(t, gid, u[0], u[2])

	one := c.do("GET", "/Groups/"+gid+"?excludedAttributes=members", nil).want(t, 200)
	if _, has := one.JSON["members"]; has || str(one.JSON, "displayName") != name+" 2" || str(one.JSON, "externalId") != ext+"-2" {
		t.Fatalf("GET excluding members: %s", one.Body)
	}

	// duplicate displayName (case-insensitive) on POST and on rename
	c.do("POST", "/Groups", map[string]any{"schemas": []string{groupSchema}, "displayName": strings.ToLower(name + " 2")}).wantError(t, 409, "uniqueness")
	other := c.do("POST", "/Groups", map[string]any{"schemas": []string{groupSchema}, "displayName": name + " other"}).want(t, 201)
	c.do("PATCH", "/Groups/"+str(other.JSON, "id"), patchOps(`{"op":"replace","path":"displayName","value":"`+strings.ToUpper(name+" 2")+`"}`)).wantError(t, 409, "uniqueness")
	// same slug, other displayName: the team name gets a suffix
	dup := c.do("POST", "/Groups", map[string]any{"schemas": []string{groupSchema}, "displayName": name + "!2"}).want(t, 201)
	if n1, n2 := ge.team(t, gid)["name"], ge.team(t, str(dup.JSON, "id"))["name"]; n1 == n2 {
		t.Fatalf("two teams named %v", n1)
	}

	// {"op":"remove","path":"members"} empties the group
	c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"remove","path":"members"}`)).want(t, 204)
	ge.wantMembers(t, gid)

	// PUT with a full member list
	pr := c.do("PUT", "/Groups/"+gid, map[string]any{"schemas": []string{groupSchema}, "id": gid, "displayName": name + " 2",
		"members": []any{map[string]any{"value": u[1]}, map[string]any{"value": u[2]}}}).want(t, 200)
	if ms, _ := pr.JSON["members"].([]any); len(ms) != 2 {
		t.Fatalf("PUT answer: %s", pr.Body)
	}
	ge.wantMembers(t, gid, u[1], u[2])
	if str(c.do("GET", "/Groups/"+gid, nil).want(t, 200).JSON, "externalId") != "" {
		t.Fatal("PUT without externalId kept it")
	}

	// list, paging and sorting
	lr := c.do("GET", "/Groups?sortBy=displayName&sortOrder=descending&startIndex=1&count=2&excludedAttributes=members", nil).want(t, 200)
	if rs := resources(t, lr); len(rs) != 2 || lr.JSON["totalResults"].(float64) != 3 || str(rs[0], "displayName") < str(rs[1], "displayName") {
		t.Fatalf("sorted page: %s", lr.Body)
	}
}

// Discovery lists Group only with groups enabled; without organization /Groups is 501.
func TestGroupDiscoveryAndDisabled(t *testing.T) {
	ge := startGroups(t)
	rt := ge.c.do("GET", "/ResourceTypes/Group", nil).want(t, 200)
	if str(rt.JSON, "endpoint") != "/Groups" {
		t.Fatalf("ResourceTypes/Group: %s", rt.Body)
	}
	ge.c.do("GET", "/Schemas/"+groupSchema, nil).want(t, 200)

	off := start(t, giteaBackend{ge.g}, "", "")
	off.c.do("GET", "/Groups", nil).wantError(t, 501, "")
	off.c.do("GET", "/ResourceTypes/Group", nil).wantError(t, 404, "")
	if u := off.c.do("GET", "/Users?count=1", nil).want(t, 200); u.Status != 200 {
		t.Fatal("users broken without groups")
	}

	// an organization that does not exist: a clear 502 naming the option
	missing := start(t, giteaBackend{ge.g}, "", "organization no-such-org-"+strings.ToLower(testenv.UniqueName("x"))+"\n")
	r := missing.c.do("GET", "/Groups", nil).wantError(t, 502, "")
	if !strings.Contains(str(r.JSON, "detail"), "organization") {
		t.Fatalf("detail: %s", r.Body)
	}
}

// Unknown member ids are 400 before anything is applied.
// With unknown_members reject, an unknown member fails the whole write.
func TestGroupUnknownMember(t *testing.T) {
	ge := startGroups(t, "unknown_members reject")
	c := ge.c
	u := ge.users(t, 2)
	name := "Unknown " + testenv.UniqueName("g")
	r := c.do("POST", "/Groups", map[string]any{"schemas": []string{groupSchema}, "displayName": name,
		"members": []any{map[string]any{"value": u[0]}, map[string]any{"value": "999999999"}}}).wantError(t, 400, "invalidValue")
	if !strings.Contains(str(r.JSON, "detail"), "999999999") {
		t.Fatalf("detail does not name the member: %s", r.Body)
	}
	if rs := resources(t, c.do("GET", "/Groups?"+filterQuery(`displayName eq "`+name+`"`), nil).want(t, 200)); len(rs) != 0 {
		t.Fatal("group created despite 400")
	}
	gid := str(c.do("POST", "/Groups", map[string]any{"schemas": []string{groupSchema}, "displayName": name,
		"members": []any{map[string]any{"value": u[0]}}}).want(t, 201).JSON, "id")
	ge.wantMembers(t, gid, u[0])
	// an unmanaged Gitea user is no SCIM user either
	um := ge.g.CreateUnmanagedUser(t, testenv.UniqueName("hand"), testenv.UniqueName("hand")+"@example.com")
	umID := strconv.FormatInt(int64(um["id"].(float64)), 10)
	for _, body := range []string{
		patchOps(`{"op":"remove","path":"members[value eq \"`+u[0]+`\"]"}`, `{"op":"add","path":"members","value":`+memberValues(u[1], "nope")+`}`),
		patchOps(`{"op":"add","path":"members","value":` + memberValues(u[1], umID) + `}`),
	} {
		c.do("PATCH", "/Groups/"+gid, body).wantError(t, 400, "invalidValue")
		ge.wantMembers(t, gid, u[0])
	}
	c.do("PUT", "/Groups/"+gid, map[string]any{"schemas": []string{groupSchema}, "displayName": name,
		"members": []any{map[string]any{"value": u[1]}, map[string]any{"value": "12345678"}}}).wantError(t, 400, "invalidValue")
	ge.wantMembers(t, gid, u[0])
	// a team member added by hand in Gitea is invisible to SCIM and survives a full replace
	if st, _, b := ge.g.Do(t, "PUT", "/teams/"+gid+"/members/"+um["login"].(string), nil); st != 204 {
		t.Fatalf("adding by hand: %d %s", st, b)
	}
	c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"replace","path":"members","value":`+memberValues(u[1])+`}`)).want(t, 204)
	ge.wantMembers(t, gid, u[1], umID)
}

// By default one unknown member no longer blocks a group push (#11): the known
// members are applied, the unknown ones skipped, counted and logged with their ids,
// and the request succeeds.
func TestGroupUnknownMemberSkipped(t *testing.T) {
	ge := startGroups(t)
	c := ge.c
	u := ge.users(t, 3)
	r := c.do("POST", "/Groups", map[string]any{"schemas": []string{groupSchema}, "displayName": "Skip " + testenv.UniqueName("g"),
		"members": []any{map[string]any{"value": u[0]}, map[string]any{"value": "999999999"}}}).want(t, 201)
	gid := str(r.JSON, "id")
	ge.wantMembers(t, gid, u[0])
	if strings.Contains(string(r.Body), "999999999") {
		t.Errorf("the answer lists the skipped member: %s", r.Body)
	}
	um := ge.g.CreateUnmanagedUser(t, testenv.UniqueName("hand"), testenv.UniqueName("hand")+"@example.com")
	umID := strconv.FormatInt(int64(um["id"].(float64)), 10)
	c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"add","path":"members","value":`+memberValues(u[1], umID, "nope", u[2])+`}`)).want(t, 204)
	ge.wantMembers(t, gid, u[0], u[1], u[2])
	if !ge.caddy.LogsContain("scim group members skipped") || !ge.caddy.LogsContain("999999999") || !ge.caddy.LogsContain(umID) {
		t.Error("the skipped members were not logged with their ids")
	}
	if v, _ := metricValue(t, ge.env, "caddy_scim_unknown_members_total"); v != 3 {
		t.Errorf("caddy_scim_unknown_members_total = %v, want 3", v)
	}
}

// Deprovisioned users (active=false) can still be added and removed.
func TestGroupDeprovisionedMember(t *testing.T) {
	ge := startGroups(t, "unknown_members reject")
	c := ge.c
	u := ge.users(t, 2)
	gid := str(c.do("POST", "/Groups", map[string]any{"schemas": []string{groupSchema}, "displayName": "Deprov " + testenv.UniqueName("g"),
		"members": []any{map[string]any{"value": u[0]}}}).want(t, 201).JSON, "id")
	for _, id := range u {
		c.do("PATCH", "/Users/"+id, patchOps(`{"op":"replace","value":{"active":false}}`)).want(t, 200)
	}
	if !ge.up.user(t, u[1]).Blocked {
		t.Fatal("user not blocked")
	}
	ge.wantMembers(t, gid, u[0])
	c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"add","path":"members","value":`+memberValues(u[1])+`}`)).want(t, 204)
	ge.wantMembers(t, gid, u[0], u[1])
	c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"remove","path":"members[value eq \"`+u[0]+`\"]"}`)).want(t, 204)
	ge.wantMembers(t, gid, u[1])
	// a SCIM-DELETEd user is no longer a valid member
	c.do("DELETE", "/Users/"+u[0], nil).want(t, 204)
	c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"add","path":"members","value":`+memberValues(u[0])+`}`)).wantError(t, 400, "invalidValue")
}

// A member change Gitea refuses (the org blocked the user) is an error naming the
// member; the other changes are applied, and a retry after the cause is fixed
// completes the request.
func TestGroupPartialFailureRetry(t *testing.T) {
	ge := startGroups(t)
	c := ge.c
	u := ge.users(t, 3)
	gid := str(c.do("POST", "/Groups", map[string]any{"schemas": []string{groupSchema}, "displayName": "Partial " + testenv.UniqueName("g")}).want(t, 201).JSON, "id")
	login := ge.g.UserByID(t, mustInt(t, u[1]))["login"].(string)
	if st, _, b := ge.g.Do(t, "PUT", "/orgs/"+ge.org+"/blocks/"+login, nil); st != 204 {
		t.Fatalf("blocking in org: %d %s", st, b)
	}
	body := patchOps(`{"op":"add","path":"members","value":` + memberValues(u...) + `}`)
	r := c.do("PATCH", "/Groups/"+gid, body).wantError(t, 502, "")
	if d := str(r.JSON, "detail"); !strings.Contains(d, `"`+u[1]+`"`) || strings.Contains(d, `"`+u[0]+`"`) {
		t.Fatalf("detail: %s", d)
	}
	ge.wantMembers(t, gid, u[0], u[2])
	if st, _, b := ge.g.Do(t, "DELETE", "/orgs/"+ge.org+"/blocks/"+login, nil); st != 204 {
		t.Fatalf("unblocking: %d %s", st, b)
	}
	c.do("PATCH", "/Groups/"+gid, body).want(t, 204)
	ge.wantMembers(t, gid, u...)
}

func mustInt(t *testing.T, s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Concurrent PATCHes that add different members all survive (deltas, no
// read-modify-write of the whole list upstream).
func TestGroupConcurrentPatches(t *testing.T) {
	ge := startGroups(t)
	c := ge.c
	u := ge.users(t, 8)
	gid := str(c.do("POST", "/Groups", map[string]any{"schemas": []string{groupSchema}, "displayName": "Race " + testenv.UniqueName("g")}).want(t, 201).JSON, "id")
	var wg sync.WaitGroup
	for _, id := range u {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"add","path":"members","value":`+memberValues(id)+`}`)); r.Status != 204 {
				t.Errorf("PATCH %s: %d %s", id, r.Status, r.Body)
			}
		}()
	}
	wg.Wait()
	ge.wantMembers(t, gid, u...)
}

// A group of 500 members: created through SCIM, with the time and upstream calls logged.
func TestGroupLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 500 users")
	}
	ge := startGroups(t)
	c := ge.c
	t0 := time.Now()
	u := ge.users(t, 500)
	t.Logf("500 users created in %v", time.Since(t0).Round(time.Millisecond))

	calls0, t1 := upstreamCalls(t, ge.env), time.Now()
	ms := make([]any, len(u))
	for i, id := range u {
		ms[i] = map[string]any{"value": id}
	}
	gid := str(c.do("POST", "/Groups", map[string]any{"schemas": []string{groupSchema}, "displayName": "Big " + testenv.UniqueName("g"), "members": ms}).want(t, 201).JSON, "id")
	t.Logf("POST group with 500 members: %v, %d upstream calls", time.Since(t1).Round(time.Millisecond), upstreamCalls(t, ge.env)-calls0)
	ge.wantMembers(t, gid, u...)

	calls0, t1 = upstreamCalls(t, ge.env), time.Now()
	g := c.do("GET", "/Groups/"+gid, nil).want(t, 200)
	if n := len(g.JSON["members"].([]any)); n != 500 {
		t.Fatalf("GET returned %d members", n)
	}
	t.Logf("GET group with 500 members: %v, %d upstream calls", time.Since(t1).Round(time.Millisecond), upstreamCalls(t, ge.env)-calls0)

	calls0, t1 = upstreamCalls(t, ge.env), time.Now()
	c.do("GET", "/Groups/"+gid+"?excludedAttributes=members", nil).want(t, 200)
	t.Logf("GET group excluding members: %d upstream calls", upstreamCalls(t, ge.env)-calls0)

	// replace with half the list: 250 removals
	calls0, t1 = upstreamCalls(t, ge.env), time.Now()
	c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"replace","path":"members","value":`+memberValues(u[:250]...)+`}`)).want(t, 204)
	t.Logf("PATCH replace 500 → 250 members: %v, %d upstream calls", time.Since(t1).Round(time.Millisecond), upstreamCalls(t, ge.env)-calls0)
	ge.wantMembers(t, gid, u[:250]...)

	calls0 = upstreamCalls(t, ge.env)
	c.do("GET", "/Users/"+u[0], nil).want(t, 200)
	t.Logf("GET user with groups: %d upstream calls", upstreamCalls(t, ge.env)-calls0)
}

// TestGroupOwnersTeamNeverManaged (#11 case 8) through Caddy: a description ending
// in the SCIM marker used to make the Owners team a SCIM group whose members a
// PATCH could replace.
func TestGroupOwnersTeamNeverManaged(t *testing.T) {
	ge := startGroups(t)
	var teams []map[string]any
	st, _, b := ge.g.Do(t, "GET", "/orgs/"+ge.org+"/teams", nil)
	if st != 200 || json.Unmarshal(b, &teams) != nil || len(teams) != 1 {
		t.Fatalf("teams: %d %s", st, b)
	}
	owners := strconv.FormatInt(int64(teams[0]["id"].(float64)), 10)
	if st, _, b := ge.g.Do(t, "PATCH", "/teams/"+owners, map[string]any{"name": "Owners", "description": "Admins [scim:]"}); st != 200 {
		t.Fatalf("describing Owners: %d %s", st, b)
	}
	if rs := resources(t, ge.c.do("GET", "/Groups", nil).want(t, 200)); len(rs) != 0 {
		t.Fatalf("the Owners team is listed: %v", rs)
	}
	ge.c.do("GET", "/Groups/"+owners, nil).wantError(t, 404, "")
	ge.c.do("PATCH", "/Groups/"+owners, patchOps(`{"op":"replace","path":"members","value":[]}`)).wantError(t, 404, "")
	ge.c.do("DELETE", "/Groups/"+owners, nil).wantError(t, 404, "")
	if ge.team(t, owners) == nil {
		t.Fatal("the Owners team is gone")
	}
}
