package gitea

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/caddy-scim/caddy-scim/adapters"
)

// maxUsernameLength is Gitea's binding limit for usernames (CreateUserOption MaxSize(40)).
const maxUsernameLength = 40

// checkUsername applies Gitea's username rule (modules/validation IsValidUsername:
// ^[\da-zA-Z][-.\w]*$ without consecutive or trailing [-._]) and its length limit. Every
// username goes through it before it is put in a URL path, so that no SCIM value can
// make the adapter call another endpoint ("../admin", "a/b", "%2e%2e").
func checkUsername(name string) error {
	if name == "" {
		return fmt.Errorf("userName is empty")
	}
	if len(name) > maxUsernameLength {
		return fmt.Errorf("userName is longer than %d characters", maxUsernameLength)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		special := c == '-' || c == '_' || c == '.'
		switch {
		case !alnum && !special:
			return fmt.Errorf("userName may contain only letters, digits, '-', '_' and '.'")
		case special && i == 0:
			return fmt.Errorf("userName must start with a letter or digit")
		case special && i == len(name)-1:
			return fmt.Errorf("userName must end with a letter or digit")
		case special && strings.ContainsRune("-_.", rune(name[i+1])):
			return fmt.Errorf("userName must not contain consecutive '-', '_' or '.'")
		}
	}
	return nil
}

// userPath returns the escaped path segment for a username that passed checkUsername.
// PathEscape is belt and braces: valid names contain nothing it would change.
func userPath(name string) string {
	return url.PathEscape(name)
}

// isEmailShaped reports whether a userName looks like an e-mail address (one "@" with
// something on both sides), the usual userName of Okta and Entra ID.
func isEmailShaped(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && domain != "" && !strings.Contains(domain, "@")
}

// deriveUsername turns an e-mail-shaped userName into a valid Gitea username: the
// local part, with characters Gitea refuses replaced by "-", runs of "-_." collapsed,
// no special character at either end, at most maxUsernameLength characters.
func deriveUsername(email string) string {
	local, _, _ := strings.Cut(email, "@")
	var b strings.Builder
	prevSpecial := true // drops leading specials
	for i := 0; i < len(local) && b.Len() < maxUsernameLength; i++ {
		c := local[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum {
			if c != '.' && c != '_' {
				c = '-'
			}
			if prevSpecial {
				continue
			}
			prevSpecial = true
			b.WriteByte(c)
			continue
		}
		prevSpecial = false
		b.WriteByte(c)
	}
	name := strings.TrimRight(b.String(), "-_.")
	if name == "" {
		name = "user"
	}
	return name
}

// usernameSuffix numbers a derived username that is taken: name, name1, name2…,
// kept within the length limit.
var usernameSuffix = adapters.Suffix{From: 1, Max: maxUsernameLength, Trim: func(s string) string { return strings.TrimRight(s, "-_.") }}
