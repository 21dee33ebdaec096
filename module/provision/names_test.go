package provision

import (
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/module/scim"
)

// read is a user as a one-name upstream answers it: formatted = displayName = the
// stored name, given and family names split from it.
func read(name string) *scim.User {
	if name == "" {
		return &scim.User{UserName: "u"}
	}
	given, family, _ := strings.Cut(name, " ")
	return &scim.User{UserName: "u", DisplayName: name, Name: &scim.Name{Formatted: name, GivenName: given, FamilyName: family}}
}

// TestMergedName: what the IdP changed wins (these were GitLab's desiredName cases;
// the merge now serves every adapter with Info.OneName).
func TestMergedName(t *testing.T) {
	for _, c := range []struct {
		u    scim.User
		cur  string // "" for a create
		want string
	}{
		{scim.User{UserName: "u", Name: &scim.Name{Formatted: "A B"}}, "", "A B"},
		{scim.User{UserName: "u", Name: &scim.Name{GivenName: "A", FamilyName: "B"}}, "", "A B"},
		{scim.User{UserName: "u", DisplayName: "Disp"}, "", "Disp"},
		{scim.User{UserName: "u"}, "", ""}, // GitLab then falls back to the userName
		{scim.User{UserName: "u", Name: &scim.Name{Formatted: "A B", GivenName: "C", FamilyName: "B"}}, "A B", "C B"},
		{scim.User{UserName: "u", Name: &scim.Name{Formatted: "A B", GivenName: "A", FamilyName: "B"}, DisplayName: "Nick"}, "A B", "Nick"},
		{scim.User{UserName: "u", Name: &scim.Name{Formatted: "A B", GivenName: "A", FamilyName: "B"}, DisplayName: "A B"}, "A B", "A B"},
		// Entra's PATCH of displayName alone: every read carries the stale formatted.
		{scim.User{UserName: "u", Name: &scim.Name{Formatted: "Grace Hopper", GivenName: "Grace", FamilyName: "Hopper"}, DisplayName: "Amazing Grace"}, "Grace Hopper", "Amazing Grace"},
		// Okta's PUT of a new family name, without formatted.
		{scim.User{UserName: "u", Name: &scim.Name{GivenName: "Grace", FamilyName: "Murray Hopper"}}, "Grace Hopper", "Grace Murray Hopper"},
		// a new formatted wins over stale parts
		{scim.User{UserName: "u", Name: &scim.Name{Formatted: "G. M. Hopper", GivenName: "Grace", FamilyName: "Hopper"}}, "Grace Hopper", "G. M. Hopper"},
	} {
		var cur *scim.User
		if c.cur != "" {
			cur = read(c.cur)
		}
		if got := mergedName(cur, &c.u); got != c.want {
			t.Errorf("mergedName(%+v, %q) = %q, want %q", c.u.Name, c.cur, got, c.want)
		}
	}
}
