package testenv

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// PocketBaseServer is a running PocketBase (v0.40, SQLite) whose users collection has
// what the pocketbase preset needs: the fields username (unique without regard to
// case), disabled and scim (both hidden: only a superuser reads or writes them),
// authRule "disabled = false" and no public sign-up.
type PocketBaseServer struct {
	URL string
	// Token is a static superuser token (a year long): the adapter's token.
	Token string
	// AdminEmail and AdminPassword are the superuser's login.
	AdminEmail, AdminPassword string
	Dir                       string
}

// Do calls PocketBase's API as its superuser (path e.g.
// /api/collections/users/records), behind the plugin's back.
func (p *PocketBaseServer) Do(tb testing.TB, method, path string, body any) (int, []byte) {
	tb.Helper()
	st, _, b := doJSON(tb, http.DefaultClient, "pocketbase", method, p.URL+path, body, "Authorization", p.Token)
	return st, b
}

var (
	pocketbaseOnce sync.Once
	pocketbaseSrv  *PocketBaseServer
	pocketbaseErr  error
)

// PocketBase returns the PocketBase of this test binary, building it (from the Go
// module proxy, about a minute and a half on a cold cache) and starting it on first
// use (about a second).
func PocketBase(tb testing.TB) *PocketBaseServer {
	tb.Helper()
	requireMain(tb)
	pocketbaseOnce.Do(func() {
		dir, env, err := startService("pocketbase.sh", "caddy-scim-pocketbase-", 15*time.Minute, time.Minute)
		if err != nil {
			pocketbaseErr = err
			return
		}
		pocketbaseSrv = &PocketBaseServer{URL: env["POCKETBASE_URL"], Token: env["POCKETBASE_TOKEN"],
			AdminEmail: env["POCKETBASE_ADMIN_EMAIL"], AdminPassword: env["POCKETBASE_ADMIN_PASSWORD"], Dir: dir}
		if pocketbaseSrv.URL == "" || pocketbaseSrv.Token == "" {
			pocketbaseErr = fmt.Errorf("pocketbase.sh start wrote an incomplete env file in %s", dir)
		}
	})
	if pocketbaseErr != nil {
		tb.Fatalf("testenv: starting pocketbase: %v", pocketbaseErr)
	}
	return pocketbaseSrv
}
