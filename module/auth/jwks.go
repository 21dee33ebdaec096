package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// JWKS fetch limits (OWASP API7: the JWKS URL is the only outbound request
// this package makes, so it is bounded in size, time and rate).
const (
	// MaxJWKSSize caps a JWKS response body.
	MaxJWKSSize = 1 << 20
	// JWKSTimeout bounds one JWKS fetch.
	JWKSTimeout = 10 * time.Second
	// maxJWKSKeys caps the number of keys in a set.
	maxJWKSKeys = 100
	// maxRedirects caps redirects followed when fetching the JWKS.
	maxRedirects = 3
)

// Variables so that tests can shorten them; the documented values are the
// production ones.
var (
	// refetchInterval is the minimum time between two fetches triggered by
	// tokens (unknown kid, keys never loaded); it also paces background
	// retries after a failed refresh.
	refetchInterval = time.Minute
	// minJWKSRefresh is the smallest accepted JWKSRefresh.
	minJWKSRefresh = time.Minute
)

// jwk is one usable verification key of the set.
type jwk struct {
	key crypto.PublicKey
	alg string // "alg" member of the JWK, "" if absent
}

// jwksCache holds the keys of one JWKS URL.
type jwksCache struct {
	url    string
	client *http.Client
	now    func() time.Time // injected clock, used for the refetch rate limit

	mu      sync.RWMutex
	keys    map[string][]jwk // by kid ("" for keys without one)
	loaded  bool             // at least one fetch succeeded
	lastErr error            // last fetch failure, nil after a success

	fetchMu   sync.Mutex // one fetch at a time
	nextFetch time.Time  // guarded by fetchMu; token-triggered fetches wait until then

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

func newJWKSCache(ctx context.Context, c *JWTConfig, now func() time.Time) (*jwksCache, error) {
	if err := checkJWKSURL(c.JWKSURL, c.AllowInsecureJWKS); err != nil {
		return nil, err
	}
	refresh := c.JWKSRefresh
	switch {
	case refresh == 0:
		refresh = DefaultJWKSRefresh
	case refresh < minJWKSRefresh:
		return nil, fmt.Errorf("JWKS refresh interval %s is below the minimum %s", refresh, minJWKSRefresh)
	}
	var client http.Client
	if c.HTTPClient != nil {
		client = *c.HTTPClient // shallow copy so we can add the redirect policy
	} else {
		client.Timeout = JWKSTimeout
	}
	if client.CheckRedirect == nil {
		allowInsecure := c.AllowInsecureJWKS
		client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return errors.New("too many redirects")
			}
			// A redirect must not downgrade to plain http on another host.
			return checkJWKSURL(req.URL.String(), allowInsecure)
		}
	}
	jc := &jwksCache{url: c.JWKSURL, client: &client, now: now}
	if ctx == nil {
		ctx = context.Background()
	}
	jc.ctx, jc.cancel = context.WithCancel(ctx)

	// First fetch. A failure is kept in lastErr and nextFetch stays zero, so
	// the first token retries at once.
	jc.fetchMu.Lock()
	if err := jc.fetch(); err == nil {
		jc.nextFetch = now().Add(refetchInterval)
	}
	jc.fetchMu.Unlock()

	jc.wg.Add(1)
	go jc.refreshLoop(refresh)
	return jc, nil
}

// checkJWKSURL allows https, and http only on loopback hosts unless
// allowInsecure.
func checkJWKSURL(raw string, allowInsecure bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("JWKS URL is not a valid URL")
	}
	if u.Host == "" {
		return errors.New("JWKS URL has no host")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if allowInsecure || isLoopbackHost(u.Hostname()) {
			return nil
		}
		return errors.New("JWKS URL must use https (plain http is allowed only on loopback hosts)")
	}
	return fmt.Errorf("JWKS URL scheme %q is not supported", u.Scheme)
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.IsLoopback()
}

func (c *jwksCache) close() {
	c.closeOnce.Do(func() {
		c.cancel()
		c.wg.Wait()
	})
}

