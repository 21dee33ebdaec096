package scim

import (
	"maps"
	"slices"
	"strings"
)

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
			steps, err = compileOp(op.Op, op.Path, op.Value, rt, op.lenient)
			if err != nil {
				return nil, operationError(err, i)
			}
		}
		for j := range steps {
			if err := a.apply(&steps[j]); err != nil {
				return nil, operationError(err, i)
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

// put stores v in res.
func (a *patchApplier) put(urn, name string, v any) {
	if urn == "" {
		a.res[name] = v
	} else {
		a.ext(urn, true)[name] = v
	}
}

// set stores v, which may be shared (a compiled value), so it is marked unowned.
func (a *patchApplier) set(urn, name string, v any) {
	a.put(urn, name, v)
	a.disown(urn, name)
}

// putOwned stores v, which this patch made, so it is marked owned.
func (a *patchApplier) putOwned(urn, name string, v any) {
	a.put(urn, name, v)
	if k := (patchOwnKey{urn, name}); !slices.Contains(a.owned, k) {
		a.owned = append(a.owned, k)
	}
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
	v := a.get(urn, name)
	if v == nil || slices.Contains(a.owned, patchOwnKey{urn, name}) {
		return v
	}
	c := deepCopy(v)
	a.putOwned(urn, name, c)
	return c
}

func (a *patchApplier) ownMap(urn, name string, create bool) map[string]any {
	m, ok := a.own(urn, name).(map[string]any)
	if !ok {
		if !create {
			return nil
		}
		m = map[string]any{}
		a.putOwned(urn, name, m)
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
	a.putOwned(st.urn, st.attr.Name, l)
}

// deepCopy copies the maps and arrays of a decoded JSON value.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
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
			l = slices.DeleteFunc(l, func(el any) bool { return listContains(attr, rm, el) })
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
			i := findDuplicate(attr, l, el)
			if i < 0 {
				l = append(l, deepCopy(el))
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
		return fixPrimary(attr, l, touched)
	}
	if attr.Type == TypeComplex {
		nm, _ := st.value.(map[string]any)
		if len(nm) == 0 {
			return nil
		}
		m := a.ownMap(st.urn, attr.Name, true)
		forgetReferent(attr, m, nm)
		return mergeSubAttrs(attr, m, nm)
	}
	if attr.Mutability == Immutable {
		if cur := a.get(st.urn, attr.Name); filterPresent(cur, "") && !valuesEqual(attr, cur, st.value) {
			return BadRequest(ErrMutability, "attribute %s is immutable", attr.Name)
		}
	}
	a.set(st.urn, attr.Name, st.value)
	return nil
}

// forgetReferent drops, from a single-valued complex attribute whose "value"
// changes, the sub-attributes that described the old referent and are not given
// anew: readOnly ones (manager.displayName) and references ($ref).
func forgetReferent(attr *Attribute, m, nm map[string]any) {
	nv, ok := nm["value"]
	if !ok {
		return
	}
	if ov, had := m["value"]; !had || valuesEqual(attr.Sub("value"), ov, nv) {
		return
	}
	for _, s := range attr.SubAttributes {
		if _, given := nm[s.Name]; !given && (s.Mutability == ReadOnly || s.Type == TypeReference) {
			delete(m, s.Name)
		}
	}
}

// mergeSubAttrs sets the sub-attributes of nm on m (RFC 7644 §3.5.2.3: sub-attributes
// not given are left unchanged).
func mergeSubAttrs(attr *Attribute, m, nm map[string]any) *Error {
	for k, v := range nm {
		if err := setSubAttr(attr, attr.Sub(k), m, v); err != nil {
			return err
		}
	}
	return nil
}

func setSubAttr(attr, sub *Attribute, m map[string]any, v any) *Error {
	if sub.Mutability == Immutable {
		if cur := m[sub.Name]; filterPresent(cur, "") && !valuesEqual(sub, cur, v) {
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
			forgetReferent(attr, m, map[string]any{"value": st.value})
		}
		return setSubAttr(attr, sub, m, st.value)
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
			if err := setSubAttr(attr, sub, m, st.value); err != nil {
				return err
			}
			touched = append(touched, i)
		}
	}
	a.putList(st, l)
	return fixPrimary(attr, l, touched)
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
		if !valueFromFilter(st.filter, el) {
			return BadRequest(ErrNoTarget, "no value of %s matches the filter, and none can be created from it (only eq comparisons joined by and can be)", attr.Name)
		}
		if attr.MultiValued {
			l = append(l, el)
		} else {
			l = []any{el}
			a.putOwned(st.urn, attr.Name, el)
		}
		matched = append(matched, len(l)-1)
	}
	for _, i := range matched {
		m := l[i].(map[string]any)
		var err *Error
		if sub != nil {
			err = setSubAttr(attr, sub, m, st.value)
		} else if nm, ok := st.value.(map[string]any); ok {
			err = mergeSubAttrs(attr, m, nm)
		}
		if err != nil {
			return err
		}
	}
	put()
	return fixPrimary(attr, l, matched)
}

// valueFromFilter fills el from a filter made only of `sub eq value` joined by and.
func valueFromFilter(e Expr, el map[string]any) bool {
	switch x := e.(type) {
	case *LogicalExpr:
		return x.Op == "and" && valueFromFilter(x.Left, el) && valueFromFilter(x.Right, el)
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
		isExt := func(s any) bool {
			str, _ := s.(string)
			return strings.EqualFold(str, e.ID)
		}
		i := slices.IndexFunc(schemas, isExt)
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
			out = slices.DeleteFunc(out, isExt)
		}
	}
	if out != nil {
		a.res["schemas"] = out
	}
	return nil
}
