package rest

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/caddy-scim/caddy-scim/adapters"
)

// TestPresetsCompile: every shipped mapping loads.
func TestPresetsCompile(t *testing.T) {
	if len(Presets()) == 0 {
		t.Fatal("no presets")
	}
	for _, name := range Presets() {
		b, err := PresetJSON(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Check(b, nil); err != nil {
			t.Errorf("preset %s: %v", name, err)
		}
	}
	m, _ := Preset("redmine")
	if _, err := compile(m, nil); err == nil || !strings.Contains(err.Error(), "external_id_field") {
		t.Errorf("redmine without its params: %v, want the missing param named", err)
	}
	if _, err := compile(m, map[string]string{"external_id_field": "1", "state_field": "2", "group_external_id_field": "3", "group_state_field": "4", "typo": "5"}); err == nil || !strings.Contains(err.Error(), "typo") {
		t.Errorf("an unknown param: %v, want it named", err)
	}
	if _, err := Preset("nosuch"); err == nil || !strings.Contains(err.Error(), "kratos") {
		t.Errorf("an unknown preset: %v, want the list of presets", err)
	}
}

// TestBadMappingNamesTheField: a mapping that cannot work fails to load, and the
// error names the field.
func TestBadMappingNamesTheField(t *testing.T) {
	base, err := Preset("kratos")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, want string
		edit       func(m *Mapping)
	}{
		{"no name", "mapping name", func(m *Mapping) { m.Name = "" }},
		{"bad auth", "mapping auth", func(m *Mapping) { m.Auth = "token" }},
		{"bad ids", "mapping ids", func(m *Mapping) { m.IDs = "int" }},
		{"no userName", "users.attributes", func(m *Mapping) { m.Users.Attributes = []string{"emails"} }},
		{"no id path", "users.read.id", func(m *Mapping) { m.Users.Read.ID = "" }},
		{"no managed path", "users.read.managed.path", func(m *Mapping) { m.Users.Read.Managed = Flag{} }},
		{"bad method", "users.create.method", func(m *Mapping) { m.Users.Create.Method = "FETCH" }},
		{"relative path", "users.get.path", func(m *Mapping) { m.Users.Get.Path = "admin/identities" }},
		{"template syntax", "users.get.path", func(m *Mapping) { m.Users.Get.Path = "/admin/identities/{{.ID" }},
		{"unknown template field", "users.update.body.traits.email", func(m *Mapping) {
			m.Users.Update.Body = json.RawMessage(`{"traits":{"email":"{{.User.Mail}}"}}`)
		}},
		{"unknown function", "users.create.body.state", func(m *Mapping) {
			m.Users.Create.Body = json.RawMessage(`{"state":"{{status .User.Active}}"}`)
		}},
		{"body on a get", "users.get.body", func(m *Mapping) { m.Users.Get.Body = json.RawMessage(`{}`) }},
		{"no create body", "users.create.body", func(m *Mapping) { m.Users.Create.Body = nil }},
		{"bad paging", "users.list.paging", func(m *Mapping) { m.Users.List.Paging = "cursor" }},
		{"offset paging without params", "users.list", func(m *Mapping) { m.Users.List.Paging = "offset" }},
		{"taken not 4xx", "users.taken[0].status", func(m *Mapping) { m.Users.Taken = []Rule{{Status: 200}} }},
		{"error rule not an error", "errors[0].status", func(m *Mapping) { m.Errors = []ErrorRule{{Rule: Rule{Status: 302}, Means: "refused"}} }},
		{"error rule meaning nothing", "errors[1].means", func(m *Mapping) {
			m.Errors = []ErrorRule{{Rule: Rule{Status: 403}, Means: "refused"}, {Rule: Rule{Status: 403}, Means: "forbidden"}}
		}},
		{"error rule field on refused", "errors[0].field", func(m *Mapping) {
			m.Errors = []ErrorRule{{Rule: Rule{Status: 403}, Means: "refused", Field: "emails"}}
		}},
		{"error rule unknown field", "errors[0].field", func(m *Mapping) {
			m.Errors = []ErrorRule{{Rule: Rule{Status: 400}, Means: "invalid", Field: "email"}}
		}},
		{"empty_is_not_found on a list", "users.list.empty_is_not_found", func(m *Mapping) { m.Users.List.EmptyIsNotFound = true }},
		{"an attribute never read back", "users.read.displayName", func(m *Mapping) {
			m.Users.Attributes = append(m.Users.Attributes, "displayName")
			m.Users.Read.DisplayName = ""
		}},
		{"one_name without the one string", "users.read.formatted", func(m *Mapping) {
			m.Users.OneName, m.Users.Read.Formatted, m.Users.Read.DisplayName = true, "", ""
		}},
		{"one_name with name parts", "users.attributes", func(m *Mapping) {
			m.Users.OneName, m.Users.Read.Formatted, m.Users.Read.GivenName, m.Users.Read.FamilyName = true, "name", "", ""
			m.Users.Attributes = []string{"userName", "name.givenName"}
		}},
		{"one name string without one_name", "users.one_name", func(m *Mapping) {
			m.Users.Read.Formatted, m.Users.Read.DisplayName = "name", "name"
		}},
		{"one_name reading parts too", "users.read.givenName", func(m *Mapping) {
			m.Users.OneName, m.Users.Read.Formatted, m.Users.Read.GivenName = true, "name", "first"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := json.Marshal(base)
			m, err := parseMapping(b)
			if err != nil {
				t.Fatal(err)
			}
			tc.edit(m)
			_, err = compile(m, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("compile = %v, want an error naming %q", err, tc.want)
			}
		})
	}
	if _, err := parseMapping([]byte(`{"name":"x","auht":"none"}`)); err == nil || !strings.Contains(err.Error(), "auht") {
		t.Errorf("a misspelt field: %v", err)
	}
}

