package integration_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/integration/gitlabemu"
	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// upstreamUser is an upstream's own view of a user, read past the plugin.
type upstreamUser struct {
	Exists   bool
	Email    string
	FullName string
	Blocked  bool   // cannot sign in (Gitea prohibit_login, GitLab state != active)
	State    string // upstream-specific state word
	Linked   string // the externalId the upstream stores durably
}

// backend is one upstream application behind Caddy.
type backend interface {
	name() string
	// adapter returns the "adapter …" block of the scim directive and Caddy's env.
	adapter(extra string) (block string, env []string)
	// proxy is the reverse_proxy target of the site.
	proxy() string
	user(t *testing.T, id string) upstreamUser
	count(t *testing.T) int
	makeUnmanaged(t *testing.T, username, email string)
	adminName() string
	// makeAdmin makes user id an administrator of the application, as an operator
	// would, behind SCIM's back.
	makeAdmin(t *testing.T, id string)
	// blockByHand blocks user id in the application, behind SCIM's back.
	blockByHand(t *testing.T, id string)
	// renameByHand gives user id another username in the application.
	renameByHand(t *testing.T, id, name string)
	// oneName reports whether the application keeps a person's name as one string
	// (Gitea, GitLab): name.formatted and displayName then land in it.
	oneName() bool
}

// keeper is a backend whose application keeps less of a person than the shared
// suites check by default (an e-mail and a name): they check, in the application
// and in the User schema, only what it keeps.
type keeper interface{ keeps() kept }

// kept is what an application keeps of a person, and whether it keeps SCIM's
// record of the account (externalId, marks) or the link store does.
type kept struct{ email, name, record bool }

// keepsOf is what b's application keeps.
func keepsOf(b backend) kept {
	if k, ok := b.(keeper); ok {
		return k.keeps()
	}
	return kept{email: true, name: true, record: true}
}

// grouper is a backend that serves SCIM groups in the suites' default config.
type grouper interface{ groups() bool }

// servesGroups reports whether b serves /Groups in the suites' default config.
func servesGroups(b backend) bool {
	g, ok := b.(grouper)
	return ok && g.groups()
}

// watcher is a backend that reads the Caddy in front of it (its link store, when
// the application keeps no record of SCIM's own).
type watcher interface{ started(e *env) }

// storeRecord is part of a backend whose application keeps no record of SCIM's
// (the link store is it): it remembers the Caddy in front (started) and reads an
// account's externalId from that Caddy's link export.
type storeRecord struct{ admin string }

func (s *storeRecord) started(e *env) { s.admin = e.caddy.Admin }

