package scim

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
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
	schemas, _ := patchField(obj, "schemas")
	operations, _ := patchField(obj, "Operations")
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
		opv, _ := patchField(o, "op")
		pathv, _ := patchField(o, "path")
		value, hasValue := patchField(o, "value")
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
			if err != nil {
				return nil, patchPrefix(err, i)
			}
			po.Path = p
		} else if op == "remove" {
			return nil, BadRequest(ErrNoTarget, "Operations[%d]: remove needs a path", i)
		}
		if op != "remove" && !hasValue {
			return nil, BadRequest(ErrInvalidValue, "Operations[%d]: %s needs a value", i, op)
		}
		steps, err := patchCompile(op, po.Path, value, rt)
		if err != nil {
			return nil, patchPrefix(err, i)
		}
		po.steps, po.compiled = steps, rt
		ops = append(ops, po)
	}
	return ops, nil
}

// patchField finds a member case-insensitively; the exact spelling wins, and
// among other spellings the smallest, so that duplicates resolve deterministically.
func patchField(m map[string]any, name string) (any, bool) {
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

func patchPrefix(err error, i int) error {
	e := AsError(err)
	return &Error{Status: e.Status, ScimType: e.ScimType, Detail: "Operations[" + strconv.Itoa(i) + "]: " + e.Detail}
}

// patchCompile turns one operation into per-attribute steps with normalised values.
// readOnly targets (id, meta, schemas, groups, manager.displayName…) yield no step:
// clients send them routinely and RFC-strict rejection breaks Okta and Entra.
func patchCompile(op string, p *Path, value any, rt *ResourceType) ([]patchStep, *Error) {
	if p == nil {
		m, ok := value.(map[string]any)
		if !ok {
			return nil, BadRequest(ErrInvalidValue, "%s without a path needs an object value", op)
		}
		var steps []patchStep
		return steps, patchExpand(op, "", m, rt, &steps)
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
		return steps, patchExpand(op, p.Attr.URN, m, rt, &steps)
	}
	return steps, patchTarget(op, p, value, &steps)
}

// patchExpand compiles a pathless value: each key is a path of its own. prefix is
// the extension URN the keys belong to, when the value sat under one.
func patchExpand(op, prefix string, m map[string]any, rt *ResourceType, steps *[]patchStep) *Error {
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
				if err := patchExpand(op, "", sub, rt, steps); err != nil {
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
				if err := patchExpand(op, e.ID, sub, rt, steps); err != nil {
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
		if err != nil {
			return AsError(err)
		}
		if p.attr == nil {
			return BadRequest(ErrInvalidPath, "unexpected schema URN %s inside a value", filterQuote(k))
		}
		if err := patchTarget(op, p, v, steps); err != nil {
			return err
		}
	}
	return nil
}

// patchTarget compiles an operation on a resolved attribute path.
func patchTarget(op string, p *Path, value any, steps *[]patchStep) *Error {
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
			st.value, err = patchNormalize(attr, value, "", false)
		}
	case sub != nil:
		st.value, err = patchNormalize(sub, value, name, true)
	case p.Filter != nil:
		if l, ok := value.([]any); ok && len(l) == 1 {
			value = l[0]
		}
		st.value, err = patchNormalizeOne(attr, value, "", true)
		if err == nil {
			if _, ok := st.value.(map[string]any); !ok {
				err = BadRequest(ErrInvalidValue, "attribute %s: expected an object for a filtered path", name)
			}
		}
	default:
		st.value, err = patchNormalize(attr, value, "", true)
	}
	if err != nil {
		return err
	}
	*steps = append(*steps, st)
	return nil
}

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
	out, err := patchNormalize(attr, v, "", false)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// patchNormalize: parent names the enclosing attribute for error details; strip
// drops readOnly sub-attributes.
func patchNormalize(attr *Attribute, v any, parent string, strip bool) (any, *Error) {
	if v == nil {
		return nil, nil
	}
	if !attr.MultiValued {
		return patchNormalizeOne(attr, v, parent, strip)
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
		n, err := patchNormalizeOne(attr, el, parent, strip)
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
		return nil, BadRequest(ErrInvalidValue, "attribute %s: at most one value may be primary", patchName(parent, attr))
	}
	return out, nil
}

