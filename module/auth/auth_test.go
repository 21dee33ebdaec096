package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	tok1 = "first-static-token-0123456789"
	tok2 = "second-static-token-abcdefghij"
)

func TestStaticTokens(t *testing.T) {
	a := mustNew(t, Config{Tokens: []string{tok1, tok2}})
	tests := []struct {
		name    string
		header  string
		wantID  string
		wantErr error
	}{
		{"first token", "Bearer " + tok1, "token#1", nil},
		{"second token", "Bearer " + tok2, "token#2", nil},
		{"lowercase scheme", "bearer " + tok1, "token#1", nil},
		{"uppercase scheme", "BEARER " + tok2, "token#2", nil},
		{"several spaces", "Bearer   " + tok1, "token#1", nil},
		{"trailing space", "Bearer " + tok1 + " ", "token#1", nil},
		{"wrong token", "Bearer wrong-static-token-0123456789", "", ErrInvalidToken},
		{"prefix of token", "Bearer " + tok1[:20], "", ErrInvalidToken},
		{"token plus suffix", "Bearer " + tok1 + "x", "", ErrInvalidToken},
		{"basic scheme", "Basic " + tok1, "", ErrMissingToken},
		{"bare token", tok1, "", ErrMissingToken},
		{"non-token", "non-token", "", ErrMissingToken},
		{"missing", "", "", ErrMissingToken},
		{"scheme only", "Bearer", "", ErrMissingToken},
		{"scheme and spaces", "Bearer    ", "", ErrMissingToken},
		{"no space", "Bearer" + tok1, "", ErrMissingToken},
		{"tab separator", "Bearer\t" + tok1, "", ErrMissingToken},
		{"bearerx scheme", "Bearerx " + tok1, "", ErrMissingToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := a.Authenticate(bearerReq(tt.header))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				checkNoLeak(t, err, tok1)
				checkNoLeak(t, err, tok2)
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if p.ID != tt.wantID || p.Method != MethodToken {
				t.Fatalf("principal = %+v, want ID %s method token", p, tt.wantID)
			}
		})
	}
}

