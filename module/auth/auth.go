// Package auth authenticates SCIM clients with bearer credentials: static
// tokens compared in constant time, and JWTs (RFC 7519) verified with an HMAC
// secret, a PEM public key or a JWKS fetched from an operator-configured URL.
//
// It imports nothing of Caddy and never logs: the caller resolves
// placeholders before calling New, and logs the *AuthError returned by
// Authenticate. Tokens are read only from the Authorization header (RFC 6750
// §2.1), never from the query string or body.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// MinTokenLength is the minimum length of a static token, in bytes.
const MinTokenLength = 16

// maxCredentialLength caps what is hashed or parsed per request; IdP access
// tokens are a few KiB at most, and anything larger is rejected cheaply.
const maxCredentialLength = 16 << 10

// Config configures an Authenticator. At least one of Tokens and JWT must be
// set: an Authenticator never lets anonymous requests through.
type Config struct {
	// Tokens are static bearer tokens, already resolved from placeholders.
	// Each must be at least MinTokenLength bytes, contain no whitespace or
	// control characters, and be distinct. A request authenticated by the
	// i-th token gets Principal.ID "token#i" (1-based).
	Tokens []string

	// JWT enables JWT bearer tokens. Optional.
	JWT *JWTConfig
}

// String redacts the secrets so that a Config that reaches a log is harmless.
func (c Config) String() string {
	s := fmt.Sprintf("auth.Config{Tokens: %d redacted", len(c.Tokens))
	if c.JWT != nil {
		s += ", JWT: " + c.JWT.String()
	}
	return s + "}"
}

// Principal is the authenticated caller.
type Principal struct {
	// ID names the caller for logs and audit: "token#N" (1-based index of
	// the static token, never the token) or, for a JWT, its "sub" claim
	// (else "azp", "appid" or "client_id").
	ID string
	// Method is "token" or "jwt".
	Method string
	// ClientID is a JWT's client ("azp", else "appid", else "client_id"); "" for
	// static tokens.
	ClientID string
}

// Authentication methods reported in Principal.Method.
const (
	MethodToken = "token"
	MethodJWT   = "jwt"
)

// Authenticator verifies bearer credentials. It is safe for concurrent use.
type Authenticator struct {
	digests [][sha256.Size]byte // SHA-256 of each static token, in config order
	jwt     *jwtVerifier        // nil if JWT is not configured
}

// New validates cfg and builds an Authenticator. With a JWKS URL it makes a
// first fetch; a failing fetch does not fail New (the IdP may be down while
// Caddy starts): keys are fetched again lazily on the first JWT. A background
// refresh runs until ctx is done or Close is called.
//
// Errors name the offending setting but never a token or secret.
func New(ctx context.Context, cfg Config) (*Authenticator, error) {
	if len(cfg.Tokens) == 0 && cfg.JWT == nil {
		return nil, errors.New("auth: no static tokens and no JWT configured")
	}
	a := &Authenticator{}
	seen := make(map[[sha256.Size]byte]int, len(cfg.Tokens))
	for i, t := range cfg.Tokens {
		n := i + 1
		if len(t) < MinTokenLength {
			return nil, fmt.Errorf("auth: token #%d is too short (%d bytes, minimum %d)", n, len(t), MinTokenLength)
		}
		if len(t) > maxCredentialLength {
			return nil, fmt.Errorf("auth: token #%d is too long (maximum %d bytes)", n, maxCredentialLength)
		}
		// A bearer credential is a single b64token-like word (RFC 6750 §2.1);
		// whitespace here usually means a badly resolved placeholder.
		if strings.IndexFunc(t, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
			return nil, fmt.Errorf("auth: token #%d contains whitespace or control characters", n)
		}
		d := sha256.Sum256([]byte(t))
		if prev, dup := seen[d]; dup {
			return nil, fmt.Errorf("auth: tokens #%d and #%d are identical", prev, n)
		}
		seen[d] = n
		a.digests = append(a.digests, d)
	}
	if cfg.JWT != nil {
		v, err := newJWTVerifier(ctx, cfg.JWT)
		if err != nil {
			return nil, fmt.Errorf("auth: jwt: %w", err)
		}
		a.jwt = v
	}
	return a, nil
}

// Close stops the background JWKS refresh. It is safe to call more than once.
func (a *Authenticator) Close() {
	if a != nil && a.jwt != nil {
		a.jwt.close()
	}
}

// Authenticate checks the request's bearer credential. On failure it returns
// a *AuthError (compare with errors.Is against the Err* sentinels).
//
// A credential shaped like a JWT (three base64url segments) is verified as a
// JWT when JWT is configured; it is also compared with the static tokens, and
// if neither accepts it the JWT error is returned, being the more specific.
func (a *Authenticator) Authenticate(r *http.Request) (Principal, error) {
	tok, ok := bearerToken(r.Header.Values("Authorization"))
	if !ok {
		return Principal{}, ErrMissingToken
	}
	if len(tok) > maxCredentialLength {
		return Principal{}, fail(ErrInvalidToken, errors.New("credential too long"))
	}
	var jwtErr error
	if a.jwt != nil && looksLikeJWT(tok) {
		p, err := a.jwt.verify(tok)
		if err == nil {
			return p, nil
		}
		jwtErr = err
	}
	if idx := a.matchStatic(tok); idx > 0 {
		return Principal{ID: "token#" + strconv.Itoa(idx), Method: MethodToken}, nil
	}
	if jwtErr != nil {
		return Principal{}, jwtErr
	}
	return Principal{}, ErrInvalidToken
}

// matchStatic returns the 1-based index of the matching static token, or 0.
// Both sides are SHA-256 digests, so the comparison time depends neither on
// the length of the presented or configured tokens nor on where they differ,
// and every token is compared (no early exit) so timing does not reveal
// which one matched.
func (a *Authenticator) matchStatic(tok string) int {
	if len(a.digests) == 0 {
		return 0
	}
	d := sha256.Sum256([]byte(tok))
	match := 0
	for i := range a.digests {
		eq := subtle.ConstantTimeCompare(d[:], a.digests[i][:])
		match = subtle.ConstantTimeSelect(eq, i+1, match)
	}
	return match
}

// bearerToken extracts the credential of a single "Bearer" Authorization
// header. The scheme is case-insensitive (RFC 7235 §2.1) and may be followed
// by one or more spaces. Several Authorization headers are ambiguous and
// rejected.
func bearerToken(values []string) (string, bool) {
	if len(values) != 1 {
		return "", false
	}
	v := values[0]
	const scheme = "bearer"
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) || v[len(scheme)] != ' ' {
		return "", false
	}
	tok := strings.Trim(v[len(scheme):], " \t")
	if tok == "" {
		return "", false
	}
	return tok, true
}

// looksLikeJWT reports whether tok is three dot-separated base64url segments
// (JWS compact serialization) with a non-empty header and payload.
func looksLikeJWT(tok string) bool {
	parts := 0
	segLen := 0
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		switch {
		case c == '.':
			if segLen == 0 && parts < 2 {
				return false
			}
			parts++
			segLen = 0
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			segLen++
		default:
			return false
		}
	}
	return parts == 2
}
