package scim

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// MaxPatchOperations bounds the Operations of one PATCH request.
const MaxPatchOperations = 1000

// PatchOp is one operation of a PATCH request (RFC 7644 §3.5.2), validated and
// resolved against a ResourceType by ParsePatch.
type PatchOp struct {
	Op    string // "add", "replace" or "remove" (lower case)
	Path  *Path  // nil when the operation has no path (add/replace with an object value)
	Value any    // the value as sent (decoded JSON); nil when absent or null

	// steps is the operation compiled to per-attribute edits with normalised
	// values; ApplyPatch compiles on the fly for a hand-built PatchOp.
	steps    []patchStep
	compiled *ResourceType
	lenient  Lenient // how it was parsed, for a recompile
}

// patchStep is one edit of one attribute.
type patchStep struct {
	op      string     // add, replace, remove
	urn     string     // extension URN or "" (core and common attributes)
	attr    *Attribute // top-level attribute; nil removes the whole extension urn
	sub     *Attribute // targeted sub-attribute, or nil
	filter  Expr       // value filter, or nil
	value   any        // normalised value; nil means none / null
	idCheck bool       // "id" inside a value: tolerated when equal to the resource's id
}

// ParsePatch decodes and validates a PATCH request body. It accepts what Okta and
// Entra ID send: ops in any case ("Replace"), pathless add/replace whose value keys
// may be dotted ("name.givenName") or URN-qualified, filtered paths, string
// booleans and bare-string complex values. Errors are 400 *Error values:
// invalidSyntax (JSON, schemas, Operations, op), noTarget (remove without path),
// invalidPath (unknown attribute or malformed path), invalidValue (wrong types),
// mutability (an "id" value that differs is detected later, by ApplyPatch).
func ParsePatch(body []byte, rt *ResourceType) ([]PatchOp, error) {
	return ParsePatchWith(body, rt, nil)
}

// ParsePatchWith is ParsePatch that, with a non-nil lenient, drops operations on
// unknown attributes and extensions (and such keys of pathless values) instead of
// refusing them; a malformed path is still 400 invalidPath.
func ParsePatchWith(body []byte, rt *ResourceType, lenient Lenient) ([]PatchOp, error) {
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, BadRequest(ErrInvalidSyntax, "request body is not valid JSON (error at byte %d)", se.Offset)
		}
		return nil, BadRequest(ErrInvalidSyntax, "request body is not valid JSON")
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return nil, BadRequest(ErrInvalidSyntax, "request body must be a JSON object")
	}
	schemas, _ := foldMember(obj, "schemas")
	operations, _ := foldMember(obj, "Operations")
	found := false
	if l, ok := schemas.([]any); ok {
		for _, s := range l {
			if s, ok := s.(string); ok && strings.EqualFold(s, MessagePatchOp) {
				found = true
			}
		}
	}
	if !found {
		return nil, BadRequest(ErrInvalidSyntax, "schemas must contain %s", MessagePatchOp)
	}
	list, ok := operations.([]any)
	if !ok || len(list) == 0 {
		return nil, BadRequest(ErrInvalidSyntax, "Operations must be a non-empty array")
	}
	if len(list) > MaxPatchOperations {
		return nil, BadRequest(ErrInvalidSyntax, "too many operations: %d, at most %d are accepted", len(list), MaxPatchOperations)
	}
	ops := make([]PatchOp, 0, len(list))
	for i, raw := range list {
		o, ok := raw.(map[string]any)
		if !ok {
			return nil, BadRequest(ErrInvalidSyntax, "Operations[%d] must be an object", i)
		}
		opv, _ := foldMember(o, "op")
		pathv, _ := foldMember(o, "path")
		value, hasValue := foldMember(o, "value")
		opName, _ := opv.(string)
		op := strings.ToLower(opName)
		if op != "add" && op != "replace" && op != "remove" {
			if opv == nil {
				return nil, BadRequest(ErrInvalidSyntax, "Operations[%d]: missing \"op\"", i)
			}
			return nil, BadRequest(ErrInvalidSyntax, "Operations[%d]: op must be add, replace or remove, got %s", i, filterQuote(opName))
		}
		pathStr, isStr := pathv.(string)
		if pathv != nil && !isStr {
			return nil, BadRequest(ErrInvalidPath, "Operations[%d]: path must be a string", i)
		}
		pathStr = strings.TrimSpace(pathStr)
		po := PatchOp{Op: op, Value: value}
		if pathStr != "" {
			p, err := ParsePath(pathStr, rt)
			if err != nil && lenient != nil && unknownPath(rt, pathStr) {
				lenient.drop(pathStr)
				continue
			}
			if err != nil {
				return nil, operationError(err, i)
			}
			po.Path = p
		} else if op == "remove" {
			return nil, BadRequest(ErrNoTarget, "Operations[%d]: remove needs a path", i)
		}
		if op != "remove" && !hasValue {
			return nil, BadRequest(ErrInvalidValue, "Operations[%d]: %s needs a value", i, op)
		}
		steps, err := compileOp(op, po.Path, value, rt, lenient)
		if err != nil {
			return nil, operationError(err, i)
		}
		po.steps, po.compiled, po.lenient = steps, rt, lenient
		ops = append(ops, po)
	}
	return ops, nil
}

