package scim

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The oracle of the User conversions is encoding/json over the struct's json tags:
// what UserToResource and UserFromResource did before userCodec, through JSON.

// userResourceViaJSON is UserToResource through a JSON round trip of u.
func userResourceViaJSON(u *User, opt RenderOptions) Resource {
	r := Resource{}
	toMap(u, &r)
	schemas := []any{SchemaUser}
	if u.Enterprise != nil && len(r[SchemaEnterpriseUser].(map[string]any)) > 0 {
		schemas = append(schemas, SchemaEnterpriseUser)
	} else {
		delete(r, SchemaEnterpriseUser)
	}
	if u.Name != nil && len(r["name"].(map[string]any)) == 0 {
		delete(r, "name")
	}
	r["schemas"] = schemas
	r["meta"] = metaMap("User", opt.UserLocation(u.ID), u.Meta)
	return r
}

// userFromResourceViaJSON is UserFromResource through json.Marshal(r) and
// json.Unmarshal into a User.
func userFromResourceViaJSON(r Resource) (*User, error) {
	var u User
	if err := fromMap(r, &u); err != nil {
		return nil, err
	}
	if pw, ok := r["password"].(string); ok {
		u.Password = pw
	}
	return &u, nil
}

// checkUserFromResource compares UserFromResource with the JSON oracle, errors
// included.
func checkUserFromResource(t *testing.T, r Resource) {
	t.Helper()
	want, wantErr := userFromResourceViaJSON(r)
	got, err := UserFromResource(r)
	if !reflect.DeepEqual(err, wantErr) {
		t.Fatalf("UserFromResource(%v): error %v; JSON gives %v", r, err, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("UserFromResource(%v) =\n %+v\nJSON gives\n %+v", r, got, want)
	}
}

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

func TestUserToResourceMatchesJSON(t *testing.T) {
	for _, u := range []*User{fullUser(), {}, {Name: &Name{}, Enterprise: &EnterpriseUser{Manager: &Manager{}}, Emails: []MultiValue{}},
		{Name: &Name{}, Enterprise: &EnterpriseUser{}}, {UserName: "a\xffb", Emails: []MultiValue{{Value: "\xe2\x82"}}},
		{Name: &Name{GivenName: "\xed\xa0\x80"}, Enterprise: &EnterpriseUser{Manager: &Manager{Value: "\xc3"}}}} {
		got := UserToResource(u, benchOpt)
		want := userResourceViaJSON(u, benchOpt)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("UserToResource(%+v) = %v; JSON gives %v", u, got, want)
		}
	}
}

func TestUserFromResourceMatchesJSON(t *testing.T) {
	full := Resource{}
	toMap(fullUser(), &full)
	full["schemas"] = []any{SchemaUser}
	full["meta"] = map[string]any{"version": "x"}
	full["password"] = "secret"
	inputs := []Resource{full, nil, {},
		// invalid UTF-8, which JSON replaces byte by byte
		{"userName": "a\xffb\xe2\x82c", "emails": []any{map[string]any{"value": "\xed\xa0\x80"}}, "user\xffName": "x"},
		// values outside the decoded-JSON model of a Resource
		{"emails": []map[string]any{{"value": "a", "primary": true}}, "name": map[string]string{"givenName": "g"},
			"active": 1, "groups": []any{GroupRef{Value: "g"}}},
		{"userName": json.Number("12")},
		{"title": math.NaN(), "unknown": math.Inf(1)},
	}
	bodies := []string{
		`{"userName":"a","name":null,"emails":null,"active":null,"roles":[]}`,
		`{"userName":"a","emails":[],"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":null}}`,
		`{"userName":"a","unknownThing":{"x":1},"name":{"givenName":"g","other":1}}`,
		// case-insensitive keys, the exact spelling decided by the sorted order
		`{"USERNAME":"a"}`, `{"USERNAME":"a","userName":"b"}`, `{"userName":"b","username":"c"}`, `{"name":{"GivenName":"g"}}`,
		`{"ſchemas":1,"uſerName":"long s","K":1,"idK":"kelvin"}`,
		`{"Name":{"givenName":"g","familyName":"f"},"name":{"familyName":"F"}}`,
		`{"Name":{"givenName":"g"},"name":null,"nAme":{"familyName":"f"}}`,
		`{"Emails":[{"value":"a","type":"t"},{"value":"b"}],"emails":[{"value":"c"}],"eMails":[null,{"display":"d"},{"value":"e"}]}`,
		`{"Roles":[{"value":"a"}],"roles":[]}`, `{"Roles":[{"value":"a"}],"roles":null}`,
		`{"emails":[null]}`, `{"emails":[null,{"value":"a"},null]}`,
		`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:user":{"Manager":{"VALUE":"m"}}}`,
		// wrong types: the first in sorted order is reported
		`{"userName":1}`, `{"active":"true"}`, `{"emails":["a"]}`, `{"emails":{"value":"a"}}`, `{"name":"x"}`,
		`{"name":[]}`, `{"emails":[{"value":1}]}`, `{"emails":[{"primary":"true"}]}`, `{"addresses":[{"primary":1}]}`,
		`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":"271"}}`,
		`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":false}}}`,
		`{"userName":1,"active":"x","emails":3}`, `{"title":true,"displayName":[1]}`, `{"id":{},"ID":"x"}`,
	}
	for _, b := range bodies {
		var r Resource
		if err := json.Unmarshal([]byte(b), &r); err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, r)
	}
	for _, r := range inputs {
		checkUserFromResource(t, r)
	}
	// the wording of a wrong type
	_, err := UserFromResource(Resource{"emails": []any{map[string]any{"value": 1.0}}})
	if se, ok := err.(*Error); !ok || se.Status != 400 || se.ScimType != ErrInvalidValue ||
		se.Detail != "attribute emails.value: wrong type, expected string, got number" {
		t.Errorf("error %#v", err)
	}
}