func patchName(parent string, attr *Attribute) string {
	if parent == "" {
		return attr.Name
	}
	return parent + "." + attr.Name
}

func patchTypeError(parent string, attr *Attribute, want string, v any) *Error {
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
	return BadRequest(ErrInvalidValue, "attribute %s: expected %s, got %s", patchName(parent, attr), want, got)
}

// patchHasOtherSpelling reports whether m has a key other than k spelling name.
func patchHasOtherSpelling(m map[string]any, k, name string) bool {
	for o := range m {
		if o != k && strings.EqualFold(o, name) {
			return true
		}
	}
	return false
}

func patchNormalizeOne(attr *Attribute, v any, parent string, strip bool) (any, *Error) {
	switch attr.Type {
	case TypeComplex:
		switch x := v.(type) {
		case map[string]any:
			out := make(map[string]any, len(x))
			for k, sv := range x {
				s := attr.Sub(k)
				if s == nil {
					return nil, BadRequest(ErrInvalidValue, "attribute %s: unknown sub-attribute %s", patchName(parent, attr), filterQuote(k))
				}
				if k != s.Name {
					if _, dup := x[s.Name]; dup {
						continue // the canonical spelling wins
					}
					if patchHasOtherSpelling(x, k, s.Name) {
						return nil, BadRequest(ErrInvalidValue, "attribute %s: sub-attribute %s given more than once", patchName(parent, attr), s.Name)
					}
				}
				if sv == nil || strip && s.Mutability == ReadOnly {
					continue
				}
				nv, err := patchNormalize(s, sv, patchName(parent, attr), strip)
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
				nv, err := patchNormalizeOne(vs, x, patchName(parent, attr), strip)
				if err != nil {
					return nil, err
				}
				return map[string]any{vs.Name: nv}, nil
			}
		}
		return nil, patchTypeError(parent, attr, "an object", v)
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
		return nil, patchTypeError(parent, attr, "a boolean", v)
	case TypeDecimal, TypeInteger:
		f, ok := filterNumber(v)
		if !ok {
			return nil, patchTypeError(parent, attr, "a number", v)
		}
		if attr.Type == TypeInteger && f != float64(int64(f)) {
			return nil, BadRequest(ErrInvalidValue, "attribute %s: expected an integer", patchName(parent, attr))
		}
		return f, nil
	case TypeDateTime:
		s, ok := v.(string)
		if !ok {
			return nil, patchTypeError(parent, attr, "an RFC 3339 dateTime string", v)
		}
		if !patchIsDateTime(s) {
			return nil, BadRequest(ErrInvalidValue, "attribute %s: expected an RFC 3339 dateTime like \"2024-01-02T15:04:05Z\"", patchName(parent, attr))
		}
		return s, nil
	}
	if s, ok := v.(string); ok {
		return s, nil
	}
	return nil, patchTypeError(parent, attr, "a string", v)
}

// ApplyPatch applies ops to r and returns the patched resource. r is never
// modified, and the PATCH is atomic: on any error nothing is returned. The result
// shares unmodified nested values with r and with ops, so treat both as
// read-only after the call (or deep-copy before mutating nested values).
//
// Semantics beyond RFC 7644 §3.5.2, for Okta and Entra ID:
//   - readOnly attributes (id, meta, schemas, groups, manager.displayName,
//     members.display) in values or paths are ignored, except an "id" value that
//     differs from r's id (400 mutability);
//   - add on a single-valued attribute replaces it; add to a multi-valued one
//     appends, merging into an existing value with the same "value" instead of
//     duplicating it;
//   - replace/add on a filtered path that matches nothing creates the value from
//     the filter's eq comparisons (emails[type eq "work"].value); 400 noTarget if
//     the filter has anything else;
//   - remove with a filter that matches nothing, or of an absent attribute, is a
//     no-op; remove of a multi-valued attribute with a value removes only those
//     values (matched on "value");
//   - replace with null removes; setting primary true clears it on the others;
//   - removing a required attribute present in r is 400 invalidValue;
//   - immutable attributes may be set when absent, else 400 mutability;
//   - extension URNs are added to "schemas" when their attributes appear.
func ApplyPatch(r Resource, ops []PatchOp, rt *ResourceType) (Resource, error) {
	a := patchApplier{in: r, res: maps.Clone(r), rt: rt}
	if a.res == nil {
		a.res = Resource{}
	}
	for i := range ops {
		op := &ops[i]
		steps := op.steps
		if op.compiled != rt {
			var err *Error
			steps, err = patchCompile(op.Op, op.Path, op.Value, rt)
			if err != nil {
				return nil, patchPrefix(err, i)
			}
		}
		for j := range steps {
			if err := a.apply(&steps[j]); err != nil {
				return nil, patchPrefix(err, i)
			}
		}
	}
	if err := a.finish(); err != nil {
		return nil, err
	}
	return a.res, nil
}

