package testenv

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// MinifluxServer is a running Miniflux 2.3 on a PostgreSQL cluster of its own, with
// its administrator and that administrator's API key (what the miniflux preset's
// token is).
type MinifluxServer struct {
	URL    string
	APIKey string
	// Admin and AdminPassword are the administrator Miniflux was started with.
	Admin, AdminPassword string
	// LockPassword is the miniflux preset's param lock_password for this test
	// binary: the password deprovisioning gives an account.
	LockPassword string
	Dir          string
}

// Do calls Miniflux's API as its administrator (path e.g. /v1/users), behind the
// plugin's back.
func (m *MinifluxServer) Do(tb testing.TB, method, path string, body any) (int, []byte) {
	tb.Helper()
	st, _, b := doJSON(tb, http.DefaultClient, "miniflux", method, m.URL+path, body, "X-Auth-Token", m.APIKey)
	return st, b
}

// SignIn calls Miniflux's API as user with password (HTTP Basic), as a feed reader
// app would; it answers the status (401: the password does not open the account).
func (m *MinifluxServer) SignIn(tb testing.TB, user, password, method, path string) int {
	tb.Helper()
	req, err := http.NewRequest(method, m.URL+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("testenv: miniflux %s %s: %v", method, path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

var (
	minifluxOnce sync.Once
	minifluxSrv  *MinifluxServer
	minifluxErr  error
)

// Miniflux returns the Miniflux of this test binary, installing PostgreSQL and
// building Miniflux (from the Go module proxy, about a minute and a half on a cold
// cache) and starting both on first use (about 4 s).
func Miniflux(tb testing.TB) *MinifluxServer {
	tb.Helper()
	requireMain(tb)
	minifluxOnce.Do(func() {
		dir, env, err := startService("miniflux.sh", "caddy-scim-miniflux-", 15*time.Minute, 2*time.Minute)
		if err != nil {
			minifluxErr = err
			return
		}
		minifluxSrv = &MinifluxServer{URL: env["MINIFLUX_URL"], APIKey: env["MINIFLUX_API_KEY"], Admin: env["MINIFLUX_ADMIN"],
			AdminPassword: env["MINIFLUX_ADMIN_PASSWORD"], LockPassword: UniqueName("lock-") + UniqueName(""), Dir: dir}
		if minifluxSrv.URL == "" || minifluxSrv.APIKey == "" || minifluxSrv.Admin == "" {
			minifluxErr = fmt.Errorf("miniflux.sh start wrote an incomplete env file in %s", dir)
		}
	})
	if minifluxErr != nil {
		tb.Fatalf("testenv: starting miniflux: %v", minifluxErr)
	}
	return minifluxSrv
}
