package scim

import "strings"

// ETagMatches reports whether an If-Match or If-None-Match header value matches the
// entity tag tag (RFC 7232 §3.1–3.2, with the weak comparison: SCIM versions are
// weak tags): "*" matches any current version, else one listed tag equal to tag
// once both lose their W/ prefix. An empty tag (a resource without a version)
// matches only "*".
func ETagMatches(header, tag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || (tag != "" && t != "" && strings.TrimPrefix(t, "W/") == strings.TrimPrefix(tag, "W/")) {
			return true
		}
	}
	return false
}
