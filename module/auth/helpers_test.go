package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	testIssuer   = "https://idp.example.com/"
	testAudience = "scim-api"
	testSecret   = "0123456789abcdef0123456789abcdef-hmac"
)

// testClock is an adjustable clock for Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock { return &testClock{t: time.Unix(1_800_000_000, 0)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func bearerReq(h string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/scim/v2/Users", nil)
	if h != "" {
		r.Header.Set("Authorization", h)
	}
	return r
}

// claims returns valid claims at time now; overrides replace or (nil) delete.
func claims(now time.Time, overrides map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss": testIssuer,
		"aud": testAudience,
		"sub": "entra-sp-1",
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
	for k, v := range overrides {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func sign(t testing.TB, m jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	return s
}

// unsignedToken crafts an "alg: none" token by hand.
func unsignedToken(c jwt.MapClaims) string {
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	p, _ := json.Marshal(c)
	return enc.EncodeToString(h) + "." + enc.EncodeToString(p) + "."
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwkOf renders a public key as a JWK map.
func jwkOf(t testing.TB, pub crypto.PublicKey, kid string) map[string]any {
	t.Helper()
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "n": b64u(k.N.Bytes()),
			"e": b64u(big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PublicKey:
		b, err := k.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		size := (len(b) - 1) / 2
		return map[string]any{"kty": "EC", "kid": kid, "crv": k.Curve.Params().Name,
			"x": b64u(b[1 : 1+size]), "y": b64u(b[1+size:])}
	case ed25519.PublicKey:
		return map[string]any{"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64u(k)}
	}
	t.Fatalf("unsupported key %T", pub)
	return nil
}

// jwksServer serves a switchable JWKS and counts hits.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	body []byte
	code int
}

func newJWKSServer(t testing.TB, keys ...map[string]any) *jwksServer {
	s := &jwksServer{code: http.StatusOK}
	s.setKeys(keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		code, body := s.code, s.body
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(keys ...map[string]any) {
	if keys == nil {
		keys = []map[string]any{}
	}
	b, _ := json.Marshal(map[string]any{"keys": keys})
	s.set(http.StatusOK, b)
}

func (s *jwksServer) set(code int, body []byte) {
	s.mu.Lock()
	s.code, s.body = code, body
	s.mu.Unlock()
}

func mustNew(t testing.TB, cfg Config) *Authenticator {
	t.Helper()
	a, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(a.Close)
	return a
}

// checkNoLeak asserts that neither the client-facing nor the log-facing text
// of err contains the secret credential.
func checkNoLeak(t testing.TB, err error, secret string) {
	t.Helper()
	if err == nil || secret == "" {
		return
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error %q contains the token", err.Error())
	}
	if ae, ok := err.(*AuthError); ok && strings.Contains(ae.Detail(), secret) {
		t.Errorf("error detail %q contains the token", ae.Detail())
	}
}
