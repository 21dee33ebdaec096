package gitea_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/adaptertest"
	"github.com/caddy-scim/caddy-scim/adapters/gitea"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// TestGroupConformance runs the shared group suite against teams of a fresh
// organization of the real Gitea.
func TestGroupConformance(t *testing.T) {
	g := testenv.Gitea(t)
	org := strings.ReplaceAll(testenv.UniqueName("conf"), "_", "-")
	if st, _, b := g.Do(t, "POST", "/orgs", map[string]any{"username": org}); st != 201 {
		t.Fatalf("creating org: %d %s", st, b)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	a := &gitea.Adapter{Config: upstream.Config{URL: g.URL, Token: g.Token}, Organization: org}
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Cleanup() })
	adaptertest.RunGroups(t, adaptertest.GroupHarness{Adapter: a, Users: a})
}

// TestOwnersTeamNeverManaged (#11 case 8): any team whose description ends in the
// SCIM marker used to be managed, the Owners team included; its members could then
// be replaced through SCIM.
func TestOwnersTeamNeverManaged(t *testing.T) {
	g := testenv.Gitea(t)
	org := strings.ReplaceAll(testenv.UniqueName("own"), "_", "-")
	if st, _, b := g.Do(t, "POST", "/orgs", map[string]any{"username": org}); st != 201 {
		t.Fatalf("creating org: %d %s", st, b)
	}
	var teams []struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}
	st, _, b := g.Do(t, "GET", "/orgs/"+org+"/teams", nil)
	if st != 200 || json.Unmarshal(b, &teams) != nil || len(teams) != 1 || teams[0].Name != "Owners" {
		t.Fatalf("teams of a new org: %d %s", st, b)
	}
	owners := strconv.FormatInt(teams[0].ID, 10)
	if st, _, b := g.Do(t, "PATCH", "/teams/"+owners, map[string]any{"name": "Owners", "description": "Admins [scim:]"}); st != 200 {
		t.Fatalf("describing Owners: %d %s", st, b)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	a := &gitea.Adapter{Config: upstream.Config{URL: g.URL, Token: g.Token}, Organization: org}
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Cleanup() })
	if gs, _, err := a.ListGroups(ctx, adapters.Page{Limit: 10}, false); err != nil || len(gs) != 0 {
		t.Fatalf("ListGroups = %+v, %v; want the Owners team invisible", gs, err)
	}
	for _, q := range []adapters.Lookup{{Kind: adapters.ByID, Value: owners}, {Kind: adapters.ByDisplayName, Value: "Admins"}} {
		if gs, err := a.FindGroups(ctx, q, false); err != nil || len(gs) != 0 {
			t.Errorf("FindGroups(%v) = %+v, %v", q, gs, err)
		}
	}
	if err := a.RemoveMembers(ctx, owners, []string{"1"}); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("RemoveMembers from Owners: %v; want not found", err)
	}
	if err := a.DeleteGroup(ctx, owners); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("DeleteGroup of Owners: %v; want not found", err)
	}
}
