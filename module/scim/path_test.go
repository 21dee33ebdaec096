package scim

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	const ent = SchemaEnterpriseUser
	tests := []struct {
		rt         *ResourceType
		in         string
		attr       AttrPath
		filter     string // String() of the filter, "" for none
		subAfter   string
		str        string // Path.String()
		attrName   string // Attribute().Name, "" for a whole extension
		subAttrGot string // SubAttr()
	}{
		{UserResourceType, "displayName", AttrPath{Name: "displayName"}, "", "", "displayName", "displayName", ""},
		{UserResourceType, "DISPLAYNAME", AttrPath{Name: "displayName"}, "", "", "displayName", "displayName", ""},
		{UserResourceType, " active ", AttrPath{Name: "active"}, "", "", "active", "active", ""},
		{UserResourceType, "name.givenName", AttrPath{Name: "name", Sub: "givenName"}, "", "", "name.givenName", "name", "givenName"},
		{UserResourceType, "Name.GivenName", AttrPath{Name: "name", Sub: "givenName"}, "", "", "name.givenName", "name", "givenName"},
		{UserResourceType, "externalId", AttrPath{Name: "externalId"}, "", "", "externalId", "externalId", ""},
		{UserResourceType, "emails.value", AttrPath{Name: "emails", Sub: "value"}, "", "", "emails.value", "emails", "value"},
		{UserResourceType, `emails[type eq "work"].value`, AttrPath{Name: "emails"}, `type eq "work"`, "value",
			`emails[type eq "work"].value`, "emails", "value"},
		{UserResourceType, `emails[Type Eq "work" and primary eq "True"]`, AttrPath{Name: "emails"}, `type eq "work" and primary eq true`, "",
			`emails[type eq "work" and primary eq true]`, "emails", ""},
		{UserResourceType, `addresses[type eq "work"].streetAddress`, AttrPath{Name: "addresses"}, `type eq "work"`, "streetAddress",
			`addresses[type eq "work"].streetAddress`, "addresses", "streetAddress"},
		{UserResourceType, ent + ":employeeNumber", AttrPath{URN: ent, Name: "employeeNumber"}, "", "", ent + ":employeeNumber", "employeeNumber", ""},
		{UserResourceType, ent + ":manager", AttrPath{URN: ent, Name: "manager"}, "", "", ent + ":manager", "manager", ""},
		{UserResourceType, ent + ":manager.value", AttrPath{URN: ent, Name: "manager", Sub: "value"}, "", "", ent + ":manager.value", "manager", "value"},
		{UserResourceType, strings.ToLower(ent) + ":MANAGER.VALUE", AttrPath{URN: ent, Name: "manager", Sub: "value"}, "", "", ent + ":manager.value", "manager", "value"},
		{UserResourceType, ent, AttrPath{URN: ent}, "", "", ent, "", ""},
		{UserResourceType, SchemaUser + ":userName", AttrPath{Name: "userName"}, "", "", "userName", "userName", ""},
		{UserResourceType, SchemaUser + ":name.familyName", AttrPath{Name: "name", Sub: "familyName"}, "", "", "name.familyName", "name", "familyName"},
		{UserResourceType, "meta.lastModified", AttrPath{Name: "meta", Sub: "lastModified"}, "", "", "meta.lastModified", "meta", "lastModified"},
		{GroupResourceType, `members[value eq "2819c223-7f76-453a-919d-413861904646"]`, AttrPath{Name: "members"},
			`value eq "2819c223-7f76-453a-919d-413861904646"`, "", `members[value eq "2819c223-7f76-453a-919d-413861904646"]`, "members", ""},
		{GroupResourceType, "members", AttrPath{Name: "members"}, "", "", "members", "members", ""},
		{GroupResourceType, `members[value eq "a"].display`, AttrPath{Name: "members"}, `value eq "a"`, "display", `members[value eq "a"].display`, "members", "display"},
	}
	for _, tc := range tests {
		p, err := ParsePath(tc.in, tc.rt)
		if err != nil {
			t.Errorf("ParsePath(%q): %v", tc.in, err)
			continue
		}
		if p.Attr != tc.attr {
			t.Errorf("ParsePath(%q).Attr = %+v, want %+v", tc.in, p.Attr, tc.attr)
		}
		f := ""
		if p.Filter != nil {
			f = p.Filter.String()
		}
		if f != tc.filter || p.SubAfterFilter != tc.subAfter {
			t.Errorf("ParsePath(%q): filter %q sub %q, want %q %q", tc.in, f, p.SubAfterFilter, tc.filter, tc.subAfter)
		}
		if p.String() != tc.str {
			t.Errorf("ParsePath(%q).String() = %q, want %q", tc.in, p.String(), tc.str)
		}
		name := ""
		if p.Attribute() != nil {
			name = p.Attribute().Name
		}
		if name != tc.attrName || p.SubAttr() != tc.subAttrGot {
			t.Errorf("ParsePath(%q): attribute %q sub %q", tc.in, name, p.SubAttr())
		}
		// String() parses back to the same path
		if p2, err := ParsePath(p.String(), tc.rt); err != nil || p2.String() != p.String() {
			t.Errorf("round trip of %q: %v %v", p.String(), p2, err)
		}
	}
}

