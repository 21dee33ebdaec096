package scim

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

const (
	testGroupID = "abf4dd94-a4c0-4f67-89c9-76b03340cb9b"
	member1     = "89bb1940-b905-4575-9e7f-6f887cfb368e"
	member2     = "902c246b-6245-4190-8e05-00816be7344a"
	member3     = "23a35c27-23d3-4c03-b4c5-6443c09e7173"
)

func testGroup() Resource {
	return Resource{
		"schemas":     []any{SchemaGroup},
		"id":          testGroupID,
		"externalId":  "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
		"displayName": "Test SCIMv2",
		"members": []any{
			map[string]any{"value": member1, "display": "test.user@okta.local"},
			map[string]any{"value": member2},
		},
		"meta": map[string]any{"resourceType": "Group", "created": "2024-01-02T15:04:05Z", "lastModified": "2024-01-02T15:04:05Z"},
	}
}

// absent marks an attribute the patched resource must not have.
var absent = &struct{ absent bool }{true}

// at reads a value by keys: at(r, "name", "givenName"), at(r, SchemaEnterpriseUser, "manager").
func at(r Resource, keys ...string) any {
	var v any = r
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return absent
		}
		if v, ok = m[k]; !ok {
			return absent
		}
	}
	return v
}

type patchCase struct {
	name    string
	rt      *ResourceType // default UserResourceType
	in      Resource      // default testUser()
	body    string
	want    map[string]any // "a.b" → value (keys split on "|" for URN paths)
	errType string         // scimType when an error is expected
	errText string         // substring of the detail
}

func patchBody(o ...string) string {
	return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + strings.Join(o, ",") + `]}`
}

const ent = SchemaEnterpriseUser

