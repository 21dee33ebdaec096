package gitea

import (
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/caddy-scim/caddy-scim/adapters"
)

// A SCIM group is a Gitea team of the configured organization. Team names are slugs
// (AlphaDashDot, case-insensitively unique in the org), so the SCIM displayName, the
// externalId and the "managed by SCIM" marker live in the team description:
//
//	<displayName> [scim:<externalId, query-escaped>]
//
// for example "Platform Engineers [scim:00g1abcd]" or "Ops [scim:]" without an
// externalId. The description is readable in Gitea's UI and unambiguous: the escaped
// externalId contains no space, '[' or ']', so the marker is the last " [scim:" and
// runs to the closing ']' at the very end; everything before it is the displayName,
// verbatim. A description without the marker is a team made by hand, which SCIM
// does not see. Gitea caps descriptions at 255 characters. A team of tenant T (see
// adapters.Tenancy) is marked " [scim@T:<externalId>]".

const (
	descMarker = " [scim:"
	// maxDescription is Gitea's limit on a team description, in characters.
	maxDescription = 255
	// maxTeamName leaves room for a dedupe suffix under Gitea's 255.
	maxTeamName = 200
)

// encodeTeamDescription builds the description of a managed team of tenant.
func encodeTeamDescription(displayName, externalID, tenant string) (string, error) {
	marker := descMarker
	if tenant != "" {
		marker = " [scim@" + tenant + ":"
	}
	d := displayName + marker + url.QueryEscape(externalID) + "]"
	if n := utf8.RuneCountInString(d); n > maxDescription {
		return "", fmt.Errorf("displayName and externalId are too long for a Gitea team: stored as %d characters, at most %d", n, maxDescription)
	}
	return d, nil
}

// decodeTeamDescription reads a team description; managed is false for teams
// SCIM did not create.
func decodeTeamDescription(d string) (displayName, externalID, tenant string, managed bool) {
	if !strings.HasSuffix(d, "]") {
		return "", "", "", false
	}
	i := strings.LastIndex(d, " [scim")
	if i < 0 {
		return "", "", "", false
	}
	mark, esc, ok := strings.Cut(d[i+len(" [scim"):len(d)-1], ":")
	if !ok || strings.ContainsAny(esc, " []") {
		return "", "", "", false
	}
	if mark != "" {
		t, isTenant := strings.CutPrefix(mark, "@")
		if !isTenant || t == "" || adapters.CheckTenant(t) != nil {
			return "", "", "", false
		}
		tenant = t
	}
	ext, err := url.QueryUnescape(esc)
	if err != nil {
		return "", "", "", false
	}
	return d[:i], ext, tenant, true
}

// teamSlug derives a team name from a displayName: ASCII letters, digits, '_', '-'
// and '.' are kept, every other run of characters becomes one '-'; the result never
// starts or ends with '-' or '.', and is "group" when nothing is left.
func teamSlug(displayName string) string {
	var b strings.Builder
	dash := false
	for _, r := range displayName {
		switch {
		case r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-'):
			if r == '-' && (dash || b.Len() == 0) {
				continue
			}
			b.WriteRune(r)
			dash = r == '-'
		default:
			if !dash && b.Len() > 0 {
				b.WriteByte('-')
				dash = true
			}
		}
		if b.Len() >= maxTeamName {
			break
		}
	}
	s := strings.Trim(b.String(), "-.")
	if len(s) > maxTeamName {
		s = strings.Trim(s[:maxTeamName], "-.")
	}
	if s == "" {
		return "group"
	}
	return s
}

// teamSuffix numbers a team name that is taken: slug, then slug-2, slug-3…
var teamSuffix = adapters.Suffix{Sep: "-", From: 2}
