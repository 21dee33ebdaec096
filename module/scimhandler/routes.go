package scimhandler

import (
	"context"
	"encoding/json"
	"errors"
	"io"
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
		h.users(w, r, id, len(seg) == 2)
	case strings.EqualFold(head, "Groups"):
		h.groupsRoute(w, r, id, len(seg) == 2) // module/groups.go
	case head == ".search" && len(seg) == 1:
		if h.allow(w, r, http.MethodPost) {
			h.rootSearch(w, r)
		}
	case strings.EqualFold(head, "Bulk") && len(seg) == 1:
		h.fail(w, r, scim.NotImplemented("Bulk operations are not supported (see bulk.supported in /ServiceProviderConfig)"))
	case strings.EqualFold(head, "Me"):
		h.fail(w, r, scim.NotImplemented("/Me is not supported: IdP clients provision other users, not themselves"))
	default:
		h.fail(w, r, scim.Errorf(http.StatusNotFound, "", "no such endpoint"))
	}
}

// endpoints are the operations of one resource type; dispatch maps methods on
// /<Type>, /<Type>/.search and /<Type>/{id} onto them.
type endpoints struct {
	list    func(http.ResponseWriter, *http.Request, scim.Query)
	create  func(http.ResponseWriter, *http.Request)
	get     func(http.ResponseWriter, *http.Request, string)
	replace func(http.ResponseWriter, *http.Request, string)
	patch   func(http.ResponseWriter, *http.Request, string)
	remove  func(context.Context, string, string) error
}

func (h *Handler) dispatch(w http.ResponseWriter, r *http.Request, id string, hasID bool, e endpoints) {
	switch {
	case !hasID:
		switch r.Method {
		case http.MethodGet:
			q, err := scim.ParseQuery(r.URL.Query())
			if err != nil {
				h.fail(w, r, err)
				return
			}
			e.list(w, r, q)
		case http.MethodPost:
			e.create(w, r)
		default:
			h.methodNotAllowed(w, r, "GET, POST")
		}
	case id == ".search":
		// a search is a list whose parameters come in the body
		if h.allow(w, r, http.MethodPost) {
			if q, ok := h.readSearch(w, r); ok {
				e.list(w, r, q)
			}
		}
	default:
		switch r.Method {
		case http.MethodGet:
			e.get(w, r, id)
		case http.MethodPut:
			e.replace(w, r, id)
		case http.MethodPatch:
			e.patch(w, r, id)
		case http.MethodDelete:
			if err := e.remove(r.Context(), id, r.Header.Get("If-Match")); err != nil {
				h.fail(w, r, err)
				return
			}
			h.logger.Info("scim resource deleted", zap.String("path", r.URL.Path))
			w.WriteHeader(http.StatusNoContent)
		default:
			h.methodNotAllowed(w, r, "GET, PUT, PATCH, DELETE")
		}
	}
}

func (h *Handler) users(w http.ResponseWriter, r *http.Request, id string, hasID bool) {
	h.dispatch(w, r, id, hasID, endpoints{list: h.listUsers, create: h.createUser,
		get: h.getUser, replace: h.replaceUser, patch: h.patchUser, remove: h.svc.DeleteUser})
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

// readSearch reads the SearchRequest body of a POST …/.search (RFC 7644 §3.4.3);
// on failure it has answered the error.
func (h *Handler) readSearch(w http.ResponseWriter, r *http.Request) (scim.Query, bool) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		h.fail(w, r, err)
		return scim.Query{}, false
	}
	var sr scim.SearchRequest
	if err := json.Unmarshal(body, &sr); err != nil {
		h.fail(w, r, scim.BadRequest(scim.ErrInvalidSyntax, "request body is not a valid SearchRequest"))
		return scim.Query{}, false
	}
	q, err := sr.Query()
	if err != nil {
		h.fail(w, r, err)
		return scim.Query{}, false
	}
	return q, true
}

