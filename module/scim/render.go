package scim

import (
	"encoding/json"
	"strings"
	"time"
)

// Render options shared by all resources.
type RenderOptions struct {
	// BaseURL is the absolute URL of the SCIM root, e.g. "https://app.example.com/scim/v2".
	BaseURL string
}

// GroupToResource renders a Group as a Resource with schemas and meta.
func GroupToResource(g *Group, opt RenderOptions) Resource {
	r := Resource{}
	toMap(g, &r)
	if ms, ok := r["members"].([]any); ok {
		for _, m := range ms {
			mm := m.(map[string]any)
			if _, ok := mm["$ref"]; !ok && mm["value"] != nil && (mm["type"] == nil || mm["type"] == "User") {
				mm["$ref"] = opt.BaseURL + "/Users/" + mm["value"].(string)
			}
		}
	}
	r["schemas"] = []any{SchemaGroup}
	r["meta"] = metaMap("Group", opt.BaseURL+"/Groups/"+g.ID, g.Meta)
	return r
}

func metaMap(resourceType, location string, m Meta) map[string]any {
	meta := map[string]any{"resourceType": resourceType, "location": location}
	if !m.Created.IsZero() {
		meta["created"] = m.Created.UTC().Format(time.RFC3339)
		lm := m.LastModified
		if lm.IsZero() {
			lm = m.Created // RFC 7643 §3.1: equals created until modified
		}
		meta["lastModified"] = lm.UTC().Format(time.RFC3339)
	}
	if m.Version != "" {
		meta["version"] = ETag(m.Version)
	}
	return meta
}

// ETag turns an opaque version into a weak entity tag.
func ETag(version string) string {
	if version == "" {
		return ""
	}
	return `W/"` + version + `"`
}

// GroupFromResource converts a decoded or patched Resource into a Group.
func GroupFromResource(r Resource) (*Group, error) {
	var g Group
	if err := fromMap(r, &g); err != nil {
		return nil, err
	}
	return &g, nil
}

// toMap and fromMap go through JSON: the model's json tags are the canonical
// attribute names, so the mapping stays in one place. Users are described field by
// field instead (render_user.go), without the two JSON passes.
func toMap(v any, out *Resource) {
	b, _ := json.Marshal(v)
	_ = json.Unmarshal(b, out)
}

func fromMap(r Resource, v any) error {
	b, err := json.Marshal(r)
	if err != nil {
		return errUnencodable()
	}
	if err := json.Unmarshal(b, v); err != nil {
		return BadRequest(ErrInvalidValue, "%s", jsonTypeDetail(err))
	}
	return nil
}

func errUnencodable() *Error { return BadRequest(ErrInvalidValue, "resource cannot be encoded") }

// jsonTypeDetail turns a json.UnmarshalTypeError into a detail naming the attribute.
func jsonTypeDetail(err error) string {
	if te, ok := err.(*json.UnmarshalTypeError); ok && te.Field != "" {
		return wrongTypeDetail(te.Field, te.Type.String(), te.Value)
	}
	return "invalid value"
}

// wrongTypeDetail names the attribute (a dotted path), its Go type and the JSON type
// of the value, as encoding/json does.
func wrongTypeDetail(field, want, got string) string {
	return "attribute " + field + ": wrong type, expected " + want + ", got " + got
}

// Project applies attributes / excludedAttributes (RFC 7644 §3.4.2.5) to a rendered
// resource. Attributes returned "always" are kept; "never" ones are dropped; "request"
// ones only when named in attributes. Names are canonicalised through rt; unknown names
// are ignored, as RFC 7644 permits.
func Project(r Resource, rt *ResourceType, attributes, excluded []string) Resource {
	out := Resource{}
	if len(attributes) > 0 {
		want := pathSet(rt, attributes)
		for k, v := range r {
			urn, a := topAttr(rt, k)
			if a == nil && urn == "" {
				continue
			}
			if urn != "" && a == nil { // extension object
				ext := rt.Extension(urn)
				sub, _ := v.(map[string]any)
				kept := map[string]any{}
				for sk, sv := range sub {
					sa := ext.Attr(sk)
					if sa == nil || sa.Returned == ReturnedNever {
						continue
					}
					if sa.Returned == ReturnedAlways || want.has(urn, sa.Name, "") {
						kept[sk] = sv
					} else if subs := want.subs(urn, sa.Name); subs != nil {
						kept[sk] = projectSubs(sv, subs)
					}
				}
				if len(kept) > 0 {
					out[k] = kept
				}
				continue
			}
			if a.Returned == ReturnedNever {
				continue
			}
			if a.Returned == ReturnedAlways || want.has("", a.Name, "") {
				out[k] = v
			} else if subs := want.subs("", a.Name); subs != nil {
				if pv := projectSubs(v, subs); pv != nil {
					out[k] = pv
				}
			}
		}
		return out
	}
	drop := pathSet(rt, excluded)
	for k, v := range r {
		urn, a := topAttr(rt, k)
		if urn != "" && a == nil {
			ext := rt.Extension(urn)
			sub, _ := v.(map[string]any)
			kept := map[string]any{}
			for sk, sv := range sub {
				sa := ext.Attr(sk)
				if sa == nil || sa.Returned == ReturnedNever || sa.Returned == ReturnedRequest {
					continue
				}
				if sa.Returned != ReturnedAlways && drop.has(urn, sa.Name, "") {
					continue
				}
				kept[sk] = sv
			}
			if len(kept) > 0 {
				out[k] = kept
			}
			continue
		}
		if a == nil || a.Returned == ReturnedNever || a.Returned == ReturnedRequest {
			continue
		}
		if a.Returned != ReturnedAlways && drop.has("", a.Name, "") {
			continue
		}
		if subs := drop.subs("", a.Name); subs != nil && a.Returned != ReturnedAlways {
			out[k] = excludeSubs(v, subs)
			continue
		}
		out[k] = v
	}
	return out
}

