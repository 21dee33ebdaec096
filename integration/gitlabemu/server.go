package gitlabemu

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TokenInfo describes an extra personal access token. Each extra token belongs
// to its own user, created at New and on Reset, so that non-admin and
// insufficient-scope answers can be tested.
type TokenInfo struct {
	Admin bool
	// Scopes of the token; empty means ["api"].
	Scopes []string
	// Username of the token's user; empty means "tokenuser<N>".
	Username string
}

// RateLimitStyle selects which of GitLab's two 429 shapes is produced.
type RateLimitStyle int

const (
	// RackAttack is the instance-wide throttle (lib/gitlab/rack_attack.rb,
	// throttled_response_headers): plain-text "Retry later", Retry-After and the
	// RateLimit-* headers, RateLimit-Reset a Unix time.
	RackAttack RateLimitStyle = iota
	// ApplicationLimit is a per-endpoint limit (lib/api/helpers/rate_limiter.rb,
	// check_rate_limit!): a JSON body and no Retry-After.
	ApplicationLimit
)

// Options configures a Server.
type Options struct {
	// AdminToken is the PAT of the "root" admin user (id 1). Required.
	AdminToken string
	// AdminTokenScopes are AdminToken's scopes; empty means api and sudo.
	AdminTokenScopes []string
	ExtraTokens      map[string]TokenInfo
	// AdminMode is the instance setting Admin Mode (GitLab 15.8+ for the API): an
	// administrator's token acts as an administrator only with the admin_mode
	// scope, else as a normal user (lib/api/api_guard.rb,
	// bypass_session_for_admin_mode?); GET /user still answers is_admin true.
	AdminMode bool
	// RateLimit is the number of requests one authenticated user may make per
	// RateLimitWindow; 0 disables throttling.
	RateLimit       int
	RateLimitWindow time.Duration // default 1 minute
	RateLimitStyle  RateLimitStyle
	// GroupsAPILimit and GroupAPILimit are the per-user limits of GET /groups and
	// GET /groups/:id per minute (application settings groups_api_limit and
	// group_api_limit, GitLab 17.1+; GitLab's defaults are 200 and 400); 0: off.
	GroupsAPILimit int
	GroupAPILimit  int
	// MaxPerPage caps per_page (GitLab: 100).
	MaxPerPage int
	// BaseURL (scheme://host[:port]) used in Link headers; empty means
	// derived from the request's Host.
	BaseURL string
	// KeysetRequiredAbove, when > 0, is the maximum offset allowed for offset
	// pagination of /users (GitLab's "max offset" limit, 50 000 by default
	// in 17.0+); beyond it GitLab answers 405 and demands keyset pagination.
	KeysetRequiredAbove int
	// UserDeletionDelay is how long GitLab's DeleteUserWorker takes to remove a
	// user after DELETE /users/:id answered 204 (User#delete_async); until then
	// the user stays, in its state, holding its username and e-mail. 0: the
	// worker has run by the next request (an idle Sidekiq).
	UserDeletionDelay time.Duration
	// UserDeletionStalls makes that worker never finish (a failed job): DELETEd
	// users stay until RunUserDeletions.
	UserDeletionStalls bool
	// DelayedGroupDeletion is GitLab's delayed deletion (Premium; every tier from
	// 18.0): DELETE /groups/:id marks the group for deletion and renames it,
	// keeping its members, subgroups and projects for GroupRetention.
	DelayedGroupDeletion bool
	// GroupRetention is how long a group marked for deletion is kept (the
	// instance's deletion retention period); default 7 days.
	GroupRetention time.Duration
	// Clock is the emulator's time (rate-limit windows, deletion workers);
	// nil: time.Now.
	Clock func() time.Time
}

type tokenEntry struct {
	userID int
	scopes []string
}

// Server is an in-memory GitLab REST API v4 emulator. It is safe for
// concurrent use.
type Server struct {
	opts Options

	mu          sync.Mutex
	users       map[int]*UserState
	keys        map[string][]int // see indexUserLocked
	sorted      []*UserState     // users in id order; nil after a user is added or removed
	groups      map[int]*GroupState
	tokens      map[string]tokenEntry
	nextUserID  int
	nextEmailID int
	nextGroupID int
	calls       map[string]int
	faults      []*Fault
	windows     map[rlKey]*rlWindow
	projects    map[int]*ProjectState
	// userDeletions maps a DELETEd user to when the worker removes it (zero:
	// never, UserDeletionStalls).
	userDeletions map[int]time.Time
	nextProjectID int
}

