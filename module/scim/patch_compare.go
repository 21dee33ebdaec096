package scim

import (
	"slices"
	"strings"
)

func errManyPrimaries(attr string) *Error {
	return BadRequest(ErrInvalidValue, "attribute %s: at most one value may be primary", attr)
}

// fixPrimary enforces RFC 7643 §2.4: at most one value is primary. When the
// values this step wrote (touched) hold the only new primary, the others lose it.
func fixPrimary(attr *Attribute, l []any, touched []int) *Error {
	if attr.Sub("primary") == nil {
		return nil
	}
	n, winner, winners := 0, -1, 0
	for i, el := range l {
		if m, ok := el.(map[string]any); ok && m["primary"] == true {
			n++
			if slices.Contains(touched, i) {
				winner = i
				winners++
			}
		}
	}
	if n <= 1 {
		return nil
	}
	if winners != 1 {
		return errManyPrimaries(attr.Name)
	}
	for i, el := range l {
		if m, ok := el.(map[string]any); ok && i != winner && m["primary"] == true {
			delete(m, "primary")
		}
	}
	return nil
}

// findDuplicate returns the index of a value of l that el duplicates: same "value"
// and no conflicting sub-attribute (so a member re-added with a display merges),
// or deep equality for values without "value".
func findDuplicate(attr *Attribute, l []any, el any) int {
	nm, isMap := el.(map[string]any)
	for i, ex := range l {
		if !isMap {
			if valuesEqual(attr, ex, el) {
				return i
			}
			continue
		}
		om, ok := ex.(map[string]any)
		if !ok {
			continue
		}
		if _, hasValue := nm["value"]; !hasValue {
			if jsonEqual(om, nm) {
				return i
			}
			continue
		}
		dup := true
		for k, v := range nm {
			ov, has := om[k]
			if k == "value" && !has || has && !valuesEqual(attr.Sub(k), ov, v) {
				dup = false
				break
			}
		}
		if dup {
			return i
		}
	}
	return -1
}

// listContains reports whether el is one of rm, matching complex values on "value".
func listContains(attr *Attribute, rm []any, el any) bool {
	em, isMap := el.(map[string]any)
	for _, r := range rm {
		rmm, ok := r.(map[string]any)
		if isMap && ok {
			if rv, has := rmm["value"]; has {
				if valuesEqual(attr.Sub("value"), em["value"], rv) {
					return true
				}
				continue
			}
			if jsonEqual(em, rmm) {
				return true
			}
			continue
		}
		if !isMap && !ok && valuesEqual(attr, el, r) {
			return true
		}
	}
	return false
}

// valuesEqual compares two values of attr: strings case-insensitively unless the
// attribute is caseExact.
func valuesEqual(attr *Attribute, a, b any) bool {
	if sa, ok := a.(string); ok {
		sb, ok := b.(string)
		if !ok {
			return false
		}
		if attr != nil && !attr.CaseExact && attr.Type != TypeBinary {
			return strings.EqualFold(sa, sb)
		}
		return sa == sb
	}
	return jsonEqual(a, b)
}

// jsonEqual reports whether two decoded JSON values are equal.
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !jsonEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case string, bool, float64, nil:
		return a == b
	}
	return false
}
