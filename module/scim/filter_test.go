package scim

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const testUserID = "2819c223-7f76-453a-919d-413861904646"

// testUser is an Entra-sized user as render.go produces it: canonical keys,
// extension nested under its URN, meta as strings.
func testUser() Resource {
	return Resource{
		"schemas":    []any{SchemaUser, SchemaEnterpriseUser},
		"id":         testUserID,
		"externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
		"userName":   "Test.User@example.com",
		"name": map[string]any{
			"formatted":  "Test User",
			"familyName": "User",
			"givenName":  "Test",
		},
		"displayName": "Test User",
		"title":       "Engineer",
		"locale":      "en-US",
		"active":      true,
		"emails": []any{
			map[string]any{"value": "test.user@example.com", "type": "work", "primary": true},
			map[string]any{"value": "home@example.org", "type": "home"},
		},
		"phoneNumbers": []any{
			map[string]any{"value": "+1 555 0100", "type": "work"},
		},
		"roles": []any{
			map[string]any{"value": "dev", "primary": true},
		},
		SchemaEnterpriseUser: map[string]any{
			"employeeNumber": "701984",
			"department":     "Tour Operations",
			"manager": map[string]any{
				"value":       "26118915-6090-4610-87e4-49d8ca9f808d",
				"displayName": "John Smith",
			},
		},
		"meta": map[string]any{
			"resourceType": "User",
			"created":      "2010-01-23T04:56:22Z",
			"lastModified": "2011-05-13T04:42:34Z",
			"location":     "https://example.com/scim/v2/Users/" + testUserID,
			"version":      `W/"a330bc54f0671c9"`,
		},
	}
}

func TestFilterMatch(t *testing.T) {
	tests := []struct {
		filter string
		want   bool
	}{
		// eq and case sensitivity: userName is caseExact=false, externalId and id are caseExact
		{`userName eq "test.user@example.com"`, true},
		{`userName eq "TEST.USER@EXAMPLE.COM"`, true},
		{`userName eq "other"`, false},
		{`USERNAME EQ "test.user@example.com"`, true},
		{`externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"`, true},
		{`externalId eq "0A21F0F2-8D2A-4F8E-BF98-7363C4AED4EF"`, false},
		{`id eq "2819c223-7f76-453a-919d-413861904646"`, true},
		{`id eq "2819C223-7F76-453A-919D-413861904646"`, false},
		{`meta.location co "/Users/2819c223"`, true},
		{`meta.location co "/USERS/"`, false},
		// every operator
		{`userName ne "other"`, true},
		{`userName ne "TEST.user@example.com"`, false},
		{`userName co "USER@"`, true},
		{`userName co "nope"`, false},
		{`userName sw "test."`, true},
		{`userName sw "user"`, false},
		{`userName ew "EXAMPLE.COM"`, true},
		{`userName ew "example"`, false},
		{`title pr`, true},
		{`nickName pr`, false},
		{`userName gt "a"`, true},
		{`userName gt "z"`, false},
		{`userName ge "test.user@example.com"`, true},
		{`userName lt "z"`, true},
		{`userName le "a"`, false},
		// booleans
		{`active eq true`, true},
		{`active eq false`, false},
		{`active ne false`, true},
		{`active eq "True"`, true},
		// null
		{`nickName eq null`, true},
		{`title eq null`, false},
		{`title ne null`, true},
		// dateTime as instants
		{`meta.lastModified gt "2011-05-13T04:42:33Z"`, true},
		{`meta.lastModified gt "2011-05-13T04:42:34Z"`, false},
		{`meta.lastModified ge "2011-05-13T04:42:34Z"`, true},
		{`meta.lastModified gt "2011-05-13T06:42:33+02:00"`, true}, // same instant as 04:42:33Z
		{`meta.lastModified eq "2011-05-13T06:42:34+02:00"`, true},
		{`meta.created lt "2011-01-01T00:00:00.5Z"`, true},
		{`meta.created le "2009-12-31T23:59:59Z"`, false},
		{`meta.resourceType eq "User"`, true},
		// logic, precedence (and binds tighter than or), not, grouping
		{`userName eq "x" or active eq true`, true},
		{`userName eq "x" and active eq true`, false},
		{`userName eq "x" and active eq true or title eq "Engineer"`, true},
		{`title eq "Engineer" or userName eq "x" and active eq false`, true},
		{`(title eq "Engineer" or userName eq "x") and active eq false`, false},
		{`not (userName eq "x")`, true},
		{`not(userName pr)`, false},
		{`NOT (userName eq "x") AND active eq true`, true},
		{`((userName pr))`, true},
		// multi-valued: any value; complex without sub compares value
		{`emails.value eq "home@example.org"`, true},
		{`emails eq "HOME@example.org"`, true},
		{`emails co "example.org"`, true},
		{`emails.type eq "work"`, true},
		{`emails.type eq "other"`, false},
		{`emails.value ne "home@example.org"`, false},
		{`emails pr`, true},
		{`addresses pr`, false},
		{`roles.primary eq true`, true},
		{`schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`, true},
		// value paths
		{`emails[type eq "work" and value co "@example.com"]`, true},
		{`emails[type eq "home" and value co "@example.com"]`, false},
		{`emails[type eq "work"].value eq "test.user@example.com"`, true},
		{`emails[type eq "home"].value eq "test.user@example.com"`, false},
		{`emails[not (type eq "work")]`, true},
		{`emails[primary eq true] and userName sw "test"`, true},
		{`phoneNumbers[type eq "work" or type eq "mobile"]`, true},
		{`name[givenName eq "test"]`, true},
		// URN-qualified paths
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984"`, true},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq 701984`, true},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d"`, true},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "26118915-6090-4610-87e4-49d8ca9f808d"`, true},
		{`URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:DEPARTMENT co "tour"`, true},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "test.user@example.com"`, true},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter pr`, false},
		// sub-attributes of single-valued complex
		{`name.givenName eq "TEST"`, true},
		{`name.familyName sw "Us" and name.givenName ew "st"`, true},
		{`name pr`, true},
		// string escapes
		{`title eq "Engin\u0065er"`, true},
		{`title eq "Eng\"ineer"`, false},
		{"userName eq \"x\"\tor\ntitle pr", true},
	}
	r := testUser()
	for _, tc := range tests {
		e, err := ParseFilter(tc.filter, UserResourceType)
		if err != nil {
			t.Errorf("ParseFilter(%s): %v", tc.filter, err)
			continue
		}
		if got := Match(e, r, UserResourceType); got != tc.want {
			t.Errorf("Match(%s) = %v, want %v (parsed as %s)", tc.filter, got, tc.want, e)
		}
		// the String form parses to the same tree
		e2, err := ParseFilter(e.String(), UserResourceType)
		if err != nil {
			t.Errorf("re-parse of %s: %v", e, err)
		} else if e2.String() != e.String() {
			t.Errorf("round trip: %s != %s", e2, e)
		}
	}
}

