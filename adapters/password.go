package adapters

import (
	"crypto/rand"
	"encoding/base64"
)

// RandomPassword returns a password the user never needs (sign-in is by SSO): 32
// random bytes, with a prefix that satisfies the usual complexity rules (upper and
// lower case, a digit, a symbol).
func RandomPassword() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "Aa1!" + base64.RawURLEncoding.EncodeToString(b[:]), nil
}