// refreshLoop refetches every period, and sooner after a failure.
func (c *jwksCache) refreshLoop(period time.Duration) {
	defer c.wg.Done()
	t := time.NewTimer(period)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		c.fetchMu.Lock()
		err := c.fetch()
		c.nextFetch = c.now().Add(refetchInterval)
		c.fetchMu.Unlock()
		next := period
		if err != nil && refetchInterval < next {
			next = refetchInterval
		}
		t.Reset(next)
	}
}

// lookup returns the keys usable for a token with kid and alg. If none is
// cached it refetches the set, at most once per refetchInterval, which both
// picks up a rotated key and keeps garbage kids from hammering the IdP.
func (c *jwksCache) lookup(kid, alg string) ([]crypto.PublicKey, error) {
	keys, loaded, exists := c.cached(kid, alg)
	if len(keys) > 0 {
		return keys, nil
	}
	c.fetchMu.Lock()
	// Another request may have fetched while we waited.
	keys, loaded, exists = c.cached(kid, alg)
	if len(keys) == 0 && !c.now().Before(c.nextFetch) {
		_ = c.fetch() // the error is kept in lastErr
		c.nextFetch = c.now().Add(refetchInterval)
		keys, loaded, exists = c.cached(kid, alg)
	}
	c.fetchMu.Unlock()
	if len(keys) > 0 {
		return keys, nil
	}
	if !loaded {
		c.mu.RLock()
		cause := c.lastErr
		c.mu.RUnlock()
		if cause == nil {
			cause = errors.New("JWKS not fetched yet (rate-limited)")
		}
		return nil, fail(ErrKeysUnavailable, cause)
	}
	if exists {
		return nil, fail(ErrInvalidToken, fmt.Errorf("key %q does not fit alg %s", truncate(kid, 64), alg))
	}
	if kid == "" {
		return nil, fail(ErrUnknownKeyID, fmt.Errorf("no key without kid for alg %s", alg))
	}
	return nil, fail(ErrUnknownKeyID, fmt.Errorf("kid %q not in JWKS", truncate(kid, 64)))
}

// cached returns the cached keys fitting kid and alg. A token without kid may
// be verified by any key of the set that fits alg. exists reports whether
// kid is in the set at all.
func (c *jwksCache) cached(kid, alg string) (keys []crypto.PublicKey, loaded, exists bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var cands []jwk
	if kid == "" {
		for _, ks := range c.keys {
			cands = append(cands, ks...)
		}
		exists = false
	} else {
		cands, exists = c.keys[kid]
	}
	for _, k := range cands {
		if (k.alg == "" || k.alg == alg) && keyFitsAlg(k.key, alg) {
			keys = append(keys, k.key)
		}
	}
	return keys, c.loaded, exists
}

// fetch downloads and parses the set; the caller holds fetchMu. On failure
// the previous keys are kept, so an IdP outage does not lock clients out.
func (c *jwksCache) fetch() error {
	keys, err := c.download()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.lastErr = err
		return err
	}
	c.keys, c.loaded, c.lastErr = keys, true, nil
	return nil
}

func (c *jwksCache) download() (map[string][]jwk, error) {
	ctx, cancel := context.WithTimeout(c.ctx, JWKSTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks: building request: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", scrubURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // allow connection reuse
		return nil, fmt.Errorf("jwks: unexpected status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSSize+1))
	if err != nil {
		return nil, fmt.Errorf("jwks: reading body: %w", scrubURLError(err))
	}
	if len(body) > MaxJWKSSize {
		return nil, errors.New("jwks: response exceeds 1 MiB")
	}
	return parseJWKS(body)
}

// scrubURLError drops the URL from *url.Error: it may carry credentials in
// its userinfo or query, and the operator knows which URL is configured.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		var ne net.Error
		if errors.As(ue.Err, &ne) && ne.Timeout() {
			return errors.New("timeout")
		}
		return ue.Err
	}
	return err
}