func TestFilterGroup(t *testing.T) {
	g := Resource{
		"schemas":     []any{SchemaGroup},
		"id":          "e9e30dba-f08f-4109-8486-d5c6a331660a",
		"displayName": "Tour Guides",
		"members": []any{
			map[string]any{"value": "2819c223-7f76-453a-919d-413861904646", "display": "Babs Jensen"},
			map[string]any{"value": "902c246b-6245-4190-8e05-00816be7344a", "display": "Mandy Pepperidge"},
		},
	}
	for _, tc := range []struct {
		filter string
		want   bool
	}{
		{`displayName eq "tour guides"`, true},
		{`members[value eq "902c246b-6245-4190-8e05-00816be7344a"]`, true},
		{`members.value eq "nope"`, false},
		{`members.display co "babs"`, true},
	} {
		e, err := ParseFilter(tc.filter, GroupResourceType)
		if err != nil {
			t.Fatalf("%s: %v", tc.filter, err)
		}
		if got := Match(e, g, GroupResourceType); got != tc.want {
			t.Errorf("Match(%s) = %v, want %v", tc.filter, got, tc.want)
		}
	}
}

func TestFilterAST(t *testing.T) {
	e, err := ParseFilter(`userName Eq "a" and (emails[TYPE eq "work"] or not (URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:employeenumber pr))`, UserResourceType)
	if err != nil {
		t.Fatal(err)
	}
	and, ok := e.(*LogicalExpr)
	if !ok || and.Op != "and" {
		t.Fatalf("top: %#v", e)
	}
	c := and.Left.(*CompareExpr)
	if c.Path != (AttrPath{Name: "userName"}) || c.Op != "eq" || c.Value != "a" {
		t.Errorf("left: %+v", c)
	}
	or := and.Right.(*LogicalExpr)
	vp := or.Left.(*ValuePathExpr)
	if vp.Path != (AttrPath{Name: "emails"}) {
		t.Errorf("value path: %+v", vp.Path)
	}
	if inner := vp.Filter.(*CompareExpr); inner.Path != (AttrPath{Name: "type"}) {
		t.Errorf("inner path: %+v", inner.Path)
	}
	not := or.Right.(*NotExpr)
	pr := not.X.(*CompareExpr)
	if pr.Path != (AttrPath{URN: SchemaEnterpriseUser, Name: "employeeNumber"}) || pr.Op != "pr" || pr.Value != nil {
		t.Errorf("not: %+v", pr)
	}
	want := `userName eq "a" and (emails[type eq "work"] or not (urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber pr))`
	if e.String() != want {
		t.Errorf("String:\n got %s\nwant %s", e, want)
	}
	// literals
	for src, want := range map[string]any{
		`title eq 1.5e3`:          "1.5e3", // raw number text for a string attribute
		`title eq "a\\b\nc\/"`:    "a\\b\nc/",
		`title eq "\ud83d\ude00"`: "😀",
		`active eq FALSE`:         false,
		`title eq null`:           nil,
	} {
		e, err := ParseFilter(src, UserResourceType)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if v := e.(*CompareExpr).Value; v != want {
			t.Errorf("%s: value %#v, want %#v", src, v, want)
		}
	}
	// a complex attribute without sub-attribute compares its value
	e, _ = ParseFilter(`emails co "x"`, UserResourceType)
	if p := e.(*CompareExpr).Path; p != (AttrPath{Name: "emails", Sub: "value"}) {
		t.Errorf("emails co: %+v", p)
	}
	if s := (AttrPath{URN: SchemaEnterpriseUser, Name: "manager", Sub: "value"}).String(); s != SchemaEnterpriseUser+":manager.value" {
		t.Errorf("AttrPath.String: %s", s)
	}
}

