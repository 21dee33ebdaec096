package rest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/gjson"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
)

// Login is how the adapter gets its token where the application's admin tokens
// expire (PocketBase's superuser logins, Keystone's tokens, OAuth client
// credentials): one call with the credentials, the token read from its answer,
// kept, fetched again shortly before it expires and once when the application
// answers 401. The mapping's auth says how the token is then sent (bearer or
// header:<Name>). The adapter's token config is the secret the login sends, read
// as {{.Secret}} in this call's templates and nowhere else.
type Login struct {
	Method string            `json:"method"`
	Path   string            `json:"path"`
	Query  map[string]string `json:"query,omitempty"`
	Body   json.RawMessage   `json:"body,omitempty"`
	Form   bool              `json:"form,omitempty"`
	// Token is where the answer has the token: a JSON path ("token",
	// "access_token") or header:<Name> (Keystone's X-Subject-Token).
	Token string `json:"token"`
	// ExpiresIn is the JSON path of the seconds the token lasts ("expires_in"),
	// ExpiresAt of the moment it expires ("token.expires_at"). Without either, a
	// JWT's exp claim, else Lifetime (a duration such as "1h"), else the token is
	// kept until the application answers 401.
	ExpiresIn string `json:"expires_in,omitempty"`
	ExpiresAt string `json:"expires_at,omitempty"`
	Lifetime  string `json:"lifetime,omitempty"`
}

// session is a compiled Login and the token it holds.
type session struct {
	call                 *request
	token                string // where the answer has it
	expiresIn, expiresAt string
	lifetime             time.Duration

	mu    sync.Mutex
	tok   string
	renew time.Time // zero: until a 401
}

// compileLogin checks and compiles m's login.
func compileLogin(m *Mapping, params map[string]string) (*session, error) {
	l := m.Login
	if l == nil {
		return nil, nil
	}
	if m.Auth != "bearer" && !strings.HasPrefix(m.Auth, "header:") {
		return nil, fmt.Errorf("mapping auth: with login, the token is sent as bearer or header:<Name>, not %q", m.Auth)
	}
	s := &session{token: strings.TrimSpace(l.Token), expiresIn: l.ExpiresIn, expiresAt: l.ExpiresAt}
	switch {
	case s.token == "", s.token == "header:":
		return nil, fmt.Errorf("mapping login.token: required: the JSON path of the token in the answer, or header:<Name>")
	case l.ExpiresIn != "" && l.ExpiresAt != "":
		return nil, fmt.Errorf("mapping login.expires_at: give expires_in or expires_at, not both")
	}
	if l.Lifetime != "" {
		d, err := time.ParseDuration(l.Lifetime)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("mapping login.lifetime: must be a positive duration such as 1h, not %q", l.Lifetime)
		}
		s.lifetime = d
	}
	var err error
	s.call, err = compileCallIn("login", Call{Method: l.Method, Path: l.Path, Query: l.Query, Body: l.Body, Form: l.Form},
		len(l.Body) > 0, scope{params: params, secret: true})
	return s, err
}

// current is the session's token, fetched first when there is none, when it is
// about to expire, or when it is stale (the one a request was refused with).
func (a *Adapter) current(ctx context.Context, stale string) (string, error) {
	s := a.m.login
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != "" && s.tok != stale && (s.renew.IsZero() || time.Now().Before(s.renew)) {
		return s.tok, nil
	}
	req, err := s.call.build(Data{Secret: a.token})
	if err != nil {
		return "", adapters.MisconfiguredBecause("rest mapping %s", err)
	}
	resp, err := a.api.Do(ctx, req)
	if err != nil {
		return "", err
	}
	if !resp.OK() {
		return "", adapters.MisconfiguredBecause("%s refused the adapter's login (%d): %s; check the token (the secret the login sends) and the params",
			a.m.m.Name, resp.Status, a.api.Message(resp))
	}
	tok := strings.TrimSpace(loginToken(s.token, resp))
	if tok == "" {
		return "", adapters.BadAnswerf("%s answered its login without %s", a.m.m.Name, s.token)
	}
	a.api.AddSecret(tok)
	s.tok, s.renew = tok, renewAt(s.expiry(resp, tok), time.Now())
	return tok, nil
}

func loginToken(at string, resp *upstream.Response) string {
	if h, ok := strings.CutPrefix(at, "header:"); ok {
		return resp.Header.Get(h)
	}
	return gjson.GetBytes(resp.Body, at).String()
}

// expiry is when tok expires; zero when nothing says.
func (s *session) expiry(resp *upstream.Response, tok string) time.Time {
	now := time.Now()
	switch {
	case s.expiresIn != "":
		if n := gjson.GetBytes(resp.Body, s.expiresIn).Float(); n > 0 {
			return now.Add(time.Duration(n * float64(time.Second)))
		}
	case s.expiresAt != "":
		if t, ok := parseTime(gjson.GetBytes(resp.Body, s.expiresAt).String(), ""); ok {
			return t
		}
	}
	if exp, ok := jwtExpiry(tok); ok {
		return exp
	}
	if s.lifetime > 0 {
		return now.Add(s.lifetime)
	}
	return time.Time{}
}

// renewAt is when a token expiring at exp is fetched again: a fifth of its life
// before, at most a minute, so that no request is sent with an expired one.
func renewAt(exp, now time.Time) time.Time {
	if exp.IsZero() {
		return exp
	}
	return exp.Add(-min(exp.Sub(now)/5, time.Minute))
}

// jwtExpiry reads the exp claim of a JWT without checking it: the token is the
// application's, for the application; only its lifetime matters here.
func jwtExpiry(tok string) (time.Time, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	exp := gjson.GetBytes(b, "exp")
	if exp.Type != gjson.Number {
		return time.Time{}, false
	}
	return time.Unix(exp.Int(), 0), true
}

// do sends req with the adapter's credentials. With a login, the session's token
// is set on the request and, when the application answers 401 (it revoked the
// token early), fetched again once and the request sent again.
func (a *Adapter) do(ctx context.Context, req upstream.Request) (*upstream.Response, error) {
	if a.m.login == nil {
		return a.api.Do(ctx, req)
	}
	tok, err := a.current(ctx, "")
	if err != nil {
		return nil, err
	}
	resp, err := a.api.Do(ctx, withToken(req, a.m.m.Auth, tok))
	if err != nil || resp.Status != http.StatusUnauthorized {
		return resp, err
	}
	if tok, err = a.current(ctx, tok); err != nil {
		return nil, err
	}
	return a.api.Do(ctx, withToken(req, a.m.m.Auth, tok))
}

// withToken is req carrying tok as auth says (bearer or header:<Name>).
func withToken(req upstream.Request, auth, tok string) upstream.Request {
	h := req.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	setAuth(h, auth, tok)
	req.Header = h
	return req
}

// setAuth sets token on h as auth says.
func setAuth(h http.Header, auth, token string) {
	switch {
	case auth == "bearer":
		h.Set("Authorization", "Bearer "+token)
	case strings.HasPrefix(auth, "header:"):
		h.Set(strings.TrimPrefix(auth, "header:"), token)
	case strings.HasPrefix(auth, "basic:"):
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(strings.TrimPrefix(auth, "basic:")+":"+token)))
	}
}

// parseTime reads a date as applications write it: layout when the mapping gives
// one, else RFC 3339, the same with a space for the T (PocketBase, SQL), or Unix
// seconds.
func parseTime(s, layout string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	if layout != "" {
		t, err := time.Parse(layout, s)
		return t, err == nil
	}
	for _, l := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		return time.Unix(n, 0), true
	}
	return time.Time{}, false
}
