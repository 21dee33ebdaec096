package scim

import (
	"errors"
	"net/url"
	"slices"
	"testing"
)

// TestAttributesWithValueFilter (#16): an attribute path with a value filter names
// the attribute it filters; commas inside the filter do not split the list.
func TestAttributesWithValueFilter(t *testing.T) {
	for _, c := range []struct{ in, attrs string }{
		{`userName,emails[type eq "work"]`, "userName|emails"},
		{`emails[type eq "a,b"].value, name.givenName`, "emails.value|name.givenName"},
		{`emails[type eq "x]y"]`, "emails"},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"},
		{`,, userName ,`, "userName"},
	} {
		q, err := ParseQuery(url.Values{"attributes": {c.in}, "excludedAttributes": {c.in}})
		if err != nil {
			t.Fatal(err)
		}
		want := splitOn(c.attrs)
		if !slices.Equal(q.Attributes, want) || !slices.Equal(q.ExcludedAttributes, want) {
			t.Errorf("%s: attributes %q excluded %q, want %q", c.in, q.Attributes, q.ExcludedAttributes, want)
		}
	}
	sr := SearchRequest{Schemas: []string{MessageSearchRequest}, Attributes: []string{`emails[type eq "work"].value`}}
	if q, err := sr.Query(); err != nil || !slices.Equal(q.Attributes, []string{"emails.value"}) {
		t.Errorf(".search attributes %q %v", q.Attributes, err)
	}
	// and the projection then holds the attribute, not just the id
	u := &User{ID: "1", UserName: "ada", Emails: []MultiValue{{Value: "ada@x", Type: "work"}}}
	q, _ := ParseQuery(url.Values{"attributes": {`emails[type eq "work"]`}})
	if got := Project(UserToResource(u, RenderOptions{}), UserResourceType, q.Attributes, nil); got["emails"] == nil {
		t.Errorf("projection %v lacks emails", got)
	}
}

func splitOn(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '|' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

// TestFilterOnNeverReturned (#16): a filter on password is refused (it answered an
// empty list); a PATCH may still replace it.
func TestFilterOnNeverReturned(t *testing.T) {
	for _, f := range []string{`password eq "x"`, `userName eq "a" or password pr`, `not (password eq "x")`} {
		_, err := ParseFilter(f, UserResourceType)
		var se *Error
		if !errors.As(err, &se) || se.Status != 400 || se.ScimType != ErrInvalidFilter {
			t.Errorf("%s: %v, want 400 invalidFilter", f, err)
		}
	}
	if _, err := ParsePatch([]byte(`{"schemas":["`+MessagePatchOp+`"],"Operations":[{"op":"replace","path":"password","value":"n3w-Passw0rd"}]}`), UserResourceType); err != nil {
		t.Errorf("PATCH of password: %v", err)
	}
}