func (h *Handler) listUsers(w http.ResponseWriter, r *http.Request, q scim.Query) {
	rs, users, err := h.queryUsers(r, q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.writeList(w, r, rs, users, q)
}

// queryUsers answers a user query as sorted, unprojected resources and, in the same
// order, the users they render.
func (h *Handler) queryUsers(r *http.Request, q scim.Query) ([]scim.Resource, []*scim.User, error) {
	var filter scim.Expr
	if q.Filter != "" {
		f, err := scim.ParseFilter(q.Filter, scim.UserResourceType)
		if err != nil {
			return nil, nil, err
		}
		filter = f
	}
	opt := h.renderOptions(r)
	rendered := map[*scim.User]scim.Resource{}
	render := func(u *scim.User) scim.Resource {
		if res, ok := rendered[u]; ok {
			return res
		}
		res := scim.UserToResource(u, opt)
		rendered[u] = res
		return res
	}
	recs, err := h.svc.QueryUsers(r.Context(), filter, render)
	if err != nil {
		return nil, nil, err
	}
	h.fillUserGroups(r, recs, q, false) // only with attributes=groups
	clear(rendered)
	rs := make([]scim.Resource, len(recs))
	for i, rec := range recs {
		rs[i] = render(rec.User)
	}
	order, err := scim.SortOrder(rs, scim.UserResourceType, q)
	if err != nil {
		return nil, nil, err
	}
	sorted := make([]scim.Resource, len(rs))
	users := make([]*scim.User, len(rs))
	for x, i := range order {
		sorted[x], users[x] = rs[i], recs[i].User
	}
	return sorted, users, nil
}

// projects reports whether q asks for attributes or excludedAttributes: only then
// is a user answered through its projected map rather than AppendUserJSON.
func projects(q scim.Query) bool {
	return len(q.Attributes) > 0 || len(q.ExcludedAttributes) > 0
}

// writeList pages rs and projects each resource by its own resource type. users[i]
// is the user rendered as rs[i]; users may be shorter than rs (groups follow).
func (h *Handler) writeList(w http.ResponseWriter, r *http.Request, rs []scim.Resource, users []*scim.User, q scim.Query) {
	lr := scim.Paginate(rs, q, h.MaxResults)
	if !projects(q) {
		from, _ := scim.PageBounds(len(rs), q, h.MaxResults)
		opt := h.renderOptions(r)
		b, err := lr.AppendJSON(make([]byte, 0, 1024*len(lr.Resources)+128), func(dst []byte, i int) ([]byte, error) {
			if from+i < len(users) {
				return scim.AppendUserJSON(dst, users[from+i], opt), nil
			}
			b, err := json.Marshal(scim.Project(lr.Resources[i], scim.GroupResourceType, nil, nil))
			return append(dst, b...), err
		})
		writeBody(w, http.StatusOK, b, err)
		return
	}
	for i, res := range lr.Resources {
		rt := scim.UserResourceType
		if meta, _ := res["meta"].(map[string]any); meta["resourceType"] == "Group" {
			rt = scim.GroupResourceType
		}
		lr.Resources[i] = scim.Project(res, rt, q.Attributes, q.ExcludedAttributes)
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
	users, userObjs, uerr := h.queryUsers(r, q)
	if h.groups == nil {
		if uerr != nil {
			h.fail(w, r, uerr)
			return
		}
		h.writeList(w, r, users, userObjs, q)
		return
	}
	groups, gerr := h.queryGroups(r, q)
	switch {
	case uerr != nil && gerr != nil:
		h.fail(w, r, uerr)
		return
	case uerr != nil && !isClientError(uerr), gerr != nil && !isClientError(gerr):
		h.fail(w, r, errors.Join(uerr, gerr))
		return
	}
	h.writeList(w, r, append(users, groups...), userObjs, q)
}

// isClientError reports a 4xx SCIM error (a filter or sortBy that does not fit a type).
func isClientError(err error) bool {
	var se *scim.Error
	return errors.As(err, &se) && se.Status < 500
}

func (h *Handler) getUser(w http.ResponseWriter, r *http.Request, id string) {
	rec, err := h.svc.GetUser(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if tag := scim.ETag(rec.User.Meta.Version); tag != "" && matchesTag(r.Header.Get("If-None-Match"), tag) {
		w.Header().Set("ETag", tag)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	q, _ := scim.ParseQuery(r.URL.Query())
	h.fillUserGroups(r, []adapters.Record{rec}, q, true)
	h.writeUser(w, r, http.StatusOK, rec)
}

// writeUser renders a user with ETag, Location (on 201) and projection.
func (h *Handler) writeUser(w http.ResponseWriter, r *http.Request, status int, rec adapters.Record) {
	opt := h.renderOptions(r)
	if tag := scim.ETag(rec.User.Meta.Version); tag != "" {
		w.Header().Set("ETag", tag)
	}
	if status == http.StatusCreated {
		w.Header().Set("Location", opt.UserLocation(rec.User.ID))
	}
	q, _ := scim.ParseQuery(r.URL.Query())
	if !projects(q) {
		writeBody(w, status, scim.AppendUserJSON(make([]byte, 0, 1024), rec.User, opt), nil)
		return
	}
	res := scim.UserToResource(rec.User, opt)
	writeJSON(w, status, scim.Project(res, scim.UserResourceType, q.Attributes, q.ExcludedAttributes))
}

func (h *Handler) readUser(w http.ResponseWriter, r *http.Request) (*scim.User, scim.Resource, bool) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		h.fail(w, r, err)
		return nil, nil, false
	}
	res, err := scim.DecodeResource(body, scim.UserResourceType)
	if err != nil {
		h.fail(w, r, err)
		return nil, nil, false
	}
	u, err := scim.UserFromResource(res)
	if err != nil {
		h.fail(w, r, err)
		return nil, nil, false
	}
	return u, res, true
}

func (h *Handler) createUser(w http.ResponseWriter, r *http.Request) {
	u, res, ok := h.readUser(w, r)
	if !ok {
		return
	}
	if _, has := res["active"]; !has {
		u.Active = true // RFC 7643 leaves the default to the provider; IdPs expect active
	}
	rec, err := h.svc.CreateUser(r.Context(), u)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.logger.Info("scim user provisioned", zap.String("id", rec.User.ID), zap.String("user_name", rec.User.UserName))
	h.writeUser(w, r, http.StatusCreated, rec)
}

func (h *Handler) replaceUser(w http.ResponseWriter, r *http.Request, id string) {
	u, res, ok := h.readUser(w, r)
	if !ok {
		return
	}
	_, hasActive := res["active"]
	rec, err := h.svc.ReplaceUser(r.Context(), id, u, hasActive, r.Header.Get("If-Match"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.writeUser(w, r, http.StatusOK, rec)
}

func (h *Handler) patchUser(w http.ResponseWriter, r *http.Request, id string) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ops, err := scim.ParsePatch(body, scim.UserResourceType)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rec, err := h.svc.PatchUser(r.Context(), id, ops, r.Header.Get("If-Match"), h.renderOptions(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.writeUser(w, r, http.StatusOK, rec)
}

func matchesTag(header, tag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == strings.TrimPrefix(tag, "W/") {
			return true
		}
	}
	return false
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