func TestTokenOnlyFromHeader(t *testing.T) {
	a := mustNew(t, Config{Tokens: []string{tok1}})
	r := bearerReq("")
	q := r.URL.Query()
	q.Set("access_token", tok1)
	r.URL.RawQuery = q.Encode()
	if _, err := a.Authenticate(r); !errors.Is(err, ErrMissingToken) {
		t.Fatalf("query-string token: err = %v, want missing bearer token", err)
	}
	r = bearerReq("Bearer " + tok1)
	r.Header.Add("Authorization", "Bearer "+tok2)
	if _, err := a.Authenticate(r); !errors.Is(err, ErrMissingToken) {
		t.Fatalf("two Authorization headers: err = %v, want missing bearer token", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaPEM := writePublicPEM(t, dir, "rsa.pem", &rsaKey.PublicKey)
	privDER, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	privPath := filepath.Join(dir, "priv.pem")
	_ = os.WriteFile(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallPEM := writePublicPEM(t, dir, "small.pem", &small.PublicKey)

	const shortTok = "short-tok-15chr"
	base := func(mod func(*JWTConfig)) *JWTConfig {
		c := &JWTConfig{Issuer: testIssuer, Audiences: []string{testAudience}, Secret: testSecret}
		mod(c)
		return c
	}
	tests := []struct {
		name    string
		cfg     Config
		wantSub string
	}{
		{"nothing", Config{}, "no static tokens"},
		{"short token", Config{Tokens: []string{tok1, shortTok}}, "token #2 is too short"},
		{"empty token", Config{Tokens: []string{""}}, "token #1 is too short"},
		{"duplicate", Config{Tokens: []string{tok1, tok2, tok1}}, "tokens #1 and #3 are identical"},
		{"whitespace", Config{Tokens: []string{"has a space in the token"}}, "whitespace"},
		{"newline", Config{Tokens: []string{tok1 + "\n"}}, "whitespace"},
		{"no issuer", Config{JWT: base(func(c *JWTConfig) { c.Issuer = "" })}, "issuer is required"},
		{"no audience", Config{JWT: base(func(c *JWTConfig) { c.Audiences = nil })}, "audience"},
		{"empty audience", Config{JWT: base(func(c *JWTConfig) { c.Audiences = []string{""} })}, "audience"},
		{"no key", Config{JWT: base(func(c *JWTConfig) { c.Secret = "" })}, "exactly one of"},
		{"two keys", Config{JWT: base(func(c *JWTConfig) { c.KeyFile = rsaPEM })}, "exactly one of"},
		{"alg none", Config{JWT: base(func(c *JWTConfig) { c.Algorithms = []string{"HS256", "none"} })}, `"none" is never accepted`},
		{"alg None", Config{JWT: base(func(c *JWTConfig) { c.Algorithms = []string{"None"} })}, `"none" is never accepted`},
		{"unknown alg", Config{JWT: base(func(c *JWTConfig) { c.Algorithms = []string{"HS1"} })}, "unsupported algorithm"},
		{"RS256 with secret", Config{JWT: base(func(c *JWTConfig) { c.Algorithms = []string{"RS256"} })}, "does not fit an HMAC secret"},
		{"short secret", Config{JWT: base(func(c *JWTConfig) { c.Secret = "tiny-secret-value" })}, "secret is too short"},
		{"negative leeway", Config{JWT: base(func(c *JWTConfig) { c.Leeway = -time.Second })}, "leeway"},
		{"HS256 with RSA key file", Config{JWT: base(func(c *JWTConfig) {
			c.Secret, c.KeyFile, c.Algorithms = "", rsaPEM, []string{"RS256", "HS256"}
		})}, "HS256 does not fit the RSA key"},
		{"ES256 with RSA key file", Config{JWT: base(func(c *JWTConfig) {
			c.Secret, c.KeyFile, c.Algorithms = "", rsaPEM, []string{"ES256"}
		})}, "ES256 does not fit"},
		{"private key file", Config{JWT: base(func(c *JWTConfig) { c.Secret, c.KeyFile = "", privPath })}, "private key"},
		{"missing key file", Config{JWT: base(func(c *JWTConfig) { c.Secret, c.KeyFile = "", filepath.Join(dir, "nope.pem") })}, "reading key file"},
		{"1024-bit RSA", Config{JWT: base(func(c *JWTConfig) { c.Secret, c.KeyFile = "", smallPEM })}, "RSA key of 1024 bits"},
		{"HS256 with JWKS", Config{JWT: base(func(c *JWTConfig) {
			c.Secret, c.JWKSURL, c.Algorithms = "", "https://idp.example.com/jwks", []string{"HS256"}
		})}, "not accepted with a JWKS"},
		{"http JWKS", Config{JWT: base(func(c *JWTConfig) { c.Secret, c.JWKSURL = "", "http://idp.example.com/jwks" })}, "must use https"},
		{"file JWKS", Config{JWT: base(func(c *JWTConfig) { c.Secret, c.JWKSURL = "", "file:///etc/passwd" })}, "JWKS URL"},
		{"JWKS refresh too short", Config{JWT: base(func(c *JWTConfig) {
			c.Secret, c.JWKSURL, c.JWKSRefresh = "", "https://idp.example.com/jwks", time.Second
		})}, "below the minimum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(context.Background(), tt.cfg)
			if err == nil {
				a.Close()
				t.Fatal("New succeeded, want error")
			}
			if !strings.Contains(err.Error(), tt.wantSub) {
				t.Fatalf("err = %q, want it to contain %q", err, tt.wantSub)
			}
			for _, secret := range []string{shortTok, tok1, tok2, testSecret, "tiny-secret-value"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error %q reveals a secret", err)
				}
			}
		})
	}
}

func TestConfigStringRedacts(t *testing.T) {
	c := Config{Tokens: []string{tok1}, JWT: &JWTConfig{Issuer: testIssuer, Audiences: []string{testAudience}, Secret: testSecret}}
	s := c.String()
	if strings.Contains(s, tok1) || strings.Contains(s, testSecret) {
		t.Fatalf("String() leaks a secret: %s", s)
	}
}

func TestJWTWithSecret(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	a := mustNew(t, Config{
		Tokens: []string{tok1},
		JWT: &JWTConfig{Issuer: testIssuer, Audiences: []string{testAudience, "other-aud"},
			Secret: testSecret, Now: clk.Now},
	})
	key := []byte(testSecret)
	hs := func(o map[string]any) string { return sign(t, jwt.SigningMethodHS256, key, "", claims(now, o)) }
	tests := []struct {
		name    string
		token   string
		wantID  string
		wantErr error
	}{
		{"good", hs(nil), "entra-sp-1", nil},
		{"second audience", hs(map[string]any{"aud": []string{"x", "other-aud"}}), "entra-sp-1", nil},
		{"azp when no sub", hs(map[string]any{"sub": nil, "azp": "client-42"}), "client-42", nil},
		{"appid when no sub", hs(map[string]any{"sub": nil, "appid": "app-7"}), "app-7", nil},
		{"client_id when no sub", hs(map[string]any{"sub": nil, "client_id": "okta-9"}), "okta-9", nil},
		{"expired within leeway", hs(map[string]any{"exp": now.Add(-30 * time.Second).Unix()}), "entra-sp-1", nil},
		{"expired", hs(map[string]any{"exp": now.Add(-2 * time.Minute).Unix()}), "", ErrTokenExpired},
		{"missing exp", hs(map[string]any{"exp": nil}), "", ErrInvalidToken},
		{"nbf in the future", hs(map[string]any{"nbf": now.Add(10 * time.Minute).Unix()}), "", ErrTokenNotYetValid},
		{"nbf within leeway", hs(map[string]any{"nbf": now.Add(30 * time.Second).Unix()}), "entra-sp-1", nil},
		{"iat in the future", hs(map[string]any{"iat": now.Add(10 * time.Minute).Unix()}), "", ErrTokenNotYetValid},
		{"wrong issuer", hs(map[string]any{"iss": "https://evil.example.com/"}), "", ErrWrongIssuer},
		{"missing issuer", hs(map[string]any{"iss": nil}), "", ErrInvalidToken},
		{"wrong audience", hs(map[string]any{"aud": "someone-else"}), "", ErrWrongAudience},
		{"missing audience", hs(map[string]any{"aud": nil}), "", ErrInvalidToken},
		{"no identity claim", hs(map[string]any{"sub": nil}), "", ErrInvalidToken},
		{"control char in sub", hs(map[string]any{"sub": "a\nb"}), "", ErrInvalidToken},
		{"alg none", unsignedToken(claims(now, nil)), "", ErrAlgorithmNotAllowed},
		{"HS512 not allowed", sign(t, jwt.SigningMethodHS512, key, "", claims(now, nil)), "", ErrAlgorithmNotAllowed},
		{"wrong secret", sign(t, jwt.SigningMethodHS256, []byte("another-secret-of-32-bytes-at-least!"), "", claims(now, nil)), "", ErrInvalidToken},
		{"tampered payload", tamper(t, hs(nil)), "", ErrInvalidToken},
		{"crit header", signWithHeader(t, key, map[string]any{"crit": []string{"exp"}}, claims(now, nil)), "", ErrInvalidToken},
		{"static token still works", tok1, "token#1", nil},
		{"garbage three parts", "aaaa.bbbb.cccc", "", ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := a.Authenticate(bearerReq("Bearer " + tt.token))
			checkNoLeak(t, err, tt.token)
			checkNoLeak(t, err, testSecret)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v (%v), want %v", err, detail(err), tt.wantErr)
				}
				if err.Error() != tt.wantErr.Error() {
					t.Fatalf("Error() = %q, want exactly %q", err.Error(), tt.wantErr.Error())
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v (%s)", err, detail(err))
			}
			wantMethod := MethodJWT
			if strings.HasPrefix(tt.wantID, "token#") {
				wantMethod = MethodToken
			}
			if p.ID != tt.wantID || p.Method != wantMethod {
				t.Fatalf("principal = %+v, want %s/%s", p, tt.wantID, wantMethod)
			}
		})
	}
}

