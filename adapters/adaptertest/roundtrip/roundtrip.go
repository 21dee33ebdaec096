// Package roundtrip checks, for any adapter, that every User attribute it advertises
// (adapters.Info.UserAttributes, which /Schemas lists) round-trips exactly through
// the provisioning service: POST, PUT, and the PATCH forms Okta and Entra ID send.
// What does not round-trip must not be advertised: an IdP that reads /Schemas would
// otherwise believe the application keeps it. It lives apart from adaptertest
// because it drives module/provision, whose own tests use adaptertest.Memory.
package roundtrip

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/provision"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// Run writes each advertised attribute through every path and reads it back.
// id, externalId and meta are always supported; userName, emails and active are
// exercised by every case.
func Run(t *testing.T, a adapters.UserAdapter) {
	t.Helper()
	svc := &provision.Service{Adapter: a, Links: links.NewMemory(time.Minute, 0),
		Deprovision: provision.DeprovisionBlock, LinkExisting: provision.LinkOff}
	for _, path := range a.Info().UserAttributes {
		t.Run(path, func(t *testing.T) { roundTrip(t, svc, path) })
	}
	if a.Info().OneName {
		t.Run("one name", func(t *testing.T) { oneName(t, svc) })
	}
}

// oneName checks, for an application that keeps one name string, that the name
// parts Okta and Entra PATCH are merged into it: nothing of the name is lost
// ("Alice Anders" with givenName "Alicia" is "Alicia Anders", not "Alicia").
func oneName(t *testing.T, svc *provision.Service) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u := base(randHex())
	u.Name = &adapters.Name{GivenName: "Alice", FamilyName: "Anders"}
	rec, err := svc.CreateUser(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	id := rec.User.ID
	defer func() { _ = svc.DeleteUser(ctx, id, "") }()
	opt := scim.RenderOptions{}
	for _, c := range []struct{ op, want string }{
		{`{"op":"replace","path":"name.givenName","value":"Alicia"}`, "Alicia Anders"},              // Okta
		{`{"op":"Replace","value":{"name.familyName":"Braun"}}`, "Alicia Braun"},                    // Entra, dotted
		{`{"op":"Replace","path":"name.givenName","value":"Mary Ann"}`, "Mary Ann Braun"},           // a part with a space
		{`{"op":"Replace","path":"displayName","value":"Grace Hopper"}`, "Grace Hopper"},            // Entra
		{`{"op":"replace","value":{"name":{"familyName":"Murray Hopper"}}}`, "Grace Murray Hopper"}, // Okta, pathless
	} {
		ops, err := scim.ParsePatch([]byte(`{"schemas":["`+scim.MessagePatchOp+`"],"Operations":[`+c.op+`]}`), scim.UserResourceType)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.PatchUser(ctx, id, ops, "", opt); err != nil {
			t.Fatalf("PATCH %s: %v", c.op, err)
		}
		got, err := svc.GetUser(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.User.Name == nil || got.User.Name.Formatted != c.want || got.User.DisplayName != c.want {
			t.Errorf("after %s the name reads %+v, displayName %q; want %q whole", c.op, got.User.Name, got.User.DisplayName, c.want)
		}
	}
}

func randHex() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// values are what an IdP may send for path, with the spaces and cases real names
// have: four different ones, for POST, PUT and two PATCH forms.
func values(path, run string) []any {
	switch path {
	case "active":
		return []any{false, true, false, true}
	case "userName":
		return []any{"rt" + run + "a", "rt" + run + "b", "rt" + run + "c", "rt" + run + "d"}
	case "externalId":
		return []any{"Ext-" + run + "-A", "Ext-" + run + "-b", "ext-" + run + "-C", "EXT-" + run + "-d"}
	case "emails":
		return nil // exercised with every user
	}
	return []any{"Mary Ann " + run, "van Dyke " + run, "de la Cruz " + run, "O'Neil " + run}
}

func base(run string) *adapters.User {
	return &adapters.User{UserName: "rt" + run, ExternalID: "ext-" + run, Active: true,
		Emails: []adapters.MultiValue{{Value: "rt" + run + "@example.com", Type: "work", Primary: true}}}
}

func roundTrip(t *testing.T, svc *provision.Service, path string) {
	run := randHex()
	vals := values(path, run)
	if vals == nil {
		t.Skip("emails: exercised by every case")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opt := scim.RenderOptions{}
	u := base(run)
	if path == "userName" {
		// an e-mail-shaped upstream may need the userName as e-mail: keep both plain
		u.UserName = vals[0].(string)
	}
	res := scim.UserToResource(u, opt)
	set(res, path, vals[0])
	nu, err := scim.UserFromResource(res)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := svc.CreateUser(ctx, nu)
	if err != nil {
		t.Fatalf("POST with %s = %v: %v", path, vals[0], err)
	}
	id := rec.User.ID
	check := func(how string, want any) {
		t.Helper()
		got, err := svc.GetUser(ctx, id)
		if err != nil {
			t.Fatalf("%s: GET: %v", how, err)
		}
		if v := get(scim.UserToResource(got.User, opt), path); !reflect.DeepEqual(v, want) {
			t.Errorf("%s: %s reads back %#v, want %#v: the adapter advertises an attribute it does not keep", how, path, v, want)
		}
	}
	check("POST", vals[0])

	put := scim.UserToResource(rec.User, opt)
	set(put, path, vals[1])
	pu, err := scim.UserFromResource(put)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ReplaceUser(ctx, id, pu, true, ""); err != nil {
		t.Fatalf("PUT %s = %v: %v", path, vals[1], err)
	}
	check("PUT", vals[1])

	for i, form := range []string{
		`{"op":"replace","path":%q,"value":%s}`, // Okta
		`{"op":"Replace","value":{%q:%s}}`,      // Entra's pathless form, dotted keys
	} {
		v := vals[2+i]
		enc := fmt.Sprintf("%q", v)
		if b, ok := v.(bool); ok {
			enc = map[bool]string{true: `"True"`, false: `"False"`}[b] // Entra sends strings
		}
		body := `{"schemas":["` + scim.MessagePatchOp + `"],"Operations":[` + fmt.Sprintf(form, path, enc) + `]}`
		ops, err := scim.ParsePatch([]byte(body), scim.UserResourceType)
		if err != nil {
			t.Fatalf("PATCH %s: %v", body, err)
		}
		if _, err := svc.PatchUser(ctx, id, ops, "", opt); err != nil {
			t.Fatalf("PATCH %s: %v", body, err)
		}
		check("PATCH "+strings.SplitN(form, ",", 2)[0]+"}", v)
	}
	_ = svc.DeleteUser(ctx, id, "")
}

// set and get address a resource by an attribute path: "name.givenName",
// "urn:…:User:employeeNumber", "active".
func set(r scim.Resource, path string, v any) {
	m, key := target(r, path, true)
	m[key] = v
}

func get(r scim.Resource, path string) any {
	m, key := target(r, path, false)
	if m == nil {
		return nil
	}
	return m[key]
}

func target(r scim.Resource, path string, create bool) (map[string]any, string) {
	m := map[string]any(r)
	if strings.HasPrefix(path, "urn:") {
		i := strings.LastIndexByte(path, ':')
		sub, _ := m[path[:i]].(map[string]any)
		if sub == nil {
			if !create {
				return nil, ""
			}
			sub = map[string]any{}
			m[path[:i]] = sub
		}
		m, path = sub, path[i+1:]
	}
	if top, rest, ok := strings.Cut(path, "."); ok {
		sub, _ := m[top].(map[string]any)
		if sub == nil {
			if !create {
				return nil, ""
			}
			sub = map[string]any{}
			m[top] = sub
		}
		return sub, rest
	}
	return m, path
}