type patchOwnKey struct{ urn, name string }

type patchApplier struct {
	in, res  Resource
	rt       *ResourceType
	owned    []patchOwnKey // top-level values already deep-copied into res
	extOwned []string      // extension maps already copied into res
}

func (a *patchApplier) get(urn, name string) any {
	if urn == "" {
		return a.res[name]
	}
	m, _ := a.res[urn].(map[string]any)
	return m[name]
}

// ext returns the extension map of res, copied on first write.
func (a *patchApplier) ext(urn string, create bool) map[string]any {
	cur, _ := a.res[urn].(map[string]any)
	if slices.Contains(a.extOwned, urn) && cur != nil {
		return cur
	}
	if cur == nil && !create {
		return nil
	}
	m := make(map[string]any, len(cur)+1)
	maps.Copy(m, cur)
	a.res[urn] = m
	a.extOwned = append(a.extOwned, urn)
	return m
}

// set stores v, which may be shared (a compiled value), so it is marked unowned.
func (a *patchApplier) set(urn, name string, v any) {
	if urn == "" {
		a.res[name] = v
	} else {
		a.ext(urn, true)[name] = v
	}
	a.disown(urn, name)
}

func (a *patchApplier) disown(urn, name string) {
	if i := slices.Index(a.owned, patchOwnKey{urn, name}); i >= 0 {
		a.owned = slices.Delete(a.owned, i, i+1)
	}
}

func (a *patchApplier) del(urn, name string) {
	a.disown(urn, name)
	if urn == "" {
		delete(a.res, name)
		return
	}
	if _, ok := a.res[urn].(map[string]any); !ok {
		return
	}
	m := a.ext(urn, false)
	delete(m, name)
	if len(m) == 0 {
		delete(a.res, urn)
	}
}

// own returns the attribute's value deep-copied into res, so that it may be
// modified in place without touching the input.
func (a *patchApplier) own(urn, name string) any {
	k := patchOwnKey{urn, name}
	v := a.get(urn, name)
	if v == nil || slices.Contains(a.owned, k) {
		return v
	}
	c := patchClone(v)
	if urn == "" {
		a.res[name] = c
	} else {
		a.ext(urn, true)[name] = c
	}
	a.owned = append(a.owned, k)
	return c
}

func (a *patchApplier) ownMap(urn, name string, create bool) map[string]any {
	m, ok := a.own(urn, name).(map[string]any)
	if !ok {
		if !create {
			return nil
		}
		m = map[string]any{}
		a.set(urn, name, m)
		a.owned = append(a.owned, patchOwnKey{urn, name})
	}
	return m
}

func (a *patchApplier) ownList(urn, name string) []any {
	l, _ := a.own(urn, name).([]any)
	return l
}

// putList stores a list this patch owns (or deletes the attribute when empty).
func (a *patchApplier) putList(st *patchStep, l []any) {
	if len(l) == 0 {
		a.del(st.urn, st.attr.Name)
		return
	}
	if st.urn == "" {
		a.res[st.attr.Name] = l
	} else {
		a.ext(st.urn, true)[st.attr.Name] = l
	}
	if k := (patchOwnKey{st.urn, st.attr.Name}); !slices.Contains(a.owned, k) {
		a.owned = append(a.owned, k)
	}
}

func patchClone(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = patchClone(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = patchClone(e)
		}
		return l
	}
	return v
}

