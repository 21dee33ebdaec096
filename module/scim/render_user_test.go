package scim

import (
	"encoding/json"
	"reflect"
	"testing"
)

// fullUser sets every field, so the direct conversion is checked on all of them.
func fullUser() *User {
	mv := func(p string) []MultiValue {
		return []MultiValue{{Value: p + "1", Display: "d", Type: "work", Primary: true}, {Value: p + "2"}, {}}
	}
	return &User{
		ID: "1", ExternalID: "e", UserName: "u", DisplayName: "d", NickName: "n", ProfileURL: "https://p",
		Title: "t", UserType: "ut", PreferredLanguage: "de", Locale: "de-CH", Timezone: "Europe/Zurich", Active: true,
		Name:   &Name{Formatted: "f", FamilyName: "fa", GivenName: "g", MiddleName: "m", HonorificPrefix: "hp", HonorificSuffix: "hs"},
		Emails: mv("e"), PhoneNumbers: mv("p"), IMs: mv("i"), Photos: mv("ph"), Entitlements: mv("en"), Roles: mv("r"),
		X509Certificates: mv("x"),
		Addresses: []Address{{Formatted: "f", StreetAddress: "s", Locality: "l", Region: "r", PostalCode: "p", Country: "c",
			Type: "work", Primary: true}, {}},
		Groups: []GroupRef{{Value: "g", Ref: "r", Display: "d", Type: "direct"}},
		Enterprise: &EnterpriseUser{EmployeeNumber: "1", CostCenter: "c", Organization: "o", Division: "d", Department: "dp",
			Manager: &Manager{Value: "m", Ref: "r", DisplayName: "md"}},
	}
}

func TestUserToMapMatchesJSON(t *testing.T) {
	for _, u := range []*User{fullUser(), {}, {Name: &Name{}, Enterprise: &EnterpriseUser{Manager: &Manager{}}, Emails: []MultiValue{}}} {
		got, ok := userToMap(u)
		want := Resource{}
		toMap(u, &want)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("userToMap(%+v) = %v, %v; JSON gives %v", u, got, ok, want)
		}
	}
	if _, ok := userToMap(&User{UserName: "a\xffb"}); ok {
		t.Error("invalid UTF-8 must take the JSON path")
	}
}

func TestUserFromMapMatchesJSON(t *testing.T) {
	full := Resource{}
	toMap(fullUser(), &full)
	full["schemas"] = []any{SchemaUser}
	full["meta"] = map[string]any{"version": "x"}
	full["password"] = "secret"
	bodies := []string{
		`{"userName":"a","name":null,"emails":null,"active":null,"roles":[]}`,
		`{"userName":"a","emails":[],"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":null}}`,
		`{"userName":"a","unknownThing":{"x":1},"name":{"givenName":"g","other":1}}`,
	}
	inputs := []Resource{full}
	for _, b := range bodies {
		var r Resource
		if err := json.Unmarshal([]byte(b), &r); err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, r)
	}
	for _, r := range inputs {
		var got, want User
		if !userFromMap(r, &got) {
			t.Errorf("fast path refused %v", r)
			continue
		}
		if err := fromMap(r, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("userFromMap(%v) = %+v; JSON gives %+v", r, got, want)
		}
	}
	// what encoding/json would treat specially is left to it
	for _, b := range []string{
		`{"USERNAME":"a"}`, `{"userName":1}`, `{"active":"true"}`, `{"emails":[null]}`, `{"emails":["a"]}`,
		`{"emails":{"value":"a"}}`, `{"name":"x"}`, `{"name":{"GivenName":"g"}}`,
	} {
		var r Resource
		if err := json.Unmarshal([]byte(b), &r); err != nil {
			t.Fatal(err)
		}
		var u User
		if userFromMap(r, &u) {
			t.Errorf("fast path accepted %s", b)
		}
	}
}
