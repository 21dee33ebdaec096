package scim

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

var fuzzFilterSeeds = []string{
	`userName eq "test.user@okta.local"`,
	`userName eq "5171a35d82074e068ce2" and active eq true`,
	`externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"`,
	`displayName eq "Test SCIMv2"`,
	`emails[type eq "work" and value co "@x"]`,
	`emails[type eq "work"].value eq "a@x"`,
	`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984"`,
	`urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"`,
	`not (title pr) or (meta.lastModified gt "2011-05-13T04:42:34Z" and name.givenName ew "st")`,
	`members[value eq "2819c223-7f76-453a-919d-413861904646"]`,
	`title eq "a\"b\\c\u00e9\ud83d\ude00" and nickName eq null and x509Certificates.value ne 1.5e-3`,
	`((userName pr))`,
	`userName eq "a`,
	`emails[type eq "work"`,
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range fuzzFilterSeeds {
		f.Add(s)
	}
	user, group := testUser(), testGroup()
	f.Fuzz(func(t *testing.T, s string) {
		for _, tc := range []struct {
			rt *ResourceType
			r  Resource
		}{{UserResourceType, user}, {GroupResourceType, group}} {
			e, err := ParseFilter(s, tc.rt)
			if err != nil {
				var se *Error
				if !errors.As(err, &se) || se.Status != 400 || se.ScimType != ErrInvalidFilter {
					t.Fatalf("error %#v is not a 400 invalidFilter", err)
				}
				if len(se.Detail) > 400 {
					t.Fatalf("detail too long: %d bytes", len(se.Detail))
				}
				continue
			}
			m := Match(e, tc.r, tc.rt)
			PushDown(e)
			s2 := e.String()
			if len(s2) > MaxFilterLength {
				// escapes and normalised spacing may lengthen a filter near the limit
				continue
			}
			e2, err := ParseFilter(s2, tc.rt)
			if err != nil {
				t.Fatalf("String() of %q is %q, which does not parse: %v", s, s2, err)
			}
			if e2.String() != s2 {
				t.Fatalf("round trip: %q -> %q -> %q", s, s2, e2.String())
			}
			if Match(e2, tc.r, tc.rt) != m {
				t.Fatalf("round trip of %q changes Match", s)
			}
		}
		if !reflect.DeepEqual(user, testUser()) || !reflect.DeepEqual(group, testGroup()) {
			t.Fatal("Match modified the resource")
		}
	})
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"displayName", "name.givenName", `emails[type eq "work"].value`, `members[value eq "2819c223"]`,
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
		"urn:ietf:params:scim:schemas:core:2.0:User:userName", `emails[not (type eq "work")].primary`, "emails[",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, rt := range []*ResourceType{UserResourceType, GroupResourceType} {
			p, err := ParsePath(s, rt)
			if err != nil {
				var se *Error
				if !errors.As(err, &se) || se.Status != 400 || se.ScimType != ErrInvalidPath {
					t.Fatalf("error %#v is not a 400 invalidPath", err)
				}
				continue
			}
			s2 := p.String()
			p2, err := ParsePath(s2, rt)
			if err != nil || p2.String() != s2 {
				t.Fatalf("round trip: %q -> %q -> %v %v", s, s2, p2, err)
			}
			if p.SubAttr() != "" && p.Attribute().Sub(p.SubAttr()) == nil {
				t.Fatalf("sub-attribute %q does not resolve", p.SubAttr())
			}
		}
	})
}

var fuzzPatchSeeds = []string{
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"id":"abf4dd94-a4c0-4f67-89c9-76b03340cb9b","displayName":"Test SCIMv2"}}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
	 {"op":"remove","path":"members[value eq \"89bb1940-b905-4575-9e7f-6f887cfb368e\"]"},
	 {"op":"add","path":"members","value":[{"value":"23a35c27-23d3-4c03-b4c5-6443c09e7173","display":"test.user@okta.local"}]}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
	 {"op":"Replace","path":"displayName","value":"Pvlo"},
	 {"op":"Replace","path":"emails[type eq \"work\"].value","value":"TestBcwqnm@test.microsoft.com"},
	 {"op":"Replace","path":"name.givenName","value":"Gtfd"},
	 {"op":"Replace","path":"externalId","value":"Eqpj"},
	 {"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"Eqpj"}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"271"}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"displayName":"Bjfe","name.givenName":"Kkom","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"Aklq"}}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Remove","path":"members","value":[{"value":"u1091"}]}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[{"$ref":null,"value":"f648f8d5ea4e4cd38e9c"}]}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members"}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"emails","value":[{"value":"n@x","primary":"True"}]},{"op":"remove","path":"emails[type eq \"home\"].value"}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"phoneNumbers[type eq \"mobile\" and primary eq true]","value":{"value":"1"}}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"}]}`,
}

func FuzzPatch(f *testing.F) {
	for _, s := range fuzzPatchSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, tc := range []struct {
			rt *ResourceType
			r  func() Resource
		}{{UserResourceType, testUser}, {GroupResourceType, testGroup}} {
			in := tc.r()
			ops, err := ParsePatch(body, tc.rt)
			var out Resource
			if err == nil {
				out, err = ApplyPatch(in, ops, tc.rt)
			}
			if !reflect.DeepEqual(in, tc.r()) {
				t.Fatal("input resource modified")
			}
			if err != nil {
				var se *Error
				if !errors.As(err, &se) || se.Status != 400 || se.ScimType == "" {
					t.Fatalf("error %#v is not a 400 with scimType", err)
				}
				if out != nil {
					t.Fatal("result together with an error")
				}
				continue
			}
			// readOnly attributes never change
			for _, k := range []string{"id", "meta", "groups"} {
				if !reflect.DeepEqual(out[k], in[k]) {
					t.Fatalf("readOnly %s changed: %v -> %v", k, in[k], out[k])
				}
			}
			// at most one primary per multi-valued attribute
			for k, v := range out {
				n := 0
				l, _ := v.([]any)
				for _, el := range l {
					if m, ok := el.(map[string]any); ok && m["primary"] == true {
						n++
					}
				}
				if n > 1 {
					t.Fatalf("%s has %d primary values", k, n)
				}
			}
			if _, err := json.Marshal(out); err != nil {
				t.Fatalf("result does not marshal: %v", err)
			}
			// the same ops applied again give the same result (no state in ops)
			again, err := ApplyPatch(tc.r(), ops, tc.rt)
			if err != nil || !reflect.DeepEqual(again, out) {
				t.Fatalf("second application differs: %v", err)
			}
		}
	})
}