func (a *patchApplier) apply(st *patchStep) *Error {
	if st.idCheck {
		cur, _ := a.in["id"].(string)
		if v, _ := st.value.(string); cur != "" && v != "" && v != cur {
			return BadRequest(ErrMutability, "id is readOnly and cannot be changed")
		}
		return nil
	}
	if st.attr == nil {
		if _, ok := a.res[st.urn]; ok {
			delete(a.res, st.urn)
			a.extOwned = slices.DeleteFunc(a.extOwned, func(u string) bool { return u == st.urn })
			a.owned = slices.DeleteFunc(a.owned, func(k patchOwnKey) bool { return k.urn == st.urn })
		}
		return nil
	}
	if st.filter != nil {
		return a.applyFiltered(st)
	}
	if st.sub != nil {
		return a.applySub(st)
	}
	return a.applyAttr(st)
}

func (a *patchApplier) applyAttr(st *patchStep) *Error {
	attr := st.attr
	if st.op == "remove" || st.value == nil {
		if st.op == "add" {
			return nil // add null: nothing to add
		}
		if st.op == "remove" && attr.MultiValued && st.value != nil {
			rm, _ := st.value.([]any)
			cur, _ := a.get(st.urn, attr.Name).([]any)
			if len(cur) == 0 || len(rm) == 0 {
				return nil
			}
			l := a.ownList(st.urn, attr.Name)
			l = slices.DeleteFunc(l, func(el any) bool { return patchListHas(attr, rm, el) })
			a.putList(st, l)
			return nil
		}
		a.del(st.urn, attr.Name)
		return nil
	}
	if attr.MultiValued {
		nl, _ := st.value.([]any)
		if st.op == "replace" {
			if len(nl) == 0 {
				a.del(st.urn, attr.Name)
			} else {
				a.set(st.urn, attr.Name, nl)
			}
			return nil
		}
		l := a.ownList(st.urn, attr.Name)
		var touched []int
		for _, el := range nl {
			i := patchFindDup(attr, l, el)
			if i < 0 {
				l = append(l, patchClone(el))
				i = len(l) - 1
			} else if nm, ok := el.(map[string]any); ok {
				if om, ok := l[i].(map[string]any); ok {
					for k, v := range nm {
						if _, has := om[k]; !has {
							om[k] = v
						}
					}
				}
			}
			touched = append(touched, i)
		}
		a.putList(st, l)
		return patchFixPrimary(attr, l, touched)
	}
	if attr.Type == TypeComplex {
		nm, _ := st.value.(map[string]any)
		if len(nm) == 0 {
			return nil
		}
		m := a.ownMap(st.urn, attr.Name, true)
		patchForgetReferent(attr, m, nm)
		return patchMerge(attr, m, nm)
	}
	if attr.Mutability == Immutable {
		if cur := a.get(st.urn, attr.Name); filterPresent(cur, "") && !patchEqual(attr, cur, st.value) {
			return BadRequest(ErrMutability, "attribute %s is immutable", attr.Name)
		}
	}
	a.set(st.urn, attr.Name, st.value)
	return nil
}

// patchForgetReferent drops, from a single-valued complex attribute whose "value"
// changes, the sub-attributes that described the old referent and are not given
// anew: readOnly ones (manager.displayName) and references ($ref).
func patchForgetReferent(attr *Attribute, m, nm map[string]any) {
	nv, ok := nm["value"]
	if !ok {
		return
	}
	if ov, had := m["value"]; !had || patchEqual(attr.Sub("value"), ov, nv) {
		return
	}
	for _, s := range attr.SubAttributes {
		if _, given := nm[s.Name]; !given && (s.Mutability == ReadOnly || s.Type == TypeReference) {
			delete(m, s.Name)
		}
	}
}

// patchMerge sets the sub-attributes of nm on m (RFC 7644 §3.5.2.3: sub-attributes
// not given are left unchanged).
func patchMerge(attr *Attribute, m, nm map[string]any) *Error {
	for k, v := range nm {
		if err := patchSetSub(attr, attr.Sub(k), m, v); err != nil {
			return err
		}
	}
	return nil
}

