package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func jwksConfig(url string, clk *testClock) Config {
	return Config{JWT: &JWTConfig{Issuer: testIssuer, Audiences: []string{testAudience},
		JWKSURL: url, Now: clk.Now}}
}

func TestJWKSKinds(t *testing.T) {
	clk := newClock()
	ec256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	srv := newJWKSServer(t,
		jwkOf(t, &ec256.PublicKey, "ec-1"),
		jwkOf(t, &ec384.PublicKey, "ec-2"),
		jwkOf(t, &rsaKey.PublicKey, "rsa-1"),
		jwkOf(t, edPub, "ed-1"),
		map[string]any{"kty": "oct", "kid": "sym", "k": b64u([]byte(testSecret))}, // skipped
		map[string]any{"kty": "RSA", "kid": "enc", "use": "enc"},                  // skipped
	)
	a := mustNew(t, jwksConfig(srv.URL+"/jwks", clk))
	now := clk.Now()
	tests := []struct {
		name    string
		token   string
		wantErr error
	}{
		{"ES256", sign(t, jwt.SigningMethodES256, ec256, "ec-1", claims(now, nil)), nil},
		{"ES384", sign(t, jwt.SigningMethodES384, ec384, "ec-2", claims(now, nil)), nil},
		{"RS256", sign(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", claims(now, nil)), nil},
		{"PS256", sign(t, jwt.SigningMethodPS256, rsaKey, "rsa-1", claims(now, nil)), nil},
		{"EdDSA", sign(t, jwt.SigningMethodEdDSA, edPriv, "ed-1", claims(now, nil)), nil},
		{"no kid: any fitting key", sign(t, jwt.SigningMethodES256, ec256, "", claims(now, nil)), nil},
		{"kid of another key", sign(t, jwt.SigningMethodES256, ec256, "rsa-1", claims(now, nil)), ErrInvalidToken},
		{"ES256 key under wrong kid", sign(t, jwt.SigningMethodES256, ec256, "ec-2", claims(now, nil)), ErrInvalidToken},
		{"HS256 with the oct key", sign(t, jwt.SigningMethodHS256, []byte(testSecret), "sym", claims(now, nil)), ErrAlgorithmNotAllowed},
		{"unknown kid", sign(t, jwt.SigningMethodES256, ec256, "nope", claims(now, nil)), ErrUnknownKeyID},
		{"wrong audience", sign(t, jwt.SigningMethodES256, ec256, "ec-1", claims(now, map[string]any{"aud": "x"})), ErrWrongAudience},
		{"expired", sign(t, jwt.SigningMethodES256, ec256, "ec-1", claims(now, map[string]any{"exp": now.Add(-time.Hour).Unix()})), ErrTokenExpired},
		{"alg none", unsignedToken(claims(now, nil)), ErrAlgorithmNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := a.Authenticate(bearerReq("Bearer " + tt.token))
			checkNoLeak(t, err, tt.token)
			if tt.wantErr == nil {
				if err != nil || p.ID != "entra-sp-1" || p.Method != MethodJWT {
					t.Fatalf("got %+v, %v (%s)", p, err, detail(err))
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v (%s), want %v", err, detail(err), tt.wantErr)
			}
		})
	}
}

// TestJWKSIgnoresJKU checks that a jku header pointing elsewhere is never
// fetched: only the configured URL is contacted.
func TestJWKSIgnoresJKU(t *testing.T) {
	clk := newClock()
	good, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	evil, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv := newJWKSServer(t, jwkOf(t, &good.PublicKey, "k1"))
	evilSrv := newJWKSServer(t, jwkOf(t, &evil.PublicKey, "k1"))
	a := mustNew(t, jwksConfig(srv.URL, clk))
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims(clk.Now(), nil))
	tok.Header["kid"] = "k1"
	tok.Header["jku"] = evilSrv.URL
	s, _ := tok.SignedString(evil)
	if _, err := a.Authenticate(bearerReq("Bearer " + s)); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("err = %v, want invalid token", err)
	}
	if n := evilSrv.hits.Load(); n != 0 {
		t.Fatalf("jku URL was fetched %d times", n)
	}
}

