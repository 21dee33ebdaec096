package auth

import (
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzAuthenticate feeds arbitrary Authorization header values: Authenticate
// must never panic, must fail with one of the fixed reasons, and must only
// succeed for a configured token or a validly signed JWT.
func FuzzAuthenticate(f *testing.F) {
	clk := newClock()
	a := mustNew(f, Config{Tokens: []string{tok1, tok2},
		JWT: &JWTConfig{Issuer: testIssuer, Audiences: []string{testAudience}, Secret: testSecret, Now: clk.Now}})
	good := sign(f, jwt.SigningMethodHS256, []byte(testSecret), "k", claims(clk.Now(), nil))
	for _, s := range []string{
		"", "Bearer", "Bearer ", "bearer " + tok1, "Bearer " + tok2, "Basic dXNlcjpwYXNz", "non-token",
		"Bearer " + good, "Bearer " + good[:len(good)-3], "Bearer " + unsignedToken(claims(clk.Now(), nil)),
		"Bearer a.b.c", "Bearer ..", "Bearer e30.e30.", "Bearer eyJhbGciOiJIUzI1NiIsImNyaXQiOjF9.e30.x",
		"Bearer \x00\xff", "BEARER    x",
	} {
		f.Add(s)
	}
	reasons := []string{}
	for _, e := range []*AuthError{ErrMissingToken, ErrInvalidToken, ErrTokenExpired, ErrTokenNotYetValid,
		ErrWrongIssuer, ErrWrongAudience, ErrAlgorithmNotAllowed, ErrUnknownKeyID, ErrKeysUnavailable} {
		reasons = append(reasons, e.Reason)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r := &http.Request{Header: http.Header{}}
		if h != "" {
			r.Header["Authorization"] = []string{h}
		}
		p, err := a.Authenticate(r)
		if err != nil {
			var ae *AuthError
			if !errors.As(err, &ae) || !slices.Contains(reasons, err.Error()) {
				t.Fatalf("unexpected error %T %q", err, err)
			}
			return
		}
		switch p.Method {
		case MethodToken:
			if p.ID != "token#1" && p.ID != "token#2" {
				t.Fatalf("bad principal %+v", p)
			}
		case MethodJWT:
			if p.ID != "entra-sp-1" {
				t.Fatalf("bad principal %+v", p)
			}
		default:
			t.Fatalf("bad principal %+v", p)
		}
	})
}

// FuzzParseJWKS: a hostile or broken IdP response must not panic.
func FuzzParseJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"},{"kty":"OKP","crv":"Ed25519","x":""}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","e":"AAAAAAE","n":"_w"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := parseJWKS(b)
		if err == nil && len(keys) == 0 {
			t.Fatal("no error and no keys")
		}
	})
}
