package gitlab

import (
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapters"
)

func TestSanitizeUsername(t *testing.T) {
	long := strings.Repeat("a", 300)
	for _, c := range []struct{ in, want string }{
		{"jdoe", "jdoe"},
		{"JDoe", "JDoe"},
		{"first.last@example.com", "first.last"},
		{"a@b@c", "a"},
		{"o'brien", "obrien"},
		{"Zoë Ünal", "Zonal"}, // GitLab drops non-ASCII letters too
		{"john smith", "johnsmith"},
		{"-lead", "lead"},
		{"._-lead", "lead"},
		{"trail._-", "trail"},
		{"a..b", "a.b"},
		{"a-_.b", "a-b"},
		{"a__b--c", "a_b-c"},
		{"repo.git", "repo"},
		{"feed.atom", "feed"},
		{"x.git.atom", "x"},
		{"x.GIT", "x"},
		{"name.git.", "name"},
		{"gitlab", "gitlab"},
		{"", "blank"},
		{"@example.com", "blank"},
		{"...", "blank"},
		{"日本語", "blank"},
		{long, strings.Repeat("a", 255)},
		{strings.Repeat("a", 254) + ".b", strings.Repeat("a", 254)},
	} {
		if got := SanitizeUsername(c.in); got != c.want {
			t.Errorf("SanitizeUsername(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestUsernameCandidates(t *testing.T) {
	if got := usernameSuffix.Name("jdoe", 0); got != "jdoe" {
		t.Errorf("try 0 = %q", got)
	}
	if got := usernameSuffix.Name("jdoe", 1); got != "jdoe1" {
		t.Errorf("try 1 = %q", got)
	}
	last := usernameSuffix.Name("jdoe", adapters.NameTries-1)
	if !strings.HasPrefix(last, "jdoe") || len(last) != len("jdoe")+5 {
		t.Errorf("last try = %q, want jdoe + 5 digits", last)
	}
	if got := usernameSuffix.With(strings.Repeat("a", 255), 12); len(got) != 255 || !strings.HasSuffix(got, "12") {
		t.Errorf("withSuffix at the length limit = %d chars %q…", len(got), got[len(got)-4:])
	}
	if isSuffixed := usernameSuffix.Numbered; !isSuffixed("jdoe12", "jdoe") || !isSuffixed("JDoe", "jdoe") || isSuffixed("jdoex", "jdoe") {
		t.Error("isSuffixed")
	}
}