// New returns a Server holding only the root admin (and the users of
// ExtraTokens).
func New(opts Options) *Server {
	if opts.MaxPerPage <= 0 {
		opts.MaxPerPage = 100
	}
	if opts.RateLimitWindow <= 0 {
		opts.RateLimitWindow = time.Minute
	}
	if opts.GroupRetention <= 0 {
		opts.GroupRetention = 7 * 24 * time.Hour
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	s := &Server{opts: opts, calls: map[string]int{}}
	s.Reset()
	return s
}

// Reset drops all state (users, groups, counters, faults, rate-limit windows)
// and recreates the root admin and the token users.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users = map[int]*UserState{}
	s.keys = map[string][]int{}
	s.sorted = nil
	s.groups = map[int]*GroupState{}
	s.tokens = map[string]tokenEntry{}
	s.nextUserID, s.nextEmailID, s.nextGroupID = 1, 1, 1
	s.calls = map[string]int{}
	s.faults = nil
	s.windows = map[rlKey]*rlWindow{}
	s.projects = map[int]*ProjectState{}
	s.userDeletions = map[int]time.Time{}
	s.nextProjectID = 1

	now := s.now()
	year := now.AddDate(-1, 0, 0)
	root := s.insertUserLocked(UserState{
		Username: "root", Name: "Administrator", Email: "admin@example.com",
		Admin: true, CanCreateGroup: true, CreatedAt: year, ConfirmedAt: &year, LastActivityOn: &now,
	})
	if s.opts.AdminToken != "" {
		scopes := s.opts.AdminTokenScopes
		if len(scopes) == 0 {
			scopes = []string{"api", "sudo"}
		}
		s.tokens[s.opts.AdminToken] = tokenEntry{userID: root.ID, scopes: append([]string(nil), scopes...)}
	}
	// Sorted so that token users get stable ids across runs.
	names := make([]string, 0, len(s.opts.ExtraTokens))
	for tok := range s.opts.ExtraTokens {
		names = append(names, tok)
	}
	sort.Strings(names)
	for i, tok := range names {
		ti := s.opts.ExtraTokens[tok]
		uname := ti.Username
		if uname == "" {
			uname = fmt.Sprintf("tokenuser%d", i+1)
		}
		u := s.insertUserLocked(UserState{
			Username: uname, Name: uname, Email: uname + "@example.com",
			Admin: ti.Admin, CanCreateGroup: true, CreatedAt: year, ConfirmedAt: &year, LastActivityOn: &now,
		})
		scopes := ti.Scopes
		if len(scopes) == 0 {
			scopes = []string{"api"}
		}
		s.tokens[tok] = tokenEntry{userID: u.ID, scopes: append([]string(nil), scopes...)}
	}
}

// AddToken registers a PAT for an existing user (for example one made with
// CreateUserDirect). The token is admin when the user is.
func (s *Server) AddToken(token string, userID int, scopes ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[userID]; !ok {
		return fmt.Errorf("gitlabemu: no user %d", userID)
	}
	if len(scopes) == 0 {
		scopes = []string{"api"}
	}
	s.tokens[token] = tokenEntry{userID: userID, scopes: scopes}
	return nil
}

// ---------------------------------------------------------------- HTTP plumbing

// now is the emulator's clock, in UTC.
func (s *Server) now() time.Time { return s.opts.Clock().UTC() }

// reqCtx carries what every handler needs.
type reqCtx struct {
	w      http.ResponseWriter
	r      *http.Request
	p      params
	vars   map[string]string
	caller *UserState
	scopes []string
	route  string
	// asAdmin: the caller acts as an administrator (Admin Mode aside).
	asAdmin bool
}

func (c *reqCtx) admin() bool { return c.asAdmin }

// actsAsAdmin is can_admin_all_resources? for an API call: an administrator, and
// under Admin Mode only with a token carrying admin_mode (lib/api/api_guard.rb).
func (s *Server) actsAsAdmin(u *UserState, scopes []string) bool {
	return u != nil && u.Admin && (!s.opts.AdminMode || hasScope(scopes, "admin_mode"))
}

