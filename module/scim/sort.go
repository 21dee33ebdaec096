package scim

import (
	"sort"
	"strconv"
)

// SortResources orders rs by q.SortBy (RFC 7644 §3.4.2.3), or by id when no sortBy
// is given, so that paging is stable whatever startIndex and count are. Resources
// without the attribute sort last in ascending order and first in descending
// order; ties keep id order. Ids that are decimal numbers compare numerically.
func SortResources(rs []Resource, rt *ResourceType, q Query) error {
	idx, err := SortOrder(rs, rt, q)
	if err != nil {
		return err
	}
	sorted := make([]Resource, len(rs))
	for x, i := range idx {
		sorted[x] = rs[i]
	}
	copy(rs, sorted)
	return nil
}

// SortOrder is the order SortResources gives rs, as indexes into rs, so that what
// was rendered into rs can be put in the same order.
func SortOrder(rs []Resource, rt *ResourceType, q Query) ([]int, error) {
	if q.SortBy == "" {
		return IDOrder(len(rs), func(i int) string { s, _ := rs[i]["id"].(string); return s }), nil
	}
	idx := make([]int, len(rs))
	for i := range idx {
		idx[i] = i
	}
	p, err := ParsePath(q.SortBy, rt)
	if err != nil || p.Filter != nil || p.Attribute() == nil {
		return nil, BadRequest(ErrInvalidValue, "sortBy: %q is not a sortable attribute", truncate(q.SortBy, 64))
	}
	attr := p.Attribute()
	if sub := p.SubAttr(); sub != "" {
		attr = attr.Sub(sub)
	} else if attr.Type == TypeComplex {
		attr = attr.Sub("value") // a multi-valued complex attribute sorts by its value
	}
	keys := make([]any, len(rs))
	for i, r := range rs {
		keys[i] = sortKey(r, p)
	}
	sort.SliceStable(idx, func(x, y int) bool {
		i, j := idx[x], idx[y]
		a, b := keys[i], keys[j]
		if a == nil || b == nil {
			if a == nil && b == nil {
				return idLess(rs[i]["id"], rs[j]["id"])
			}
			return (b == nil) != q.Descending
		}
		c, ok := Compare(attr, a, b)
		if !ok || c == 0 {
			return idLess(rs[i]["id"], rs[j]["id"])
		}
		if q.Descending {
			return c > 0
		}
		return c < 0
	})
	return idx, nil
}

// sortKey extracts the value to sort by; for multi-valued attributes the primary
// value (or the first) is used, as RFC 7644 §3.4.2.3 says.
func sortKey(r Resource, p *Path) any {
	var v any
	if p.Attr.URN != "" {
		ext, _ := r[p.Attr.URN].(map[string]any)
		v = ext[p.Attr.Name]
	} else {
		v = r[p.Attr.Name]
	}
	sub := p.SubAttr()
	if list, ok := v.([]any); ok {
		if v = primaryOrFirst(list); v == nil {
			return nil
		}
		if sub == "" {
			sub = "value"
		}
	}
	if sub != "" {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[sub]
	}
	if s, ok := v.(string); ok && s == "" {
		return nil
	}
	return v
}

// primaryOrFirst is the value that stands for a multi-valued attribute where one is
// needed (sorting, comparing): the primary one, else the first (RFC 7644 §3.4.2.3);
// nil for an empty list.
func primaryOrFirst(l []any) any {
	for _, el := range l {
		if m, ok := el.(map[string]any); ok && m["primary"] == true {
			return el
		}
	}
	if len(l) == 0 {
		return nil
	}
	return l[0]
}

// IDOrder is the order of n items by id (numeric ids by value), stable: the order
// of an answer without sortBy.
func IDOrder(n int, id func(i int) string) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(x, y int) bool { return idLess(id(idx[x]), id(idx[y])) })
	return idx
}

func idLess(a, b any) bool {
	sa, _ := a.(string)
	sb, _ := b.(string)
	na, ea := strconv.ParseUint(sa, 10, 64)
	nb, eb := strconv.ParseUint(sb, 10, 64)
	if ea == nil && eb == nil {
		return na < nb
	}
	return sa < sb
}