func patchSetSub(attr, sub *Attribute, m map[string]any, v any) *Error {
	if sub.Mutability == Immutable {
		if cur := m[sub.Name]; filterPresent(cur, "") && !patchEqual(sub, cur, v) {
			return BadRequest(ErrMutability, "attribute %s.%s is immutable", attr.Name, sub.Name)
		}
	}
	m[sub.Name] = v
	return nil
}

func (a *patchApplier) applySub(st *patchStep) *Error {
	attr, sub := st.attr, st.sub
	clear := st.op == "remove" || st.value == nil
	if clear && st.op == "add" {
		return nil
	}
	if !attr.MultiValued {
		if clear {
			m := a.ownMap(st.urn, attr.Name, false)
			if m == nil {
				return nil
			}
			delete(m, sub.Name)
			if len(m) == 0 {
				a.del(st.urn, attr.Name)
			}
			return nil
		}
		m := a.ownMap(st.urn, attr.Name, true)
		if sub.Name == "value" {
			patchForgetReferent(attr, m, map[string]any{"value": st.value})
		}
		return patchSetSub(attr, sub, m, st.value)
	}
	l := a.ownList(st.urn, attr.Name)
	if clear {
		if len(l) == 0 {
			return nil
		}
		l = slices.DeleteFunc(l, func(el any) bool {
			m, ok := el.(map[string]any)
			if ok {
				delete(m, sub.Name)
			}
			return ok && len(m) == 0
		})
		a.putList(st, l)
		return nil
	}
	// emails.value without a filter: every value gets it; none yet → create one
	if len(l) == 0 {
		l = []any{map[string]any{sub.Name: st.value}}
	}
	touched := make([]int, 0, len(l))
	for i, el := range l {
		if m, ok := el.(map[string]any); ok {
			if err := patchSetSub(attr, sub, m, st.value); err != nil {
				return err
			}
			touched = append(touched, i)
		}
	}
	a.putList(st, l)
	return patchFixPrimary(attr, l, touched)
}

func (a *patchApplier) applyFiltered(st *patchStep) *Error {
	attr, sub := st.attr, st.sub
	var l []any
	if attr.MultiValued {
		l = a.ownList(st.urn, attr.Name)
	} else if m := a.ownMap(st.urn, attr.Name, false); m != nil {
		l = []any{m}
	}
	var matched []int
	for i, el := range l {
		if m, ok := el.(map[string]any); ok && filterMatchElem(st.filter, m, attr) {
			matched = append(matched, i)
		}
	}
	put := func() {
		if attr.MultiValued {
			a.putList(st, l)
		} else if len(l) == 0 {
			a.del(st.urn, attr.Name)
		}
	}
	if st.op == "remove" || st.value == nil {
		if st.op == "add" || len(matched) == 0 {
			return nil
		}
		if sub == nil {
			// the element itself (Okta: remove members[value eq "…"])
			k := 0
			l = slices.DeleteFunc(l, func(any) bool {
				hit := slices.Contains(matched, k)
				k++
				return hit
			})
		} else {
			for _, i := range matched {
				m := l[i].(map[string]any)
				delete(m, sub.Name)
			}
			l = slices.DeleteFunc(l, func(el any) bool {
				m, ok := el.(map[string]any)
				return ok && len(m) == 0
			})
		}
		put()
		return nil
	}
	if len(matched) == 0 {
		// Entra PATCHes filtered paths whose value does not exist yet: create it
		el := map[string]any{}
		if !patchFromFilter(st.filter, el) {
			return BadRequest(ErrNoTarget, "no value of %s matches the filter, and none can be created from it (only eq comparisons joined by and can be)", attr.Name)
		}
		if attr.MultiValued {
			l = append(l, el)
		} else {
			l = []any{el}
			a.set(st.urn, attr.Name, el)
			a.owned = append(a.owned, patchOwnKey{st.urn, attr.Name})
		}
		matched = append(matched, len(l)-1)
	}
	for _, i := range matched {
		m := l[i].(map[string]any)
		var err *Error
		if sub != nil {
			err = patchSetSub(attr, sub, m, st.value)
		} else if nm, ok := st.value.(map[string]any); ok {
			err = patchMerge(attr, m, nm)
		}
		if err != nil {
			return err
		}
	}
	put()
	return patchFixPrimary(attr, l, matched)
}