// linked is the externalId the link store keeps for user id.
func (s *storeRecord) linked(t *testing.T, id string) string {
	t.Helper()
	if s.admin == "" {
		t.Fatal("no Caddy started in front of the application (start) to read the links of")
	}
	resp, err := http.Get(s.admin + "/scim/links?base_path=/scim/v2")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("links export: %v %v", err, resp)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var l struct {
			ID  string `json:"id"`
			Ext string `json:"ext"`
			G   bool   `json:"g"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.ID == id && !l.G {
			return l.Ext
		}
	}
	return ""
}

// giteaBackend is the test binary's real Gitea.
type giteaBackend struct{ g *testenv.GiteaServer }

func (b giteaBackend) name() string  { return "gitea" }
func (b giteaBackend) oneName() bool { return true }
func (b giteaBackend) adapter(extra string) (string, []string) {
	return fmt.Sprintf("adapter gitea {\n\turl %s\n\ttoken {env.GITEA_TOKEN}\n%s}", b.g.URL, extra), []string{"GITEA_TOKEN=" + b.g.Token}
}
func (b giteaBackend) proxy() string     { return strings.TrimPrefix(b.g.URL, "http://") }
func (b giteaBackend) adminName() string { return b.g.AdminName }
func (b giteaBackend) count(t *testing.T) int {
	return len(b.g.AdminListUsers(t, nil))
}
func (b giteaBackend) makeUnmanaged(t *testing.T, username, email string) {
	b.g.CreateUnmanagedUser(t, username, email)
}
func (b giteaBackend) user(t *testing.T, id string) upstreamUser {
	t.Helper()
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		t.Fatalf("SCIM id %q is not Gitea's numeric id", id)
	}
	u := b.g.UserByID(t, n)
	if u == nil {
		return upstreamUser{}
	}
	ln, _ := u["login_name"].(string)
	if rest, ok := strings.CutPrefix(ln, "~scim@"); ok { // a tenant's form
		if _, inner, ok := strings.Cut(rest, ":"); ok {
			ln = inner
		}
	}
	for _, p := range []string{"~scim:email-hdeleted:", "~scim:email-deleted:", "~scim:email-blocked:", "~scim:email:", "~scim:hdeleted:", "~scim:deleted:", "~scim:blocked:", "~scim:managed:"} {
		ln = strings.TrimPrefix(ln, p)
	}
	pl := u["prohibit_login"] == true
	return upstreamUser{Exists: true, Email: u["email"].(string), FullName: u["full_name"].(string),
		Blocked: pl || u["active"] != true, State: map[bool]string{true: "prohibit_login", false: "active"}[pl], Linked: ln}
}

// editUser sets fields of user id through Gitea's admin API, as an operator would.
// Gitea's PATCH needs login_name and source_id together; they are kept as they are.
func (b giteaBackend) editUser(t *testing.T, id string, fields map[string]any) {
	t.Helper()
	n, _ := strconv.ParseInt(id, 10, 64)
	u := b.g.UserByID(t, n)
	body := map[string]any{"login_name": u["login_name"], "source_id": u["source_id"]}
	for k, v := range fields {
		body[k] = v
	}
	if st, _, resp := b.g.Do(t, "PATCH", "/admin/users/"+u["login"].(string), body); st != 200 {
		t.Fatalf("editing %s (%v): %d %s", id, fields, st, resp)
	}
}

func (b giteaBackend) makeAdmin(t *testing.T, id string) {
	b.editUser(t, id, map[string]any{"admin": true})
}

func (b giteaBackend) blockByHand(t *testing.T, id string) {
	b.editUser(t, id, map[string]any{"prohibit_login": true})
}

func (b giteaBackend) renameByHand(t *testing.T, id, name string) {
	t.Helper()
	n, _ := strconv.ParseInt(id, 10, 64)
	u := b.g.UserByID(t, n)
	if st, _, body := b.g.Do(t, "POST", "/admin/users/"+u["login"].(string)+"/rename", map[string]any{"new_username": name}); st != 204 {
		t.Fatalf("renaming %s: %d %s", id, st, body)
	}
}

// gitlabBackend is the GitLab REST API emulator, served over real HTTP.
type gitlabBackend struct {
	emu   *gitlabemu.Server
	url   string
	token string
}

const gitlabToken = "glpat-itest-0123456789abcdef"

func newGitLab(t *testing.T) *gitlabBackend {
	t.Helper()
	emu := gitlabemu.New(gitlabemu.Options{AdminToken: gitlabToken})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return &gitlabBackend{emu: emu, url: srv.URL, token: gitlabToken}
}

func (b *gitlabBackend) name() string  { return "gitlab" }
func (b *gitlabBackend) groups() bool  { return true }
func (b *gitlabBackend) oneName() bool { return true }
func (b *gitlabBackend) adapter(extra string) (string, []string) {
	return fmt.Sprintf("adapter gitlab {\n\turl %s\n\ttoken {env.GITLAB_TOKEN}\n%s}", b.url, extra), []string{"GITLAB_TOKEN=" + b.token}
}
func (b *gitlabBackend) proxy() string     { return strings.TrimPrefix(b.url, "http://") }
func (b *gitlabBackend) adminName() string { return "root" }
func (b *gitlabBackend) count(t *testing.T) int {
	return len(b.emu.Users())
}
func (b *gitlabBackend) makeUnmanaged(t *testing.T, username, email string) {
	t.Helper()
	if _, err := b.emu.CreateUserDirect(gitlabemu.UserState{Username: username, Email: email, Name: username, State: "active"}); err != nil {
		t.Fatal(err)
	}
}
func (b *gitlabBackend) user(t *testing.T, id string) upstreamUser {
	t.Helper()
	n, err := strconv.Atoi(id)
	if err != nil {
		t.Fatalf("SCIM id %q is not GitLab's numeric id", id)
	}
	u, ok := b.emu.User(n)
	if !ok {
		return upstreamUser{}
	}
	out := upstreamUser{Exists: true, Email: u.Email, FullName: u.Name, Blocked: u.State != "active", State: u.State}
	for _, idn := range u.Identities {
		if idn.Provider == "caddy_scim" {
			out.Linked = idn.ExternUID
		}
	}
	return out
}

// api sends one admin request to the emulator, as an operator would, and returns
// its status.
func (b *gitlabBackend) api(t *testing.T, method, path, body string) int {
	t.Helper()
	req, _ := http.NewRequest(method, b.url+"/api/v4"+path, strings.NewReader(body))
	req.Header.Set("PRIVATE-TOKEN", b.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (b *gitlabBackend) makeAdmin(t *testing.T, id string) {
	t.Helper()
	if code := b.api(t, "PUT", "/users/"+id, `{"admin":true}`); code != 200 {
		t.Fatalf("making %s an admin: %d", id, code)
	}
	if u, _ := b.emu.User(atoiT(t, id)); !u.Admin {
		t.Fatalf("%s is no admin", id)
	}
}

func (b *gitlabBackend) blockByHand(t *testing.T, id string) {
	t.Helper()
	if code := b.api(t, "POST", "/users/"+id+"/block", ""); code != 201 {
		t.Fatalf("blocking %s: %d", id, code)
	}
}

func (b *gitlabBackend) renameByHand(t *testing.T, id, name string) {
	t.Helper()
	if code := b.api(t, "PUT", "/users/"+id, `{"username":"`+name+`"}`); code != 200 {
		t.Fatalf("renaming %s: %d", id, code)
	}
}

func atoiT(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// backends returns every upstream the shared IdP tests run against.
func backends(t *testing.T) []backend {
	bs := []backend{giteaBackend{testenv.Gitea(t)}, newGitLab(t), kratosBackend{testenv.Kratos(t)}, redmineBackend{testenv.Redmine(t)}}
	for _, more := range moreBackends {
		bs = append(bs, more(t))
	}
	return bs
}

// moreBackends are the upstreams that register themselves in their own file (an
// init in <app>_backend_test.go), each started on first use.
var moreBackends []func(t *testing.T) backend

// forEachBackend runs f once per upstream, each behind its own real Caddy.
func forEachBackend(t *testing.T, extra string, f func(t *testing.T, e *env)) {
	for _, b := range backends(t) {
		t.Run(b.name(), func(t *testing.T) { f(t, start(t, b, extra, "")) })
	}
}

// start runs Caddy with the plugin in front of b; extra goes inside the scim block,
// adapterExtra inside the adapter block, siteExtra (directives) in the site.
func start(t *testing.T, b backend, extra, adapterExtra string, siteExtra ...string) *env {
	t.Helper()
	block, benv := b.adapter(adapterExtra)
	site := fmt.Sprintf("%s\nscim {\n\ttoken {env.SCIM_TOKEN}\n%s\n%s\n}\nreverse_proxy %s", strings.Join(siteExtra, "\n"), indentBlock(block), extra, b.proxy())
	cd := testenv.StartCaddy(t, testenv.CaddyOptions{Site: site, Env: append(benv, "SCIM_TOKEN="+scimToken)})
	e := &env{caddy: cd, up: b, c: newClient(t, cd.URL+"/scim/v2", scimToken)}
	if w, ok := b.(watcher); ok {
		w.started(e)
	}
	return e
}

func indentBlock(s string) string {
	return "\t" + strings.ReplaceAll(s, "\n", "\n\t")
}
