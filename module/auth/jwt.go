package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults and limits of JWTConfig.
const (
	// DefaultLeeway is the clock skew tolerated on exp, nbf and iat.
	DefaultLeeway = 60 * time.Second
	// DefaultJWKSRefresh is the period of the background JWKS refresh.
	DefaultJWKSRefresh = time.Hour
	// MinSecretLength is the minimum HMAC secret length in bytes: RFC 7518
	// §3.2 requires a key at least as long as the hash output (256 bits for
	// HS256).
	MinSecretLength = 32
	// minRSABits follows RFC 7518 §3.3 (2048 bits or larger).
	minRSABits = 2048
	maxRSABits = 8192
	// maxPrincipalLength bounds the claim used as Principal.ID, which ends
	// up in logs.
	maxPrincipalLength = 256
)

// DefaultJWKSAlgorithms is the allow-list used with a JWKS URL when
// JWTConfig.Algorithms is empty. HMAC is never accepted with a JWKS: the key
// set is public.
var DefaultJWKSAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"}

// knownAlgorithms lists the JWS algorithms this package can verify.
var knownAlgorithms = []string{
	"HS256", "HS384", "HS512",
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA",
}

// JWTConfig configures JWT bearer tokens. Exactly one of Secret, KeyFile and
// JWKSURL must be set.
type JWTConfig struct {
	// Issuer is the required "iss" claim (exact match). Required.
	Issuer string
	// Audiences are the accepted "aud" values; the token must carry at
	// least one of them. At least one is required (RFC 8725 §3.9).
	Audiences []string

	// Secret is an HMAC secret (HS256/384/512), at least MinSecretLength
	// bytes.
	Secret string
	// KeyFile is the path of a PEM file holding one public key (PKIX "PUBLIC
	// KEY" or PKCS#1 "RSA PUBLIC KEY": RSA ≥ 2048 bits, ECDSA P-256/384/521
	// or Ed25519) or one X.509 certificate whose public key is used. It is
	// read once, by New.
	KeyFile string
	// JWKSURL is the URL of a JSON Web Key Set (RFC 7517). It must be https,
	// or http on a loopback host (127.0.0.0/8, ::1, localhost). jku/x5u
	// headers in tokens are never followed.
	JWKSURL string
	// AllowInsecureJWKS permits a plain-http JWKSURL on a non-loopback host.
	// Only for tests and closed networks: anyone on the path can then
	// substitute the keys.
	AllowInsecureJWKS bool

	// Algorithms is the allow-list of JWS "alg" values. Default: HS256 with
	// Secret; for KeyFile RS256 (RSA), ES256/ES384/ES512 (by curve) or EdDSA;
	// DefaultJWKSAlgorithms for JWKSURL. "none" is never accepted, and
	// algorithms that do not fit the key type (e.g. HS256 with a public key)
	// are a configuration error.
	Algorithms []string

	// Leeway is the tolerated clock skew. Zero means DefaultLeeway.
	Leeway time.Duration

	// RequireScopes lists scopes the token must all carry, in "scp" or "scope"
	// (a space-separated string or an array) or, for app-only tokens of Entra ID,
	// "roles". Without it any token of the issuer for the audience is accepted —
	// with audience set to an OIDC client id, a user's own ID token too.
	RequireScopes []string
	// RequireClientIDs lists the clients allowed to call: the token's "azp",
	// "appid" or "client_id" must be one of them.
	RequireClientIDs []string
	// RequireTypes lists the accepted "typ" header values, compared
	// case-insensitively (e.g. "at+jwt" for RFC 9068 access tokens, "JWT").
	RequireTypes []string
	// JWKSRefresh is the period of the background JWKS refresh. Zero means
	// DefaultJWKSRefresh; the minimum is one minute. Independently, an
	// unknown "kid" triggers a refetch at most once per minute.
	JWKSRefresh time.Duration
	// HTTPClient fetches the JWKS. Default: a client with a 10 s timeout.
	// Redirects are followed (at most 3) only to URLs that pass the same
	// scheme rules as JWKSURL.
	HTTPClient *http.Client
	// Now returns the current time; for tests. Default time.Now.
	Now func() time.Time
}