func detail(err error) string {
	var ae *AuthError
	if errors.As(err, &ae) {
		return ae.Detail()
	}
	return ""
}

// tamper changes the payload of a JWT while keeping its signature.
func tamper(t testing.TB, tok string) string {
	parts := strings.Split(tok, ".")
	c := claims(time.Unix(1_800_000_000, 0), map[string]any{"sub": "admin"})
	forged := sign(t, jwt.SigningMethodHS256, []byte("unrelated-secret-unrelated-secret!"), "", c)
	return parts[0] + "." + strings.Split(forged, ".")[1] + "." + parts[2]
}

func signWithHeader(t testing.TB, key []byte, hdr map[string]any, c jwt.MapClaims) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	for k, v := range hdr {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func writePublicPEM(t testing.TB, dir, name string, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAlgorithmConfusion(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	pemPath := writePublicPEM(t, dir, "rsa.pem", &rsaKey.PublicKey)
	pemBytes, _ := os.ReadFile(pemPath)

	a := mustNew(t, Config{JWT: &JWTConfig{Issuer: testIssuer, Audiences: []string{testAudience},
		KeyFile: pemPath, Now: clk.Now}})

	// The classic attack: sign with HS256 using the public key's PEM bytes
	// (and its DER bytes) as the HMAC secret.
	for name, secret := range map[string][]byte{"pem": pemBytes, "der": mustPKIX(t, &rsaKey.PublicKey)} {
		forged := sign(t, jwt.SigningMethodHS256, secret, "", claims(clk.Now(), nil))
		_, err := a.Authenticate(bearerReq("Bearer " + forged))
		if !errors.Is(err, ErrAlgorithmNotAllowed) {
			t.Fatalf("%s: HS256 signed with the public key: err = %v, want algorithm not allowed", name, err)
		}
	}
	// Even if the key function were reached with an HMAC alg, it refuses.
	v := a.jwt
	if _, err := v.keyFor("", "HS256"); err == nil {
		t.Fatal("keyFor(HS256) with an RSA key file returned a key")
	}

	good := sign(t, jwt.SigningMethodRS256, rsaKey, "any-kid", claims(clk.Now(), map[string]any{"azp": "8adf8e6e-client"}))
	p, err := a.Authenticate(bearerReq("Bearer " + good))
	if err != nil || p.ID != "entra-sp-1" || p.Method != MethodJWT || p.ClientID != "8adf8e6e-client" {
		t.Fatalf("RS256 with key file: %+v, %v (%s)", p, err, detail(err))
	}
	ps := sign(t, jwt.SigningMethodPS256, rsaKey, "", claims(clk.Now(), nil))
	if _, err := a.Authenticate(bearerReq("Bearer " + ps)); !errors.Is(err, ErrAlgorithmNotAllowed) {
		t.Fatalf("PS256 not in default list: err = %v", err)
	}
}

func mustPKIX(t testing.TB, pub any) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestKeyFileKinds(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()

	ecKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	ecPath := writePublicPEM(t, dir, "ec.pem", &ecKey.PublicKey)

	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	edPath := writePublicPEM(t, dir, "ed.pem", edPub)

	// A self-signed certificate: its public key is used.
	certKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &certKey.PublicKey, certKey)
	if err != nil {
		t.Fatal(err)
	}
	certPath := filepath.Join(dir, "cert.pem")
	_ = os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)

	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	pkcs1Path := filepath.Join(dir, "pkcs1.pem")
	_ = os.WriteFile(pkcs1Path, pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY",
		Bytes: x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)}), 0o600)

	tests := []struct {
		name   string
		path   string
		method jwt.SigningMethod
		key    any
	}{
		{"ECDSA P-384 → ES384", ecPath, jwt.SigningMethodES384, ecKey},
		{"Ed25519 → EdDSA", edPath, jwt.SigningMethodEdDSA, edPriv},
		{"certificate P-256 → ES256", certPath, jwt.SigningMethodES256, certKey},
		{"PKCS#1 RSA → RS256", pkcs1Path, jwt.SigningMethodRS256, rsaKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustNew(t, Config{JWT: &JWTConfig{Issuer: testIssuer, Audiences: []string{testAudience},
				KeyFile: tt.path, Now: clk.Now}})
			tok := sign(t, tt.method, tt.key, "", claims(clk.Now(), nil))
			if _, err := a.Authenticate(bearerReq("Bearer " + tok)); err != nil {
				t.Fatalf("err = %v (%s)", err, detail(err))
			}
			// Signed by some other key of the same kind: rejected.
			other := sign(t, jwt.SigningMethodHS256, []byte(testSecret), "", claims(clk.Now(), nil))
			if _, err := a.Authenticate(bearerReq("Bearer " + other)); err == nil {
				t.Fatal("HS256 token accepted by a public key")
			}
		})
	}
}

