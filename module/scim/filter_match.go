package scim

import (
	"encoding/json"
	"strings"
	"time"
)

// Match evaluates a filter against a resource in memory. The resource uses
// canonical keys (see ResourceType). rt resolves attributes of hand-built
// expressions; parsed ones carry their resolution. Values of an unexpected type
// never match; Match never panics on odd data.
func Match(e Expr, r Resource, rt *ResourceType) bool {
	switch x := e.(type) {
	case *LogicalExpr:
		if x.Op == "or" {
			return Match(x.Left, r, rt) || Match(x.Right, r, rt)
		}
		return Match(x.Left, r, rt) && Match(x.Right, r, rt)
	case *NotExpr:
		return !Match(x.X, r, rt)
	case *CompareExpr:
		leaf := x.leaf
		if leaf == nil {
			leaf = filterLookup(rt, x.Path)
			if leaf == nil {
				return false
			}
		}
		return x.test(filterTop(r, x.Path), x.Path.Sub, leaf)
	case *ValuePathExpr:
		attr := filterLookup(rt, AttrPath{URN: x.Path.URN, Name: x.Path.Name})
		if attr == nil {
			return false
		}
		switch v := filterTop(r, x.Path).(type) {
		case []any:
			for _, el := range v {
				if m, ok := el.(map[string]any); ok && filterMatchElem(x.Filter, m, attr) {
					return true
				}
			}
		case map[string]any:
			return filterMatchElem(x.Filter, v, attr)
		}
	}
	return false
}

// filterMatchElem evaluates a value filter against one value of a complex attribute.
func filterMatchElem(e Expr, m map[string]any, parent *Attribute) bool {
	switch x := e.(type) {
	case *LogicalExpr:
		if x.Op == "or" {
			return filterMatchElem(x.Left, m, parent) || filterMatchElem(x.Right, m, parent)
		}
		return filterMatchElem(x.Left, m, parent) && filterMatchElem(x.Right, m, parent)
	case *NotExpr:
		return !filterMatchElem(x.X, m, parent)
	case *CompareExpr:
		leaf := x.leaf
		if leaf == nil {
			if leaf = parent.Sub(x.Path.Name); leaf == nil {
				return false
			}
		}
		v, ok := m[x.Path.Name]
		if !ok && leaf.Name != x.Path.Name {
			v = m[leaf.Name]
		}
		return x.test(v, "", leaf)
	}
	return false
}

func filterLookup(rt *ResourceType, p AttrPath) *Attribute {
	if rt == nil {
		return nil
	}
	name := p.Name
	if p.URN != "" {
		name = p.URN + ":" + p.Name
	}
	_, a, ok := rt.LookupAttr(name)
	if !ok {
		return nil
	}
	if p.Sub != "" {
		return a.Sub(p.Sub)
	}
	return a
}

// filterTop returns the value of the top-level attribute of p.
func filterTop(r Resource, p AttrPath) any {
	if p.URN == "" {
		return r[p.Name]
	}
	ext, _ := r[p.URN].(map[string]any)
	return ext[p.Name]
}

// filterPresent: not null, not "", not an empty list or object (RFC 7644 "pr").
func filterPresent(v any, sub string) bool {
	switch x := v.(type) {
	case nil:
		return false
	case string:
		return x != ""
	case []any:
		for _, el := range x {
			if filterPresent(el, sub) {
				return true
			}
		}
		return false
	case map[string]any:
		if sub != "" {
			return filterPresent(x[sub], "")
		}
		for _, sv := range x {
			if filterPresent(sv, "") {
				return true
			}
		}
		return false
	}
	return true
}

// test applies the comparison to v, the value of the top-level attribute (or of
// the sub-attribute inside a value filter). Multi-valued: any value matches; ne is
// the negation of eq over the whole attribute.
func (c *CompareExpr) test(v any, sub string, leaf *Attribute) bool {
	switch c.Op {
	case "pr":
		return filterPresent(v, sub)
	case "ne":
		if c.Value == nil {
			return filterPresent(v, sub)
		}
		return !c.any(v, sub, leaf, "eq")
	case "eq":
		if c.Value == nil {
			return !filterPresent(v, sub)
		}
	}
	return c.any(v, sub, leaf, c.Op)
}

func (c *CompareExpr) any(v any, sub string, leaf *Attribute, op string) bool {
	switch x := v.(type) {
	case nil:
		return false
	case []any:
		for _, el := range x {
			if c.any(el, sub, leaf, op) {
				return true
			}
		}
		return false
	case map[string]any:
		if sub == "" {
			return false
		}
		return c.any(x[sub], "", leaf, op)
	}
	return c.scalar(v, leaf, op)
}