// String redacts the secret.
func (c *JWTConfig) String() string {
	src := "none"
	switch {
	case c.Secret != "":
		src = "secret(redacted)"
	case c.KeyFile != "":
		src = "key_file(" + c.KeyFile + ")"
	case c.JWKSURL != "":
		src = "jwks(" + c.JWKSURL + ")"
	}
	return fmt.Sprintf("auth.JWTConfig{Issuer: %q, Audiences: %q, Key: %s, Algorithms: %q}",
		c.Issuer, c.Audiences, src, c.Algorithms)
}

// jwtVerifier verifies JWTs for one JWTConfig.
type jwtVerifier struct {
	algs   []string
	parser *jwt.Parser
	// required claims (RequireScopes, RequireClientIDs, RequireTypes)
	scopes, clients, types []string

	// Exactly one of the following is set. Keeping them in distinct typed
	// fields is what prevents algorithm confusion: an HMAC algorithm only
	// ever gets secret, never the bytes of a public key.
	secret  []byte
	fileKey crypto.PublicKey
	jwks    *jwksCache
}

func newJWTVerifier(ctx context.Context, c *JWTConfig) (*jwtVerifier, error) {
	if c.Issuer == "" {
		return nil, errors.New("issuer is required")
	}
	if len(c.Audiences) == 0 || slices.Contains(c.Audiences, "") {
		return nil, errors.New("at least one non-empty audience is required")
	}
	n := 0
	for _, s := range []string{c.Secret, c.KeyFile, c.JWKSURL} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("exactly one of secret, key file and JWKS URL is required")
	}
	for _, alg := range c.Algorithms {
		if strings.EqualFold(alg, "none") {
			return nil, errors.New(`algorithm "none" is never accepted`)
		}
		if !slices.Contains(knownAlgorithms, alg) {
			return nil, fmt.Errorf("unsupported algorithm %q", alg)
		}
	}
	leeway := c.Leeway
	switch {
	case leeway < 0:
		return nil, errors.New("leeway must not be negative")
	case leeway == 0:
		leeway = DefaultLeeway
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}

	v := &jwtVerifier{}
	switch {
	case c.Secret != "":
		if len(c.Secret) < MinSecretLength {
			return nil, fmt.Errorf("secret is too short (%d bytes, minimum %d)", len(c.Secret), MinSecretLength)
		}
		v.secret = []byte(c.Secret)
		v.algs = defaultList(c.Algorithms, "HS256")
		for _, alg := range v.algs {
			if !strings.HasPrefix(alg, "HS") {
				return nil, fmt.Errorf("algorithm %s does not fit an HMAC secret", alg)
			}
		}
	case c.KeyFile != "":
		key, err := loadKeyFile(c.KeyFile)
		if err != nil {
			return nil, err
		}
		v.fileKey = key
		v.algs = defaultList(c.Algorithms, defaultAlgFor(key))
		for _, alg := range v.algs {
			if !keyFitsAlg(key, alg) {
				return nil, fmt.Errorf("algorithm %s does not fit the %s key in %s", alg, keyTypeName(key), c.KeyFile)
			}
		}
	default:
		v.algs = defaultList(c.Algorithms, DefaultJWKSAlgorithms...)
		for _, alg := range v.algs {
			if strings.HasPrefix(alg, "HS") {
				return nil, fmt.Errorf("algorithm %s is not accepted with a JWKS (public keys are not HMAC secrets)", alg)
			}
		}
		jc, err := newJWKSCache(ctx, c, now)
		if err != nil {
			return nil, err
		}
		v.jwks = jc
	}

	v.scopes, v.clients, v.types = c.RequireScopes, c.RequireClientIDs, c.RequireTypes
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(v.algs),
		jwt.WithIssuer(c.Issuer),
		jwt.WithAudience(c.Audiences...), // any one of them suffices
		jwt.WithExpirationRequired(),     // RFC 7644 §7.4: limited lifetime
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(now),
	)
	return v, nil
}

func defaultList(configured []string, def ...string) []string {
	if len(configured) > 0 {
		return slices.Clone(configured)
	}
	return slices.Clone(def)
}

func (v *jwtVerifier) close() {
	if v.jwks != nil {
		v.jwks.close()
	}
}