func TestJWKSRotation(t *testing.T) {
	clk := newClock()
	oldKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	newKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv := newJWKSServer(t, jwkOf(t, &oldKey.PublicKey, "old"))
	a := mustNew(t, jwksConfig(srv.URL, clk))

	auth := func(key *ecdsa.PrivateKey, kid string) error {
		_, err := a.Authenticate(bearerReq("Bearer " + sign(t, jwt.SigningMethodES256, key, kid, claims(clk.Now(), nil))))
		return err
	}
	if err := auth(oldKey, "old"); err != nil {
		t.Fatalf("old key: %v (%s)", err, detail(err))
	}

	// The IdP rotates: only the new key is published.
	srv.setKeys(jwkOf(t, &newKey.PublicKey, "new"))
	// Within the minute after the last fetch, the new kid is not fetched.
	if err := auth(newKey, "new"); !errors.Is(err, ErrUnknownKeyID) {
		t.Fatalf("new kid before refetch allowed: err = %v", err)
	}
	clk.Advance(refetchInterval + time.Second)
	if err := auth(newKey, "new"); err != nil {
		t.Fatalf("new kid after refetch: %v (%s)", err, detail(err))
	}
	// The removed kid is gone after the successful refresh.
	if err := auth(oldKey, "old"); !errors.Is(err, ErrUnknownKeyID) {
		t.Fatalf("removed kid: err = %v, want unknown key id", err)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("server hits = %d, want 2", n)
	}
}

func TestJWKSRefetchRateLimit(t *testing.T) {
	clk := newClock()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv := newJWKSServer(t, jwkOf(t, &key.PublicKey, "k1"))
	a := mustNew(t, jwksConfig(srv.URL, clk))
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("hits after New = %d, want 1", n)
	}
	unknown := func(i int) error {
		kid := "garbage-" + string(rune('a'+i%26))
		_, err := a.Authenticate(bearerReq("Bearer " + sign(t, jwt.SigningMethodES256, key, kid, claims(clk.Now(), nil))))
		return err
	}
	for i := range 50 {
		if err := unknown(i); !errors.Is(err, ErrUnknownKeyID) {
			t.Fatalf("err = %v", err)
		}
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("hits after 50 unknown kids in the first minute = %d, want 1", n)
	}
	clk.Advance(refetchInterval)
	for i := range 50 {
		_ = unknown(i)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("hits after the minute passed = %d, want 2", n)
	}
	clk.Advance(refetchInterval / 2)
	_ = unknown(0)
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("hits half a minute later = %d, want 2", n)
	}
	// Known kids never trigger fetches.
	for range 20 {
		if _, err := a.Authenticate(bearerReq("Bearer " + sign(t, jwt.SigningMethodES256, key, "k1", claims(clk.Now(), nil)))); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("hits after known kids = %d, want 2", n)
	}
}

func TestJWKSOversized(t *testing.T) {
	clk := newClock()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv := newJWKSServer(t)
	k := jwkOf(t, &key.PublicKey, "k1")
	k["padding"] = strings.Repeat("x", MaxJWKSSize)
	body, _ := json.Marshal(map[string]any{"keys": []any{k}})
	srv.set(http.StatusOK, body)

	a := mustNew(t, jwksConfig(srv.URL, clk))
	tok := sign(t, jwt.SigningMethodES256, key, "k1", claims(clk.Now(), nil))
	_, err := a.Authenticate(bearerReq("Bearer " + tok))
	if !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("err = %v, want signing keys unavailable", err)
	}
	if d := detail(err); !strings.Contains(d, "exceeds 1 MiB") {
		t.Fatalf("detail = %q, want the size limit", d)
	}
	checkNoLeak(t, err, tok)
}

func TestJWKSFirstFetchFailsThenRecovers(t *testing.T) {
	clk := newClock()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv := newJWKSServer(t)
	srv.set(http.StatusServiceUnavailable, []byte("down"))

	a, err := New(context.Background(), jwksConfig(srv.URL, clk))
	if err != nil {
		t.Fatalf("a failing first fetch must not fail New: %v", err)
	}
	t.Cleanup(a.Close)
	tok := sign(t, jwt.SigningMethodES256, key, "k1", claims(clk.Now(), nil))

	// First use retries at once; the IdP is still down.
	_, err = a.Authenticate(bearerReq("Bearer " + tok))
	if !errors.Is(err, ErrKeysUnavailable) || !strings.Contains(detail(err), "status 503") {
		t.Fatalf("err = %v (%s), want signing keys unavailable / status 503", err, detail(err))
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("hits = %d, want 2 (New + first use)", n)
	}

	// The IdP recovers; retries are rate-limited to one a minute.
	srv.setKeys(jwkOf(t, &key.PublicKey, "k1"))
	if _, err = a.Authenticate(bearerReq("Bearer " + tok)); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("within the minute: err = %v, want signing keys unavailable", err)
	}
	clk.Advance(refetchInterval)
	if _, err = a.Authenticate(bearerReq("Bearer " + tok)); err != nil {
		t.Fatalf("after recovery: %v (%s)", err, detail(err))
	}

	// A later failing refresh keeps the old keys.
	srv.set(http.StatusInternalServerError, nil)
	clk.Advance(refetchInterval)
	if _, err := a.Authenticate(bearerReq("Bearer " + sign(t, jwt.SigningMethodES256, key, "other", claims(clk.Now(), nil)))); !errors.Is(err, ErrUnknownKeyID) {
		t.Fatalf("unknown kid during outage: err = %v", err)
	}
	if _, err = a.Authenticate(bearerReq("Bearer " + tok)); err != nil {
		t.Fatalf("old key after a failed refresh: %v (%s)", err, detail(err))
	}
}