// TestBodyTemplates: strings are strings, a {{json}} action is a typed value, and
// literals pass through.
func TestBodyTemplates(t *testing.T) {
	r, err := compileCall("users.update", Call{Method: "PUT", Path: "/u/{{.ID}}",
		Query: map[string]string{"q": "{{.Value}}"},
		Body:  json.RawMessage(`{"n":"{{.User.UserName}}","m":"{{json .Managed}}","k":3,"c":"x {{json .Managed}}","l":[{"e":"{{lower .User.Email}}"}]}`)}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	req, err := r.build(Data{ID: "a/b", Value: "x y", Managed: true, User: View{UserName: "123", Email: "A@B.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if req.Path != "/u/a%2Fb" || req.Query.Get("q") != "x y" {
		t.Errorf("path %q query %v", req.Path, req.Query)
	}
	b, _ := json.Marshal(req.Body)
	if got, want := string(b), `{"c":"x true","k":3,"l":[{"e":"a@b.example"}],"m":true,"n":"123"}`; got != want {
		t.Errorf("body %s, want %s", got, want)
	}
}

// TestREADMEExample: the worked examples of the README's "Map your own application"
// are mappings that load, in the mode each says: one with room for SCIM's state,
// and one without, whose summary warns that deprovisioning only hides an account.
func TestREADMEExample(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, ex := range []struct{ intro, want string }{
		{"An application with room for SCIM's state", "SCIM's marks: kept in People"},
		{"An application with no room", "only hides the account from SCIM"},
	} {
		i := strings.Index(s, ex.intro)
		if i < 0 {
			t.Fatalf("the README has no worked example %q", ex.intro)
		}
		j := strings.Index(s[i:], "```json\n")
		k := strings.Index(s[i+j+8:], "```")
		if j < 0 || k < 0 {
			t.Fatalf("the worked example %q has no json block", ex.intro)
		}
		sum, err := Check([]byte(s[i+j+8:i+j+8+k]), nil)
		if err != nil {
			t.Fatalf("the README's worked example %q: %v", ex.intro, err)
		}
		if !strings.Contains(strings.Join(sum, "\n"), ex.want) {
			t.Errorf("the worked example %q: the summary lacks %q:\n%s", ex.intro, ex.want, strings.Join(sum, "\n"))
		}
	}
}

// TestPresetsSayWhereTheRecordIs: check-mapping tells where each preset keeps the
// userName of record and the tenant.
func TestPresetsSayWhereTheRecordIs(t *testing.T) {
	for name, want := range map[string][]string{
		"kratos":  {"userName of record: kept in metadata_admin.scim.user_name", "tenants: kept in metadata_admin.scim.tenant"},
		"redmine": {"userName of record: fixed by the application", `tenants: users' kept in custom_fields.#(name=="scim_state").value (after "@"), groups' in`},
	} {
		b, _ := PresetJSON(name)
		s, err := Check(b, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(strings.Join(s, "\n"), w) {
				t.Errorf("preset %s: the summary lacks %q:\n%s", name, w, strings.Join(s, "\n"))
			}
		}
	}
}

// TestRedmineStateField: the redmine preset keeps SCIM's state and the tenant in one
// custom field; every state a write sends reads back as written, for the default
// tenant and a named one, and a DELETE keeping a block set by hand reads as HandBlock.
func TestRedmineStateField(t *testing.T) {
	m, _ := Preset("redmine")
	c, err := compile(m, map[string]string{"external_id_field": "1", "state_field": "2", "group_external_id_field": "3", "group_state_field": "4"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"", "acme"} {
		a := &Adapter{m: c, tenant: tenant}
		for _, st := range []adapters.State{{Managed: true}, {Managed: true, Deleted: true}, {Managed: true, ForeignBlock: true}, {Managed: true, Deleted: true, ForeignBlock: true}} {
			for _, active := range []bool{true, false} {
				if st.Deleted && active {
					continue // a DELETE always deprovisions
				}
				d := data("7", &adapters.User{UserName: "ada", Active: active}, st)
				d.Tenant = tenant
				req, err := c.update.build(d)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := json.Marshal(req.Body)
				value := gjson.GetBytes(b, `user.custom_fields.#(id=="2").value`).String()
				status := map[bool]string{true: "1", false: "3"}[active]
				user := fmt.Sprintf(`{"id": 7, "login": "ada", "status": %s, "custom_fields": [{"name": "scim_state", "value": %q}]}`, status, value)
				r := a.record(gjson.Parse(user))
				handBlock := !active && st.ForeignBlock
				if !r.Managed || r.Deleted != st.Deleted || (handBlocked(r)) != handBlock || r.Tenant != tenant || r.RecordedUserName != "ada" {
					t.Errorf("tenant %q, %+v, active %v: sent %q, read Managed %v Deleted %v hand-blocked %v Tenant %q RecordedUserName %q",
						tenant, st, active, value, r.Managed, r.Deleted, handBlocked(r), r.Tenant, r.RecordedUserName)
				}
			}
		}
	}
}
