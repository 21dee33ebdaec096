package scim

import "strings"

// Lenient says what to do with attributes and extension schemas a request names that
// the server does not know. nil (strict) answers 400. A non-nil Lenient accepts the
// request without them and is told each name it dropped: IdPs send custom
// attributes and extensions of their own (Microsoft's reference client expects
// them to be ignored).
type Lenient func(name string)

func (l Lenient) drop(name string) {
	if l != nil {
		l(truncate(name, 128))
	}
}

// unknownPath reports whether path (a PATCH path or a pathless value's key) names an
// attribute or extension rt does not know, as opposed to a malformed path: only
// those are dropped leniently.
func unknownPath(rt *ResourceType, path string) bool {
	name := path
	if i := strings.IndexByte(name, '['); i >= 0 {
		name = name[:i]
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return false
	}
	if _, ok := canonicalSchema(rt, name); ok {
		return false // a whole known extension
	}
	if _, a, ok := rt.LookupAttr(name); ok && a != nil {
		return false
	}
	// a sub-attribute of a known attribute ("name.givenName", "…:User:manager.value")
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		if _, a, ok := rt.LookupAttr(name[:i]); ok && a != nil {
			return false
		}
	}
	return true
}