func TestApplyPatch(t *testing.T) {
	tests := []patchCase{
		// ---- Okta ----
		{name: "okta deactivate pathless",
			body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`,
			want: map[string]any{"active": false, "userName": "Test.User@example.com"}},
		{name: "okta reactivate", in: Resource{"id": "1", "userName": "u", "active": false},
			body: patchBody(`{"op":"replace","value":{"active":true}}`),
			want: map[string]any{"active": true}},
		{name: "okta group rename with id in value", rt: GroupResourceType, in: testGroup(),
			body: patchBody(`{"op":"replace","value":{"id":"` + testGroupID + `","displayName":"Test SCIMv2 renamed"}}`),
			want: map[string]any{"displayName": "Test SCIMv2 renamed", "id": testGroupID}},
		{name: "okta group rename with another id", rt: GroupResourceType, in: testGroup(),
			body:    patchBody(`{"op":"replace","value":{"id":"other","displayName":"x"}}`),
			errType: ErrMutability, errText: "id"},
		{name: "okta members remove by filter then add", rt: GroupResourceType, in: testGroup(),
			body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
			 {"op":"remove","path":"members[value eq \"89bb1940-b905-4575-9e7f-6f887cfb368e\"]"},
			 {"op":"add","path":"members","value":[{"value":"23a35c27-23d3-4c03-b4c5-6443c09e7173","display":"test.user@okta.local"}]}]}`,
			want: map[string]any{"members": []any{
				map[string]any{"value": member2},
				map[string]any{"value": member3},
			}}},
		{name: "okta replace members full list", rt: GroupResourceType, in: testGroup(),
			body: patchBody(`{"op":"replace","path":"members","value":[{"value":"` + member3 + `"},{"value":"` + member1 + `"}]}`),
			want: map[string]any{"members": []any{
				map[string]any{"value": member3},
				map[string]any{"value": member1},
			}}},
		{name: "remove members by filter that matches nothing is a no-op", rt: GroupResourceType, in: testGroup(),
			body: patchBody(`{"op":"remove","path":"members[value eq \"nobody\"]"}`),
			want: map[string]any{"members": testGroup()["members"]}},
		// ---- Entra ID ----
		{name: "entra default update",
			body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
			 {"op":"Replace","path":"displayName","value":"Pvlo"},
			 {"op":"Replace","path":"emails[type eq \"work\"].value","value":"TestBcwqnm@test.microsoft.com"},
			 {"op":"Replace","path":"name.givenName","value":"Gtfd"},
			 {"op":"Replace","path":"externalId","value":"Eqpj"},
			 {"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"Eqpj"}]}`,
			want: map[string]any{
				"displayName": "Pvlo",
				"emails": []any{
					map[string]any{"value": "TestBcwqnm@test.microsoft.com", "type": "work", "primary": true},
					map[string]any{"value": "home@example.org", "type": "home"},
				},
				"name.givenName":        "Gtfd",
				"name.familyName":       "User",
				"externalId":            "Eqpj",
				ent + "|employeeNumber": "Eqpj",
				ent + "|department":     "Tour Operations",
				"meta.lastModified":     "2011-05-13T04:42:34Z",
				"id":                    testUserID,
			}},
		{name: "entra string False disables",
			body: patchBody(`{"op":"Replace","path":"active","value":"False"}`),
			want: map[string]any{"active": false}},
		{name: "entra string True enables", in: Resource{"id": "1", "userName": "u", "active": false},
			body: patchBody(`{"op":"Replace","path":"active","value":"True"}`),
			want: map[string]any{"active": true}},
		{name: "entra disable with boolean (flagged form)",
			body: patchBody(`{"op":"replace","path":"active","value":false}`),
			want: map[string]any{"active": false}},
		{name: "entra manager bare string",
			body: patchBody(`{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"271"}`),
			want: map[string]any{ent + "|manager": map[string]any{"value": "271"}}},
		{name: "manager bare string on a user without enterprise data", in: Resource{"schemas": []any{SchemaUser}, "id": "1", "userName": "u"},
			body: patchBody(`{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"271"}`),
			want: map[string]any{ent + "|manager": map[string]any{"value": "271"}, "schemas": []any{SchemaUser, ent}}},
		{name: "manager replace with object; readOnly displayName dropped",
			body: patchBody(`{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":{"value":"42","displayName":"Boss"}}`),
			want: map[string]any{ent + "|manager": map[string]any{"value": "42"}}},
		{name: "manager.value path",
			body: patchBody(`{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value","value":"43"}`),
			want: map[string]any{ent + "|manager": map[string]any{"value": "43"}}},
		{name: "manager same value keeps displayName",
			body: patchBody(`{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"26118915-6090-4610-87e4-49d8ca9f808d"}`),
			want: map[string]any{ent + "|manager": testUser()[ent].(map[string]any)["manager"]}},
		{name: "entra remove manager",
			body: patchBody(`{"op":"Remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}`),
			want: map[string]any{ent + "|manager": absent, ent + "|employeeNumber": "701984"}},
		{name: "aadOptscim062020 dotted keys pathless replace",
			body: patchBody(`{"op":"replace","value":{"displayName":"Bjfe","name.givenName":"Kkom","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"Aklq"}}`),
			want: map[string]any{"displayName": "Bjfe", "name.givenName": "Kkom", "name.familyName": "User", ent + "|employeeNumber": "Aklq"}},
		{name: "entra remove members with value list", rt: GroupResourceType, in: testGroup(),
			body: patchBody(`{"op":"Remove","path":"members","value":[{"value":"` + member1 + `"}]}`),
			want: map[string]any{"members": []any{map[string]any{"value": member2}}}},
		{name: "remove members with value list of unknown ids keeps all", rt: GroupResourceType, in: testGroup(),
			body: patchBody(`{"op":"Remove","path":"members","value":[{"value":"u1091"}]}`),
			want: map[string]any{"members": testGroup()["members"]}},
		{name: "remove members without value empties", rt: GroupResourceType, in: testGroup(),
			body: patchBody(`{"op":"remove","path":"members"}`),
			want: map[string]any{"members": absent, "displayName": "Test SCIMv2"}},
		{name: "entra add members with $ref null", rt: GroupResourceType, in: Resource{"id": "g", "displayName": "G"},
			body: patchBody(`{"op":"Add","path":"members","value":[{"$ref":null,"value":"f648f8d5ea4e4cd38e9c"},{"value":"f648f8d5ea4e4cd38e9d"}]}`),
			want: map[string]any{"members": []any{map[string]any{"value": "f648f8d5ea4e4cd38e9c"}, map[string]any{"value": "f648f8d5ea4e4cd38e9d"}}}},
		{name: "add members skips duplicates", rt: GroupResourceType, in: testGroup(),
			body: patchBody(`{"op":"add","path":"members","value":[{"value":"` + member2 + `"},{"value":"` + member3 + `"},{"value":"` + member3 + `"}]}`),
			want: map[string]any{"members": []any{
				map[string]any{"value": member1, "display": "test.user@okta.local"},
				map[string]any{"value": member2},
				map[string]any{"value": member3},
			}}},
		{name: "add single member object (not array)", rt: GroupResourceType, in: Resource{"id": "g", "displayName": "G"},
			body: patchBody(`{"op":"add","path":"members","value":{"value":"m"}}`),
			want: map[string]any{"members": []any{map[string]any{"value": "m"}}}},
		{name: "pathless add members appends", rt: GroupResourceType, in: testGroup(),
			body: patchBody(`{"op":"add","value":{"members":[{"value":"` + member3 + `"}]}}`),
			want: map[string]any{"members": append(testGroup()["members"].([]any), map[string]any{"value": member3})}},
		{name: "keycloak replace members, displayName, externalId", rt: GroupResourceType, in: testGroup(),
			body: patchBody(`{"op":"replace","path":"members","value":[{"value":"m9"}]}`, `{"op":"replace","path":"displayName","value":"KC"}`, `{"op":"replace","path":"externalId","value":"kc-1"}`),
			want: map[string]any{"members": []any{map[string]any{"value": "m9"}}, "displayName": "KC", "externalId": "kc-1"}},
		{name: "replace members with empty list", rt: GroupResourceType, in: testGroup(),
			body: patchBody(`{"op":"replace","path":"members","value":[]}`),
			want: map[string]any{"members": absent}},
		{name: "filtered path on absent element creates it",
			in:   Resource{"id": "1", "userName": "u", "emails": []any{map[string]any{"value": "h@x", "type": "home"}}},
			body: patchBody(`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"w@x"}`),
			want: map[string]any{"emails": []any{
				map[string]any{"value": "h@x", "type": "home"},
				map[string]any{"value": "w@x", "type": "work"},
			}}},
		{name: "filtered path on absent attribute creates it",
			in:   Resource{"id": "1", "userName": "u"},
			body: patchBody(`{"op":"replace","path":"emails[type eq \"work\" and primary eq true].value","value":"w@x"}`),
			want: map[string]any{"emails": []any{map[string]any{"value": "w@x", "type": "work", "primary": true}}}},
		{name: "filtered path without sub creates from filter and value",
			in:   Resource{"id": "1", "userName": "u"},
			body: patchBody(`{"op":"add","path":"phoneNumbers[type eq \"mobile\"]","value":{"value":"+1 555"}}`),
			want: map[string]any{"phoneNumbers": []any{map[string]any{"value": "+1 555", "type": "mobile"}}}},
		{name: "filtered path that cannot create",
			in:      Resource{"id": "1", "userName": "u"},
			body:    patchBody(`{"op":"replace","path":"emails[value co \"x\"].type","value":"work"}`),
			errType: ErrNoTarget},
		{name: "entra emails on group-like filter: addresses",
			body: patchBody(`{"op":"replace","path":"addresses[type eq \"work\"].streetAddress","value":"1 Main St"}`),
			want: map[string]any{"addresses": []any{map[string]any{"type": "work", "streetAddress": "1 Main St"}}}},
		{name: "replace filtered element merges sub-attributes",
			body: patchBody(`{"op":"replace","path":"emails[type eq \"home\"]","value":{"value":"new@example.org"}}`),
			want: map[string]any{"emails": []any{
				map[string]any{"value": "test.user@example.com", "type": "work", "primary": true},
				map[string]any{"value": "new@example.org", "type": "home"},
			}}},
		{name: "remove filtered sub-attribute keeps the element",
			body: patchBody(`{"op":"remove","path":"emails[type eq \"work\"].primary"}`),
			want: map[string]any{"emails": []any{
				map[string]any{"value": "test.user@example.com", "type": "work"},
				map[string]any{"value": "home@example.org", "type": "home"},
			}}},
		{name: "remove filtered elements",
			body: patchBody(`{"op":"remove","path":"emails[type eq \"home\" or type eq \"other\"]"}`),
			want: map[string]any{"emails": []any{map[string]any{"value": "test.user@example.com", "type": "work", "primary": true}}}},
		{name: "remove last element removes attribute",
			body: patchBody(`{"op":"remove","path":"phoneNumbers[type eq \"work\"]"}`),
			want: map[string]any{"phoneNumbers": absent}},
		// ---- RFC semantics ----
		{name: "add on single-valued acts as replace (Entra nickName)",
			body: patchBody(`{"op":"Add","path":"nickName","value":"Babs"}`, `{"op":"add","path":"title","value":"Boss"}`),
			want: map[string]any{"nickName": "Babs", "title": "Boss"}},
		{name: "add appends to multi-valued",
			body: patchBody(`{"op":"add","path":"emails","value":[{"value":"other@example.net","type":"other"}]}`),
			want: map[string]any{"emails": append(testUser()["emails"].([]any), map[string]any{"value": "other@example.net", "type": "other"})}},
		{name: "add exact duplicate is skipped",
			body: patchBody(`{"op":"add","path":"emails","value":[{"value":"HOME@example.org","type":"home"}]}`),
			want: map[string]any{"emails": testUser()["emails"]}},
		{name: "add primary moves primary",
			body: patchBody(`{"op":"add","path":"emails","value":[{"value":"new@example.net","type":"other","primary":true}]}`),
			want: map[string]any{"emails": []any{
				map[string]any{"value": "test.user@example.com", "type": "work"},
				map[string]any{"value": "home@example.org", "type": "home"},
				map[string]any{"value": "new@example.net", "type": "other", "primary": true},
			}}},
		{name: "set primary by filter moves primary (string True)",
			body: patchBody(`{"op":"replace","path":"emails[type eq \"home\"].primary","value":"True"}`),
			want: map[string]any{"emails": []any{
				map[string]any{"value": "test.user@example.com", "type": "work"},
				map[string]any{"value": "home@example.org", "type": "home", "primary": true},
			}}},
		{name: "validator roles with primary string",
			body: patchBody(`{"op":"add","path":"roles","value":[{"primary":"True","type":"WindowsAzureActiveDirectoryRole","display":"Admin","value":"Admin"}]}`),
			want: map[string]any{"roles": []any{
				map[string]any{"value": "dev"},
				map[string]any{"value": "Admin", "display": "Admin", "type": "WindowsAzureActiveDirectoryRole", "primary": true},
			}}},
		{name: "two primaries in input",
			body:    patchBody(`{"op":"replace","path":"emails","value":[{"value":"a@x","primary":true},{"value":"b@x","primary":"true"}]}`),
			errType: ErrInvalidValue, errText: "at most one value may be primary"},
		{name: "replace multi-valued without filter replaces the list",
			body: patchBody(`{"op":"replace","path":"emails","value":[{"value":"only@x","type":"work"}]}`),
			want: map[string]any{"emails": []any{map[string]any{"value": "only@x", "type": "work"}}}},
		{name: "replace emails.value without filter sets all values",
			in:   Resource{"id": "1", "userName": "u", "emails": []any{map[string]any{"value": "a@x"}}},
			body: patchBody(`{"op":"replace","path":"emails.value","value":"b@x"}`),
			want: map[string]any{"emails": []any{map[string]any{"value": "b@x"}}}},
		{name: "replace complex merges",
			body: patchBody(`{"op":"replace","path":"name","value":{"familyName":"Jensen","MiddleName":"J"}}`),
			want: map[string]any{"name": map[string]any{"formatted": "Test User", "familyName": "Jensen", "givenName": "Test", "middleName": "J"}}},
		{name: "remove sub-attribute",
			body: patchBody(`{"op":"remove","path":"name.formatted"}`),
			want: map[string]any{"name": map[string]any{"familyName": "User", "givenName": "Test"}}},
		{name: "remove last sub-attribute removes the attribute",
			in:   Resource{"id": "1", "userName": "u", "name": map[string]any{"givenName": "g"}},
			body: patchBody(`{"op":"remove","path":"name.givenName"}`),
			want: map[string]any{"name": absent}},
		{name: "add sub-attribute to absent complex",
			in:   Resource{"id": "1", "userName": "u"},
			body: patchBody(`{"op":"add","path":"name.givenName","value":"g"}`),
			want: map[string]any{"name": map[string]any{"givenName": "g"}}},
		{name: "remove whole attribute", body: patchBody(`{"op":"remove","path":"title"}`),
			want: map[string]any{"title": absent}},
		{name: "remove absent attribute is a no-op", body: patchBody(`{"op":"remove","path":"nickName"}`),
			want: map[string]any{"nickName": absent}},
		{name: "replace with null removes", body: patchBody(`{"op":"replace","path":"title","value":null}`),
			want: map[string]any{"title": absent}},
		{name: "add null is a no-op", body: patchBody(`{"op":"add","path":"title","value":null}`),
			want: map[string]any{"title": "Engineer"}},
		{name: "remove whole extension",
			body: patchBody(`{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"}`),
			want: map[string]any{ent: absent, "schemas": []any{SchemaUser}}},
		{name: "add with extension path and object",
			body: patchBody(`{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","value":{"costCenter":"4130","Department":"R&D"}}`),
			want: map[string]any{ent + "|costCenter": "4130", ent + "|department": "R&D", ent + "|employeeNumber": "701984"}},
		{name: "pathless value with nested extension object",
			body: patchBody(`{"op":"replace","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"division":"Ops"},"userName":"new"}}`),
			want: map[string]any{ent + "|division": "Ops", "userName": "new"}},
		{name: "pathless value keys case-insensitive, stored canonically",
			body: patchBody(`{"op":"replace","value":{"DisplayName":"X","NAME":{"GIVENNAME":"G"},"emails":[{"VALUE":"v@x","Type":"work","Primary":"false"}]}}`),
			want: map[string]any{"displayName": "X", "name.givenName": "G", "name.familyName": "User",
				"emails": []any{map[string]any{"value": "v@x", "type": "work", "primary": false}}}},
		{name: "pathless value tolerates id, meta, schemas, groups",
			body: patchBody(`{"op":"replace","value":{"id":"` + testUserID + `","meta":{"resourceType":"User"},"schemas":["x"],"groups":[],"title":"T"}}`),
			want: map[string]any{"title": "T", "id": testUserID, "meta.resourceType": "User", "schemas": []any{SchemaUser, ent}}},
		{name: "readOnly attributes by path are ignored",
			body: patchBody(`{"op":"replace","path":"id","value":"evil"}`, `{"op":"remove","path":"meta"}`, `{"op":"replace","path":"meta.created","value":"2020-01-01T00:00:00Z"}`,
				`{"op":"add","path":"groups","value":[{"value":"g"}]}`, `{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName","value":"x"}`),
			want: map[string]any{"id": testUserID, "meta.created": "2010-01-23T04:56:22Z", "groups": absent, ent + "|manager": testUser()[ent].(map[string]any)["manager"]}},
		{name: "core URN qualified path",
			body: patchBody(`{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:userName","value":"babs"}`),
			want: map[string]any{"userName": "babs"}},
		{name: "password can be set (writeOnly)",
			body: patchBody(`{"op":"replace","path":"password","value":"1mz050nq"}`),
			want: map[string]any{"password": "1mz050nq"}},
		{name: "immutable may be set when absent", rt: GroupResourceType, in: testGroup(),
			body: patchBody(`{"op":"add","path":"members[value eq \"` + member2 + `\"].type","value":"User"}`),
			want: map[string]any{"members": []any{
				map[string]any{"value": member1, "display": "test.user@okta.local"},
				map[string]any{"value": member2, "type": "User"},
			}}},
		{name: "immutable cannot change", rt: GroupResourceType, in: testGroup(),
			body:    patchBody(`{"op":"replace","path":"members[value eq \"` + member2 + `\"].value","value":"other"}`),
			errType: ErrMutability},
		{name: "required attribute cannot be removed",
			body: patchBody(`{"op":"remove","path":"userName"}`), errType: ErrInvalidValue, errText: "userName is required"},
		{name: "required attribute replaced by null", rt: GroupResourceType, in: testGroup(),
			body: patchBody(`{"op":"replace","value":{"displayName":null}}`), errType: ErrInvalidValue, errText: "displayName is required"},
		{name: "atomic: second op fails",
			body:    patchBody(`{"op":"replace","path":"title","value":"changed"}`, `{"op":"replace","path":"emails[value co \"zzz\"].type","value":"work"}`),
			errType: ErrNoTarget},
		// ---- type checks ----
		{name: "number for a string", body: patchBody(`{"op":"replace","path":"displayName","value":5}`),
			errType: ErrInvalidValue, errText: "attribute displayName: expected a string, got a number"},
		{name: "number for employeeNumber", body: patchBody(`{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":42}`),
			errType: ErrInvalidValue, errText: "employeeNumber: expected a string"},
		{name: "bad boolean", body: patchBody(`{"op":"replace","path":"active","value":"yes"}`),
			errType: ErrInvalidValue, errText: "attribute active: expected a boolean"},
		{name: "bad primary", body: patchBody(`{"op":"add","path":"emails","value":[{"value":"a@x","primary":1}]}`),
			errType: ErrInvalidValue, errText: "emails.primary: expected a boolean"},
		{name: "object for a string", body: patchBody(`{"op":"replace","value":{"userName":{"a":1}}}`),
			errType: ErrInvalidValue, errText: "userName: expected a string, got an object"},
		{name: "string for name", body: patchBody(`{"op":"replace","path":"name","value":"x"}`),
			errType: ErrInvalidValue, errText: "name: expected an object"},
		{name: "unknown sub-attribute in value", body: patchBody(`{"op":"replace","path":"name","value":{"nick":"x"}}`),
			errType: ErrInvalidValue, errText: `unknown sub-attribute "nick"`},
		{name: "canonical spelling wins over a case variant",
			body: patchBody(`{"op":"replace","path":"name","value":{"givenName":"a","GIVENNAME":"b"}}`),
			want: map[string]any{"name.givenName": "a"}},
		{name: "two non-canonical spellings are ambiguous",
			body:    patchBody(`{"op":"replace","path":"name","value":{"GivenName":"a","givenname":"b"}}`),
			errType: ErrInvalidValue, errText: "given more than once"},
		{name: "duplicate op keys resolve to the exact spelling",
			body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"OP":"remove","op":"replace","path":"title","value":"x"}]}`,
			want: map[string]any{"title": "x"}},
		{name: "array for filtered element", body: patchBody(`{"op":"replace","path":"emails[type eq \"work\"]","value":"x@y"}`),
			want: map[string]any{"emails": []any{
				map[string]any{"value": "x@y", "type": "work", "primary": true},
				map[string]any{"value": "home@example.org", "type": "home"},
			}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runPatchCase(t, tc) })
	}
}

func runPatchCase(t *testing.T, tc patchCase) {
	t.Helper()
	rt := tc.rt
	if rt == nil {
		rt = UserResourceType
	}
	in := tc.in
	if in == nil {
		in = testUser()
	}
	before := deepCopy(in)
	ops, err := ParsePatch([]byte(tc.body), rt)
	var out Resource
	if err == nil {
		out, err = ApplyPatch(in, ops, rt)
	}
	if !reflect.DeepEqual(in, before) {
		t.Fatalf("input resource modified:\n%v\n%v", in, before)
	}
	if tc.errType != "" {
		var se *Error
		if !errors.As(err, &se) || se.Status != 400 || se.ScimType != tc.errType {
			t.Fatalf("got %v, want 400 %s", err, tc.errType)
		}
		if !strings.Contains(se.Detail, tc.errText) {
			t.Fatalf("detail %q does not contain %q", se.Detail, tc.errText)
		}
		if out != nil {
			t.Fatalf("error with a result")
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	for k, want := range tc.want {
		var keys []string
		if u, rest, ok := strings.Cut(k, "|"); ok {
			keys = append([]string{u}, strings.Split(rest, ".")...)
		} else if strings.HasPrefix(k, "urn:") {
			keys = []string{k}
		} else {
			keys = strings.Split(k, ".")
		}
		got := at(out, keys...)
		if want == absent {
			if got != absent {
				t.Errorf("%s = %v, want absent", k, got)
			}
			continue
		}
		if !reflect.DeepEqual(got, want) {
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(want)
			t.Errorf("%s = %s, want %s", k, gj, wj)
		}
	}
}

func TestParsePatchErrors(t *testing.T) {
	many := make([]string, 1001)
	for i := range many {
		many[i] = `{"op":"replace","path":"title","value":"x"}`
	}
	tests := []struct {
		body    string
		errType string
		errText string
	}{
		{``, ErrInvalidSyntax, "not valid JSON"},
		{`{"schemas":`, ErrInvalidSyntax, "not valid JSON"},
		{`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[]} trailing`, ErrInvalidSyntax, "not valid JSON"},
		{`[]`, ErrInvalidSyntax, "JSON object"},
		{`{"Operations":[{"op":"replace","path":"title","value":"x"}]}`, ErrInvalidSyntax, "schemas must contain"},
		{`{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"Operations":[{"op":"replace","path":"title","value":"x"}]}`, ErrInvalidSyntax, "schemas must contain"},
		{`{"schemas":"urn:ietf:params:scim:api:messages:2.0:PatchOp","Operations":[]}`, ErrInvalidSyntax, "schemas must contain"},
		{patchBody(), ErrInvalidSyntax, "non-empty array"},
		{`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":{"op":"add"}}`, ErrInvalidSyntax, "non-empty array"},
		{patchBody(many...), ErrInvalidSyntax, "too many operations"},
		{patchBody(`"x"`), ErrInvalidSyntax, "Operations[0] must be an object"},
		{patchBody(`{"path":"title","value":"x"}`), ErrInvalidSyntax, `missing "op"`},
		{patchBody(`{"op":"update","path":"title","value":"x"}`), ErrInvalidSyntax, `got "update"`},
		{patchBody(`{"op":5,"path":"title","value":"x"}`), ErrInvalidSyntax, "op must be"},
		{patchBody(`{"op":"remove"}`), ErrNoTarget, "remove needs a path"},
		{patchBody(`{"op":"remove","path":""}`), ErrNoTarget, "remove needs a path"},
		{patchBody(`{"op":"replace","path":"title"}`), ErrInvalidValue, "needs a value"},
		{patchBody(`{"op":"replace","path":5,"value":"x"}`), ErrInvalidPath, "path must be a string"},
		{patchBody(`{"op":"replace","path":"nope","value":"x"}`), ErrInvalidPath, `Operations[0]: at position 1: unknown attribute "nope"`},
		{patchBody(`{"op":"add","path":"title","value":"x"}`, `{"op":"replace","path":"emails[type eq]","value":"x"}`), ErrInvalidPath, "Operations[1]: at position 15: expected a value"},
		{patchBody(`{"op":"replace","value":{"nope":"x"}}`), ErrInvalidPath, `unknown attribute "nope"`},
		{patchBody(`{"op":"replace","value":{"urn:example:ext:1.0:User:foo":"x"}}`), ErrInvalidPath, "unknown attribute"},
		{patchBody(`{"op":"replace","value":"x"}`), ErrInvalidValue, "without a path needs an object"},
		{patchBody(`{"op":"replace","value":null}`), ErrInvalidValue, "without a path needs an object"},
		{patchBody(`{"op":"replace","value":{"id":5}}`), ErrMutability, "id is readOnly"},
		{patchBody(`{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","value":"x"}`), ErrInvalidValue, "must be an object"},
	}
	for _, tc := range tests {
		_, err := ParsePatch([]byte(tc.body), UserResourceType)
		var se *Error
		if !errors.As(err, &se) || se.Status != 400 || se.ScimType != tc.errType {
			t.Errorf("ParsePatch(%.80s) = %v, want 400 %s", tc.body, err, tc.errType)
			continue
		}
		if !strings.Contains(se.Detail, tc.errText) {
			t.Errorf("ParsePatch(%.80s): detail %q, want %q", tc.body, se.Detail, tc.errText)
		}
	}
}

