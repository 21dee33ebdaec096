package gitlab

import (
	"testing"

	"github.com/caddy-scim/caddy-scim/adapters/adaptertest"
	"github.com/caddy-scim/caddy-scim/integration/gitlabemu"
)

func TestGroupConformance(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	adaptertest.RunGroups(t, adaptertest.GroupHarness{Adapter: e.a, Users: e.a})
}

// The same suite with every group a subgroup of a configured parent.
func TestGroupConformanceUnderParent(t *testing.T) {
	emu := gitlabemu.New(gitlabemu.Options{AdminToken: adminToken})
	parent, err := emu.CreateGroupDirect(gitlabemu.GroupState{Name: "Acme", Path: "acme", Visibility: "private"})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, emu, func(a *Adapter) { a.ParentGroup = "acme" })
	adaptertest.RunGroups(t, adaptertest.GroupHarness{Adapter: e.a, Users: e.a})
	for _, g := range emu.Groups() {
		if g.ID != parent.ID && g.ParentID != parent.ID {
			t.Errorf("group %d (%s) is not a subgroup of parent_group", g.ID, g.Path)
		}
	}
}
