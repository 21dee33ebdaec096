package provision

import (
	"strings"

	"github.com/caddy-scim/caddy-scim/module/scim"
)

// oneName prepares u for an upstream that keeps a person's name as one string
// (adapters.Info.OneName): the name the IdP means becomes u's only name, so that the
// adapter stores u.FullName(). cur is the user as the upstream has it (nil for a
// create). Without the merge, a PATCH of displayName or name.givenName would be
// lost behind the stale name.formatted that every read carries.
func (s *Service) oneName(cur, u *scim.User) {
	if !s.Adapter.Info().OneName {
		return
	}
	n := mergedName(cur, u)
	u.Name = nil
	if n != "" {
		u.Name = &scim.Name{Formatted: n}
	}
	u.DisplayName = n
}

// mergedName is the one name of u given the current user: what changed wins, in the
// order name.formatted, givenName and familyName, displayName; else u's full name.
func mergedName(cur, u *scim.User) string {
	if cur != nil {
		if f := formatted(u); f != "" && f != formatted(cur) {
			return f
		}
		if g, fam := nameParts(u); (g != "" || fam != "") && (g != givenOf(cur) || fam != familyOf(cur)) {
			return strings.TrimSpace(g + " " + fam)
		}
		if u.DisplayName != "" && u.DisplayName != cur.DisplayName {
			return u.DisplayName
		}
	}
	return u.FullName()
}

func formatted(u *scim.User) string {
	if u.Name == nil {
		return ""
	}
	return u.Name.Formatted
}

func nameParts(u *scim.User) (string, string) { return givenOf(u), familyOf(u) }

func givenOf(u *scim.User) string {
	if u.Name == nil {
		return ""
	}
	return u.Name.GivenName
}

func familyOf(u *scim.User) string {
	if u.Name == nil {
		return ""
	}
	return u.Name.FamilyName
}
