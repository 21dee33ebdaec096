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
