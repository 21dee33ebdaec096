package integration_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// redmineGroup reads a group's name and member ids from Redmine itself; ok=false when
// it does not exist.
func redmineGroup(t *testing.T, r *testenv.RedmineServer, id string) (name string, members []string, ok bool) {
	t.Helper()
	st, raw := r.Do(t, "GET", "/groups/"+id+".json?include=users", nil)
	if st == 404 {
		return "", nil, false
	}
	var out struct {
		Group struct {
			Name  string
			Users []struct{ ID int }
		}
	}
	if st != 200 || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("redmine group %s: %d %.200s", id, st, raw)
	}
	for _, u := range out.Group.Users {
		members = append(members, fmt.Sprint(u.ID))
	}
	slices.Sort(members)
	return out.Group.Name, members, true
}

// TestGroupRedmine: Okta's and Entra's group traffic through a real Caddy onto
// Redmine's groups through the rest adapter's redmine preset, checked in Redmine.
func TestGroupRedmine(t *testing.T) {
	r := testenv.Redmine(t)
	e := start(t, redmineBackend{r}, "", "")
	f := runGroupFlow(t, e.c, "rg", "redmine group", func(t *testing.T, gid string) (string, []string, bool) { return redmineGroup(t, r, gid) }, nil)

	// a group made in Redmine by hand is invisible to SCIM
	if st, raw := r.Do(t, "POST", "/groups.json", map[string]any{"group": map[string]any{"name": testenv.UniqueName("Hand Group ")}}); st != 201 {
		t.Fatalf("a group by hand: %d %s", st, raw)
	}
	f.onlyOurs(t)
	f.deleteBoth(t)
}
