package provision

import (
	"context"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/adaptertest"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// lookupLog records the lookup kinds the service asks the group adapter.
type lookupLog struct {
	*adaptertest.Memory
	kinds []adapters.LookupKind
}

func (l *lookupLog) FindGroups(ctx context.Context, q adapters.Lookup, withMembers bool) ([]*scim.Group, error) {
	l.kinds = append(l.kinds, q.Kind)
	return l.Memory.FindGroups(ctx, q, withMembers)
}

// A warm group link turns a displayName or externalId lookup (a search that may page
// through every team) into one read by id; a stale link falls back to the search.
func TestGroupLinks(t *testing.T) {
	s, fg, _, gid := groupFixture(t)
	log := &lookupLog{Memory: fg}
	s.Groups = log
	render := func(g *scim.Group) scim.Resource { return scim.GroupToResource(g, scim.RenderOptions{}) }
	for _, f := range []string{`displayName eq "ENG"`, `externalId eq "x"`} {
		flt, err := scim.ParseFilter(f, scim.GroupResourceType)
		if err != nil {
			t.Fatal(err)
		}
		log.kinds = nil
		gs, err := s.QueryGroups(ctx, flt, false, render)
		if err != nil {
			t.Fatal(err)
		}
		if f[0] == 'd' {
			if len(gs) != 1 || gs[0].ID != gid || len(log.kinds) != 1 || log.kinds[0] != adapters.ByID {
				t.Fatalf("%s: found %v with lookups %v, want group %s by one read by id", f, gs, log.kinds, gid)
			}
		} else if len(gs) != 0 {
			t.Fatalf("%s: found %v", f, gs)
		}
	}
	// rename upstream behind SCIM's back: the link is stale, the search still answers
	fg.EditGroup(gid, func(g *scim.Group) { g.DisplayName = "Platform" })
	flt, _ := scim.ParseFilter(`displayName eq "Eng"`, scim.GroupResourceType)
	log.kinds = nil
	if gs, err := s.QueryGroups(ctx, flt, false, render); err != nil || len(gs) != 0 {
		t.Fatalf("stale link: %v %v", gs, err)
	}
	if len(log.kinds) != 2 || log.kinds[1] != adapters.ByDisplayName {
		t.Fatalf("stale link lookups %v, want by id then the search", log.kinds)
	}
	// delete forgets the link
	if err := s.DeleteGroup(ctx, gid, ""); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Links.Get(ctx, groupNS+gid); ok {
		t.Fatal("group link kept after DELETE")
	}
}