// foldMember finds a member case-insensitively; the exact spelling wins, and
// among other spellings the smallest, so that duplicates resolve deterministically.
func foldMember(m map[string]any, name string) (any, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	best, found := "", false
	for k := range m {
		if strings.EqualFold(k, name) && (!found || k < best) {
			best, found = k, true
		}
	}
	if !found {
		return nil, false
	}
	return m[best], true
}

func operationError(err error, i int) error {
	e := AsError(err)
	return &Error{Status: e.Status, ScimType: e.ScimType, Detail: "Operations[" + strconv.Itoa(i) + "]: " + e.Detail}
}

// compileOp turns one operation into per-attribute steps with normalised values.
// readOnly targets (id, meta, schemas, groups, manager.displayName…) yield no step:
// clients send them routinely and RFC-strict rejection breaks Okta and Entra.
func compileOp(op string, p *Path, value any, rt *ResourceType, lenient Lenient) ([]patchStep, *Error) {
	if p == nil {
		m, ok := value.(map[string]any)
		if !ok {
			return nil, BadRequest(ErrInvalidValue, "%s without a path needs an object value", op)
		}
		var steps []patchStep
		return steps, compilePathless(op, "", m, rt, lenient, &steps)
	}
	var steps []patchStep
	if p.attr == nil { // the whole extension
		if op == "remove" {
			return []patchStep{{op: op, urn: p.Attr.URN}}, nil
		}
		m, ok := value.(map[string]any)
		if !ok {
			if value == nil && op == "replace" {
				return []patchStep{{op: "remove", urn: p.Attr.URN}}, nil
			}
			return nil, BadRequest(ErrInvalidValue, "a value for %s must be an object", p.Attr.URN)
		}
		return steps, compilePathless(op, p.Attr.URN, m, rt, lenient, &steps)
	}
	return steps, compileTarget(op, p, value, &steps)
}