func hasScope(scopes []string, want string) bool {
	for _, x := range scopes {
		if x == want {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	// Rails does not escape &, < and > in JSON (avatar URLs carry &).
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	b := []byte(`{"message":"500 Internal Server Error"}`)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
	} else {
		b = bytes.TrimRight(buf.Bytes(), "\n")
	}
	writeRawJSON(w, status, b)
}

func writeRawJSON(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// apiError is render_api_error!: {"message": m}.
func apiError(w http.ResponseWriter, status int, m string) {
	writeJSON(w, status, map[string]string{"message": m})
}

// grapeError is Grape's own error!(string): {"error": m}.
func grapeError(w http.ResponseWriter, status int, m string) {
	writeJSON(w, status, map[string]string{"error": m})
}

func notFound(w http.ResponseWriter, what string) {
	if what == "" {
		apiError(w, 404, "404 Not Found")
		return
	}
	apiError(w, 404, "404 "+what+" Not Found")
}

func forbidden(w http.ResponseWriter, reason string) {
	if reason == "" {
		apiError(w, 403, "403 Forbidden")
		return
	}
	apiError(w, 403, "403 Forbidden - "+reason)
}

func noContent(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }

// ServeHTTP authenticates, throttles, routes and applies injected faults.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const prefix = "/api/v4/"
	esc := r.URL.EscapedPath()
	if !strings.HasPrefix(esc, prefix) {
		s.count("unmatched")
		grapeError(w, 404, "404 Not Found")
		return
	}
	segs := splitPath(strings.TrimPrefix(esc, prefix))

	s.mu.Lock()
	s.settleLocked()
	caller, scopes, ok := s.authLocked(r)
	s.mu.Unlock()
	if !ok {
		s.count("unauthenticated")
		apiError(w, 401, "401 Unauthorized")
		return
	}
	if s.throttled(w, caller.ID) {
		s.count("throttled")
		return
	}

	rt, vars := matchRoute(r.Method, segs)
	if rt == nil {
		s.count("unmatched")
		grapeError(w, 404, "404 Not Found")
		return
	}
	s.count(rt.key())

	f := s.takeFault(rt.key())
	if f != nil {
		if f.Delay > 0 {
			select {
			case <-time.After(f.Delay):
			case <-r.Context().Done():
				return
			}
		}
		if f.Status != 0 && !f.AfterHandler {
			apiError(w, f.Status, fmt.Sprintf("%d %s", f.Status, http.StatusText(f.Status)))
			return
		}
	}

	p, perr := parseParams(r)
	if perr != nil {
		// Grape answers an unparsable JSON body with 400 and its own shape.
		grapeError(w, 400, "There was a problem with the payload: "+perr.Error())
		return
	}
	if !scopeAllows(scopes, r.Method, rt.pattern) {
		writeJSON(w, 403, map[string]string{
			"error":             "insufficient_scope",
			"error_description": "The request requires higher privileges than provided by the access token.",
			"scope":             "api",
		})
		return
	}
	if s.endpointThrottled(w, caller.ID, rt.key()) {
		s.count("throttled")
		return
	}
	c := &reqCtx{w: w, r: r, p: p, vars: vars, caller: caller, scopes: scopes, route: rt.key(), asAdmin: s.actsAsAdmin(caller, scopes)}
	if f != nil && f.Status != 0 && f.AfterHandler {
		// The change is applied but the answer is lost, as when a proxy times
		// out after the upstream committed.
		c.w = discardWriter{h: http.Header{}}
		rt.h(s, c)
		apiError(w, f.Status, fmt.Sprintf("%d %s", f.Status, http.StatusText(f.Status)))
		return
	}
	rt.h(s, c)
}

type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header         { return d.h }
func (d discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d discardWriter) WriteHeader(int)             {}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if u, err := url.PathUnescape(s); err == nil {
			parts[i] = u
		}
	}
	return parts
}

// authLocked resolves PRIVATE-TOKEN, Authorization: Bearer and ?private_token=
// (upstreams.md §2.1). A token of a user who may not use the API (blocked,
// ldap_blocked, banned, deactivated...) is refused with 401 as GitLab does.
func (s *Server) authLocked(r *http.Request) (*UserState, []string, bool) {
	tok := r.Header.Get("PRIVATE-TOKEN")
	if tok == "" {
		if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
			tok = strings.TrimSpace(a[7:])
		}
	}
	if tok == "" {
		tok = r.URL.Query().Get("private_token")
	}
	if tok == "" {
		return nil, nil, false
	}
	for k, te := range s.tokens {
		if subtle.ConstantTimeCompare([]byte(k), []byte(tok)) == 1 {
			u, ok := s.users[te.userID]
			if !ok || u.State != StateActive {
				return nil, nil, false
			}
			return u, te.scopes, true
		}
	}
	return nil, nil, false
}

// scopeAllows: writes need "api"; reads accept api or read_api, and read_user
// for the /users routes (lib/api/users.rb allow_access_with_scope :read_user).
func scopeAllows(scopes []string, method, pattern string) bool {
	has := func(s string) bool { return hasScope(scopes, s) }
	if has("api") {
		return true
	}
	if method != http.MethodGet && method != http.MethodHead {
		return false
	}
	if has("read_api") {
		return true
	}
	return has("read_user") && strings.HasPrefix(pattern, "/users")
}

func (s *Server) count(key string) {
	s.mu.Lock()
	s.calls[key]++
	s.mu.Unlock()
}

// lockAsAdmin is an admin-only endpoint's start (authenticated_as_admin! in
// lib/api/users.rb): 403 for anyone else, else the server's lock, which the caller
// releases (defer s.mu.Unlock()).
func (s *Server) lockAsAdmin(c *reqCtx) bool {
	if !c.admin() {
		forbidden(c.w, "")
		return false
	}
	s.mu.Lock()
	return true
}
