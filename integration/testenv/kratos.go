package testenv

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// KratosServer is a running Ory Kratos (v1.3.1, SQLite) whose admin API has no
// authentication, as Kratos ships it (the admin port is meant to stay private).
type KratosServer struct {
	AdminURL  string
	PublicURL string
	Dir       string
}

// Do calls Kratos' admin API (path below the admin URL, e.g. /admin/identities)
// behind the plugin's back, as an operator would.
func (k *KratosServer) Do(tb testing.TB, method, path string, body any) (int, []byte) {
	tb.Helper()
	st, _, b := doJSON(tb, http.DefaultClient, "kratos", method, k.AdminURL+path, body)
	return st, b
}

// KratosIdentity is an identity as Kratos' admin API answers it, with the traits of
// this schema and the metadata the kratos preset writes.
type KratosIdentity struct {
	ID     string `json:"id"`
	State  string `json:"state"`
	Traits struct {
		Email    string `json:"email"`
		Username string `json:"username"`
		Name     struct {
			GivenName  string `json:"givenName"`
			FamilyName string `json:"familyName"`
		} `json:"name"`
	} `json:"traits"`
	MetadataAdmin struct {
		SCIM struct {
			Managed    bool   `json:"managed"`
			ExternalID string `json:"external_id"`
			Deleted    bool   `json:"deleted"`
			Blocked    bool   `json:"blocked"`
		} `json:"scim"`
	} `json:"metadata_admin"`
}

var (
	kratosOnce sync.Once
	kratosSrv  *KratosServer
	kratosErr  error
)

// Kratos returns the Kratos of this test binary, installing (building from the Go
// module proxy on a cold cache: about a minute and a half) and starting it on first
// use. The identity schema has traits email and username (both login identifiers,
// so unique) and name.givenName / name.familyName.
func Kratos(tb testing.TB) *KratosServer {
	tb.Helper()
	requireMain(tb)
	kratosOnce.Do(func() {
		dir, env, err := startServicePorts("kratos.sh", "caddy-scim-kratos-", 20*time.Minute, time.Minute, 2)
		if err != nil {
			kratosErr = err
			return
		}
		kratosSrv = &KratosServer{AdminURL: env["KRATOS_ADMIN_URL"], PublicURL: env["KRATOS_PUBLIC_URL"], Dir: dir}
		if kratosSrv.AdminURL == "" {
			kratosErr = fmt.Errorf("kratos.sh start wrote an incomplete env file in %s", dir)
		}
	})
	if kratosErr != nil {
		tb.Fatalf("testenv: starting kratos: %v", kratosErr)
	}
	return kratosSrv
}
