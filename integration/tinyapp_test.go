package integration_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// tinyBackend is testenv.TinyApp, an application with no room for SCIM's state and
// no block state, provisioned through the rest adapter with the mapping
// testdata/tinyapp.json (written from the README alone). Its deprovisioning is the
// mapping's action: the roles removed, ["member"] given back. What SCIM keeps of an
// account (its externalId, whether it is SCIM's) lives in the link store, which
// user reads through the admin API of the Caddy in front of it.
type tinyBackend struct {
	storeRecord
	app       *testenv.TinyApp
	root      string // an administrator of the application
	mappingAt string
}

// blockless is a backend whose application cannot block an account: the suites
// skip what needs a block set by hand, with the reason it gives.
type blockless interface{ noBlock() string }

// skipWithoutBlock skips t when b's application has no block state.
func skipWithoutBlock(t *testing.T, b backend) {
	if nb, ok := b.(blockless); ok {
		t.Skip(nb.noBlock())
	}
}

func newTiny(t *testing.T) *tinyBackend {
	t.Helper()
	app := testenv.NewTinyApp(t)
	at, err := filepath.Abs(filepath.Join("testdata", "tinyapp.json"))
	if err != nil {
		t.Fatal(err)
	}
	root := testenv.UniqueName("tinyroot")
	app.Add(root, root+"@example.com", "Tiny Root", "admin")
	return &tinyBackend{app: app, root: root, mappingAt: at}
}

func (b *tinyBackend) name() string  { return "tinyapp" }
func (b *tinyBackend) oneName() bool { return true }
func (b *tinyBackend) noBlock() string {
	return "the tiny application cannot block an account: there is no block to set by hand (its deprovisioning is the mapping's action, TestTinyAppDeprovisioning)"
}
func (b *tinyBackend) adapter(extra string) (string, []string) {
	return fmt.Sprintf("adapter rest {\n\turl %s\n\tmapping_file %s\n\ttoken {env.TINY_TOKEN}\n%s}", b.app.URL, b.mappingAt, extra),
		[]string{"TINY_TOKEN=" + b.app.Token}
}
func (b *tinyBackend) proxy() string          { return strings.TrimPrefix(b.app.URL, "http://") }
func (b *tinyBackend) adminName() string      { return b.root }
func (b *tinyBackend) count(t *testing.T) int { return b.app.Count() }
func (b *tinyBackend) makeUnmanaged(t *testing.T, username, email string) {
	b.app.Add(username, email, username, "member")
}

// user is the application's account id; Blocked means it has no role left (what
// the mapping's deactivate leaves), Linked the externalId its link keeps.
func (b *tinyBackend) user(t *testing.T, id string) upstreamUser {
	t.Helper()
	u, ok := b.app.User(id)
	if !ok {
		return upstreamUser{}
	}
	return upstreamUser{Exists: true, Email: u.Email, FullName: u.Name, Blocked: len(u.Roles) == 0,
		State: strings.Join(u.Roles, ","), Linked: b.linked(t, id)}
}

func (b *tinyBackend) makeAdmin(t *testing.T, id string) {
	if !b.app.Edit(id, func(u *testenv.TinyUser) { u.Roles = append(u.Roles, "admin") }) {
		t.Fatalf("no account %s", id)
	}
}
func (b *tinyBackend) blockByHand(t *testing.T, id string) { t.Skip(b.noBlock()) }
func (b *tinyBackend) renameByHand(t *testing.T, id, name string) {
	if !b.app.Edit(id, func(u *testenv.TinyUser) { u.Login = name }) {
		t.Fatalf("no account %s", id)
	}
}

// TestTinyAppIdPSequences runs Okta's and Entra's sequences (deprovision and
// reactivation, DELETE and the re-add included) against the tiny application.
func TestTinyAppIdPSequences(t *testing.T) {
	b := newTiny(t)
	e := start(t, b, "", "")
	t.Run("Okta", func(t *testing.T) { oktaSequence(t, e) })
	t.Run("Entra", func(t *testing.T) { entraSequence(t, e) })
}

// TestTinyAppRules runs the shared rules: bad input leaves the application as it
// was, unknown attributes are ignored and counted, discovery lists what it keeps,
// hand-made accounts are out of scope until adopted.
func TestTinyAppRules(t *testing.T) {
	b := newTiny(t)
	t.Run("BadInput", func(t *testing.T) { badInput(t, start(t, b, "max_body_size 64KiB\nunknown_attributes reject", "")) })
	t.Run("UnknownAttributes", func(t *testing.T) { unknownIgnored(t, start(t, b, "", "")) })
	t.Run("Discovery", func(t *testing.T) { discovery(t, start(t, b, "", "")) })
	t.Run("ScopeAndAdoption", func(t *testing.T) { scopeAndAdoption(t, b) })
}

// TestTinyAppSafety runs the safety rules of TestSafety that apply to an application
// without a block state.
func TestTinyAppSafety(t *testing.T) {
	b := newTiny(t)
	keeper := testenv.UniqueName("keeper")
	e := start(t, b, "protect "+keeper, "")
	t.Run("AdminIsNeverChanged", func(t *testing.T) { adminIsNeverChanged(t, e, b) })
	t.Run("ProtectOption", func(t *testing.T) { protectOption(t, e, b, keeper) })
	t.Run("NewHireNeverGetsTheOldAccount", func(t *testing.T) { newHire(t, e, b) })
	t.Run("NameChangesAreKept", func(t *testing.T) { nameChanges(t, e, b) })
	t.Run("HandSetBlockStays", func(t *testing.T) { skipWithoutBlock(t, b); handBlock(t, e, b) })
	t.Run("RenameNeverChangesTheIdentity", func(t *testing.T) { renamed(t, e, b) })
}