// jwsHeader holds the header fields we look at before verification.
type jwsHeader struct {
	Alg  string          `json:"alg"`
	Typ  string          `json:"typ"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
}

func (v *jwtVerifier) verify(tok string) (Principal, error) {
	// Read the header ourselves first: the library reports a disallowed alg
	// as a generic signature error, and we want a precise reason.
	hdr, err := decodeHeader(tok)
	if err != nil {
		return Principal{}, fail(ErrInvalidToken, err)
	}
	if hdr.Alg == "none" || !slices.Contains(v.algs, hdr.Alg) {
		return Principal{}, fail(ErrAlgorithmNotAllowed, fmt.Errorf("alg %q is not in the allow-list", truncate(hdr.Alg, 20)))
	}
	// RFC 7515 §4.1.11: extensions listed in crit must be understood; we
	// understand none.
	if len(hdr.Crit) > 0 && string(hdr.Crit) != "null" {
		return Principal{}, fail(ErrInvalidToken, errors.New("unsupported crit header"))
	}

	claims := jwt.MapClaims{}
	_, err = v.parser.ParseWithClaims(tok, claims, func(t *jwt.Token) (any, error) {
		return v.keyFor(hdr.Kid, t.Method.Alg())
	})
	if err != nil {
		return Principal{}, mapJWTError(err)
	}
	if err := v.checkRequired(hdr.Typ, claims); err != nil {
		return Principal{}, err
	}
	id, ok := claimValue(claims, "sub", "azp", "appid", "client_id")
	if !ok || id == "" {
		return Principal{}, fail(ErrInvalidToken, errors.New("no usable sub, azp, appid or client_id claim"))
	}
	client, _ := claimValue(claims, "azp", "appid", "client_id") // an odd one is left out
	return Principal{ID: id, Method: MethodJWT, ClientID: client}, nil
}

// checkRequired enforces RequireTypes, RequireClientIDs and RequireScopes on a
// verified token.
func (v *jwtVerifier) checkRequired(typ string, c jwt.MapClaims) error {
	if len(v.types) > 0 && !slices.ContainsFunc(v.types, func(t string) bool { return strings.EqualFold(t, typ) }) {
		return fail(ErrClaimNotAllowed, fmt.Errorf("typ %q is not one of the required types", truncate(typ, 20)))
	}
	if len(v.clients) > 0 {
		ok := false
		for _, name := range []string{"azp", "appid", "client_id"} {
			if s, _ := c[name].(string); s != "" && slices.Contains(v.clients, s) {
				ok = true
			}
		}
		if !ok {
			return fail(ErrClaimNotAllowed, errors.New("azp, appid or client_id is not one of the required clients"))
		}
	}
	have := map[string]bool{}
	for _, name := range []string{"scp", "scope", "roles"} {
		switch x := c[name].(type) {
		case string:
			for _, f := range strings.Fields(x) {
				have[f] = true
			}
		case []any:
			for _, e := range x {
				if s, ok := e.(string); ok {
					have[s] = true
				}
			}
		}
	}
	for _, want := range v.scopes {
		if !have[want] {
			return fail(ErrClaimNotAllowed, fmt.Errorf("the token lacks the required scope %q (scp, scope or roles)", truncate(want, 64)))
		}
	}
	return nil
}

// keyFor returns the verification key for alg (already allow-listed). The
// key's Go type always matches the algorithm family, so the library can never
// be handed a public key as an HMAC secret.
func (v *jwtVerifier) keyFor(kid, alg string) (any, error) {
	switch {
	case v.secret != nil:
		if !strings.HasPrefix(alg, "HS") {
			return nil, fail(ErrAlgorithmNotAllowed, errors.New("algorithm does not fit the secret"))
		}
		return v.secret, nil
	case v.fileKey != nil:
		// A kid is irrelevant with a single configured key.
		if !keyFitsAlg(v.fileKey, alg) {
			return nil, fail(ErrAlgorithmNotAllowed, errors.New("algorithm does not fit the key file"))
		}
		return v.fileKey, nil
	default:
		keys, err := v.jwks.lookup(kid, alg)
		if err != nil {
			return nil, err
		}
		if len(keys) == 1 {
			return keys[0], nil
		}
		set := jwt.VerificationKeySet{Keys: make([]jwt.VerificationKey, len(keys))}
		for i, k := range keys {
			set.Keys[i] = k
		}
		return set, nil
	}
}

func decodeHeader(tok string) (jwsHeader, error) {
	var h jwsHeader
	seg, _, ok := strings.Cut(tok, ".")
	if !ok {
		return h, errors.New("malformed jwt")
	}
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return h, errors.New("malformed jwt header encoding")
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return h, errors.New("malformed jwt header json")
	}
	return h, nil
}

// mapJWTError turns a golang-jwt error into an *AuthError. The library's
// messages name claims and algorithms, never the token, so they are kept as
// the detail.
func mapJWTError(err error) error {
	var ae *AuthError
	if errors.As(err, &ae) { // from keyFor
		return ae
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return fail(ErrInvalidToken, err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return fail(ErrInvalidToken, err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return fail(ErrTokenExpired, err)
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return fail(ErrTokenNotYetValid, err)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return fail(ErrWrongIssuer, err)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return fail(ErrWrongAudience, err)
	}
	return fail(ErrInvalidToken, err)
}

// claimValue is the first non-empty string claim of names: the caller identity is
// sub, else the client id claims used by Entra ID (azp, appid) and RFC 9068 / Okta
// (client_id). ok=false when that claim is unusable: it goes into logs, placeholders
// and the audit trail, so oddities are refused.
func claimValue(c jwt.MapClaims, names ...string) (string, bool) {
	for _, name := range names {
		s, ok := c[name].(string)
		if !ok || s == "" {
			continue
		}
		if len(s) > maxPrincipalLength || !utf8.ValidString(s) ||
			strings.IndexFunc(s, unicode.IsControl) >= 0 {
			return "", false
		}
		return s, true
	}
	return "", true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// loadKeyFile reads a single public key or certificate from a PEM file.
func loadKeyFile(path string) (crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	var key crypto.PublicKey
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		var k crypto.PublicKey
		switch {
		case strings.Contains(b.Type, "PRIVATE KEY"):
			return nil, fmt.Errorf("key file %s holds a private key; give the public key or certificate only", path)
		case b.Type == "PUBLIC KEY":
			k, err = x509.ParsePKIXPublicKey(b.Bytes)
		case b.Type == "RSA PUBLIC KEY":
			k, err = x509.ParsePKCS1PublicKey(b.Bytes)
		case b.Type == "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(b.Bytes); err == nil {
				k = cert.PublicKey
			}
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parsing %s in key file %s: %w", b.Type, path, err)
		}
		if key != nil {
			// A chain would make its CA keys token signers: refuse.
			return nil, fmt.Errorf("key file %s holds more than one key or certificate", path)
		}
		key = k
	}
	if key == nil {
		return nil, fmt.Errorf("key file %s holds no PEM public key or certificate", path)
	}
	if err := checkPublicKey(key); err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return key, nil
}

// checkPublicKey accepts the key types and sizes we verify with.
func checkPublicKey(k crypto.PublicKey) error {
	switch k := k.(type) {
	case *rsa.PublicKey:
		if b := k.N.BitLen(); b < minRSABits || b > maxRSABits {
			return fmt.Errorf("RSA key of %d bits (want %d to %d)", b, minRSABits, maxRSABits)
		}
	case *ecdsa.PublicKey:
		if ecAlg(k.Curve) == "" {
			return errors.New("unsupported ECDSA curve (want P-256, P-384 or P-521)")
		}
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return errors.New("bad Ed25519 key size")
		}
	default:
		return fmt.Errorf("unsupported key type %T", k)
	}
	return nil
}

// ecAlg is the one JWS algorithm for an ECDSA curve (RFC 7518 §3.4).
func ecAlg(c elliptic.Curve) string {
	switch c {
	case elliptic.P256():
		return "ES256"
	case elliptic.P384():
		return "ES384"
	case elliptic.P521():
		return "ES512"
	}
	return ""
}

func defaultAlgFor(k crypto.PublicKey) string {
	switch k := k.(type) {
	case *rsa.PublicKey:
		return "RS256"
	case *ecdsa.PublicKey:
		return ecAlg(k.Curve)
	case ed25519.PublicKey:
		return "EdDSA"
	}
	return ""
}

// keyFitsAlg reports whether alg is an asymmetric algorithm for key's type.
// HMAC never fits a public key.
func keyFitsAlg(k crypto.PublicKey, alg string) bool {
	switch k := k.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		return alg != "" && alg == ecAlg(k.Curve)
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

func keyTypeName(k crypto.PublicKey) string {
	switch k.(type) {
	case *rsa.PublicKey:
		return "RSA"
	case *ecdsa.PublicKey:
		return "ECDSA"
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", k)
}
