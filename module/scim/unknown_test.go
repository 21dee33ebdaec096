package scim

import (
	"slices"
	"strings"
	"testing"
)

// TestLenient: unknown attributes, extension attributes, extension objects and
// schemas are dropped and reported when lenient, refused when strict; malformed
// input is refused either way.
func TestLenient(t *testing.T) {
	var dropped []string
	lenient := Lenient(func(n string) { dropped = append(dropped, n) })
	body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:example:custom:2.0:User"],
	  "userName":"a","favouriteColour":"blue",
	  "urn:example:custom:2.0:User":{"badge":"7"},
	  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"42","shoeSize":44}}`
	if _, err := DecodeResource([]byte(body), UserResourceType); err == nil {
		t.Fatal("strict decode accepted unknown attributes")
	}
	res, err := DecodeResourceWith([]byte(body), UserResourceType, lenient)
	if err != nil {
		t.Fatal(err)
	}
	if res["userName"] != "a" || res[SchemaEnterpriseUser].(map[string]any)["employeeNumber"] != "42" {
		t.Errorf("known attributes lost: %v", res)
	}
	if _, has := res["favouriteColour"]; has {
		t.Error("an unknown attribute was kept")
	}
	slices.Sort(dropped)
	want := []string{"favouriteColour", "urn:example:custom:2.0:User", "urn:example:custom:2.0:User", SchemaEnterpriseUser + ":shoeSize"}
	if !slices.Equal(dropped, want) {
		t.Errorf("dropped %q, want %q", dropped, want)
	}
	// still refused: a missing core schema, wrong types, malformed JSON
	for _, bad := range []string{
		`{"schemas":["urn:example:custom:2.0:User"],"userName":"a"}`,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":42}`,
		`{"schemas":[`,
	} {
		if _, err := DecodeResourceWith([]byte(bad), UserResourceType, lenient); err == nil {
			t.Errorf("lenient decode accepted %s", bad)
		}
	}

	dropped = nil
	patch := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
	  {"op":"replace","path":"nosuch","value":1},
	  {"op":"replace","path":"urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:costCode","value":"x"},
	  {"op":"add","value":{"displayName":"D","favouriteColour":"red","name.givenName":"G"}},
	  {"op":"replace","path":"displayName","value":"E"}]}`
	if _, err := ParsePatch([]byte(patch), UserResourceType); err == nil {
		t.Fatal("strict PATCH accepted unknown paths")
	}
	ops, err := ParsePatchWith([]byte(patch), UserResourceType, lenient)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ApplyPatch(Resource{"userName": "a"}, ops, UserResourceType)
	if err != nil || out["displayName"] != "E" || out["name"].(map[string]any)["givenName"] != "G" {
		t.Fatalf("applied %v, %v", out, err)
	}
	if len(dropped) != 3 || !strings.Contains(strings.Join(dropped, " "), "costCode") {
		t.Errorf("dropped %q", dropped)
	}
	// a malformed path is still invalidPath
	if _, err := ParsePatchWith([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"emails[type eq","value":1}]}`), UserResourceType, lenient); AsError(err).ScimType != ErrInvalidPath {
		t.Errorf("malformed path: %v", err)
	}
}