func TestParsePatchAccepts(t *testing.T) {
	for _, op := range []string{"add", "Add", "ADD", "replace", "Replace", "REPLACE"} {
		ops, err := ParsePatch([]byte(patchBody(`{"op":"`+op+`","path":"title","value":"x"}`)), UserResourceType)
		if err != nil || ops[0].Op != strings.ToLower(op) || ops[0].Path.Attr.Name != "title" || ops[0].Value != "x" {
			t.Errorf("op %s: %v %+v", op, err, ops)
		}
	}
	// lower-case keys, as some clients send them
	if _, err := ParsePatch([]byte(`{"Schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"operations":[{"OP":"Remove","Path":"title"}]}`), UserResourceType); err != nil {
		t.Error(err)
	}
}

func TestApplyPatchHandBuilt(t *testing.T) {
	p, err := ParsePath(`emails[type eq "work"].value`, UserResourceType)
	if err != nil {
		t.Fatal(err)
	}
	ops := []PatchOp{
		{Op: "replace", Path: p, Value: "hb@x"},
		{Op: "replace", Value: map[string]any{"active": "false"}},
	}
	out, err := ApplyPatch(testUser(), ops, UserResourceType)
	if err != nil {
		t.Fatal(err)
	}
	if at(out, "active") != false || at(out, "emails").([]any)[0].(map[string]any)["value"] != "hb@x" {
		t.Errorf("hand-built ops not applied: %v", out)
	}
	// compiled against another resource type: compiled again
	parsed, _ := ParsePatch([]byte(patchBody(`{"op":"replace","path":"displayName","value":"G2"}`)), UserResourceType)
	out, err = ApplyPatch(testGroup(), parsed, GroupResourceType)
	if err != nil || out["displayName"] != "G2" {
		t.Errorf("recompile: %v %v", err, out)
	}
	// ops apply repeatedly without sharing state between results
	parsed, _ = ParsePatch([]byte(patchBody(`{"op":"add","path":"emails","value":[{"value":"n@x","primary":true}]}`)), UserResourceType)
	a, _ := ApplyPatch(testUser(), parsed, UserResourceType)
	b, _ := ApplyPatch(testUser(), parsed, UserResourceType)
	a["emails"].([]any)[2].(map[string]any)["value"] = "mutated"
	if b["emails"].([]any)[2].(map[string]any)["value"] != "n@x" {
		t.Error("results share appended values")
	}
}

