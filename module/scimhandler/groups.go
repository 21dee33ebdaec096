package scimhandler

import (
	"context"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// groupKind is the Groups resource type of the pipeline (resource.go). Without
// group support (no GroupAdapter, or one that is switched off, such as Gitea without
// organization) /Groups answers 501 and discovery leaves Groups out.
func (h *Handler) groupKind() *kind[*scim.Group] {
	return &kind[*scim.Group]{
		rt:      scim.GroupResourceType,
		id:      func(g *scim.Group) string { return g.ID },
		version: func(g *scim.Group) string { return g.Meta.Version },
		decode:  scim.GroupFromResource,
		render:  scim.GroupToResource,
		get: func(r *http.Request, id string, q scim.Query) (*scim.Group, error) {
			return h.svc.GetGroup(r.Context(), id, wantsAttr(q, scim.GroupResourceType, "members"))
		},
		create: func(ctx context.Context, g *scim.Group, _ scim.Resource) (*scim.Group, error) {
			return h.svc.CreateGroup(ctx, g)
		},
		replace: func(ctx context.Context, id string, g *scim.Group, _ scim.Resource, ifMatch string) (*scim.Group, error) {
			return h.svc.ReplaceGroup(ctx, id, g, ifMatch)
		},
		patch:  h.svc.PatchGroup,
		remove: h.svc.DeleteGroup,
		list:   h.listGroups,
		// 204, which Entra ID expects, or 200 with the group when the request asks
		// for attributes (RFC 7644 §3.5.2).
		patchBody: func(q scim.Query) bool { return len(q.Attributes) > 0 },
		ident:     func(g *scim.Group) (string, string) { return g.ExternalID, g.DisplayName },
		created: func(g *scim.Group) []zap.Field {
			return []zap.Field{zap.String("id", g.ID), zap.String("display_name", g.DisplayName), zap.Int("members", len(g.Members))}
		},
	}
}

// wantsAttr reports whether the projection of q returns the top-level attribute
// name of rt's core schema (members of a Group, groups of a User).
func wantsAttr(q scim.Query, rt *scim.ResourceType, name string) bool {
	names := func(list []string) bool {
		for _, a := range list {
			if len(a) > len(rt.Core.ID)+1 && strings.EqualFold(a[:len(rt.Core.ID)+1], rt.Core.ID+":") {
				a = a[len(rt.Core.ID)+1:]
			}
			top, _, _ := strings.Cut(a, ".")
			if strings.EqualFold(top, name) {
				return true
			}
		}
		return false
	}
	if len(q.Attributes) > 0 {
		return names(q.Attributes)
	}
	return !names(q.ExcludedAttributes)
}

func (h *Handler) listGroups(w http.ResponseWriter, r *http.Request, q scim.Query) {
	found, err := h.svc.SearchGroups(r.Context(), q, h.renderOptions(r), wantsAttr(q, scim.GroupResourceType, "members"), true)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.writePage(w, r, found.Resources, nil, found.Total, q)
}

// fillUserGroups sets the read-only groups attribute of users when attributes names
// it (returned "request" in /Schemas): it costs an upstream read per user, which no
// IdP's read of a user needs. A failure leaves groups out (it is informational) and
// is logged.
func (h *Handler) fillUserGroups(r *http.Request, users []*scim.User, q scim.Query) {
	if h.groups == nil || len(users) == 0 || len(q.Attributes) == 0 || !wantsAttr(q, scim.UserResourceType, "groups") {
		return
	}
	base := h.baseURL(r)
	adapters.Parallel(r.Context(), len(users), adapters.MemberConcurrency, func(ctx context.Context, i int) error {
		u := users[i]
		if u == nil {
			return nil
		}
		refs, err := h.svc.UserGroups(ctx, u.ID)
		if err != nil {
			h.logger.Warn("cannot read a user's groups", zap.String("id", u.ID), zap.Error(err))
			return nil
		}
		for i := range refs {
			if refs[i].Ref == "" {
				refs[i].Ref = base + "/Groups/" + refs[i].Value
			}
		}
		u.Groups = refs
		return nil
	})
}
