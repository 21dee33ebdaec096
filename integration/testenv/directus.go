package testenv

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// DirectusServer is a running Directus 12 (npm, SQLite) on a private copy of a freshly
// bootstrapped database, with the custom fields the directus preset keeps SCIM's
// state in (on directus_users and directus_policies).
type DirectusServer struct {
	URL string
	// Token is the administrator's static token: the adapter's token.
	Token string
	// AdminID, AdminEmail and AdminName (its scim_user_name, filled in as an
	// operator would: Directus has no usernames) are the administrator's;
	// AdminRole is its role and AdminPolicy the policy with admin_access that role
	// carries.
	AdminID, AdminEmail, AdminName, AdminRole, AdminPolicy string
	Dir                                                    string
}

// Do calls Directus' API as its administrator (path e.g. /users), behind the
// plugin's back.
func (d *DirectusServer) Do(tb testing.TB, method, path string, body any) (int, []byte) {
	tb.Helper()
	st, _, b := doJSON(tb, http.DefaultClient, "directus", method, d.URL+path, body, "Authorization", "Bearer "+d.Token)
	return st, b
}

var (
	directusOnce sync.Once
	directusSrv  *DirectusServer
	directusErr  error
)

// Directus returns the Directus of this test binary, installing it on first use (about
// seven minutes on a cold cache: Node.js 22 and the native addons, from the npm
// registry) and starting it (about 17 s).
func Directus(tb testing.TB) *DirectusServer {
	tb.Helper()
	requireMain(tb)
	directusOnce.Do(func() {
		dir, env, err := startService("directus.sh", "caddy-scim-directus-", 20*time.Minute, 2*time.Minute)
		if err != nil {
			directusErr = err
			return
		}
		directusSrv = &DirectusServer{URL: env["DIRECTUS_URL"], Token: env["DIRECTUS_TOKEN"], AdminID: env["DIRECTUS_ADMIN_ID"],
			AdminEmail: env["DIRECTUS_ADMIN_EMAIL"], AdminName: env["DIRECTUS_ADMIN_NAME"], AdminRole: env["DIRECTUS_ADMIN_ROLE"], AdminPolicy: env["DIRECTUS_ADMIN_POLICY"], Dir: dir}
		if directusSrv.URL == "" || directusSrv.Token == "" || directusSrv.AdminID == "" || directusSrv.AdminPolicy == "" {
			directusErr = fmt.Errorf("directus.sh start wrote an incomplete env file in %s", dir)
		}
	})
	if directusErr != nil {
		tb.Fatalf("testenv: starting directus: %v", directusErr)
	}
	return directusSrv
}
