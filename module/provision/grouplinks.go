package provision

import (
	"context"
	"strings"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// Group links live in the same link store as user links, under a namespace that no
// user id, userName or externalId of ours starts with: the displayName goes in the
// case-insensitive name index, the externalId in the exact one. Like user links they
// are only a cache: every hit is verified against the upstream group, and a stale or
// colliding entry costs one lookup, never a wrong answer.
const groupNS = "\x1fgroup:"

func groupLink(g *scim.Group) links.Link {
	l := links.Link{ID: groupNS + g.ID, UserName: groupNS + g.DisplayName, Version: g.Meta.Version, Group: true}
	if g.ExternalID != "" {
		l.ExternalID = groupNS + g.ExternalID
	}
	return l
}

func (s *Service) rememberGroup(ctx context.Context, g *scim.Group) {
	if g != nil && g.ID != "" {
		s.storeErr(s.Links.Put(ctx, groupLink(g)))
	}
}

func (s *Service) forgetGroup(ctx context.Context, id string) {
	s.storeErr(s.Links.Forget(ctx, groupNS+id))
}

// findGroupsVia answers a displayName or externalId lookup through the link store (one
// upstream read by id on a hit, instead of a search that may page through every
// group), falling back to the adapter's own lookup.
func (s *Service) findGroupsVia(ctx context.Context, ga adapters.GroupAdapter, q adapters.Lookup, withMembers bool) ([]*scim.Group, error) {
	var id string
	var ok bool
	var err error
	switch q.Kind {
	case adapters.ByDisplayName:
		id, ok, err = s.Links.ByUserName(ctx, groupNS+q.Value)
	case adapters.ByExternalID:
		id, ok, err = s.Links.ByExternalID(ctx, groupNS+q.Value)
	}
	s.storeErr(err)
	if ok && strings.HasPrefix(id, groupNS) {
		gs, err := findGroups(ctx, ga, adapters.Lookup{Kind: adapters.ByID, Value: strings.TrimPrefix(id, groupNS)}, withMembers)
		if err != nil {
			return nil, err
		}
		if len(gs) == 1 && q.MatchesGroup(gs[0]) {
			return gs, nil
		}
	}
	gs, err := findGroups(ctx, ga, q, withMembers)
	if err == nil {
		for _, g := range gs {
			s.rememberGroup(ctx, g)
		}
	}
	return gs, err
}