// topAttr resolves a rendered top-level key: a common or core attribute (urn ""),
// or an extension URN (attr nil).
func topAttr(rt *ResourceType, key string) (string, *Attribute) {
	if a := CommonAttr(key); a != nil {
		return "", a
	}
	if a := rt.Core.Attr(key); a != nil {
		return "", a
	}
	if e := rt.Extension(key); e != nil {
		return e.ID, nil
	}
	return "", nil
}

type pathKey struct{ urn, name string }

// attrSet holds requested paths: whole attributes (sub "") and sub-attributes.
type attrSet map[pathKey]map[string]bool

func (s attrSet) has(urn, name, sub string) bool {
	subs, ok := s[pathKey{strings.ToLower(urn), strings.ToLower(name)}]
	return ok && subs[""]
}

func (s attrSet) subs(urn, name string) map[string]bool {
	subs, ok := s[pathKey{strings.ToLower(urn), strings.ToLower(name)}]
	if !ok || subs[""] {
		return nil
	}
	return subs
}

func pathSet(rt *ResourceType, paths []string) attrSet {
	s := attrSet{}
	for _, p := range paths {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		urn := ""
		rest := p
		if strings.HasPrefix(strings.ToLower(p), "urn:") {
			i := strings.LastIndexByte(p, ':')
			urn, rest = p[:i], p[i+1:]
			if strings.EqualFold(urn, rt.Core.ID) {
				urn = ""
			} else if e := rt.Extension(urn); e != nil {
				urn = e.ID
			} else if e := rt.Extension(p); e != nil { // the whole extension
				urn, rest = e.ID, ""
			}
		}
		name, sub, _ := strings.Cut(rest, ".")
		if urn != "" && name == "" {
			// whole extension requested: mark all its attributes
			for _, a := range rt.Extension(urn).Attributes {
				s.add(urn, a.Name, "")
			}
			continue
		}
		s.add(urn, name, sub)
	}
	return s
}

func (s attrSet) add(urn, name, sub string) {
	k := pathKey{strings.ToLower(urn), strings.ToLower(name)}
	if s[k] == nil {
		s[k] = map[string]bool{}
	}
	s[k][strings.ToLower(sub)] = true
}

func projectSubs(v any, subs map[string]bool) any {
	pick := func(m map[string]any) map[string]any {
		o := map[string]any{}
		for k, x := range m {
			if subs[strings.ToLower(k)] {
				o[k] = x
			}
		}
		return o
	}
	switch t := v.(type) {
	case map[string]any:
		if o := pick(t); len(o) > 0 {
			return o
		}
		return nil
	case []any:
		var out []any
		for _, e := range t {
			if m, ok := e.(map[string]any); ok {
				if o := pick(m); len(o) > 0 {
					out = append(out, o)
				}
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	return nil
}

func excludeSubs(v any, subs map[string]bool) any {
	drop := func(m map[string]any) map[string]any {
		o := map[string]any{}
		for k, x := range m {
			if !subs[strings.ToLower(k)] {
				o[k] = x
			}
		}
		return o
	}
	switch t := v.(type) {
	case map[string]any:
		return drop(t)
	case []any:
		out := make([]any, 0, len(t))
		for _, e := range t {
			if m, ok := e.(map[string]any); ok {
				out = append(out, drop(m))
			}
		}
		return out
	}
	return v
}
