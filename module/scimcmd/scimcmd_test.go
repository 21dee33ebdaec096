package scimcmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapters/rest"
)

// TestCheckMapping: a good mapping is summarised, a bad one names its field.
func TestCheckMapping(t *testing.T) {
	dir := t.TempDir()
	good, err := rest.PresetJSON("kratos")
	if err != nil {
		t.Fatal(err)
	}
	gp := filepath.Join(dir, "good.json")
	if err := os.WriteFile(gp, good, 0o600); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := checkMapping(&out, gp); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ok", "users.get: GET /admin/identities/{{.ID}}", "users.find_external_id: not mapped", "paging link"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	bad := strings.Replace(string(good), `"{{.User.Email}}"`, `"{{.User.Mail}}"`, 1)
	bp := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bp, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	err = checkMapping(&out, bp)
	if err == nil || !strings.Contains(err.Error(), "users.create.body.traits.email") {
		t.Errorf("a misspelt template field: %v, want the field named", err)
	}
}

// TestCheckMappingModes: check-mapping says where a mapping without room for SCIM's
// state keeps it and what that costs, and names the first wrong new field.
func TestCheckMappingModes(t *testing.T) {
	var out strings.Builder
	if err := checkMapping(&out, "../../integration/testdata/tinyapp.json"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SCIM's marks: in the link store only", "caddy scim links export", "caddy scim links import",
		"deprovisioning: TinyApp cannot block an account", "never on a write that keeps the state", "tenants: only the default tenant"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	good, err := os.ReadFile("../../integration/testdata/tinyapp.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, c := range map[string]struct{ from, to, want string }{
		"a partial set of marks":     {`"email": "email",`, `"email": "email", "managed": "m",`, "users.read.externalId"},
		"a value no call fetches":    {`"name": "{{.User.Formatted}}"}},`, `"name": "{{.Before.token}}"}},`, "users.update.body.name"},
		"a before without its value": {`"update": {`, `"update": {"before": [{"name": "token", "method": "GET", "path": "/t"}], `, "users.update.before[0].value"},
	} {
		bad := strings.Replace(string(good), c.from, c.to, 1)
		if bad == string(good) {
			t.Fatalf("%s: the edit did not apply", name)
		}
		p := filepath.Join(dir, "bad.json")
		if err := os.WriteFile(p, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := checkMapping(&out, p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q named", name, err, c.want)
		}
	}
}