func TestFilterErrors(t *testing.T) {
	tests := []struct {
		filter string
		detail string // substring of the detail
	}{
		{``, "empty filter"},
		{`   `, "empty filter"},
		{`(userName eq "a"`, "expected ')'"},
		{`userName eq "a")`, "unexpected ')'"},
		{`((userName eq "a")`, "expected ')'"},
		{`foo eq "a"`, `unknown attribute "foo"`},
		{`name.foo eq "a"`, `unknown sub-attribute "foo" of name`},
		{`userName.x eq "a"`, "has no sub-attributes"},
		{`emails[foo eq "a"]`, `unknown sub-attribute "foo" of emails`},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:nope eq "a"`, "unknown attribute"},
		{`urn:example:unknown:attr eq "a"`, "unknown attribute"},
		{`userName xx "a"`, `unknown operator "xx"`},
		{`userName equals "a"`, "unknown operator"},
		{`userName`, "expected an operator"},
		{`userName eq`, "expected a value after eq"},
		{`userName eq )`, "expected a value after eq"},
		{`userName eq "a" garbage`, `unexpected "garbage"`},
		{`userName eq "a" and`, "unexpected end of filter"},
		{`userName eq "a" or or`, `found "or"`},
		{`userName eq "a`, "unterminated string"},
		{`userName eq "\x"`, "invalid escape"},
		{`userName eq "\u12"`, "invalid \\u escape"},
		{`userName eq bogus`, `invalid value "bogus"`},
		{`userName eq 01`, "invalid value"},
		{`userName eq true`, "expected a quoted value"},
		{`active gt true`, "not defined for boolean"},
		{`active co "t"`, "not defined for boolean"},
		{`active eq "yes"`, "is boolean"},
		{`active eq 1`, "is boolean"},
		{`meta.created gt "yesterday"`, "invalid dateTime"},
		{`meta.created gt 5`, "is a dateTime"},
		{`userName gt null`, "needs a non-null value"},
		{`name eq "x"`, "is complex"},
		{`meta gt "x"`, "is complex"},
		{`x509Certificates.value gt "x"`, "not defined for binary"},
		{`not userName eq "a"`, "expected '(' after 'not'"},
		{`emails[type eq "work"`, "expected ']'"},
		{`emails[type eq "work"]]`, "unexpected ']'"},
		{`emails[members[value eq "a"]]`, "unknown sub-attribute"},
		{`emails[type[value eq "a"]]`, "cannot be nested"},
		{`userName[value eq "a"]`, "needs a complex attribute"},
		{`emails[type eq "work"].nope eq "a"`, "unknown sub-attribute"},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User eq "a"`, "is a schema"},
		{`userName eq "a" and §`, "expected an attribute path"},
		{strings.Repeat("(", 33) + `userName pr` + strings.Repeat(")", 33), "nested deeper than 32"},
		{strings.Repeat(`userName pr and `, 100) + `userName pr`, "more than 100 comparisons"},
		{`title eq "` + strings.Repeat("a", 4100) + `"`, "longer than 4096"},
	}
	for _, tc := range tests {
		_, err := ParseFilter(tc.filter, UserResourceType)
		var se *Error
		if !errors.As(err, &se) {
			t.Errorf("ParseFilter(%.60s): got %v, want *Error", tc.filter, err)
			continue
		}
		if se.Status != 400 || se.ScimType != ErrInvalidFilter {
			t.Errorf("ParseFilter(%.60s): %d %s", tc.filter, se.Status, se.ScimType)
		}
		if !strings.Contains(se.Detail, tc.detail) {
			t.Errorf("ParseFilter(%.60s): detail %q, want it to contain %q", tc.filter, se.Detail, tc.detail)
		}
		if len(se.Detail) > 300 {
			t.Errorf("ParseFilter(%.60s): detail too long (%d bytes)", tc.filter, len(se.Detail))
		}
	}
	// limits are inclusive
	if _, err := ParseFilter(strings.Repeat("(", 32)+`userName pr`+strings.Repeat(")", 32), UserResourceType); err != nil {
		t.Errorf("depth 32: %v", err)
	}
	if _, err := ParseFilter(strings.Repeat(`userName pr and `, 99)+`userName pr`, UserResourceType); err != nil {
		t.Errorf("100 comparisons: %v", err)
	}
}

func TestFilterErrorTruncatesValues(t *testing.T) {
	secret := strings.Repeat("s3cr3t", 40)
	_, err := ParseFilter(`userName eq `+secret, UserResourceType)
	if err == nil || strings.Contains(err.Error(), secret[:100]) {
		t.Fatalf("error echoes the whole value: %v", err)
	}
}

func TestMatchHandBuilt(t *testing.T) {
	// expressions built by callers carry no resolution: Match resolves through rt
	e := &LogicalExpr{Op: "and",
		Left:  &CompareExpr{Path: AttrPath{Name: "userName"}, Op: "eq", Value: "TEST.user@example.com"},
		Right: &ValuePathExpr{Path: AttrPath{Name: "emails"}, Filter: &CompareExpr{Path: AttrPath{Name: "type"}, Op: "eq", Value: "WORK"}},
	}
	if !Match(e, testUser(), UserResourceType) {
		t.Error("hand-built expression did not match")
	}
	c := &CompareExpr{Path: AttrPath{Name: "meta", Sub: "created"}, Op: "lt", Value: "2011-01-01T00:00:00Z"}
	if !Match(c, testUser(), UserResourceType) {
		t.Error("hand-built dateTime did not match")
	}
	if Match(&CompareExpr{Path: AttrPath{Name: "nope"}, Op: "pr"}, testUser(), UserResourceType) {
		t.Error("unknown attribute matched")
	}
}

func TestMatchOddData(t *testing.T) {
	e, _ := ParseFilter(`emails[type eq "work"] or emails.value co "x" or name.givenName sw "a" or meta.created gt "2000-01-01T00:00:00Z" or active eq true`, UserResourceType)
	for _, r := range []Resource{
		nil,
		{},
		{"emails": "not a list", "name": []any{1.0}, "meta": "x", "active": "true"},
		{"emails": []any{nil, 1.0, []any{}, map[string]any{"type": 5.0}}, "meta": map[string]any{"created": 12.0}},
		{"emails": map[string]any{"type": []any{"x"}}},
	} {
		if Match(e, r, UserResourceType) {
			t.Errorf("odd resource %v matched", r)
		}
	}
}

func TestPushDown(t *testing.T) {
	tests := []struct {
		filter     string
		attr, want string
		ok         bool
	}{
		{`userName eq "Test.User@okta.local"`, "userName", "Test.User@okta.local", true},
		{`externalId eq "0a21"`, "externalId", "0a21", true},
		{`id eq "42"`, "id", "42", true},
		{`displayName eq "Tour Guides"`, "displayName", "Tour Guides", true},
		{`emails.value eq "a@x"`, "emails.value", "a@x", true},
		{`emails eq "a@x"`, "emails.value", "a@x", true},
		{`emails[type eq "work" and value eq "a@x"]`, "emails.value", "a@x", true},
		{`emails[type eq "work"].value eq "a@x"`, "emails.value", "a@x", true},
		{`userName eq "u" and externalId eq "e"`, "externalId", "e", true},
		{`displayName eq "d" and (active eq true and id eq "i")`, "id", "i", true},
		{`displayName eq "d" and emails.value eq "m" and userName eq "u"`, "userName", "u", true},
		{`displayName eq "d" and emails.value eq "m"`, "emails.value", "m", true},
		{`userName eq "u" or externalId eq "e"`, "", "", false},
		{`not (userName eq "u")`, "", "", false},
		{`userName ne "u"`, "", "", false},
		{`userName co "u"`, "", "", false},
		{`title eq "t"`, "", "", false},
		{`name.givenName eq "g"`, "", "", false},
		{`emails[type eq "work" or value eq "a@x"]`, "", "", false},
		{`emails.type eq "work"`, "", "", false},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1"`, "", "", false},
		{`userName eq "u" and (externalId eq "e" or id eq "i")`, "userName", "u", true},
	}
	for _, tc := range tests {
		e, err := ParseFilter(tc.filter, UserResourceType)
		if err != nil {
			t.Fatalf("%s: %v", tc.filter, err)
		}
		attr, v, ok := PushDown(e)
		if attr != tc.attr || v != tc.want || ok != tc.ok {
			t.Errorf("PushDown(%s) = %q, %q, %v; want %q, %q, %v", tc.filter, attr, v, ok, tc.attr, tc.want, tc.ok)
		}
	}
}

