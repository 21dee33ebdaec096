package scim

import (
	"strings"
	"unicode/utf8"
)

// Path is a parsed PATCH path (RFC 7644 §3.5.2):
//
//	attrPath [ "[" valFilter "]" ] [ "." subAttr ]
//
// Forms and how they are represented:
//
//	name.givenName                      Attr{Name: "name", Sub: "givenName"}
//	urn:…:enterprise:2.0:User:manager.value  Attr{URN: urn, Name: "manager", Sub: "value"}
//	members[value eq "x"]               Attr{Name: "members"}, Filter
//	emails[type eq "work"].value        Attr{Name: "emails"}, Filter, SubAfterFilter: "value"
//	urn:…:enterprise:2.0:User           Attr{URN: urn} (Name ""): the whole extension
//
// Attr.Sub and SubAfterFilter are never both set; SubAttr returns whichever is.
type Path struct {
	Attr           AttrPath
	Filter         Expr   // value filter relative to Attr's sub-attributes; nil if none
	SubAfterFilter string // canonical sub-attribute after the filter, or ""

	attr *Attribute // resolved top-level attribute; nil for a whole extension
	sub  *Attribute // resolved sub-attribute (Attr.Sub or SubAfterFilter)
}

// SubAttr returns the sub-attribute the path targets, with or without a filter.
func (p *Path) SubAttr() string {
	if p.SubAfterFilter != "" {
		return p.SubAfterFilter
	}
	return p.Attr.Sub
}

// Attribute returns the resolved top-level attribute (nil for a whole extension).
func (p *Path) Attribute() *Attribute { return p.attr }

// String renders the path in canonical spelling.
func (p *Path) String() string {
	if p.Attr.Name == "" {
		return p.Attr.URN
	}
	if p.Filter == nil {
		return p.Attr.String()
	}
	var b strings.Builder
	b.WriteString(AttrPath{URN: p.Attr.URN, Name: p.Attr.Name}.String())
	b.WriteByte('[')
	filterWrite(&b, p.Filter)
	b.WriteByte(']')
	if p.SubAfterFilter != "" {
		b.WriteByte('.')
		b.WriteString(p.SubAfterFilter)
	}
	return b.String()
}

// ParsePath parses a PATCH path against rt. Errors are 400 invalidPath with the
// position and what was expected. Surrounding whitespace is ignored.
func ParsePath(s string, rt *ResourceType) (*Path, error) {
	if len(s) > MaxFilterLength {
		return nil, BadRequest(ErrInvalidPath, "path is longer than %d bytes", MaxFilterLength)
	}
	if !utf8.ValidString(s) {
		return nil, BadRequest(ErrInvalidPath, "path is not valid UTF-8")
	}
	p := filterParser{s: s, rt: rt, scimType: ErrInvalidPath}
	p.skipSpace()
	start := p.pos
	w := p.word()
	if w == "" {
		if p.pos >= len(s) {
			return nil, p.errorf("empty path")
		}
		return nil, p.errorf("at position %d: expected an attribute name, found %s", p.pos+1, p.describe())
	}
	ap, top, sub, perr := filterResolvePath(rt, w)
	if perr != nil {
		return nil, p.errorf("at position %d: %s", start+1, perr.Detail)
	}
	out := &Path{Attr: ap, attr: top, sub: sub}
	if p.pos < len(s) && s[p.pos] == '[' {
		open := p.pos
		if top == nil || ap.Sub != "" || top.Type != TypeComplex {
			return nil, p.errorf("at position %d: a value filter needs a complex attribute, %s is not one", open+1, filterQuote(w))
		}
		p.pos++
		p.depth++
		f, err := p.parseOr(&filterScope{urn: ap.URN, attr: top})
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(s) || s[p.pos] != ']' {
			return nil, p.errorf("at position %d: expected ']' to close '[' at position %d, found %s", p.pos+1, open+1, p.describe())
		}
		p.pos++
		out.Filter = f
		if p.pos < len(s) && s[p.pos] == '.' {
			p.pos++
			at := p.pos
			sw := p.word()
			sa := top.Sub(sw)
			if sa == nil {
				return nil, p.errorf("at position %d: unknown sub-attribute %s of %s", at+1, filterQuote(sw), top.Name)
			}
			out.SubAfterFilter = sa.Name
			out.sub = sa
		}
	}
	p.skipSpace()
	if p.pos < len(s) {
		return nil, p.errorf("at position %d: unexpected %s in path", p.pos+1, p.describe())
	}
	return out, nil
}
