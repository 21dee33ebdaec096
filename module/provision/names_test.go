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

// TestBodyName: the one name a POST or PUT sets.
func TestBodyName(t *testing.T) {
	nm := func(formatted, given, family string) *scim.Name {
		return &scim.Name{Formatted: formatted, GivenName: given, FamilyName: family}
	}
	for _, c := range []struct {
		u    scim.User
		cur  string // "" for a create
		want string
	}{
		{scim.User{UserName: "u", Name: nm("A B", "", "")}, "", "A B"},
		{scim.User{UserName: "u", Name: nm("", "A", "B")}, "", "A B"},
		{scim.User{UserName: "u", DisplayName: "Disp"}, "", "Disp"},
		{scim.User{UserName: "u", Name: nm("", "A", "B"), DisplayName: "Nick"}, "", "Nick"},
		{scim.User{UserName: "u"}, "", ""}, // GitLab then falls back to the userName
		// Okta's PUT of a new displayName, its name parts unchanged (found by TestLoad:
		// the second rename was lost behind the parts split from the first)
		{scim.User{UserName: "u", Name: nm("", "Test", "User"), DisplayName: "Renamed B"}, "Renamed A", "Renamed B"},
		// the same PUT sent again (Okta pushes whole users) keeps it
		{scim.User{UserName: "u", Name: nm("", "Test", "User"), DisplayName: "Renamed A"}, "Renamed A", "Renamed A"},
		// Okta's PUT of a new family name, without a displayName
		{scim.User{UserName: "u", Name: nm("", "Grace", "Murray Hopper")}, "Grace Hopper", "Grace Murray Hopper"},
		// a read, one attribute changed, PUT back: the changed one wins
		{scim.User{UserName: "u", Name: nm("G. M. Hopper", "Grace", "Hopper"), DisplayName: "Grace Hopper"}, "Grace Hopper", "G. M. Hopper"},
		{scim.User{UserName: "u", Name: nm("Grace Hopper", "Grace", "Hopper"), DisplayName: "Amazing Grace"}, "Grace Hopper", "Amazing Grace"},
	} {
		var cur *scim.User
		if c.cur != "" {
			cur = read(c.cur)
		}
		if got := bodyName(cur, &c.u); got != c.want {
			t.Errorf("bodyName(%q, %+v, %q) = %q, want %q", c.cur, c.u.Name, c.u.DisplayName, got, c.want)
		}
	}
}

// TestMergedName: after a PATCH ran on the current resource, what it changed wins.
func TestMergedName(t *testing.T) {
	patched := func(name string, f func(u *scim.User)) scim.User {
		u := read(name)
		f(u)
		return *u
	}
	for _, c := range []struct {
		u    scim.User
		cur  string
		want string
	}{
		// Entra's PATCH of displayName alone: every read carries the stale formatted.
		{patched("Grace Hopper", func(u *scim.User) { u.DisplayName = "Amazing Grace" }), "Grace Hopper", "Amazing Grace"},
		// and again, after the first rename split "Amazing Grace" into parts
		{patched("Amazing Grace", func(u *scim.User) { u.DisplayName = "Grace H." }), "Amazing Grace", "Grace H."},
		{patched("A B", func(u *scim.User) { u.Name.GivenName = "C" }), "A B", "C B"},
		{patched("Grace Hopper", func(u *scim.User) { u.Name.FamilyName = "Murray Hopper" }), "Grace Hopper", "Grace Murray Hopper"},
		{patched("Grace Hopper", func(u *scim.User) { u.Name.Formatted = "G. M. Hopper" }), "Grace Hopper", "G. M. Hopper"},
		// a PATCH of something else keeps the name
		{patched("Renamed A", func(u *scim.User) { u.Active = false }), "Renamed A", "Renamed A"},
		{patched("A B", func(u *scim.User) { u.DisplayName = "" }), "A B", "A B"},
	} {
		if got := mergedName(read(c.cur), &c.u); got != c.want {
			t.Errorf("mergedName(%+v, %q) = %q, want %q", c.u.Name, c.cur, got, c.want)
		}
	}
}
