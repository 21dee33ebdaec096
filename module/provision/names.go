package provision

import (
	"strings"

	"github.com/caddy-scim/caddy-scim/module/scim"
)

// oneName prepares u for an upstream that keeps a person's name as one string
// (adapters.Info.OneName): the name the IdP means becomes u's only name, so that the
// adapter stores u.FullName(). u is a whole body (POST, PUT, or a PATCH whose name
// patchedName resolved); cur is the user as the upstream has it (nil for a create).
func (s *Service) oneName(cur, u *scim.User) {
	if !s.Adapter.Info().OneName {
		return
	}
	n := bodyName(cur, u)
	u.Name = nil
	if n != "" {
		u.Name = &scim.Name{Formatted: n}
	}
	u.DisplayName = n
}

// bodyName is the one name of a whole body: a displayName or name.formatted that
// differs from the stored name wins; a displayName equal to it keeps it (the name
// parts every read carries are split from the one string, so the IdP's parts differ
// from them without any change: Okta pushing a user whose displayName is its own
// must not swap the name for the parts, and back on the next push); name parts are
// the name only when the body has no displayName. A create takes the displayName,
// else name.formatted, else the parts.
func bodyName(cur, u *scim.User) string {
	if cur == nil {
		if u.DisplayName != "" {
			return u.DisplayName
		}
		return u.FullName()
	}
	switch {
	case u.DisplayName != "" && u.DisplayName != cur.DisplayName:
		return u.DisplayName
	case formatted(u) != "" && formatted(u) != formatted(cur):
		return formatted(u)
	case u.DisplayName != "":
		return u.DisplayName
	}
	return u.FullName()
}

// patchedName resolves the one name of a PATCHed user for a one-name upstream: the
// patch ran on the current resource, so each of displayName, name.formatted and the
// name parts holds either what the PATCH set or what the read carried, and what
// differs from cur is what the PATCH changed; it wins, in the order displayName,
// name.formatted, givenName and familyName. Without this, a PATCH of a name part
// would be lost behind the displayName every read carries.
func (s *Service) patchedName(cur, u *scim.User) {
	if !s.Adapter.Info().OneName {
		return
	}
	u.DisplayName = mergedName(cur, u)
}

// mergedName is the one name of the patched u given the current user.
func mergedName(cur, u *scim.User) string {
	switch {
	case u.DisplayName != "" && u.DisplayName != cur.DisplayName:
		return u.DisplayName
	case formatted(u) != "" && formatted(u) != formatted(cur):
		return formatted(u)
	}
	if g, fam := nameParts(u); (g != "" || fam != "") && (g != givenOf(cur) || fam != familyOf(cur)) {
		return strings.TrimSpace(g + " " + fam)
	}
	return bodyName(nil, u)
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
