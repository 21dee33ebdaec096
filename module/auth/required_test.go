package auth

import (
	"errors"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestRequiredClaims (#11 case 10): without requirements any token of the issuer for
// the audience passes, a user's own ID token for that client included; scopes,
// clients and token types can be required.
func TestRequiredClaims(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	key := []byte(testSecret)
	open := mustNew(t, Config{JWT: &JWTConfig{Issuer: testIssuer, Audiences: []string{testAudience}, Secret: testSecret, Now: clk.Now}})
	strict := mustNew(t, Config{JWT: &JWTConfig{Issuer: testIssuer, Audiences: []string{testAudience}, Secret: testSecret, Now: clk.Now,
		RequireScopes: []string{"scim.provision"}, RequireClientIDs: []string{"okta-app", "entra-app"}, RequireTypes: []string{"at+jwt", "JWT"}}})
	hs := func(typ string, o map[string]any) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(now, o))
		if typ == "" {
			delete(tok.Header, "typ")
		} else {
			tok.Header["typ"] = typ
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	idToken := hs("JWT", map[string]any{"sub": "a-user", "name": "Some User"}) // what a user's own sign-in yields
	if _, err := open.Authenticate(bearerReq("Bearer " + idToken)); err != nil {
		t.Fatalf("without requirements an ID token of the issuer passes (this is why they exist): %v", err)
	}
	for _, c := range []struct {
		name  string
		token string
		ok    bool
	}{
		{"user's ID token", idToken, false},
		{"Okta access token", hs("at+jwt", map[string]any{"client_id": "okta-app", "scp": []string{"scim.provision", "openid"}}), true},
		{"Entra app-only token", hs("JWT", map[string]any{"azp": "entra-app", "roles": []string{"scim.provision"}}), true},
		{"space-separated scope", hs("at+JWT", map[string]any{"appid": "entra-app", "scope": "openid scim.provision"}), true},
		{"other client", hs("at+jwt", map[string]any{"client_id": "another-app", "scp": "scim.provision"}), false},
		{"missing scope", hs("at+jwt", map[string]any{"client_id": "okta-app", "scp": "openid"}), false},
		{"wrong typ", hs("id+jwt", map[string]any{"client_id": "okta-app", "scp": "scim.provision"}), false},
		{"no typ", hs("", map[string]any{"client_id": "okta-app", "scp": "scim.provision"}), false},
	} {
		_, err := strict.Authenticate(bearerReq("Bearer " + c.token))
		if c.ok != (err == nil) {
			t.Errorf("%s: err %v (%s)", c.name, err, detail(err))
		}
		if err != nil && !errors.Is(err, ErrClaimNotAllowed) {
			t.Errorf("%s: %v, want ErrClaimNotAllowed", c.name, err)
		}
		checkNoLeak(t, err, c.token)
	}
}