// mutateResource changes a rendered user as a client or a PATCH might, and beyond:
// keys spelt in other cases (some twice), nulls, values of other types, invalid
// UTF-8, odd array elements. pool supplies the strings; about one value in rate
// is changed.
func mutateResource(rng *rand.Rand, v any, pool []string, rate int) any {
	s := func() string { return pool[rng.IntN(len(pool))] }
	scalar := func() any {
		switch rng.IntN(6) {
		case 0:
			return nil
		case 1:
			return s()
		case 2:
			return rng.IntN(2) == 0
		case 3:
			return float64(rng.IntN(100)) / 4
		case 4:
			return []any{}
		}
		return map[string]any{}
	}
	respell := func(k string) string {
		switch rng.IntN(4) {
		case 0:
			return strings.ToUpper(k)
		case 1:
			return strings.ToLower(k)
		case 2:
			return strings.ToUpper(k[:1]) + k[1:]
		}
		return strings.NewReplacer("s", "ſ", "k", "\u212a", "K", "\u212a").Replace(k)
	}
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range x {
				if !yield(k) {
					return
				}
			}
		}) {
			e := x[k]
			switch rng.IntN(2 * rate) {
			case 0:
				out[respell(k)] = mutateResource(rng, e, pool, rate)
			case 1:
				out[k] = mutateResource(rng, e, pool, rate)
				out[respell(k)] = mutateResource(rng, e, pool, rate)
			case 2:
				out[k] = scalar()
			case 3:
				out[k] = nil
			case 4:
				out[k+s()] = e
			default:
				out[k] = mutateResource(rng, e, pool, rate)
			}
		}
		if rng.IntN(rate) == 0 {
			out[s()] = scalar()
		}
		return out
	case []any:
		out := make([]any, 0, len(x)+1)
		for _, e := range x {
			switch rng.IntN(2 * rate) {
			case 0:
				out = append(out, nil)
			case 1:
				out = append(out, scalar())
			}
			out = append(out, mutateResource(rng, e, pool, rate))
		}
		return out
	case string:
		if rng.IntN(4) == 0 {
			return s()
		}
	}
	if rng.IntN(2*rate) == 0 {
		return scalar()
	}
	return v
}

// FuzzUserFromResource checks UserFromResource against the JSON oracle on mutated
// renderings of fuzzed users.
func FuzzUserFromResource(f *testing.F) {
	addFuzzUserSeeds(f)
	f.Add("\xff", "\xc3", "\xe2\x82", uint64(7))
	f.Add("value", "VALUE", "ſ", uint64(1<<40+3))
	f.Fuzz(func(t *testing.T, a, b, c string, seed uint64) {
		u, opt := fuzzUser(a, b, c, seed)
		rng := rand.New(rand.NewPCG(seed>>7, seed))
		rate := []int{3, 12, 50, 300}[rng.IntN(4)]
		r := mutateResource(rng, userResourceViaJSON(u, opt), []string{"", a, b, c}, rate).(map[string]any)
		checkUserFromResource(t, r)
	})
}

// TestUserCodecMatchesTags checks the description of the User against the json tags
// of the structs: the same names, in struct order, of the kind the field's type is,
// omitempty where the tag says so, nested fields with the codec of their type.
func TestUserCodecMatchesTags(t *testing.T) {
	checkCodecTags(t, userCodec)
	checkCodecTags(t, nameCodec)
	checkCodecTags(t, multiValueCodec)
	checkCodecTags(t, addressCodec)
	checkCodecTags(t, groupRefCodec)
	checkCodecTags(t, enterpriseCodec)
	checkCodecTags(t, managerCodec)
}

func checkCodecTags[T any](t *testing.T, c *objectCodec[T]) {
	t.Helper()
	typ := reflect.TypeFor[T]()
	i := 0
	for j := range typ.NumField() {
		sf := typ.Field(j)
		name, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if i >= len(c.fields) || c.fields[i].name != name {
			t.Errorf("%s.%s: json name %q is not described at position %d", typ, sf.Name, name, i)
			return
		}
		f := &c.fields[i]
		i++
		kind := map[reflect.Kind]fieldKind{reflect.String: kindString, reflect.Bool: kindBool,
			reflect.Slice: kindNested, reflect.Pointer: kindNested}[sf.Type.Kind()]
		if f.kind != kind {
			t.Errorf("%s.%s: described as kind %d, is %s", typ, sf.Name, f.kind, sf.Type)
		}
		if f.omitEmpty != (opts == "omitempty") {
			t.Errorf("%s.%s: omitempty %v, tag %q", typ, sf.Name, f.omitEmpty, sf.Tag)
		}
		if kind == kindNested { // a number is a wrong type that names the codec's type
			var zero T
			err := f.decode(&zero, 1.0, true)
			if err == nil || err.want != sf.Type.String() && err.want != sf.Type.Elem().String() {
				t.Errorf("%s.%s: codec of %v, field of type %s", typ, sf.Name, err, sf.Type)
			}
		}
	}
	if i != len(c.fields) {
		t.Errorf("%s: %d attributes described, %d json fields", typ, len(c.fields), i)
	}
}