func TestCompare(t *testing.T) {
	_, userName, _ := UserResourceType.LookupAttr("userName")
	_, id, _ := UserResourceType.LookupAttr("id")
	_, active, _ := UserResourceType.LookupAttr("active")
	_, emails, _ := UserResourceType.LookupAttr("emails")
	_, meta, _ := UserResourceType.LookupAttr("meta")
	created := meta.Sub("created")
	num := &Attribute{Name: "n", Type: TypeDecimal}
	tests := []struct {
		attr *Attribute
		a, b any
		want int
		ok   bool
	}{
		{userName, "alice", "Bob", -1, true},
		{userName, "BOB", "bob", -1, true}, // case-insensitive, ties broken by bytes
		{userName, "b", "b", 0, true},
		{id, "B", "a", -1, true}, // caseExact
		{active, false, true, -1, true},
		{active, true, true, 0, true},
		{created, "2011-05-13T06:42:34+02:00", "2011-05-13T04:42:35Z", -1, true},
		{num, 2.0, 10.0, -1, true},
		{emails, []any{map[string]any{"value": "z@x"}, map[string]any{"value": "a@x", "primary": true}}, []any{map[string]any{"value": "b@x"}}, -1, true},
		{userName, nil, "a", 0, false},
		{userName, "a", 1.0, 0, false},
		{emails, []any{}, []any{map[string]any{"value": "b@x"}}, 0, false},
	}
	for i, tc := range tests {
		got, ok := Compare(tc.attr, tc.a, tc.b)
		if got != tc.want || ok != tc.ok {
			t.Errorf("#%d Compare(%v, %v) = %d, %v; want %d, %v", i, tc.a, tc.b, got, ok, tc.want, tc.ok)
		}
	}
}

