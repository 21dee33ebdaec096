package testenv

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// RedmineServer is a running Redmine 5 (Debian's package, SQLite, puma) on a private
// copy of the freshly installed database, with the REST API on and the two user
// custom fields the redmine preset keeps SCIM's state in.
type RedmineServer struct {
	URL    string
	APIKey string // the admin's
	// ExternalIDField and StateField are the ids of the custom fields
	// scim_external_id and scim_state (the preset's params).
	ExternalIDField, StateField string
	// GroupExternalIDField and GroupStateField are those of the group custom
	// fields of the same names.
	GroupExternalIDField, GroupStateField string
	Dir                                   string
}

// Do calls Redmine's REST API as its administrator (path e.g. /users.json), behind
// the plugin's back.
func (r *RedmineServer) Do(tb testing.TB, method, path string, body any) (int, []byte) {
	tb.Helper()
	st, _, b := doJSON(tb, http.DefaultClient, "redmine", method, r.URL+path, body, "X-Redmine-API-Key", r.APIKey)
	return st, b
}

// Params are the redmine preset's params for this instance.
func (r *RedmineServer) Params() map[string]string {
	return map[string]string{"external_id_field": r.ExternalIDField, "state_field": r.StateField,
		"group_external_id_field": r.GroupExternalIDField, "group_state_field": r.GroupStateField}
}

var (
	redmineOnce sync.Once
	redmineSrv  *RedmineServer
	redmineErr  error
)

// Redmine returns the Redmine of this test binary, installing it with apt-get (about
// a minute cold) and starting it on first use (about 10 s: two Rails boots).
func Redmine(tb testing.TB) *RedmineServer {
	tb.Helper()
	requireMain(tb)
	redmineOnce.Do(func() {
		dir, env, err := startService("redmine.sh", "caddy-scim-redmine-", 10*time.Minute, 2*time.Minute)
		if err != nil {
			redmineErr = err
			return
		}
		redmineSrv = &RedmineServer{URL: env["REDMINE_URL"], APIKey: env["REDMINE_API_KEY"],
			ExternalIDField: env["REDMINE_EXTERNAL_ID_FIELD"], StateField: env["REDMINE_STATE_FIELD"],
			GroupExternalIDField: env["REDMINE_GROUP_EXTERNAL_ID_FIELD"], GroupStateField: env["REDMINE_GROUP_STATE_FIELD"], Dir: dir}
		if redmineSrv.URL == "" || redmineSrv.APIKey == "" || redmineSrv.StateField == "" || redmineSrv.GroupStateField == "" {
			redmineErr = fmt.Errorf("redmine.sh start wrote an incomplete env file in %s", dir)
		}
	})
	if redmineErr != nil {
		tb.Fatalf("testenv: starting redmine: %v", redmineErr)
	}
	return redmineSrv
}