func TestParsePathErrors(t *testing.T) {
	tests := []struct {
		rt     *ResourceType
		in     string
		detail string
	}{
		{UserResourceType, "", "empty path"},
		{UserResourceType, "   ", "empty path"},
		{UserResourceType, "nope", `unknown attribute "nope"`},
		{UserResourceType, "name.nope", `unknown sub-attribute "nope" of name`},
		{UserResourceType, "userName.x", "has no sub-attributes"},
		{UserResourceType, "name.givenName.x", "unknown sub-attribute"},
		{UserResourceType, "members", "unknown attribute"},
		{GroupResourceType, "emails[type eq \"work\"].value", "unknown attribute"},
		{UserResourceType, `emails[type eq "work"`, "expected ']'"},
		{UserResourceType, `emails[type eq "work"]x`, `unexpected "x"`},
		{UserResourceType, `emails[type eq "work"].nope`, `unknown sub-attribute "nope" of emails`},
		{UserResourceType, `emails[nope eq "work"]`, `unknown sub-attribute "nope"`},
		{UserResourceType, `emails[type zz "work"]`, "unknown operator"},
		{UserResourceType, `emails[]`, "expected an attribute path"},
		{UserResourceType, `userName[value eq "x"]`, "needs a complex attribute"},
		{UserResourceType, `emails.value[type eq "x"]`, "needs a complex attribute"},
		{UserResourceType, `emails[type eq "work"].value.x`, "unknown sub-attribute"},
		{UserResourceType, `emails[type eq "work"] [`, "unexpected"},
		{UserResourceType, `[type eq "work"]`, "expected an attribute name"},
		{UserResourceType, SchemaEnterpriseUser + ":nope", "unknown attribute"},
		{UserResourceType, "urn:ietf:params:scim:schemas:extension:other:2.0:User:x", "unknown attribute"},
		{UserResourceType, `emails[type eq "a"` + strings.Repeat(" ", 4100) + `]`, "longer than 4096"},
	}
	for _, tc := range tests {
		_, err := ParsePath(tc.in, tc.rt)
		var se *Error
		if !errors.As(err, &se) {
			t.Errorf("ParsePath(%.60q): got %v, want *Error", tc.in, err)
			continue
		}
		if se.Status != 400 || se.ScimType != ErrInvalidPath {
			t.Errorf("ParsePath(%.60q): %d %s %s", tc.in, se.Status, se.ScimType, se.Detail)
		}
		if !strings.Contains(se.Detail, tc.detail) {
			t.Errorf("ParsePath(%.60q): detail %q, want it to contain %q", tc.in, se.Detail, tc.detail)
		}
	}
}