func TestFilterInputUnchanged(t *testing.T) {
	r := testUser()
	e, _ := ParseFilter(`emails[type eq "work"] and name.givenName pr`, UserResourceType)
	Match(e, r, UserResourceType)
	if !reflect.DeepEqual(r, testUser()) {
		t.Error("Match modified the resource")
	}
}

func BenchmarkParseFilter(b *testing.B) {
	const f = `userName eq "Test_User_ab64@testuser.com" and emails[type eq "work" and value co "@testuser.com"]`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseFilter(f, UserResourceType); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	e, err := ParseFilter(`userName eq "test.user@example.com" and emails[type eq "work" and value co "@EXAMPLE.com"] and meta.lastModified gt "2011-01-01T00:00:00Z"`, UserResourceType)
	if err != nil {
		b.Fatal(err)
	}
	r := testUser()
	b.ReportAllocs()
	for b.Loop() {
		if !Match(e, r, UserResourceType) {
			b.Fatal("no match")
		}
	}
}

func BenchmarkParseAndMatchEntra(b *testing.B) {
	r := testUser()
	b.ReportAllocs()
	for b.Loop() {
		e, err := ParseFilter(`userName eq "Test.User@example.com"`, UserResourceType)
		if err != nil || !Match(e, r, UserResourceType) {
			b.Fatal(err)
		}
	}
}