// compilePathless compiles a pathless value: each key is a path of its own. prefix is
// the extension URN the keys belong to, when the value sat under one.
func compilePathless(op, prefix string, m map[string]any, rt *ResourceType, lenient Lenient, steps *[]patchStep) *Error {
	keys := slices.Sorted(maps.Keys(m)) // deterministic order when keys overlap
	for _, k := range keys {
		v := m[k]
		if prefix == "" {
			switch {
			case strings.EqualFold(k, "id"):
				s, ok := v.(string)
				if !ok && v != nil {
					return BadRequest(ErrMutability, "id is readOnly and cannot be changed")
				}
				*steps = append(*steps, patchStep{op: op, value: s, idCheck: true})
				continue
			case strings.EqualFold(k, "schemas"), strings.EqualFold(k, "meta"):
				continue
			case strings.EqualFold(k, rt.Core.ID):
				sub, ok := v.(map[string]any)
				if !ok {
					return BadRequest(ErrInvalidValue, "a value for %s must be an object", rt.Core.ID)
				}
				if err := compilePathless(op, "", sub, rt, lenient, steps); err != nil {
					return err
				}
				continue
			}
			if e := rt.Extension(k); e != nil {
				sub, ok := v.(map[string]any)
				if !ok {
					if v == nil {
						if op == "replace" {
							*steps = append(*steps, patchStep{op: "remove", urn: e.ID})
						}
						continue
					}
					return BadRequest(ErrInvalidValue, "a value for %s must be an object", e.ID)
				}
				if err := compilePathless(op, e.ID, sub, rt, lenient, steps); err != nil {
					return err
				}
				continue
			}
		}
		key := k
		if prefix != "" {
			key = prefix + ":" + k
		}
		p, err := ParsePath(key, rt)
		if err != nil && lenient != nil && unknownPath(rt, key) {
			lenient.drop(key)
			continue
		}
		if err != nil {
			return AsError(err)
		}
		if p.attr == nil {
			return BadRequest(ErrInvalidPath, "unexpected schema URN %s inside a value", filterQuote(k))
		}
		if err := compileTarget(op, p, v, steps); err != nil {
			return err
		}
	}
	return nil
}

// compileTarget compiles an operation on a resolved attribute path.
func compileTarget(op string, p *Path, value any, steps *[]patchStep) *Error {
	attr, sub := p.attr, p.sub
	if attr.Mutability == ReadOnly || sub != nil && sub.Mutability == ReadOnly {
		return nil
	}
	st := patchStep{op: op, urn: p.Attr.URN, attr: attr, sub: sub, filter: p.Filter}
	name := p.Attr.Name
	var err *Error
	switch {
	case value == nil:
	case op == "remove":
		// a value only narrows the removal of multi-valued attributes (Entra's
		// {"op":"Remove","path":"members","value":[{"value":"u1"}]})
		if attr.MultiValued && sub == nil && p.Filter == nil {
			st.value, err = normalizeValue(attr, value, "", false)
		}
	case sub != nil:
		st.value, err = normalizeValue(sub, value, name, true)
	case p.Filter != nil:
		if l, ok := value.([]any); ok && len(l) == 1 {
			value = l[0]
		}
		st.value, err = normalizeOne(attr, value, "", true)
		if err == nil {
			if _, ok := st.value.(map[string]any); !ok {
				err = BadRequest(ErrInvalidValue, "attribute %s: expected an object for a filtered path", name)
			}
		}
	default:
		st.value, err = normalizeValue(attr, value, "", true)
	}
	if err != nil {
		return err
	}
	*steps = append(*steps, st)
	return nil
}

// PatchSets reports whether ops set the core attribute name (canonical spelling, e.g.
// "userName"): an add or replace whose path, or whose pathless value, names it. The
// provisioning service takes a userName the IdP stated for the name of record.
func PatchSets(ops []PatchOp, name string) bool {
	for _, op := range ops {
		if op.Op == "remove" {
			continue
		}
		if op.steps != nil {
			for _, st := range op.steps {
				if st.urn == "" && st.attr != nil && strings.EqualFold(st.attr.Name, name) {
					return true
				}
			}
			continue
		}
		if op.Path != nil {
			if op.Path.Attr.URN == "" && strings.EqualFold(op.Path.Attr.Name, name) {
				return true
			}
			continue
		}
		if m, ok := op.Value.(map[string]any); ok {
			if _, ok := foldMember(m, name); ok {
				return true
			}
		}
	}
	return false
}
