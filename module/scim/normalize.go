package scim

import (
	"encoding/json"
	"strings"
	"time"
)

// NormalizeValue type-checks v, a value decoded from JSON (numbers as float64 or
// json.Number), against attr and returns it in the Resource representation:
//   - complex values get canonical sub-attribute keys (matched case-insensitively);
//     null sub-values are dropped; unknown sub-attributes are 400 invalidValue;
//     a bare string for a complex attribute with a "value" sub-attribute becomes
//     {"value": s} (Entra sends manager as "271");
//   - multi-valued attributes accept a single value as a one-element list; null
//     and empty elements are dropped; two values with primary true are 400;
//   - booleans accept "true"/"false" in any case (Entra sends "False");
//   - numbers become float64 (integer attributes must be integral);
//   - dateTime must be RFC 3339 and stays a string.
//
// A number where a string is expected, or any other mismatch, is 400 invalidValue
// with a detail naming the attribute and the expected type, never the value.
// readOnly sub-attributes are kept (the PATCH engine drops them itself).
// A nil v returns nil.
func NormalizeValue(attr *Attribute, v any) (any, error) {
	out, err := normalizeValue(attr, v, "", false)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// normalizeValue: parent names the enclosing attribute for error details; strip
// drops readOnly sub-attributes.
func normalizeValue(attr *Attribute, v any, parent string, strip bool) (any, *Error) {
	if v == nil {
		return nil, nil
	}
	if !attr.MultiValued {
		return normalizeOne(attr, v, parent, strip)
	}
	in, ok := v.([]any)
	if !ok {
		in = []any{v}
	}
	out := make([]any, 0, len(in))
	primaries := 0
	for _, el := range in {
		if el == nil {
			continue
		}
		n, err := normalizeOne(attr, el, parent, strip)
		if err != nil {
			return nil, err
		}
		if m, ok := n.(map[string]any); ok {
			if len(m) == 0 {
				continue
			}
			if m["primary"] == true {
				primaries++
			}
		}
		out = append(out, n)
	}
	if primaries > 1 {
		return nil, errManyPrimaries(dottedName(parent, attr))
	}
	return out, nil
}

func dottedName(parent string, attr *Attribute) string {
	if parent == "" {
		return attr.Name
	}
	return parent + "." + attr.Name
}

func typeError(parent string, attr *Attribute, want string, v any) *Error {
	got := "a string"
	switch v.(type) {
	case bool:
		got = "a boolean"
	case float64, json.Number, int, int64:
		got = "a number"
	case map[string]any:
		got = "an object"
	case []any:
		got = "an array"
	}
	return BadRequest(ErrInvalidValue, "attribute %s: expected %s, got %s", dottedName(parent, attr), want, got)
}

// hasOtherSpelling reports whether m has a key other than k spelling name.
func hasOtherSpelling(m map[string]any, k, name string) bool {
	for o := range m {
		if o != k && strings.EqualFold(o, name) {
			return true
		}
	}
	return false
}

func normalizeOne(attr *Attribute, v any, parent string, strip bool) (any, *Error) {
	switch attr.Type {
	case TypeComplex:
		switch x := v.(type) {
		case map[string]any:
			out := make(map[string]any, len(x))
			for k, sv := range x {
				s := attr.Sub(k)
				if s == nil {
					return nil, BadRequest(ErrInvalidValue, "attribute %s: unknown sub-attribute %s", dottedName(parent, attr), filterQuote(k))
				}
				if k != s.Name {
					if _, dup := x[s.Name]; dup {
						continue // the canonical spelling wins
					}
					if hasOtherSpelling(x, k, s.Name) {
						return nil, BadRequest(ErrInvalidValue, "attribute %s: sub-attribute %s given more than once", dottedName(parent, attr), s.Name)
					}
				}
				if sv == nil || strip && s.Mutability == ReadOnly {
					continue
				}
				nv, err := normalizeValue(s, sv, dottedName(parent, attr), strip)
				if err != nil {
					return nil, err
				}
				if nv != nil {
					out[s.Name] = nv
				}
			}
			return out, nil
		case string:
			if vs := attr.Sub("value"); vs != nil && !(strip && vs.Mutability == ReadOnly) {
				nv, err := normalizeOne(vs, x, dottedName(parent, attr), strip)
				if err != nil {
					return nil, err
				}
				return map[string]any{vs.Name: nv}, nil
			}
		}
		return nil, typeError(parent, attr, "an object", v)
	case TypeBoolean:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			if strings.EqualFold(x, "true") {
				return true, nil
			}
			if strings.EqualFold(x, "false") {
				return false, nil
			}
		}
		return nil, typeError(parent, attr, "a boolean", v)
	case TypeDecimal, TypeInteger:
		f, ok := filterNumber(v)
		if !ok {
			return nil, typeError(parent, attr, "a number", v)
		}
		if attr.Type == TypeInteger && f != float64(int64(f)) {
			return nil, BadRequest(ErrInvalidValue, "attribute %s: expected an integer", dottedName(parent, attr))
		}
		return f, nil
	case TypeDateTime:
		s, ok := v.(string)
		if !ok {
			return nil, typeError(parent, attr, "an RFC 3339 dateTime string", v)
		}
		if !isDateTime(s) {
			return nil, BadRequest(ErrInvalidValue, "attribute %s: expected an RFC 3339 dateTime like \"2024-01-02T15:04:05Z\"", dottedName(parent, attr))
		}
		return s, nil
	}
	if s, ok := v.(string); ok {
		return s, nil
	}
	return nil, typeError(parent, attr, "a string", v)
}

func isDateTime(s string) bool {
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil
}
