package auth

// AuthError is returned by Authenticate for every rejected request. Its
// Error() is a short, fixed reason that is safe to send to the client and to
// log: it never contains the presented token, a configured secret or key
// material. Detail() adds a cause for operators (for example why a JWKS fetch
// failed or which claim was missing); it too is built so that it never holds
// the token, but it is meant for logs, not for responses.
type AuthError struct {
	// Reason is one of the fixed reasons of the Err* sentinels.
	Reason string
	cause  error
}

// Error returns the client-safe reason only.
func (e *AuthError) Error() string { return e.Reason }

// Is makes errors.Is(err, auth.ErrTokenExpired) work whatever the cause.
func (e *AuthError) Is(target error) bool {
	t, ok := target.(*AuthError)
	return ok && t.Reason == e.Reason
}

// Unwrap returns the internal cause (may be nil). Intended for logs.
func (e *AuthError) Unwrap() error { return e.cause }

// Detail returns the internal cause as text for operator logs, or "".
func (e *AuthError) Detail() string {
	if e.cause == nil {
		return ""
	}
	return e.cause.Error()
}

// Sentinels, compared with errors.Is. Every failure of Authenticate is one of
// them (wrapped in a new *AuthError carrying the cause).
var (
	// ErrMissingToken: no "Authorization: Bearer …" header.
	ErrMissingToken = &AuthError{Reason: "missing bearer token"}
	// ErrInvalidToken: bad static token, bad signature, malformed JWT,
	// missing required claim, …
	ErrInvalidToken = &AuthError{Reason: "invalid token"}
	// ErrTokenExpired: exp (plus leeway) is in the past.
	ErrTokenExpired = &AuthError{Reason: "token expired"}
	// ErrTokenNotYetValid: nbf or iat (minus leeway) is in the future.
	ErrTokenNotYetValid = &AuthError{Reason: "token not yet valid"}
	// ErrWrongIssuer: iss is not the configured issuer.
	ErrWrongIssuer = &AuthError{Reason: "wrong issuer"}
	// ErrWrongAudience: no aud value is among the configured audiences.
	ErrWrongAudience = &AuthError{Reason: "wrong audience"}
	// ErrClaimNotAllowed: a required scope, client or token type is missing.
	ErrClaimNotAllowed = &AuthError{Reason: "required claim missing"}
	// ErrAlgorithmNotAllowed: the JWT header alg is not in the allow-list
	// (always the case for "none").
	ErrAlgorithmNotAllowed = &AuthError{Reason: "algorithm not allowed"}
	// ErrUnknownKeyID: the JWT kid is not in the JWKS, even after a
	// (rate-limited) refetch.
	ErrUnknownKeyID = &AuthError{Reason: "unknown key id"}
	// ErrKeysUnavailable: the JWKS has never been fetched successfully. This
	// is a server-side problem; Detail() says why the last fetch failed.
	ErrKeysUnavailable = &AuthError{Reason: "signing keys unavailable"}
)

// fail builds a new *AuthError with the reason of sentinel and an internal cause.
func fail(sentinel *AuthError, cause error) *AuthError {
	return &AuthError{Reason: sentinel.Reason, cause: cause}
}
