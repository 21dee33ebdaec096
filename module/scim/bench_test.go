package scim

import (
	"encoding/json"
	"testing"
	"time"
)

// Benchmarks of the per-request core paths for an Entra-sized user (idp-clients.md
// §3.2: the create body Entra sends, plus the enterprise fields its PATCH touches).
// Targets (README "Performance"): each path ≤ 20 µs and ≤ 50 allocations. Run with
//
//	go test ./module/scim/ -run '^$' -bench . -benchmem

// entraBenchUser is the user as an adapter hands it to the core.
func entraBenchUser() *User {
	return &User{
		ID:          "4711",
		ExternalID:  "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
		UserName:    "Test_User_ab64@testuser.com",
		Name:        &Name{Formatted: "givenName familyName", GivenName: "givenName", FamilyName: "familyName"},
		DisplayName: "givenName familyName",
		Active:      true,
		Emails:      []MultiValue{{Value: "test_user_ab64@testuser.com", Type: "work", Primary: true}},
		Enterprise:  &EnterpriseUser{EmployeeNumber: "701984", Department: "Tour Operations"},
		Meta: Meta{
			Created: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC),
			Version: "9f2c1a7b3e4d5c6b7a8f9e0d",
		},
	}
}

// entraBenchCreate is Entra's POST /Users body.
var entraBenchCreate = []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
"externalId":"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef","userName":"Test_User_ab64@testuser.com","active":true,
"emails":[{"primary":true,"type":"work","value":"Test_User_ab64@testuser.com"}],"meta":{"resourceType":"User"},
"name":{"formatted":"givenName familyName","familyName":"familyName","givenName":"givenName"},"roles":[],
"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"701984","department":"Tour Operations"}}`)

// entraBenchPatch is Entra's attribute-update PATCH (idp-clients.md §3.2).
var entraBenchPatch = []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
 {"op":"Replace","path":"displayName","value":"Pvlo"},
 {"op":"Replace","path":"emails[type eq \"work\"].value","value":"TestBcwqnm@test.microsoft.com"},
 {"op":"Replace","path":"name.givenName","value":"Gtfd"},
 {"op":"Replace","path":"externalId","value":"Eqpj"},
 {"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"Eqpj"}]}`)

var benchOpt = RenderOptions{BaseURL: "https://git.example.com/scim/v2"}

// BenchmarkCoreFilter is what GET /Users?filter=… costs the core: parse the filter and
// evaluate it on the rendered candidate (the service re-checks pushed-down filters).
func BenchmarkCoreFilter(b *testing.B) {
	for _, f := range []string{
		`userName eq "Test_User_ab64@testuser.com"`,
		`externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"`,
	} {
		b.Run(f[:10], func(b *testing.B) {
			res := UserToResource(entraBenchUser(), benchOpt)
			b.ReportAllocs()
			for b.Loop() {
				e, err := ParseFilter(f, UserResourceType)
				if err != nil || !Match(e, res, UserResourceType) {
					b.Fatal("no match", err)
				}
			}
		})
	}
}

// BenchmarkCorePatch is the core part of PATCH /Users/{id}: parse the body, render the
// current user, apply the operations and read the result back into a User.
func BenchmarkCorePatch(b *testing.B) {
	u := entraBenchUser()
	b.ReportAllocs()
	for b.Loop() {
		ops, err := ParsePatch(entraBenchPatch, UserResourceType)
		if err != nil {
			b.Fatal(err)
		}
		patched, err := ApplyPatch(UserToResource(u, benchOpt), ops, UserResourceType)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := UserFromResource(patched); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCorePatchApply is ApplyPatch alone, on an already rendered user.
func BenchmarkCorePatchApply(b *testing.B) {
	ops, err := ParsePatch(entraBenchPatch, UserResourceType)
	if err != nil {
		b.Fatal(err)
	}
	res := UserToResource(entraBenchUser(), benchOpt)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ApplyPatch(res, ops, UserResourceType); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCoreRender is the answer of GET /Users/{id} without attributes or
// excludedAttributes: the typed encoder into a buffer sized as the handler's, which
// escapes to the heap there as it does into benchSink here.
func BenchmarkCoreRender(b *testing.B) {
	u := entraBenchUser()
	b.ReportAllocs()
	for b.Loop() {
		benchSink = AppendUserJSON(make([]byte, 0, 1024), u, benchOpt)
	}
	if len(benchSink) > 1024 {
		b.Fatal("buffer grew: ", len(benchSink))
	}
}

var benchSink []byte

// BenchmarkCoreRenderProjected is the answer of GET /Users/{id}?attributes=…:
// render, project and encode the map.
func BenchmarkCoreRenderProjected(b *testing.B) {
	u := entraBenchUser()
	attrs := []string{"userName", "emails.value", SchemaEnterpriseUser + ":employeeNumber"}
	b.ReportAllocs()
	for b.Loop() {
		res := Project(UserToResource(u, benchOpt), UserResourceType, attrs, nil)
		if _, err := json.Marshal(res); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCoreDecode is the request side of POST and PUT: validate the body and
// convert it into a User.
func BenchmarkCoreDecode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		res, err := DecodeResource(entraBenchCreate, UserResourceType)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := UserFromResource(res); err != nil {
			b.Fatal(err)
		}
	}
}
