package gitlab

import (
	"strings"

	"github.com/caddy-scim/caddy-scim/adapters"
)

// maxUsername is GitLab's username length limit.
const maxUsername = 255

// SanitizeUsername turns a SCIM userName into a GitLab username the way GitLab's
// own SCIM does (Gitlab::Auth::ExternalUsernameSanitizer over Namespace.clean_path):
// drop an @domain, drop characters other than letters, digits, '_', '-' and '.',
// drop trailing ".git", ".atom" and '.', drop leading and trailing '_', '-', '.',
// collapse runs of them to their first character, and cap the length. An input
// with nothing usable becomes "blank", as in GitLab. Uniqueness is the caller's
// job (numeric suffixes on conflict).
func SanitizeUsername(s string) string {
	if i := strings.IndexByte(s, '@'); i >= 0 {
		s = s[:i]
	}
	var b strings.Builder
	for _, r := range s {
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			b.WriteRune(r)
		}
	}
	s = collapseSeparators(b.String())
	s = trimEdges(s)
	if len(s) > maxUsername {
		s = trimEdges(s[:maxUsername])
	}
	if s == "" {
		return "blank"
	}
	return s
}

func isSep(c byte) bool { return c == '_' || c == '-' || c == '.' }

// collapseSeparators keeps the first of consecutive '_', '-', '.' characters.
func collapseSeparators(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if isSep(s[i]) && i > 0 && isSep(s[i-1]) {
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// trimEdges removes leading separators and, repeatedly, trailing separators and
// the ".git" / ".atom" endings GitLab refuses.
func trimEdges(s string) string {
	s = strings.TrimLeft(s, "_-.")
	for {
		orig := s
		s = strings.TrimRight(s, "_-.")
		l := strings.ToLower(s)
		switch {
		case strings.HasSuffix(l, ".git"):
			s = s[:len(s)-len(".git")]
		case strings.HasSuffix(l, ".atom"):
			s = s[:len(s)-len(".atom")]
		}
		if s == orig {
			return s
		}
	}
}

// usernameSuffix numbers a username that is taken: jdoe, jdoe1, jdoe2…, within
// the length limit.
var usernameSuffix = adapters.Suffix{From: 1, Max: maxUsername, Trim: trimEdges}
