package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// GiteaServer is a real Gitea 1.26 started for this test binary, with a site admin
// and an access token scoped write:admin, write:user, write:organization.
type GiteaServer struct {
	// URL is the base URL, without a trailing slash (http://127.0.0.1:<port>).
	URL string
	// Token is the admin's access token.
	Token string
	// AdminName is the site admin's username.
	AdminName string
	// Dir is the work directory (app.ini, sqlite database, logs under log/).
	Dir string
	// Pid is the Gitea process, for CPU and memory figures.
	Pid int

	client *http.Client
}

var (
	giteaOnce sync.Once
	giteaSrv  *GiteaServer
	giteaErr  error
)

// Gitea returns the test binary's Gitea, installing it (cached across runs) and
// starting it on the first call. Setup failures fail tb with the script's output.
func Gitea(tb testing.TB) *GiteaServer {
	tb.Helper()
	requireMain(tb)
	giteaOnce.Do(func() {
		// A cold install builds Gitea from source: minutes on a small machine.
		dir, env, err := startService("gitea.sh", "caddy-scim-gitea-", 30*time.Minute, 2*time.Minute)
		if err != nil {
			giteaErr = err
			return
		}
		giteaSrv = &GiteaServer{
			URL:       env["GITEA_URL"],
			Token:     env["GITEA_TOKEN"],
			AdminName: env["GITEA_ADMIN"],
			Dir:       dir,
			Pid:       atoi(env["GITEA_PID"]),
			client: &http.Client{
				Timeout: 30 * time.Second,
				// Redirects are answers in their own right here (a renamed user's old
				// name answers 307); assertions must see them.
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			},
		}
		if giteaSrv.URL == "" || giteaSrv.Token == "" {
			giteaErr = fmt.Errorf("gitea.sh start wrote an incomplete env file in %s", dir)
		}
	})
	if giteaErr != nil {
		tb.Fatalf("testenv: starting gitea: %v", giteaErr)
	}
	return giteaSrv
}

// Do sends an API request as the site admin: path is relative to /api/v1 and may carry
// a query; body, when not nil, is sent as JSON. It returns the status, the headers and
// the body, and fails tb only on transport errors.
func (g *GiteaServer) Do(tb testing.TB, method, path string, body any) (int, http.Header, []byte) {
	tb.Helper()
	return doJSON(tb, g.client, "gitea", method, g.URL+"/api/v1"+path, body, "Authorization", "token "+g.Token)
}