// patchFromFilter fills el from a filter made only of `sub eq value` joined by and.
func patchFromFilter(e Expr, el map[string]any) bool {
	switch x := e.(type) {
	case *LogicalExpr:
		return x.Op == "and" && patchFromFilter(x.Left, el) && patchFromFilter(x.Right, el)
	case *CompareExpr:
		if x.Op != "eq" || x.Value == nil || x.Path.Sub != "" {
			return false
		}
		if old, ok := el[x.Path.Name]; ok && old != x.Value {
			return false
		}
		el[x.Path.Name] = x.Value
		return true
	}
	return false
}

// patchFixPrimary enforces RFC 7643 §2.4: at most one value is primary. When the
// values this step wrote (touched) hold the only new primary, the others lose it.
func patchFixPrimary(attr *Attribute, l []any, touched []int) *Error {
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
		return BadRequest(ErrInvalidValue, "attribute %s: at most one value may be primary", attr.Name)
	}
	for i, el := range l {
		if m, ok := el.(map[string]any); ok && i != winner && m["primary"] == true {
			delete(m, "primary")
		}
	}
	return nil
}

// patchFindDup returns the index of a value of l that el duplicates: same "value"
// and no conflicting sub-attribute (so a member re-added with a display merges),
// or deep equality for values without "value".
func patchFindDup(attr *Attribute, l []any, el any) int {
	nm, isMap := el.(map[string]any)
	for i, ex := range l {
		if !isMap {
			if patchEqual(attr, ex, el) {
				return i
			}
			continue
		}
		om, ok := ex.(map[string]any)
		if !ok {
			continue
		}
		if _, hasValue := nm["value"]; !hasValue {
			if patchDeepEqual(om, nm) {
				return i
			}
			continue
		}
		dup := true
		for k, v := range nm {
			ov, has := om[k]
			if k == "value" && !has || has && !patchEqual(attr.Sub(k), ov, v) {
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

// patchListHas reports whether el is one of rm, matching complex values on "value".
func patchListHas(attr *Attribute, rm []any, el any) bool {
	em, isMap := el.(map[string]any)
	for _, r := range rm {
		rmm, ok := r.(map[string]any)
		if isMap && ok {
			if rv, has := rmm["value"]; has {
				if patchEqual(attr.Sub("value"), em["value"], rv) {
					return true
				}
				continue
			}
			if patchDeepEqual(em, rmm) {
				return true
			}
			continue
		}
		if !isMap && !ok && patchEqual(attr, el, r) {
			return true
		}
	}
	return false
}

// patchEqual compares two values of attr: strings case-insensitively unless the
// attribute is caseExact.
func patchEqual(attr *Attribute, a, b any) bool {
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
	return patchDeepEqual(a, b)
}

func patchDeepEqual(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !patchDeepEqual(v, w) {
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
			if !patchDeepEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case string, bool, float64, nil:
		return a == b
	}
	return false
}

// finish checks required attributes and keeps "schemas" in step with extensions.
func (a *patchApplier) finish() *Error {
	for _, attr := range a.rt.Core.Attributes {
		if attr.Required && filterPresent(a.in[attr.Name], "") && !filterPresent(a.res[attr.Name], "") {
			return BadRequest(ErrInvalidValue, "attribute %s is required and cannot be removed", attr.Name)
		}
	}
	schemas, ok := a.res["schemas"].([]any)
	if !ok {
		return nil
	}
	var out []any
	for _, e := range a.rt.Extensions {
		has := filterPresent(a.res[e.ID], "")
		had := filterPresent(a.in[e.ID], "")
		i := slices.IndexFunc(schemas, func(s any) bool {
			str, _ := s.(string)
			return strings.EqualFold(str, e.ID)
		})
		switch {
		case has && i < 0:
			if out == nil {
				out = slices.Clone(schemas)
			}
			out = append(out, e.ID)
		case !has && had && i >= 0:
			if out == nil {
				out = slices.Clone(schemas)
			}
			out = slices.DeleteFunc(out, func(s any) bool {
				str, _ := s.(string)
				return strings.EqualFold(str, e.ID)
			})
		}
	}
	if out != nil {
		a.res["schemas"] = out
	}
	return nil
}

func patchIsDateTime(s string) bool {
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil
}