func TestNormalizeValue(t *testing.T) {
	_, emails, _ := UserResourceType.LookupAttr("emails")
	_, active, _ := UserResourceType.LookupAttr("active")
	_, meta, _ := UserResourceType.LookupAttr("meta")
	_, manager, _ := UserResourceType.LookupAttr(ent + ":manager")
	integer := &Attribute{Name: "n", Type: TypeInteger}
	tests := []struct {
		attr *Attribute
		in   any
		want any
		err  string
	}{
		{active, "TRUE", true, ""},
		{active, false, false, ""},
		{active, 1.0, nil, "attribute active: expected a boolean, got a number"},
		{emails, map[string]any{"Value": "a@x", "PRIMARY": "True"}, []any{map[string]any{"value": "a@x", "primary": true}}, ""},
		{emails, "a@x", []any{map[string]any{"value": "a@x"}}, ""},
		{emails, []any{nil, map[string]any{"value": nil}, map[string]any{"value": "b@x"}}, []any{map[string]any{"value": "b@x"}}, ""},
		{emails, []any{[]any{}}, nil, "emails: expected an object, got an array"},
		{manager, "271", map[string]any{"value": "271"}, ""},
		{manager, map[string]any{"value": "1", "displayName": "kept"}, map[string]any{"value": "1", "displayName": "kept"}, ""},
		{meta.Sub("created"), "2024-01-02T15:04:05.123+01:00", "2024-01-02T15:04:05.123+01:00", ""},
		{meta.Sub("created"), "2024-01-02", nil, "attribute created: expected an RFC 3339"},
		{meta, map[string]any{"created": "yesterday"}, nil, "meta.created: expected an RFC 3339"},
		{integer, 3.0, 3.0, ""},
		{integer, json.Number("4"), 4.0, ""},
		{integer, 3.5, nil, "expected an integer"},
		{integer, "3", nil, "expected a number, got a string"},
		{emails, nil, nil, ""},
	}
	for i, tc := range tests {
		got, err := NormalizeValue(tc.attr, tc.in)
		if tc.err != "" {
			var se *Error
			if !errors.As(err, &se) || se.ScimType != ErrInvalidValue || !strings.Contains(se.Detail, tc.err) {
				t.Errorf("#%d: got %v, want invalidValue %q", i, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("#%d: got %#v, %v; want %#v", i, got, err, tc.want)
		}
	}
	// nil error is a true nil interface
	if _, err := NormalizeValue(active, true); err != nil {
		t.Errorf("err = %#v", err)
	}
}

func TestPatchErrorNeverEchoesSecrets(t *testing.T) {
	secret := strings.Repeat("hunter2", 20)
	for _, body := range []string{
		patchBody(`{"op":"replace","path":"password","value":5}`),
		patchBody(`{"op":"replace","path":"active","value":"` + secret + `"}`),
		patchBody(`{"op":"replace","value":{"` + secret + `":"x"}}`),
		patchBody(`{"op":"` + secret + `"}`),
	} {
		_, err := ParsePatch([]byte(body), UserResourceType)
		if err == nil {
			t.Errorf("no error for %s", body)
		} else if strings.Contains(err.Error(), secret[:70]) {
			t.Errorf("error echoes the value: %v", err)
		}
	}
}

func BenchmarkApplyPatch(b *testing.B) {
	body := entraBenchPatch
	ops, err := ParsePatch(body, UserResourceType)
	if err != nil {
		b.Fatal(err)
	}
	r := testUser()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ApplyPatch(r, ops, UserResourceType); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseAndApplyPatch(b *testing.B) {
	body := entraBenchPatch
	r := testUser()
	b.ReportAllocs()
	for b.Loop() {
		ops, err := ParsePatch(body, UserResourceType)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ApplyPatch(r, ops, UserResourceType); err != nil {
			b.Fatal(err)
		}
	}
}
