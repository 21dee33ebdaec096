package testenv

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// KeystoneServer is a running OpenStack Keystone (Zed, Debian's python3-keystone,
// SQLite, served by its WSGI entry point) on a private copy of a bootstrapped
// database: user admin with role admin on project admin, in domain default.
type KeystoneServer struct {
	URL string
	// Token is a project-scoped token of the admin, valid for a day (the instance
	// sets [token] expiration: the rest adapter sends a fixed token).
	Token         string
	AdminPassword string
	// DomainID is the domain the keystone preset provisions (its param domain_id).
	DomainID string
	Dir      string
}

// Do calls Keystone's identity API as its administrator (path below the URL, e.g.
// /v3/users), behind the plugin's back.
func (k *KeystoneServer) Do(tb testing.TB, method, path string, body any) (int, []byte) {
	tb.Helper()
	st, _, b := doJSON(tb, http.DefaultClient, "keystone", method, k.URL+path, body, "X-Auth-Token", k.Token)
	return st, b
}

// Params are the keystone preset's params for this instance.
func (k *KeystoneServer) Params() map[string]string {
	return map[string]string{"domain_id": k.DomainID}
}

var (
	keystoneOnce sync.Once
	keystoneSrv  *KeystoneServer
	keystoneErr  error
)

// Keystone returns the Keystone of this test binary, installing it with apt-get
// (about two minutes cold) and starting it on first use (about 6 s).
func Keystone(tb testing.TB) *KeystoneServer {
	tb.Helper()
	requireMain(tb)
	keystoneOnce.Do(func() {
		dir, env, err := startService("keystone.sh", "caddy-scim-keystone-", 10*time.Minute, 2*time.Minute)
		if err != nil {
			keystoneErr = err
			return
		}
		keystoneSrv = &KeystoneServer{URL: env["KEYSTONE_URL"], Token: env["KEYSTONE_TOKEN"],
			AdminPassword: env["KEYSTONE_ADMIN_PASSWORD"], DomainID: env["KEYSTONE_DOMAIN_ID"], Dir: dir}
		if keystoneSrv.URL == "" || keystoneSrv.Token == "" || keystoneSrv.DomainID == "" {
			keystoneErr = fmt.Errorf("keystone.sh start wrote an incomplete env file in %s", dir)
		}
	})
	if keystoneErr != nil {
		tb.Fatalf("testenv: starting keystone: %v", keystoneErr)
	}
	return keystoneSrv
}