func TestJWKSBadBodies(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good := jwkOf(t, &ec.PublicKey, "k")
	offCurve := jwkOf(t, &ec.PublicKey, "k")
	offCurve["y"] = offCurve["x"]
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	tests := []struct {
		name    string
		body    string
		wantErr bool
	}{
		{"not json", "<html>", true},
		{"no keys", `{"keys":[]}`, true},
		{"only oct", `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`, true},
		{"off-curve point", mustJSON(map[string]any{"keys": []any{offCurve}}), true},
		{"short RSA", mustJSON(map[string]any{"keys": []any{jwkOf(t, &small.PublicKey, "r")}}), true},
		{"alg mismatch", mustJSON(map[string]any{"keys": []any{withAlg(good, "RS256")}}), true},
		{"good and bad", mustJSON(map[string]any{"keys": []any{offCurve, good}}), false},
		{"padded base64", mustJSON(map[string]any{"keys": []any{padded(good)}}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseJWKS([]byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func withAlg(k map[string]any, alg string) map[string]any {
	c := map[string]any{}
	for n, v := range k {
		c[n] = v
	}
	c["alg"] = alg
	return c
}

func padded(k map[string]any) map[string]any {
	c := withAlg(k, "ES256")
	for _, n := range []string{"x", "y"} {
		s := c[n].(string)
		for len(s)%4 != 0 {
			s += "="
		}
		c[n] = s
	}
	return c
}

type failingTransport struct{ calls int }

func (f *failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	f.calls++
	return nil, errors.New("no network in tests")
}

func TestJWKSURLRules(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:1/jwks", "http://localhost:1/jwks", "http://[::1]:1/jwks", "https://idp.example.com/jwks"} {
		if err := checkJWKSURL(u, false); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"http://idp.example.com/jwks", "http://10.0.0.1/jwks", "ftp://x/jwks", "https:///jwks", "::"} {
		if err := checkJWKSURL(u, false); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
	// AllowInsecureJWKS lets a non-loopback http URL through; the custom
	// client is used (and its failure does not fail New).
	ft := &failingTransport{}
	clk := newClock()
	cfg := jwksConfig("http://idp.example.com/jwks", clk)
	cfg.JWT.AllowInsecureJWKS = true
	cfg.JWT.HTTPClient = &http.Client{Transport: ft}
	a := mustNew(t, cfg)
	if ft.calls != 1 {
		t.Fatalf("transport calls = %d, want 1", ft.calls)
	}
	_, err := a.Authenticate(bearerReq("Bearer eyJhbGciOiJFUzI1NiIsImtpZCI6ImsifQ.e30.c2ln"))
	if !errors.Is(err, ErrKeysUnavailable) || !strings.Contains(detail(err), "no network") {
		t.Fatalf("err = %v (%s)", err, detail(err))
	}
	if strings.Contains(detail(err), "idp.example.com") {
		t.Fatalf("detail repeats the URL: %s", detail(err))
	}
}

func TestJWKSRedirectToInsecureRefused(t *testing.T) {
	clk := newClock()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Loopback http is allowed, so redirect to a non-loopback http URL.
		http.Redirect(w, r, "http://idp.example.com/jwks", http.StatusFound)
	}))
	t.Cleanup(redir.Close)
	a := mustNew(t, jwksConfig(redir.URL, clk))
	_, err := a.Authenticate(bearerReq("Bearer " + sign(t, jwt.SigningMethodES256, key, "k1", claims(clk.Now(), nil))))
	if !errors.Is(err, ErrKeysUnavailable) || !strings.Contains(detail(err), "https") {
		t.Fatalf("err = %v (%s), want the redirect refused", err, detail(err))
	}
}

func TestJWKSBackgroundRefresh(t *testing.T) {
	oldMin, oldRe := minJWKSRefresh, refetchInterval
	minJWKSRefresh, refetchInterval = time.Millisecond, 5*time.Millisecond
	t.Cleanup(func() { minJWKSRefresh, refetchInterval = oldMin, oldRe })

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv := newJWKSServer(t, jwkOf(t, &key.PublicKey, "k1"))
	cfg := jwksConfig(srv.URL, newClock())
	cfg.JWT.JWKSRefresh = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	a, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for srv.hits.Load() < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("background refresh: only %d hits", srv.hits.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Cancelling the context stops the loop; Close then returns promptly.
	cancel()
	a.Close()
	n := srv.hits.Load()
	time.Sleep(50 * time.Millisecond)
	if m := srv.hits.Load(); m != n {
		t.Fatalf("refresh continued after Close: %d → %d", n, m)
	}
}
