package scimhandler

import (
	"io"
	"net/http"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// groupsRoute serves /Groups and /Groups/{id}. Without group support (no
// GroupAdapter, or one that is switched off, such as Gitea without organization)
// every request answers 501 and discovery leaves Groups out.
func (h *Handler) groupsRoute(w http.ResponseWriter, r *http.Request, id string, hasID bool) {
	if h.groups == nil {
		h.fail(w, r, scim.NotImplemented("Groups are not supported by the %s adapter with this configuration", h.adapter.Info().Name))
		return
	}
	h.dispatch(w, r, id, hasID, endpoints{list: h.listGroups, create: h.createGroup,
		get: h.getGroup, replace: h.replaceGroup, patch: h.patchGroup, remove: h.svc.DeleteGroup})
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
	rs, err := h.queryGroups(r, q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.writeList(w, r, rs, nil, q)
}

// queryGroups answers a group query as sorted, unprojected resources.
func (h *Handler) queryGroups(r *http.Request, q scim.Query) ([]scim.Resource, error) {
	var filter scim.Expr
	if q.Filter != "" {
		f, err := scim.ParseFilter(q.Filter, scim.GroupResourceType)
		if err != nil {
			return nil, err
		}
		filter = f
	}
	// Members cost one or more upstream calls per group: load them only when the
	// answer, the filter or the sort order needs them.
	withMembers := wantsAttr(q, scim.GroupResourceType, "members") ||
		strings.Contains(strings.ToLower(q.Filter), "members") ||
		strings.Contains(strings.ToLower(q.SortBy), "members")
	opt := h.renderOptions(r)
	gs, err := h.svc.QueryGroups(r.Context(), filter, withMembers, func(g *scim.Group) scim.Resource {
		return scim.GroupToResource(g, opt)
	})
	if err != nil {
		return nil, err
	}
	rs := make([]scim.Resource, len(gs))
	for i, g := range gs {
		rs[i] = scim.GroupToResource(g, opt)
	}
	if err := scim.SortResources(rs, scim.GroupResourceType, q); err != nil {
		return nil, err
	}
	return rs, nil
}

func (h *Handler) getGroup(w http.ResponseWriter, r *http.Request, id string) {
	q, err := scim.ParseQuery(r.URL.Query())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	g, err := h.svc.GetGroup(r.Context(), id, wantsAttr(q, scim.GroupResourceType, "members"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if tag := scim.ETag(g.Meta.Version); tag != "" && matchesTag(r.Header.Get("If-None-Match"), tag) {
		w.Header().Set("ETag", tag)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.writeGroup(w, r, http.StatusOK, g)
}

// writeGroup renders a group with ETag, Location (on 201) and projection.
func (h *Handler) writeGroup(w http.ResponseWriter, r *http.Request, status int, g *scim.Group) {
	res := scim.GroupToResource(g, h.renderOptions(r))
	if tag := scim.ETag(g.Meta.Version); tag != "" {
		w.Header().Set("ETag", tag)
	}
	if status == http.StatusCreated {
		if meta, ok := res["meta"].(map[string]any); ok {
			w.Header().Set("Location", meta["location"].(string))
		}
	}
	q, _ := scim.ParseQuery(r.URL.Query())
	writeJSON(w, status, scim.Project(res, scim.GroupResourceType, q.Attributes, q.ExcludedAttributes))
}

func (h *Handler) readGroup(w http.ResponseWriter, r *http.Request) (*scim.Group, bool) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		h.fail(w, r, err)
		return nil, false
	}
	res, err := scim.DecodeResource(body, scim.GroupResourceType)
	if err != nil {
		h.fail(w, r, err)
		return nil, false
	}
	g, err := scim.GroupFromResource(res)
	if err != nil {
		h.fail(w, r, err)
		return nil, false
	}
	return g, true
}

func (h *Handler) createGroup(w http.ResponseWriter, r *http.Request) {
	g, ok := h.readGroup(w, r)
	if !ok {
		return
	}
	created, err := h.svc.CreateGroup(r.Context(), g)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.logger.Info("scim group created", zap.String("id", created.ID), zap.String("display_name", created.DisplayName),
		zap.Int("members", len(created.Members)))
	h.writeGroup(w, r, http.StatusCreated, created)
}

func (h *Handler) replaceGroup(w http.ResponseWriter, r *http.Request, id string) {
	g, ok := h.readGroup(w, r)
	if !ok {
		return
	}
	out, err := h.svc.ReplaceGroup(r.Context(), id, g, r.Header.Get("If-Match"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.writeGroup(w, r, http.StatusOK, out)
}

// patchGroup answers 204, which Entra ID expects, or 200 with the group when the
// request asks for attributes (RFC 7644 §3.5.2).
func (h *Handler) patchGroup(w http.ResponseWriter, r *http.Request, id string) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ops, err := scim.ParsePatch(body, scim.GroupResourceType)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	g, err := h.svc.PatchGroup(r.Context(), id, ops, r.Header.Get("If-Match"), h.renderOptions(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if q, _ := scim.ParseQuery(r.URL.Query()); len(q.Attributes) > 0 {
		h.writeGroup(w, r, http.StatusOK, g)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// fillUserGroups sets the read-only groups attribute of users. single is a GET of
// one user, where groups are returned unless excluded; list answers fill them only
// when attributes names groups, since it costs upstream calls per user. A failure
// leaves groups out (it is informational) and is logged.
func (h *Handler) fillUserGroups(r *http.Request, recs []adapters.Record, q scim.Query, single bool) {
	if h.groups == nil || len(recs) == 0 {
		return
	}
	if single && !wantsAttr(q, scim.UserResourceType, "groups") {
		return
	}
	if !single && (len(q.Attributes) == 0 || !wantsAttr(q, scim.UserResourceType, "groups")) {
		return
	}
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, rec := range recs {
		if rec.User == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(u *scim.User) {
			defer func() { <-sem; wg.Done() }()
			refs, err := h.svc.UserGroups(r.Context(), u.ID)
			if err != nil {
				h.logger.Warn("cannot read a user's groups", zap.String("id", u.ID), zap.Error(err))
				return
			}
			base := h.baseURL(r)
			for i := range refs {
				if refs[i].Ref == "" {
					refs[i].Ref = base + "/Groups/" + refs[i].Value
				}
			}
			u.Groups = refs
		}(rec.User)
	}
	wg.Wait()
}
