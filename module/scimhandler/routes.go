package scimhandler

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// route dispatches a request under base_path; rest is the remainder ("" or "/…").
func (h *Handler) route(w http.ResponseWriter, r *http.Request, rest string) {
	seg := strings.Split(strings.TrimPrefix(rest, "/"), "/")
	head := seg[0]
	var id string
	if len(seg) == 2 {
		id = seg[1]
	}
	if len(seg) > 2 || (len(seg) == 2 && id == "") {
		h.fail(w, r, scim.Errorf(http.StatusNotFound, "", "no such endpoint"))
		return
	}
	switch {
	case strings.EqualFold(head, "ServiceProviderConfig") && len(seg) == 1:
		if h.allow(w, r, http.MethodGet) {
			writeJSON(w, http.StatusOK, scim.ServiceProviderConfig(h.featuresFor(r)))
		}
	case strings.EqualFold(head, "ResourceTypes"):
		if h.allow(w, r, http.MethodGet) {
			h.discovery(w, r, scim.ResourceTypes(h.featuresFor(r)), id, "ResourceType")
		}
	case strings.EqualFold(head, "Schemas"):
		if h.allow(w, r, http.MethodGet) {
			h.discovery(w, r, scim.Schemas(h.featuresFor(r)), id, "Schema")
		}
	case strings.EqualFold(head, "Users"):
		h.kinds().users.serve(h, w, r, id, len(seg) == 2)
	case strings.EqualFold(head, "Groups"):
		if h.groups == nil {
			h.fail(w, r, scim.NotImplemented("Groups are not supported by the %s adapter with this configuration", h.adapter.Info().Name))
			return
		}
		h.kinds().groups.serve(h, w, r, id, len(seg) == 2)
	case head == ".search" && len(seg) == 1:
		if h.allow(w, r, http.MethodPost) {
			h.rootSearch(w, r)
		}
	case strings.EqualFold(head, "Bulk") && len(seg) == 1:
		h.bulk(w, r)
	case strings.EqualFold(head, "Me"):
		h.fail(w, r, scim.NotImplemented("/Me is not supported: IdP clients provision other users, not themselves"))
	default:
		h.fail(w, r, scim.Errorf(http.StatusNotFound, "", "no such endpoint"))
	}
}

// users is the Users resource type of the pipeline (resource.go).
func (h *Handler) users() *kind[adapters.Record] {
	return &kind[adapters.Record]{
		rt:      scim.UserResourceType,
		id:      func(r adapters.Record) string { return r.User.ID },
		version: func(r adapters.Record) string { return r.User.Meta.Version },
		decode: func(res scim.Resource) (adapters.Record, error) {
			u, err := scim.UserFromResource(res)
			return adapters.Record{User: u}, err
		},
		render: func(r adapters.Record, opt scim.RenderOptions) scim.Resource { return scim.UserToResource(r.User, opt) },
		fast: func(dst []byte, r adapters.Record, opt scim.RenderOptions) []byte {
			return scim.AppendUserJSON(dst, r.User, opt)
		},
		get: func(r *http.Request, id string, q scim.Query) (adapters.Record, error) {
			rec, err := h.svc.GetUser(r.Context(), id)
			if err == nil {
				h.fillUserGroups(r, []*scim.User{rec.User}, q)
			}
			return rec, err
		},
		create: func(ctx context.Context, v adapters.Record, body scim.Resource) (adapters.Record, error) {
			if _, has := body["active"]; !has {
				v.User.Active = true // RFC 7643 leaves the default to the provider; IdPs expect active
			}
			return h.svc.CreateUser(ctx, v.User)
		},
		replace: func(ctx context.Context, id string, v adapters.Record, body scim.Resource, ifMatch string) (adapters.Record, error) {
			_, hasActive := body["active"]
			return h.svc.ReplaceUser(ctx, id, v.User, hasActive, ifMatch)
		},
		patch:     h.svc.PatchUser,
		remove:    h.svc.DeleteUser,
		list:      h.listUsers,
		patchBody: func(scim.Query) bool { return true },
		ident:     func(r adapters.Record) (string, string) { return r.User.ExternalID, r.User.UserName },
		created: func(r adapters.Record) []zap.Field {
			return []zap.Field{zap.String("id", r.User.ID), zap.String("user_name", r.User.UserName)}
		},
	}
}

func (h *Handler) renderOptions(r *http.Request) scim.RenderOptions {
	return scim.RenderOptions{BaseURL: h.baseURL(r)}
}

