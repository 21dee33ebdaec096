package rest

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// tinyAppMapping is the mapping of the integration tests' tiny application: no room
// for SCIM's marks, no block state, deactivate and reactivate actions.
func tinyAppMapping(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../../integration/testdata/tinyapp.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNewFieldsNameTheField: every new mapping field that is wrong fails the load,
// and the error names it (check-mapping prints that error).
func TestNewFieldsNameTheField(t *testing.T) {
	kratos, _ := PresetJSON("kratos")
	tiny := tinyAppMapping(t)
	token := `[{"name": "token", "method": "GET", "path": "/api.php", "value": "query.tokens.csrftoken"}]`
	for _, tc := range []struct {
		name, want string
		base       []byte
		edit       func(m *Mapping)
	}{
		{"a mark missing", "users.read.deleted.path", kratos, func(m *Mapping) { m.Users.Read.Deleted = Flag{} }},
		{"externalId missing", "users.read.externalId", kratos, func(m *Mapping) { m.Users.Read.ExternalID = "" }},
		{"one mark kept", "users.read.managed.path", tiny, func(m *Mapping) { m.Users.Read.ExternalID = "ext" }},
		{"no active with marks", "users.read.active.path", kratos, func(m *Mapping) { m.Users.Read.Active = Flag{} }},
		{"equals without a path", "users.read.active.path", tiny, func(m *Mapping) { m.Users.Read.Active = Flag{Equals: []string{"on"}} }},
		{"tenant without marks", "users.read.tenant", tiny, func(m *Mapping) { m.Users.Read.Tenant = Text{Path: "tenant"} }},
		{"externalId lookup without marks", "users.find_external_id", tiny, func(m *Mapping) {
			m.Users.FindExternalID = &Call{Method: "GET", Path: "/users"}
		}},
		{"action body template", "users.deactivate.body.roles", tiny, func(m *Mapping) {
			m.Users.Deactivate.Body = json.RawMessage(`{"roles": "{{.User.Roles}}"}`)
		}},
		{"before without a name", "users.update.before[0].name", tiny, func(m *Mapping) {
			m.Users.Update.Before = []Fetch{{Method: "GET", Path: "/t", Value: "v"}}
		}},
		{"before name not a name", "users.update.before[0].name: must be", tiny, func(m *Mapping) {
			m.Users.Update.Before = []Fetch{{Name: "csrf-token", Method: "GET", Path: "/t", Value: "v"}}
		}},
		{"before without a value", "users.update.before[0].value", tiny, func(m *Mapping) {
			m.Users.Update.Before = []Fetch{{Name: "token", Method: "GET", Path: "/t"}}
		}},
		{"before twice", "users.create.before[1].name", tiny, func(m *Mapping) {
			m.Users.Create.Before = []Fetch{{Name: "token", Method: "GET", Path: "/t", Value: "v"}, {Name: "token", Method: "GET", Path: "/u", Value: "v"}}
		}},
		{"before bad method", "users.update.before[0].method", tiny, func(m *Mapping) {
			m.Users.Update.Before = []Fetch{{Name: "token", Method: "FETCH", Path: "/t", Value: "v"}}
		}},
		{"before reads a later value", "users.update.before[0].path", tiny, func(m *Mapping) {
			m.Users.Update.Before = []Fetch{{Name: "a", Method: "GET", Path: "/t/{{.Before.b}}", Value: "v"}, {Name: "b", Method: "GET", Path: "/t", Value: "v"}}
		}},
		{"a value nothing fetches", "users.update.body.token", tiny, func(m *Mapping) {
			m.Users.Update.Body = json.RawMessage(`{"login": "{{.User.UserName}}", "token": "{{.Before.token}}"}`)
		}},
		{"before on a read", "users.get.before", tiny, func(m *Mapping) { json.Unmarshal([]byte(token), &m.Users.Get.Before) }},
		{"before on the list", "users.list.before", tiny, func(m *Mapping) { json.Unmarshal([]byte(token), &m.Users.List.Before) }},
		{"then on delete", "users.delete.then", tiny, func(m *Mapping) { m.Users.Delete.Then = []Call{{Method: "DELETE", Path: "/p"}} }},
		{"then of a then", "users.update.then[0].then", tiny, func(m *Mapping) {
			m.Users.Update.Then = []Call{{Method: "PUT", Path: "/p", Then: []Call{{Method: "PUT", Path: "/q"}}}}
		}},
		{"as on a write's then", "users.update.then[0].as", tiny, func(m *Mapping) { m.Users.Update.Then = []Call{{Method: "PUT", Path: "/p", As: "p"}} }},
		{"result on a write's then", "users.create.then[0].result", tiny, func(m *Mapping) {
			m.Users.Create.Then = []Call{{Method: "PUT", Path: "/p", Result: "x"}}
		}},
		{"reread on a then", "users.update.then[0].reread", tiny, func(m *Mapping) { m.Users.Update.Then = []Call{{Method: "PUT", Path: "/p", Reread: true}} }},
		{"then template", "users.update.then[0].body.bio", tiny, func(m *Mapping) {
			m.Users.Update.Then = []Call{{Method: "PUT", Path: "/p", Body: json.RawMessage(`{"bio": "{{.User.Bio}}"}`)}}
		}},
		{"a read's then without as", "users.get.then[0].as", tiny, func(m *Mapping) { m.Users.Get.Then = []Call{{Method: "GET", Path: "/p"}} }},
		{"a read's then writes", "users.get.then[0].method", tiny, func(m *Mapping) { m.Users.Get.Then = []Call{{Method: "POST", Path: "/p", As: "p"}} }},
		{"as on a call", "users.create.as", tiny, func(m *Mapping) { m.Users.Create.As = "x" }},
		{"form without a body", "users.delete.form", tiny, func(m *Mapping) { m.Users.Delete.Form = true }},
		{"form of a list", "users.update.form", tiny, func(m *Mapping) {
			m.Users.Update.Form, m.Users.Update.Body = true, json.RawMessage(`["{{.User.UserName}}"]`)
		}},
		{"form nests", "users.update.body.profile", tiny, func(m *Mapping) {
			m.Users.Update.Form, m.Users.Update.Body = true, json.RawMessage(`{"login": "{{.User.UserName}}", "profile": {"bio": "x"}}`)
		}},
		{"groups take no sequence", "groups.create.before", []byte(fakeMappingJSON), func(m *Mapping) {
			json.Unmarshal([]byte(token), &m.Groups.Create.Before)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := parseMapping(tc.base)
			if err != nil {
				t.Fatal(err)
			}
			tc.edit(m)
			b, _ := json.Marshal(m)
			if _, err := Check(b, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("check = %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

// TestModesInTheSummary: check-mapping says where a mapping keeps SCIM's marks and
// what deprovisioning does, in an operator's words, with what each costs.
func TestModesInTheSummary(t *testing.T) {
	kratos, _ := PresetJSON("kratos")
	tiny := tinyAppMapping(t)
	m, _ := parseMapping(tiny)
	m.Users.Deactivate, m.Users.Reactivate = nil, nil
	hideOnly, _ := json.Marshal(m)
	m, _ = parseMapping(tiny)
	m.Users.Read.Active = Flag{Path: "enabled"}
	withBlock, _ := json.Marshal(m)
	for _, tc := range []struct {
		name    string
		mapping []byte
		want    []string
	}{
		{"marks in the application", kratos, []string{"SCIM's marks: kept in Kratos: externalId at metadata_admin.scim.external_id",
			"deprovisioning: blocks the account (active read at state"}},
		{"marks in the store, actions", tiny, []string{"SCIM's marks: in the link store only", "Back the store up (caddy scim links export)",
			"never gives an account to someone else", "tenants: only the default tenant (nothing in the application says whose an account is)",
			"deprovisioning: TinyApp cannot block an account", "runs users.deactivate", "never on a write that keeps the state",
			"users.find_external_id: not mapped: the link store finds an externalId", "users.deactivate: PUT /users/{{.ID}}"}},
		{"no action", hideOnly, []string{"only hides the account from SCIM; it can still sign in to TinyApp", "Map users.deactivate and users.reactivate"}},
		{"marks in the store, a block state", withBlock, []string{"SCIM's marks: in the link store only", "deprovisioning: blocks the account (active read at enabled) through users.deactivate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sum, err := Check(tc.mapping, nil)
			if err != nil {
				t.Fatal(err)
			}
			all := strings.Join(sum, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("the summary lacks %q:\n%s", w, all)
				}
			}
		})
	}
}

// TestMarksInStoreRefusesATenant: a mapping without room for SCIM's marks serves
// only the default tenant, and says why.
func TestMarksInStoreRefusesATenant(t *testing.T) {
	_, base := newFakeApp(t)
	m, err := parseMapping(tinyAppMapping(t))
	if err != nil {
		t.Fatal(err)
	}
	a := fakeAdapter(t, base, m, "")
	if in := a.Info(); !in.MarksInStore || !in.NoBlock {
		t.Fatalf("Info %+v, want MarksInStore and NoBlock", in)
	}
	if err := a.SetTenant("okta"); err == nil || !strings.Contains(err.Error(), "link store") || !strings.Contains(err.Error(), "adopt") {
		t.Fatalf("SetTenant: %v, want a refusal saying why", err)
	}
	if err := a.SetTenant(""); err != nil {
		t.Fatal(err)
	}
}
