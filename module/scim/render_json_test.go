package scim

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"
)

// checkUserJSON compares UserToResource with its JSON oracle, and AppendUserJSON
// with the map path it replaces: the same value once decoded and, since keys are
// written in sorted order, the same bytes unless a string of meta is invalid UTF-8
// (the map path writes U+FFFD as \ufffd there, and as the character elsewhere).
func checkUserJSON(t *testing.T, u *User, opt RenderOptions) {
	t.Helper()
	res := UserToResource(u, opt)
	if oracle := userResourceViaJSON(u, opt); !reflect.DeepEqual(res, oracle) {
		t.Fatalf("UserToResource(%+v) = %v; JSON gives %v", u, res, oracle)
	}
	want, err := json.Marshal(Project(res, UserResourceType, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	got := AppendUserJSON(nil, u, opt)
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("invalid JSON %q: %v", got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("AppendUserJSON(%+v)\n got %s\nwant %s", u, got, want)
	}
	valid := utf8.ValidString(opt.BaseURL) && utf8.ValidString(u.ID) && utf8.ValidString(u.Meta.Version)
	if valid && !bytes.Equal(got, want) {
		t.Fatalf("same value, other bytes:\n got %s\nwant %s", got, want)
	}
}

func TestAppendUserJSON(t *testing.T) {
	full := fullUser()
	full.Meta = Meta{Created: time.Date(2025, 3, 1, 10, 0, 0, 0, time.FixedZone("x", 3600)),
		LastModified: time.Date(2025, 4, 1, 10, 0, 0, 0, time.UTC), Version: "v1"}
	weird := `a"b\c<d>&e` + "\x00\x01\b\f\n\r\t\x1f\x7f é 😀 \u2028\u2029 \xff\xc3 \ufffd"
	users := map[string]*User{
		"empty":                  {},
		"full":                   full,
		"entra":                  entraBenchUser(),
		"nil name and extension": {ID: "1", UserName: "u", Active: true},
		"empty name and extension": {ID: "1", Name: &Name{}, Enterprise: &EnterpriseUser{},
			Emails: []MultiValue{}, Meta: Meta{Version: "x"}},
		"manager only":    {Enterprise: &EnterpriseUser{Manager: &Manager{}}},
		"one name part":   {Name: &Name{MiddleName: "m"}, Enterprise: &EnterpriseUser{Organization: "o"}},
		"escaping":        {ID: weird, UserName: weird, Name: &Name{GivenName: weird}, Meta: Meta{Version: weird}, Emails: []MultiValue{{Value: weird}}},
		"invalid at edge": {ID: "\xa9x", Meta: Meta{Version: "\xc3"}},
		"created only":    {Meta: Meta{Created: time.Unix(1, 0)}},
		"many values": {
			Emails:       []MultiValue{{Value: "a@x", Type: "work", Primary: true}, {Value: "b@x", Type: "home"}, {Display: "only display"}},
			PhoneNumbers: []MultiValue{{Value: "+41"}, {Value: "+1", Primary: true}},
			Addresses:    []Address{{Country: "CH", Primary: true}, {StreetAddress: "s\nt", Type: "home"}, {}},
			Groups:       []GroupRef{{Value: "g1", Ref: "https://x/Groups/g1", Type: "direct"}, {Value: "g2", Display: "G 2"}},
			Roles:        []MultiValue{{Value: "admin"}, {}}, X509Certificates: []MultiValue{{Value: "MIIB"}},
			Entitlements: []MultiValue{{Type: "t"}}, IMs: []MultiValue{{Value: "im"}}, Photos: []MultiValue{{Value: "https://p"}},
		},
	}
	for name, u := range users {
		t.Run(name, func(t *testing.T) {
			for _, opt := range []RenderOptions{benchOpt, {}, {BaseURL: "https://h/<&>\xc3"}} {
				checkUserJSON(t, u, opt)
			}
		})
	}
	// appends to what dst holds
	if got := AppendUserJSON([]byte("x"), &User{}, RenderOptions{}); got[0] != 'x' || got[1] != '{' {
		t.Errorf("dst not kept: %q", got)
	}
}

// fuzzUser builds a user whose every field is "" or one of the fuzzed strings, with
// lists of 0 to 2 values, chosen by a generator seeded from seed.
func fuzzUser(a, b, c string, seed uint64) (*User, RenderOptions) {
	rng := rand.New(rand.NewPCG(seed, seed>>32))
	pool := [...]string{"", a, b, c}
	s := func() string { return pool[rng.IntN(len(pool))] }
	yes := func() bool { return rng.IntN(2) == 0 }
	mvs := func() []MultiValue {
		var out []MultiValue
		for range rng.IntN(3) {
			out = append(out, MultiValue{Value: s(), Display: s(), Type: s(), Primary: yes()})
		}
		return out
	}
	u := &User{ID: s(), ExternalID: s(), UserName: s(), DisplayName: s(), NickName: s(), ProfileURL: s(),
		Title: s(), UserType: s(), PreferredLanguage: s(), Locale: s(), Timezone: s(), Active: yes(),
		Emails: mvs(), PhoneNumbers: mvs(), IMs: mvs(), Photos: mvs(), Entitlements: mvs(), Roles: mvs(),
		X509Certificates: mvs(), Password: s()}
	if yes() {
		u.Name = &Name{Formatted: s(), FamilyName: s(), GivenName: s(), MiddleName: s(), HonorificPrefix: s(), HonorificSuffix: s()}
	}
	for range rng.IntN(3) {
		u.Addresses = append(u.Addresses, Address{Formatted: s(), StreetAddress: s(), Locality: s(), Region: s(),
			PostalCode: s(), Country: s(), Type: s(), Primary: yes()})
	}
	for range rng.IntN(3) {
		u.Groups = append(u.Groups, GroupRef{Value: s(), Ref: s(), Display: s(), Type: s()})
	}
	if yes() {
		u.Enterprise = &EnterpriseUser{EmployeeNumber: s(), CostCenter: s(), Organization: s(), Division: s(), Department: s()}
		if yes() {
			u.Enterprise.Manager = &Manager{Value: s(), Ref: s(), DisplayName: s()}
		}
	}
	if yes() {
		u.Meta.Created = time.Unix(int64(rng.Uint32()), 0)
		if yes() {
			u.Meta.LastModified = u.Meta.Created.Add(time.Duration(rng.IntN(1e6)) * time.Second)
		}
	}
	u.Meta.Version = s()
	return u, RenderOptions{BaseURL: s()}
}

// addFuzzUserSeeds seeds a fuzz target that takes the arguments of fuzzUser.
func addFuzzUserSeeds(f *testing.F) {
	f.Add("a", "", "", uint64(0))
	f.Add("Test_User_ab64@testuser.com", "givenName familyName", "701984", uint64(1))
	f.Add(`"<&>\`, "\x00\n\u2028", "é😀", uint64(42))
	f.Add("\xff", "\xc3", "\xa9", uint64(7))
	f.Add("https://x/scim/v2", "W/\"1\"", "urn:ietf:params:scim:schemas:core:2.0:User", uint64(1<<40+3))
}

func FuzzAppendUserJSON(f *testing.F) {
	addFuzzUserSeeds(f)
	f.Fuzz(func(t *testing.T, a, b, c string, seed uint64) {
		u, opt := fuzzUser(a, b, c, seed)
		checkUserJSON(t, u, opt)
	})
}

func TestListResponseAppendJSON(t *testing.T) {
	users := []*User{fullUser(), entraBenchUser(), {ID: "3", UserName: "<x>"}}
	rs := make([]Resource, len(users))
	for i, u := range users {
		rs[i] = Project(UserToResource(u, benchOpt), UserResourceType, nil, nil)
	}
	for _, q := range []Query{{StartIndex: 1, Count: -1}, {StartIndex: 2, Count: 1}, {StartIndex: 9, Count: -1},
		{StartIndex: 1, Count: 0}} {
		lr := Paginate(rs, q, 50)
		from, _ := PageBounds(len(rs), q, 50)
		got, err := lr.AppendJSON(nil, func(dst []byte, i int) ([]byte, error) {
			return AppendUserJSON(dst, users[from+i], benchOpt), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(lr)
		if !bytes.Equal(got, want) {
			t.Errorf("%+v:\n got %s\nwant %s", q, got, want)
		}
	}
	if _, err := Paginate(nil, Query{StartIndex: 1}, 5).AppendJSON(nil, nil); err != nil {
		t.Error(err)
	}
}