func (c *CompareExpr) scalar(v any, leaf *Attribute, op string) bool {
	switch leaf.Type {
	case TypeBoolean:
		got, ok := v.(bool)
		want, ok2 := c.Value.(bool)
		return ok && ok2 && op == "eq" && got == want
	case TypeDecimal, TypeInteger:
		got, ok := filterNumber(v)
		want, ok2 := c.Value.(float64)
		if !ok || !ok2 {
			return false
		}
		return filterOrder(op, filterCmpFloat(got, want))
	case TypeDateTime:
		if op == "co" || op == "sw" || op == "ew" {
			break
		}
		s, ok := v.(string)
		if !ok {
			return false
		}
		want, hasWant := c.at, c.hasAt
		if !c.ready {
			ws, _ := c.Value.(string)
			t, err := time.Parse(time.RFC3339Nano, ws)
			want, hasWant = t, err == nil
		}
		got, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || !hasWant {
			return false
		}
		return filterOrder(op, got.Compare(want))
	}
	got, ok := v.(string)
	want, ok2 := c.Value.(string)
	if !ok || !ok2 {
		return false
	}
	if !leaf.CaseExact {
		if op == "eq" {
			return strings.EqualFold(got, want)
		}
		got = strings.ToLower(got) // no allocation when already lower-case ASCII
		if c.ready {
			want = c.lower
		} else {
			want = strings.ToLower(want)
		}
	}
	switch op {
	case "eq":
		return got == want
	case "co":
		return strings.Contains(got, want)
	case "sw":
		return strings.HasPrefix(got, want)
	case "ew":
		return strings.HasSuffix(got, want)
	}
	return filterOrder(op, strings.Compare(got, want))
}

func filterOrder(op string, c int) bool {
	switch op {
	case "eq":
		return c == 0
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	case "lt":
		return c < 0
	case "le":
		return c <= 0
	}
	return false
}

func filterCmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func filterNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// Compare orders two values of attr for sortBy (RFC 7644 §3.4.2.3): strings
// case-insensitively unless caseExact, dateTimes as instants, numbers, booleans
// false < true. A multi-valued value sorts by its primary value (else its first);
// a complex value by its "value" sub-attribute. ok is false when either value is
// missing or they are not comparable; callers sort those last.
func Compare(attr *Attribute, a, b any) (int, bool) {
	leaf := attr
	if attr != nil && attr.Type == TypeComplex {
		leaf = attr.Sub("value")
	}
	a, b = filterSortKey(a), filterSortKey(b)
	if a == nil || b == nil {
		return 0, false
	}
	typ := ""
	caseExact := false
	if leaf != nil {
		typ, caseExact = leaf.Type, leaf.CaseExact
	}
	switch x := a.(type) {
	case bool:
		y, ok := b.(bool)
		if !ok {
			return 0, false
		}
		switch {
		case x == y:
			return 0, true
		case !x:
			return -1, true
		}
		return 1, true
	case string:
		y, ok := b.(string)
		if !ok {
			return 0, false
		}
		if typ == TypeDateTime {
			tx, err1 := time.Parse(time.RFC3339Nano, x)
			ty, err2 := time.Parse(time.RFC3339Nano, y)
			if err1 == nil && err2 == nil {
				return tx.Compare(ty), true
			}
		}
		if caseExact {
			return strings.Compare(x, y), true
		}
		if c := strings.Compare(strings.ToLower(x), strings.ToLower(y)); c != 0 {
			return c, true
		}
		return strings.Compare(x, y), true // stable order for case variants
	}
	x, ok1 := filterNumber(a)
	y, ok2 := filterNumber(b)
	if ok1 && ok2 {
		return filterCmpFloat(x, y), true
	}
	return 0, false
}

// filterSortKey reduces a multi-valued or complex value to the scalar it sorts by.
func filterSortKey(v any) any {
	if l, ok := v.([]any); ok {
		v = primaryOrFirst(l)
	}
	if m, ok := v.(map[string]any); ok {
		return m["value"]
	}
	return v
}

// PushDown finds an equality an adapter can look up directly: `X eq "v"` as the
// filter or as a conjunct anywhere in its and-tree (never under or/not), for X one
// of externalId, id, userName, emails.value (also `emails eq "v"` and
// `emails[… and value eq "v"]`) or displayName, preferred in that order. attr is
// the canonical name ("emails.value" for e-mails). The caller must still Match the
// full filter against the candidates it gets.
func PushDown(e Expr) (attr string, value string, ok bool) {
	best := -1
	pushDownWalk(e, false, &best, &value)
	if best < 0 {
		return "", "", false
	}
	return pushDownAttrs[best], value, true
}

var pushDownAttrs = [...]string{"externalId", "id", "userName", "emails.value", "displayName"}

func pushDownWalk(e Expr, inEmails bool, best *int, value *string) {
	switch x := e.(type) {
	case *LogicalExpr:
		if x.Op == "and" {
			pushDownWalk(x.Left, inEmails, best, value)
			pushDownWalk(x.Right, inEmails, best, value)
		}
	case *ValuePathExpr:
		if !inEmails && x.Path.URN == "" && x.Path.Name == "emails" {
			pushDownWalk(x.Filter, true, best, value)
		}
	case *CompareExpr:
		s, isStr := x.Value.(string)
		if x.Op != "eq" || !isStr || x.Path.URN != "" {
			return
		}
		rank := -1
		switch {
		case inEmails:
			if x.Path.Name == "value" && x.Path.Sub == "" {
				rank = 3
			}
		case x.Path.Name == "emails" && (x.Path.Sub == "value" || x.Path.Sub == ""):
			rank = 3
		case x.Path.Sub != "":
		case x.Path.Name == "externalId":
			rank = 0
		case x.Path.Name == "id":
			rank = 1
		case x.Path.Name == "userName":
			rank = 2
		case x.Path.Name == "displayName":
			rank = 4
		}
		if rank >= 0 && (*best < 0 || rank < *best) {
			*best, *value = rank, s
		}
	}
}