// TestErrorsNeverContainToken runs many failing credentials through every
// kind of Authenticator and checks that neither Error() nor Detail() ever
// echoes the presented token (or any part of a static token).
func TestErrorsNeverContainToken(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	a := mustNew(t, Config{Tokens: []string{tok1, tok2},
		JWT: &JWTConfig{Issuer: testIssuer, Audiences: []string{testAudience}, Secret: testSecret, Now: clk.Now}})
	key := []byte(testSecret)
	hs := func(o map[string]any) string { return sign(t, jwt.SigningMethodHS256, key, "", claims(now, o)) }
	bad := []string{
		"wrong-static-token-0123456789",
		tok1[:len(tok1)-1] + "X",
		hs(map[string]any{"exp": now.Add(-time.Hour).Unix()}),
		hs(map[string]any{"iss": "https://evil.example.com/"}),
		hs(map[string]any{"aud": "nope"}),
		hs(map[string]any{"nbf": now.Add(time.Hour).Unix()}),
		unsignedToken(claims(now, nil)),
		tamper(t, hs(nil)),
		sign(t, jwt.SigningMethodHS384, key, "kid-with-secret-looking-text", claims(now, nil)),
		"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
		"not.a.jwt!",
		strings.Repeat("A", maxCredentialLength+1),
	}
	for i, tok := range bad {
		_, err := a.Authenticate(bearerReq("Bearer " + tok))
		if err == nil {
			t.Fatalf("case %d: accepted", i)
		}
		var ae *AuthError
		if !errors.As(err, &ae) {
			t.Fatalf("case %d: err %T is not *AuthError", i, err)
		}
		checkNoLeak(t, err, tok)
		checkNoLeak(t, err, tok1)
		checkNoLeak(t, err, testSecret)
		// The signature part of a JWT must not leak either.
		if parts := strings.Split(tok, "."); len(parts) == 3 && len(parts[2]) > 8 {
			checkNoLeak(t, err, parts[2])
			checkNoLeak(t, err, parts[1])
		}
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	a := mustNew(t, Config{Tokens: []string{tok1}})
	a.Close()
	a.Close()
	var nilA *Authenticator
	nilA.Close()
}
