package gitea

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestTeamDescription(t *testing.T) {
	cases := []struct{ name, ext string }{
		{"Platform Engineers", "00g1abcd"},
		{"Ops", ""},
		{"Tricky [scim:x]", "a b]c[d%e+f"},
		{"Ends with ]", "ü/ö?&="},
		{"名前 グループ", "{guid}"},
		{" [scim:] ", "x"},
	}
	for _, c := range cases {
		d, err := encodeTeamDescription(c.name, c.ext, "")
		if err != nil {
			t.Fatalf("%q: %v", c.name, err)
		}
		name, ext, _, ok := decodeTeamDescription(d)
		if !ok || name != c.name || ext != c.ext {
			t.Errorf("%q/%q → %q → %q/%q/%v", c.name, c.ext, d, name, ext, ok)
		}
	}
	for _, d := range []string{"", "hand made team", "x [scim:a b]", "x [scim:%zz]", "x [scim:abc", "[scim:x] trailing"} {
		if _, _, _, ok := decodeTeamDescription(d); ok {
			t.Errorf("%q decoded as managed", d)
		}
	}
	if _, err := encodeTeamDescription(strings.Repeat("x", 250), "abcdef", ""); err == nil {
		t.Error("a description over 255 characters was accepted")
	}
	if _, err := encodeTeamDescription(strings.Repeat("é", 240), "", ""); err != nil {
		t.Errorf("255 is counted in characters, not bytes: %v", err)
	}
}

func TestTeamSlug(t *testing.T) {
	for in, want := range map[string]string{
		"Platform Engineers":     "Platform-Engineers",
		"  ops  ":                "ops",
		"R&D / Europe":           "R-D-Europe",
		"..hidden..":             "hidden",
		"---":                    "group",
		"Ünïcode Team":           "n-code-Team",
		"a.b_c-d":                "a.b_c-d",
		"名前":                     "group",
		strings.Repeat("a", 300): strings.Repeat("a", 200),
	} {
		if got := teamSlug(in); got != want {
			t.Errorf("teamSlug(%q) = %q, want %q", in, got, want)
		}
	}
	// the first and the third name tried
	if teamSuffix.Name("x", 0) != "x" || teamSuffix.Name("x", 2) != "x-3" {
		t.Error("teamSuffix names")
	}
}

func TestCaddyfileGroupOptions(t *testing.T) {
	a := new(Adapter)
	d := caddyfile.NewTestDispenser(`gitea {
		url http://127.0.0.1:3000
		token secret-token-123456
		organization acme
		team_permission write
		team_units repo.code repo.issues
	}`)
	if err := a.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if a.Organization != "acme" || a.TeamPermission != "write" || strings.Join(a.TeamUnits, ",") != "repo.code,repo.issues" {
		t.Fatalf("parsed %+v", a)
	}
	if !a.GroupsEnabled() || (&Adapter{}).GroupsEnabled() {
		t.Fatal("GroupsEnabled must follow organization")
	}
	if err := (&Adapter{TeamPermission: "owner", Organization: "x"}).checkGroupOptions(); err == nil {
		t.Error("team_permission owner accepted")
	}
	if err := (&Adapter{TeamUnits: []string{"repo.code"}}).checkGroupOptions(); err == nil {
		t.Error("team_units without organization accepted")
	}
}

// TestTeamDescriptionTenant: a tenant's teams carry its name, and neither tenant's
// mark reads as the other's.
func TestTeamDescriptionTenant(t *testing.T) {
	d, err := encodeTeamDescription("Ops [scim:x]", "ext 1", "acme")
	if err != nil || d != "Ops [scim:x] [scim@acme:ext+1]" {
		t.Fatalf("encode: %q %v", d, err)
	}
	if name, ext, tenant, ok := decodeTeamDescription(d); !ok || name != "Ops [scim:x]" || ext != "ext 1" || tenant != "acme" {
		t.Fatalf("decode(%q) = %q %q %q %v", d, name, ext, tenant, ok)
	}
	if _, _, tenant, ok := decodeTeamDescription("Ops [scim:e]"); !ok || tenant != "" {
		t.Fatalf("a default-tenant team reads as tenant %q", tenant)
	}
	for _, bad := range []string{"Ops [scim@:e]", "Ops [scim@a b:e]", "Ops [scimx:e]"} {
		if _, _, _, ok := decodeTeamDescription(bad); ok {
			t.Errorf("%q reads as managed", bad)
		}
	}
}
