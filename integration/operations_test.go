package integration_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// admin GETs path from Caddy's admin API and decodes the JSON answer.
func admin(t *testing.T, e *env, path string, v any) int {
	t.Helper()
	resp, err := http.Get(e.caddy.Admin + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("admin %s: %d %s", path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

type auditEvent struct {
	Op, Caller, Auth, ID, ExternalID, Name, ScimType, Detail, Method string
	Status, UpstreamCalls                                            int
}

func (a *auditEvent) UnmarshalJSON(b []byte) error {
	var m struct {
		Op            string `json:"op"`
		Caller        string `json:"caller"`
		Auth          string `json:"auth"`
		ID            string `json:"id"`
		ExternalID    string `json:"external_id"`
		Name          string `json:"name"`
		ScimType      string `json:"scim_type"`
		Detail        string `json:"detail"`
		Method        string `json:"method"`
		Status        int    `json:"status"`
		UpstreamCalls int    `json:"upstream_calls"`
	}
	err := json.Unmarshal(b, &m)
	*a = auditEvent(m)
	return err
}

// TestAuditAndHealth (#15): after Okta-shaped provisioning through a real Caddy on
// Gitea with Redis, the admin API reports the upstream and Redis healthy and shows
// every write and refusal as an audit event (from the shared Redis stream), naming
// the caller and the resource and never the token; a Caddy whose Gitea token is
// wrong is unavailable, and says why.
func TestAuditAndHealth(t *testing.T) {
	g := giteaBackend{testenv.Gitea(t)}
	prefix := testenv.UniqueName("ops") + ":"
	e := start(t, g, redisBlock(t, prefix), "")
	waitFor(t, "the index to be complete", func() bool { return indexGauge(t, e) == 1 })

	login := testenv.UniqueName("audit") + "@example.com"
	id := str(e.c.do("POST", "/Users", oktaUser(login, "ext-"+login)).want(t, 201).JSON, "id")
	e.c.do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`).want(t, 200)
	e.c.do("POST", "/Users", oktaUser(login, "ext-other")).wantError(t, 409, "uniqueness")
	e.c.do("GET", "/Users/"+id, nil).want(t, 200)
	newClient(t, e.caddy.URL+"/scim/v2", "wrong-token-0123456789").do("GET", "/Users", nil).wantError(t, 401, "")

	var health struct {
		Status   string `json:"status"`
		Handlers []struct {
			Status   string `json:"status"`
			Adapter  string `json:"adapter"`
			Upstream struct {
				OK    bool   `json:"ok"`
				Error string `json:"error"`
			} `json:"upstream"`
			Redis *struct {
				OK    bool   `json:"ok"`
				Index string `json:"index"`
			} `json:"redis"`
		} `json:"handlers"`
	}
	if st := admin(t, e, "/scim/health", &health); st != 200 || health.Status != "ok" || len(health.Handlers) != 1 ||
		!health.Handlers[0].Upstream.OK || health.Handlers[0].Redis == nil || health.Handlers[0].Redis.Index != "complete" {
		t.Fatalf("health %d %+v", st, health)
	}
	if v, ok := metricValue(t, e, "caddy_scim_upstream_healthy"); !ok || v != 1 {
		t.Errorf("caddy_scim_upstream_healthy %d (%v), want 1", v, ok)
	}

	var events struct{ Events []auditEvent }
	waitFor(t, "the audit events in Redis", func() bool {
		admin(t, e, "/scim/events?limit=10", &events)
		return len(events.Events) >= 4
	})
	got := events.Events // newest first
	want := []auditEvent{
		{Op: "users.list", Status: 401, Caller: ""},
		{Op: "users.create", Status: 409, Caller: "token#1", Auth: "token", ExternalID: "ext-other", Name: login, ScimType: "uniqueness"},
		{Op: "users.patch", Status: 200, Caller: "token#1", ID: id, ExternalID: "ext-" + login, Name: login},
		{Op: "users.create", Status: 201, Caller: "token#1", ID: id, ExternalID: "ext-" + login, Name: login},
	}
	if len(got) != 4 {
		t.Fatalf("%d events, want 4 (the GET is not audited): %+v", len(got), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Op != w.Op || g.Status != w.Status || g.Caller != w.Caller || g.ID != w.ID || g.ExternalID != w.ExternalID ||
			g.Name != w.Name || (w.ScimType != "" && g.ScimType != w.ScimType) {
			t.Errorf("event %d: %+v, want %+v", i+1, g, w)
		}
	}
	if got[3].UpstreamCalls < 1 || got[2].UpstreamCalls < 1 {
		t.Errorf("writes without upstream calls: %+v", got)
	}
	raw, _ := json.Marshal(events)
	if strings.Contains(string(raw), scimToken) || strings.Contains(string(raw), "wrong-token") || strings.Contains(string(raw), "1mz050nq") {
		t.Fatalf("an audit event holds a credential: %s", raw)
	}
	if n := strings.Count(e.caddy.Logs(), `"logger":"http.handlers.scim.audit"`); n != 4 {
		t.Errorf("%d audit log lines, want 4", n)
	}

	// the same plugin with a Gitea token Gitea does not know
	bad := start(t, badToken{g}, "", "")
	var badHealth struct {
		Status   string `json:"status"`
		Handlers []struct {
			Upstream struct {
				OK    bool   `json:"ok"`
				Error string `json:"error"`
			} `json:"upstream"`
		} `json:"handlers"`
	}
	if st := admin(t, bad, "/scim/health", &badHealth); st != 503 || badHealth.Status != "unavailable" ||
		badHealth.Handlers[0].Upstream.OK || !strings.Contains(badHealth.Handlers[0].Upstream.Error, "credential") {
		t.Fatalf("health with a bad token: %d %+v", st, badHealth)
	}
	t.Logf("with a bad token: %s", badHealth.Handlers[0].Upstream.Error)
}

// badToken is Gitea with an admin token Gitea does not know.
type badToken struct{ giteaBackend }

func (b badToken) adapter(extra string) (string, []string) {
	block, _ := b.giteaBackend.adapter(extra)
	return block, []string{"GITEA_TOKEN=" + fmt.Sprintf("%040d", 7)}
}

type driftAccount struct {
	ID       string `json:"id"`
	UserName string `json:"user_name"`
	Detail   string `json:"detail"`
}

// TestDriftReport (#15): after provisioning through a real Caddy on Gitea, changes
// made in Gitea by hand — an account blocked, one renamed, one deleted, an account
// and a team member SCIM does not manage — are what `caddy scim report` and the
// admin API's /scim/report show.
func TestDriftReport(t *testing.T) {
	ge, _ := startFaultyGroups(t) // the proxy stays clear: real Gitea answers
	// a tenant of its own: the shared Gitea holds other tests' accounts of the
	// default tenant, with links in other stores (each would be "not provable" here)
	rc := redisBlock(t, testenv.UniqueName("drift")+":") + "\ntenant " + testenv.UniqueName("drift")
	e := start(t, giteaBackend{ge.g}, rc, "organization "+ge.org+"\n")
	waitFor(t, "the index to be complete", func() bool { return indexGauge(t, e) == 1 })
	g := giteaBackend{ge.g}
	run := testenv.UniqueName("drift")
	mk := func(name string) string {
		body := oktaUser(name, "ext-"+name)
		body["emails"] = []any{map[string]any{"primary": true, "type": "work", "value": name + "@example.com"}}
		return str(e.c.do("POST", "/Users", body).want(t, 201).JSON, "id")
	}
	gone, renamed, blocked, kept := mk(run+"-gone"), mk(run+"-renamed"), mk(run+"-blocked"), mk(run+"-kept")
	gid := str(e.c.do("POST", "/Groups", map[string]any{"schemas": []string{groupSchema}, "displayName": "Drift " + run,
		"members": json.RawMessage(memberValues(kept, blocked))}).want(t, 201).JSON, "id")

	g.blockByHand(t, blocked)
	g.renameByHand(t, renamed, run+"-byhand")
	ge.g.DeleteUser(t, ge.g.UserByID(t, int64(atoiT(t, gone)))["login"].(string))
	stranger := run + "-stranger"
	ge.g.CreateUnmanagedUser(t, stranger, stranger+"@example.com")
	if st, _, b := ge.g.Do(t, "PUT", "/teams/"+gid+"/members/"+stranger, nil); st != 204 {
		t.Fatalf("adding %s to the team: %d %s", stranger, st, b)
	}

	var rep struct {
		Handlers []struct {
			Error string `json:"error"`
			Drift struct {
				Unmanaged      []driftAccount `json:"unmanaged_users"`
				HandBlocked    []driftAccount `json:"blocked_by_hand"`
				Renamed        []driftAccount `json:"renamed"`
				DanglingLinks  []driftAccount `json:"dangling_links"`
				ForeignMembers []struct {
					ID      string   `json:"id"`
					Members []string `json:"unmanaged_members"`
				} `json:"groups_with_unmanaged_members"`
				Notes []string `json:"notes"`
			} `json:"drift"`
		} `json:"handlers"`
	}
	if st := admin(t, e, "/scim/report", &rep); st != 200 || len(rep.Handlers) != 1 || rep.Handlers[0].Error != "" {
		t.Fatalf("report %d %+v", st, rep)
	}
	d := rep.Handlers[0].Drift
	has := func(what string, list []driftAccount, id, name string) {
		t.Helper()
		for _, a := range list {
			if (id == "" || a.ID == id) && (name == "" || a.UserName == name) {
				return
			}
		}
		t.Errorf("%s: %s %s missing from %+v", what, id, name, list)
	}
	has("unmanaged", d.Unmanaged, "", stranger)
	has("unmanaged", d.Unmanaged, "", ge.g.AdminName)
	has("blocked by hand", d.HandBlocked, blocked, "")
	has("renamed", d.Renamed, renamed, run+"-renamed")
	has("dangling", d.DanglingLinks, gone, "")
	if len(d.HandBlocked) != 1 || len(d.Renamed) != 1 || len(d.DanglingLinks) != 1 {
		t.Errorf("more drift than was made: %+v", d)
	}
	if len(d.ForeignMembers) != 1 || d.ForeignMembers[0].ID != gid || len(d.ForeignMembers[0].Members) != 1 || d.ForeignMembers[0].Members[0] != stranger {
		t.Errorf("groups with unmanaged members: %+v", d.ForeignMembers)
	}
	if len(d.Notes) != 0 {
		t.Errorf("notes: %v", d.Notes)
	}

	// the same through the command, as a table
	out, err := exec.Command(testenv.CaddyBinary(t), "scim", "report", "--address", e.caddy.Admin).CombinedOutput()
	if err != nil {
		t.Fatalf("caddy scim report: %v\n%s", err, out)
	}
	t.Logf("caddy scim report:\n%s", out)
	for _, want := range []string{"blocked by hand", "renamed in the application", "link to a deleted account", "group with unmanaged members", stranger, run + "-byhand"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the table lacks %q", want)
		}
	}
}

// TestActivityPage (#15): after a scripted Okta run and Entra run (each with its own
// token) through a real Caddy on Gitea with Redis, a refused request and a block set
// by hand, the activity page (scim_activity, behind its own token), loaded in a real
// headless Chromium, shows
// the handler healthy with its index complete, counts per IdP and operation, the
// errors with their detail, and the drift; a screenshot is saved.
func TestActivityPage(t *testing.T) {
	g := giteaBackend{testenv.Gitea(t)}
	const entraToken = "itest-entra-token-7d1e0c55b2"
	const pageToken = "itest-activity-page-0b6f2c"
	e := start(t, g, redisBlock(t, testenv.UniqueName("page")+":")+"\ntoken "+entraToken, "",
		"handle /scim-activity {\n\tscim_activity {\n\t\ttoken "+pageToken+"\n\t}\n}")
	waitFor(t, "the index to be complete", func() bool { return indexGauge(t, e) == 1 })
	e.c.ua = "Okta SCIM Client 1.0.0"
	oktaSequence(t, e)
	entra := *e
	entra.c = newClient(t, e.caddy.URL+"/scim/v2", entraToken)
	entra.c.ua = "Azure AD SCIM Provisioning"
	entraSequence(t, &entra)
	newClient(t, e.caddy.URL+"/scim/v2", "not-a-token-0123456789").do("GET", "/Users", nil).wantError(t, 401, "")
	login := testenv.UniqueName("blocked") + "@example.com"
	id := str(e.c.do("POST", "/Users", oktaUser(login, "ext-"+login)).want(t, 201).JSON, "id")
	g.blockByHand(t, id)
	e.c.do("POST", "/Users", oktaUser(login, "ext-someone-else")).wantError(t, 409, "uniqueness")

	// without the page's token (or with an IdP's): 401
	for _, tok := range []string{"", scimToken} {
		req, _ := http.NewRequest("GET", e.caddy.URL+"/scim-activity", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("the page with token %q answered %d", tok, resp.StatusCode)
		}
	}
	url := strings.Replace(e.caddy.URL, "http://", "http://ops:"+pageToken+"@", 1) + "/scim-activity"
	waitFor(t, "the audit events in Redis", func() bool {
		var evs struct{ Events []auditEvent }
		admin(t, e, "/scim/events?limit=1000", &evs)
		return len(evs.Events) > 10
	})
	dom := testenv.BrowserDOM(t, url)
	for _, want := range []string{
		`data-status="ok"`, `data-index="complete"`, "SCIM activity",
		"token#1", "token#2", "Okta SCIM Client 1.0.0", "Azure AD SCIM Provisioning", "users.create", "users.patch",
		"unauthenticated", "authentication failed", "uniqueness", // the refusals, with their detail
		"blocked by hand", login,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(dom, scimToken) || strings.Contains(dom, entraToken) {
		t.Fatal("the page shows a token")
	}
	shot := os.Getenv("CADDY_SCIM_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(t.TempDir(), "activity.png")
	}
	testenv.BrowserScreenshot(t, url, shot)
	if st, err := os.Stat(shot); err != nil || st.Size() < 10_000 {
		t.Fatalf("screenshot %s: %v %v", shot, st, err)
	}
	t.Logf("screenshot of the activity page: %s", shot)
}