// TestTinyAppDeprovisioning: deprovisioning is the mapping's action, run when SCIM's
// active changes and only then: roles an administrator changed on an active account
// survive the IdP's pushes (Okta's PUT, Entra's PATCH of active true), and a write
// that keeps an account inactive gives nothing back.
func TestTinyAppDeprovisioning(t *testing.T) {
	b := newTiny(t)
	e := start(t, b, "", "")
	name := testenv.UniqueName("roles") + "@example.com"
	body := oktaUser(name, "ext-"+name)
	id := str(e.c.do("POST", "/Users", body).want(t, 201).JSON, "id")
	roles := func() []string { u, _ := b.app.User(id); return u.Roles }
	if got := roles(); !slices.Equal(got, []string{"member"}) {
		t.Fatalf("roles after create: %v", got)
	}
	b.app.Edit(id, func(u *testenv.TinyUser) { u.Roles = []string{"member", "editor"} })
	body["displayName"] = "Okta Push"
	e.c.do("PUT", "/Users/"+id, body).want(t, 200)
	active := func(v string) string {
		return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":` + v + `}]}`
	}
	e.c.do("PATCH", "/Users/"+id, active("true")).want(t, 200)
	if got := roles(); !slices.Equal(got, []string{"member", "editor"}) {
		t.Fatalf("the IdP's pushes to an active account changed the roles an administrator gave: %v", got)
	}
	if r := e.c.do("PATCH", "/Users/"+id, active("false")).want(t, 200); r.JSON["active"] != false || len(roles()) != 0 {
		t.Fatalf("deprovision: active %v roles %v", r.JSON["active"], roles())
	}
	body["displayName"], body["active"] = "Still Away", false
	e.c.do("PUT", "/Users/"+id, body).want(t, 200)
	if got := e.c.do("GET", "/Users/"+id, nil).want(t, 200); got.JSON["active"] != false || len(roles()) != 0 {
		t.Fatalf("a write that keeps the account inactive: active %v roles %v", got.JSON["active"], roles())
	}
	if u, _ := b.app.User(id); u.Name != "Still Away" {
		t.Fatalf("the write of an inactive account was not applied: %+v", u)
	}
	if r := e.c.do("PATCH", "/Users/"+id, active("true")).want(t, 200); r.JSON["active"] != true || !slices.Equal(roles(), []string{"member"}) {
		t.Fatalf("reactivation: active %v roles %v", r.JSON["active"], roles())
	}
}

// TestTinyAppStoreIsTheRecord: the link store is the only record of which accounts
// are SCIM's. Lost, they are no one's (404, and their userName refused to a new
// identity); imported back from an export, they are SCIM's again. A handler with a
// tenant is refused, saying why.
func TestTinyAppStoreIsTheRecord(t *testing.T) {
	b := newTiny(t)
	e := start(t, b, "", "")
	name := testenv.UniqueName("kept") + "@example.com"
	id := str(e.c.do("POST", "/Users", oktaUser(name, "ext-"+name)).want(t, 201).JSON, "id")
	resp, err := http.Get(e.caddy.Admin + "/scim/links?base_path=/scim/v2")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("export: %v %v", err, resp)
	}
	backup := readAll(t, resp)
	e.caddy.Stop()
	files, _ := filepath.Glob(filepath.Join(e.caddy.DataDir(), "caddy", "scim", "links.db"))
	if len(files) != 1 {
		t.Fatalf("no store file: %v", files)
	}
	if err := os.Remove(files[0]); err != nil {
		t.Fatal(err)
	}
	e.caddy.Restart(t)
	e.c.do("GET", "/Users/"+id, nil).wantError(t, 404, "")
	other := oktaUser(name, "ext-other-"+name)
	other["emails"] = []any{map[string]any{"primary": true, "type": "work", "value": "other-" + name}}
	e.c.do("POST", "/Users", other).wantError(t, 409, "uniqueness")
	if u, _ := b.app.User(id); u.Login != name || len(u.Roles) == 0 {
		t.Fatalf("the account changed while unmanaged: %+v", u)
	}
	req, _ := http.NewRequest("POST", e.caddy.Admin+"/scim/links?base_path=/scim/v2", strings.NewReader(backup))
	req.Header.Set("Content-Type", "application/jsonl")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("import: %v %v", err, resp)
	}
	if got := e.c.do("GET", "/Users/"+id, nil).want(t, 200); str(got.JSON, "externalId") != "ext-"+name {
		t.Fatalf("after the import: %s", got.Body)
	}

	block, env := b.adapter("")
	out := testenv.StartCaddyExpectFailure(t, testenv.CaddyOptions{Env: append(env, "SCIM_TOKEN="+scimToken),
		Site: "scim {\n\ttoken {env.SCIM_TOKEN}\n\ttenant okta\n" + indentBlock(block) + "\n}"})
	if !strings.Contains(out, "link store") || !strings.Contains(out, "tenant") {
		t.Fatalf("a tenant was refused without saying why:\n%s", out)
	}
}