// rawJWK holds the JWK members we use (RFC 7517 §4, RFC 7518 §6, RFC 8037).
type rawJWK struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Alg    string   `json:"alg"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
}

// parseJWKS parses a key set. Keys that are not for signatures or that we
// cannot use (symmetric "oct" keys among them: a published key is no
// secret) are skipped; a set without any usable key is an error.
func parseJWKS(body []byte) (map[string][]jwk, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, errors.New("jwks: response is not a JSON key set")
	}
	if len(set.Keys) > maxJWKSKeys {
		return nil, fmt.Errorf("jwks: %d keys exceed the limit of %d", len(set.Keys), maxJWKSKeys)
	}
	out := make(map[string][]jwk)
	var firstErr error
	for i, raw := range set.Keys {
		var r rawJWK
		if err := json.Unmarshal(raw, &r); err != nil {
			firstErr = cmpOr(firstErr, fmt.Errorf("key %d: malformed", i))
			continue
		}
		if r.Use != "" && r.Use != "sig" {
			continue
		}
		if len(r.KeyOps) > 0 && !slices.Contains(r.KeyOps, "verify") {
			continue
		}
		key, err := parseJWK(&r)
		if err != nil {
			firstErr = cmpOr(firstErr, fmt.Errorf("key %d (kid %q): %w", i, truncate(r.Kid, 64), err))
			continue
		}
		if r.Alg != "" && !keyFitsAlg(key, r.Alg) {
			firstErr = cmpOr(firstErr, fmt.Errorf("key %d (kid %q): alg %q does not fit the key", i, truncate(r.Kid, 64), truncate(r.Alg, 20)))
			continue
		}
		out[r.Kid] = append(out[r.Kid], jwk{key: key, alg: r.Alg})
	}
	if len(out) == 0 {
		if firstErr != nil {
			return nil, fmt.Errorf("jwks: no usable signing key (%w)", firstErr)
		}
		return nil, errors.New("jwks: no usable signing key")
	}
	return out, nil
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func parseJWK(r *rawJWK) (crypto.PublicKey, error) {
	switch r.Kty {
	case "RSA":
		n, err := b64Int(r.N)
		if err != nil {
			return nil, fmt.Errorf("n: %w", err)
		}
		eb, err := b64(r.E)
		if err != nil || len(eb) == 0 || len(eb) > 4 {
			return nil, errors.New("e: bad value")
		}
		e := int(new(big.Int).SetBytes(eb).Int64())
		if e < 3 || e%2 == 0 {
			return nil, errors.New("e: bad value")
		}
		k := &rsa.PublicKey{N: n, E: e}
		if err := checkPublicKey(k); err != nil {
			return nil, err
		}
		return k, nil
	case "EC":
		var curve elliptic.Curve
		switch r.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, fmt.Errorf("unsupported curve %q", truncate(r.Crv, 20))
		}
		size := (curve.Params().BitSize + 7) / 8
		x, errX := b64(r.X)
		y, errY := b64(r.Y)
		// RFC 7518 §6.2.1.2: coordinates are full-length octet strings.
		if errX != nil || errY != nil || len(x) != size || len(y) != size {
			return nil, errors.New("bad x or y coordinate")
		}
		point := append(append([]byte{4}, x...), y...)
		k, err := ecdsa.ParseUncompressedPublicKey(curve, point) // checks the point is on the curve
		if err != nil {
			return nil, errors.New("point is not on the curve")
		}
		return k, nil
	case "OKP":
		if r.Crv != "Ed25519" {
			return nil, fmt.Errorf("unsupported OKP curve %q", truncate(r.Crv, 20))
		}
		x, err := b64(r.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("bad Ed25519 key")
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, fmt.Errorf("unsupported kty %q", truncate(r.Kty, 20))
}

// b64 decodes base64url without padding (RFC 7515 §2), tolerating padding
// some IdPs emit anyway.
func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

func b64Int(s string) (*big.Int, error) {
	b, err := b64(s)
	if err != nil || len(b) == 0 {
		return nil, errors.New("bad value")
	}
	return new(big.Int).SetBytes(b), nil
}