// baseURL is the absolute SCIM root for meta.location. Caddy only routes requests
// whose Host matched the site, so the Host is one the operator configured.
func (h *Handler) baseURL(r *http.Request) string {
	if h.PublicURL != "" {
		return strings.TrimSuffix(h.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + h.BasePath
}

func (h *Handler) featuresFor(r *http.Request) scim.Features {
	f := h.features
	f.BaseURL = h.baseURL(r)
	return f
}

func (h *Handler) discovery(w http.ResponseWriter, r *http.Request, all []scim.Resource, id, kind string) {
	if id == "" {
		q := scim.Query{StartIndex: 1, Count: -1}
		writeJSON(w, http.StatusOK, scim.Paginate(all, q, len(all)))
		return
	}
	for _, res := range all {
		if rid, _ := res["id"].(string); strings.EqualFold(rid, id) {
			writeJSON(w, http.StatusOK, res)
			return
		}
	}
	h.fail(w, r, scim.NotFound(kind, id))
}

func (h *Handler) listUsers(w http.ResponseWriter, r *http.Request, q scim.Query) {
	found, err := h.svc.SearchUsers(r.Context(), q, h.renderOptions(r), true)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.writePage(w, r, nil, usersOf(found.Items), found.Total, q)
}

// usersOf is the users of recs.
func usersOf(recs []adapters.Record) []*scim.User {
	users := make([]*scim.User, len(recs))
	for i := range recs {
		users[i] = recs[i].User
	}
	return users
}

// writeList writes the page of rs that q asks for. users[i] is the user rendered as
// rs[i]; users may be shorter than rs (groups follow).
func (h *Handler) writeList(w http.ResponseWriter, r *http.Request, rs []scim.Resource, users []*scim.User, q scim.Query) {
	from, to := scim.PageBounds(len(rs), q, h.MaxResults)
	var pageUsers []*scim.User
	if from < len(users) {
		pageUsers = users[from:min(to, len(users))]
	}
	h.writePage(w, r, rs[from:to], pageUsers, len(rs), q)
}

// writePage writes one page of a list of total results, each item projected by its
// own resource type. The first len(users) items are those users (page may then be
// nil for them); the rest are page's (groups). The users' groups attribute is filled
// here, for the page only, when attributes asks for it.
func (h *Handler) writePage(w http.ResponseWriter, r *http.Request, page []scim.Resource, users []*scim.User, total int, q scim.Query) {
	h.fillUserGroups(r, users, q)
	n := max(len(page), len(users))
	lr := scim.ListResponse{Schemas: []string{scim.MessageListResponse}, TotalResults: total,
		ItemsPerPage: n, StartIndex: q.StartIndex, Resources: make([]scim.Resource, n)}
	opt := h.renderOptions(r)
	if !projects(q) {
		b, err := lr.AppendJSON(make([]byte, 0, 1024*n+128), func(dst []byte, i int) ([]byte, error) {
			if i < len(users) {
				return scim.AppendUserJSON(dst, users[i], opt), nil
			}
			b, err := json.Marshal(scim.Project(page[i], scim.GroupResourceType, nil, nil))
			return append(dst, b...), err
		})
		writeBody(w, http.StatusOK, b, err)
		return
	}
	for i := range n {
		if i < len(users) {
			lr.Resources[i] = scim.Project(scim.UserToResource(users[i], opt), scim.UserResourceType, q.Attributes, q.ExcludedAttributes)
		} else {
			lr.Resources[i] = scim.Project(page[i], scim.GroupResourceType, q.Attributes, q.ExcludedAttributes)
		}
	}
	writeJSON(w, http.StatusOK, lr)
}

// rootSearch answers POST /.search (RFC 7644 §3.4.3) across Users and, when the
// adapter has them, Groups: users first, then groups, each in its own order. A
// filter that names attributes one type does not have simply matches none of it;
// only a filter valid for no type is an error.
func (h *Handler) rootSearch(w http.ResponseWriter, r *http.Request) {
	q, ok := h.readSearch(w, r)
	if !ok {
		return
	}
	ctx, opt := r.Context(), h.renderOptions(r)
	users, uerr := h.svc.SearchUsers(ctx, q, opt, false)
	if h.groups == nil {
		if uerr != nil {
			h.fail(w, r, uerr)
			return
		}
		h.writeList(w, r, users.Resources, usersOf(users.Items), q)
		return
	}
	groups, gerr := h.svc.SearchGroups(ctx, q, opt, wantsAttr(q, scim.GroupResourceType, "members"), false)
	switch {
	case uerr != nil && gerr != nil:
		h.fail(w, r, uerr)
		return
	case uerr != nil && !isClientError(uerr), gerr != nil && !isClientError(gerr):
		h.fail(w, r, errors.Join(uerr, gerr))
		return
	}
	h.writeList(w, r, append(users.Resources, groups.Resources...), usersOf(users.Items), q)
}

// isClientError reports an error answered 4xx (a filter or sortBy that does not fit
// a type).
func isClientError(err error) bool {
	se, _ := toSCIMError(err)
	return se.Status < 500
}

func (h *Handler) allow(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method {
		return true
	}
	h.methodNotAllowed(w, r, method)
	return false
}

func (h *Handler) methodNotAllowed(w http.ResponseWriter, r *http.Request, allowed string) {
	w.Header().Set("Allow", allowed)
	h.fail(w, r, scim.Errorf(http.StatusMethodNotAllowed, "", "%s is not allowed here; allowed: %s", r.Method, allowed))
}

// fail writes err as a SCIM error and logs what the operator needs: upstream and
// internal failures at warn/error level, client mistakes at debug level.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	se, internal := toSCIMError(err)
	switch {
	case internal:
		h.logger.Error("scim request failed", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
	case se.Status >= 500:
		h.logger.Warn("scim upstream failure", zap.String("method", r.Method), zap.String("path", r.URL.Path),
			zap.Int("status", se.Status), zap.String("detail", se.Detail))
	default:
		if c := h.logger.Check(zap.DebugLevel, "scim request refused"); c != nil {
			c.Write(zap.String("method", r.Method), zap.String("path", r.URL.Path),
				zap.Int("status", se.Status), zap.String("scim_type", se.ScimType), zap.String("detail", se.Detail))
		}
	}
	writeError(w, se)
}