// doJSON sends one request to a service's API, body (when not nil) as JSON, with the
// header pairs given, and returns the answer; a transport failure fails the test.
func doJSON(tb testing.TB, client *http.Client, service, method, url string, body any, headers ...string) (int, http.Header, []byte) {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			tb.Fatalf("testenv: encoding body: %v", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatalf("testenv: %s %s %s: %v", service, method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("testenv: %s %s %s: reading body: %v", service, method, url, err)
	}
	return resp.StatusCode, resp.Header, b
}

func (g *GiteaServer) getJSON(tb testing.TB, path string, v any) int {
	tb.Helper()
	st, _, b := g.Do(tb, http.MethodGet, path, nil)
	if st == http.StatusOK {
		if err := json.Unmarshal(b, v); err != nil {
			tb.Fatalf("testenv: gitea GET %s: decoding: %v", path, err)
		}
	}
	return st
}

// GetUser returns Gitea's admin view of the user whose current name is username, or
// nil when there is none (404, or a 307 because the name now redirects after a rename).
func (g *GiteaServer) GetUser(tb testing.TB, username string) map[string]any {
	tb.Helper()
	var u map[string]any
	switch st := g.getJSON(tb, "/users/"+url.PathEscape(username), &u); {
	case st == http.StatusOK:
		return u
	case st == http.StatusNotFound, st >= 300 && st < 400:
		return nil
	default:
		tb.Fatalf("testenv: gitea GET /users/%s: status %d", username, st)
		return nil
	}
}

// UserByID returns the admin view of user id, or nil when there is none.
func (g *GiteaServer) UserByID(tb testing.TB, id int64) map[string]any {
	tb.Helper()
	var res struct {
		Data []map[string]any `json:"data"`
	}
	if st := g.getJSON(tb, "/users/search?uid="+strconv.FormatInt(id, 10), &res); st != http.StatusOK {
		tb.Fatalf("testenv: gitea GET /users/search?uid=%d: status %d", id, st)
	}
	for _, u := range res.Data {
		if n, ok := u["id"].(float64); ok && int64(n) == id {
			return u
		}
	}
	return nil
}

// AdminListUsers returns every user of GET /admin/users with the given filters
// (login_name, source_id, q, sort, …; nil for all), following the pages.
func (g *GiteaServer) AdminListUsers(tb testing.TB, query url.Values) []map[string]any {
	tb.Helper()
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	q.Set("limit", "50")
	var all []map[string]any
	for page := 1; ; page++ {
		q.Set("page", strconv.Itoa(page))
		st, h, b := g.Do(tb, http.MethodGet, "/admin/users?"+q.Encode(), nil)
		if st != http.StatusOK {
			tb.Fatalf("testenv: gitea GET /admin/users: status %d: %s", st, b)
		}
		var us []map[string]any
		if err := json.Unmarshal(b, &us); err != nil {
			tb.Fatalf("testenv: gitea GET /admin/users: decoding: %v", err)
		}
		all = append(all, us...)
		total, _ := strconv.Atoi(h.Get("X-Total-Count"))
		if len(us) == 0 || len(all) >= total {
			return all
		}
	}
}

// CreateUnmanagedUser creates a local user the way an operator would by hand (no
// login_name, no source), which the adapter must see as not managed.
func (g *GiteaServer) CreateUnmanagedUser(tb testing.TB, username, email string) map[string]any {
	tb.Helper()
	st, _, b := g.Do(tb, http.MethodPost, "/admin/users", map[string]any{
		"username":             username,
		"email":                email,
		"password":             "hand-made-password-1",
		"must_change_password": false,
		"send_notify":          false,
	})
	if st != http.StatusCreated {
		tb.Fatalf("testenv: creating unmanaged gitea user %q: status %d: %s", username, st, b)
	}
	var u map[string]any
	if err := json.Unmarshal(b, &u); err != nil {
		tb.Fatalf("testenv: decoding created user: %v", err)
	}
	return u
}

// DeleteUser purges a user by name; a missing user is not an error. Tests use it to
// clean up what they made by hand.
func (g *GiteaServer) DeleteUser(tb testing.TB, username string) {
	tb.Helper()
	st, _, b := g.Do(tb, http.MethodDelete, "/admin/users/"+url.PathEscape(username)+"?purge=true", nil)
	if st != http.StatusNoContent && st != http.StatusNotFound {
		tb.Fatalf("testenv: deleting gitea user %q: status %d: %s", username, st, b)
	}
}

// SetActivated sets whether a user's account is activated (its e-mail confirmed),
// which Gitea's API cannot change for an account that is not bound to a login
// source: the tests write it to Gitea's database, as a registration without the
// confirmation mail would leave it.
func (g *GiteaServer) SetActivated(tb testing.TB, username string, active bool) {
	tb.Helper()
	v := map[bool]string{true: "1", false: "0"}[active]
	cmd := exec.Command("sqlite3", filepath.Join(g.Dir, "data", "gitea.db"),
		"UPDATE user SET is_active = "+v+" WHERE lower_name = '"+strings.ToLower(strings.ReplaceAll(username, "'", ""))+"'")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("testenv: activating %q: %v %s", username, err, out)
	}
	// The write goes around Gitea, into its database: wait until Gitea's API
	// reads it back, so that the test's next request meets the new state.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if u := g.GetUser(tb, username); u != nil && u["active"] == active {
			return
		}
	}
	tb.Fatalf("testenv: Gitea does not read %q as active=%v 10 s after the write", username, active)
}

// AddOAuth2Source adds an OAuth2 authentication source named name to the server (with
// Gitea's CLI, as an operator would) and returns its id, for tests of source_id.
func (g *GiteaServer) AddOAuth2Source(tb testing.TB, name string) int64 {
	tb.Helper()
	out, err := runScript(time.Minute, "gitea.sh", "add-oauth", g.Dir, name)
	if err != nil {
		tb.Fatalf("testenv: adding oauth2 source %q: %v\n%s", name, err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	id, err := strconv.ParseInt(strings.TrimSpace(lines[len(lines)-1]), 10, 64)
	if err != nil {
		tb.Fatalf("testenv: adding oauth2 source %q: unexpected output\n%s", name, out)
	}
	return id
}
