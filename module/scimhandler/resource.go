package scimhandler

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/audit"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// kind is one resource type (Users, Groups) as the handler's single pipeline serves
// it: reading and decoding a body, conditional requests, the answer with its ETag,
// Location and projection, PATCH and DELETE. Each type supplies only its service
// calls and its renderings.
type kind[T any] struct {
	rt *scim.ResourceType
	// meta of a resource: its id and its version (the ETag's source).
	id, version func(T) string
	// decode turns a validated body into the resource.
	decode func(scim.Resource) (T, error)
	// render is the resource as a map; fast, when set, writes the unprojected JSON
	// of the same resource directly (byte-identical).
	render func(T, scim.RenderOptions) scim.Resource
	fast   func([]byte, T, scim.RenderOptions) []byte
	// service calls; body is the decoded request body (to tell an absent attribute
	// from a default), q the request's query parameters.
	get     func(r *http.Request, id string, q scim.Query) (T, error)
	create  func(ctx context.Context, v T, body scim.Resource) (T, error)
	replace func(ctx context.Context, id string, v T, body scim.Resource, ifMatch string) (T, error)
	patch   func(ctx context.Context, id string, ops []scim.PatchOp, ifMatch string, opt scim.RenderOptions) (T, error)
	remove  func(ctx context.Context, id, ifMatch string) error
	list    func(w http.ResponseWriter, r *http.Request, q scim.Query)
	// patchBody says whether a PATCH answers 200 with the resource (else 204,
	// which Entra ID expects for groups).
	patchBody func(q scim.Query) bool
	// created names what a successful POST logs.
	created func(T) []zap.Field
	// ident names the resource in the audit trail: its externalId and its
	// userName (users) or displayName (groups).
	ident func(T) (externalID, name string)
}

// note tells the audit trail which resource the request is about.
func (k *kind[T]) note(r *http.Request, id string, v T) {
	ext, name := k.ident(v)
	audit.Resource(r.Context(), id, ext, name)
}

// serve maps methods on /<Type>, /<Type>/.search and /<Type>/{id} onto k.
func (k *kind[T]) serve(h *Handler, w http.ResponseWriter, r *http.Request, id string, hasID bool) {
	switch {
	case !hasID:
		switch r.Method {
		case http.MethodGet:
			q, err := scim.ParseQuery(r.URL.Query())
			if err != nil {
				h.fail(w, r, err)
				return
			}
			k.list(w, r, q)
		case http.MethodPost:
			k.doCreate(h, w, r)
		default:
			h.methodNotAllowed(w, r, "GET, POST")
		}
	case id == ".search":
		// a search is a list whose parameters come in the body
		if h.allow(w, r, http.MethodPost) {
			if q, ok := h.readSearch(w, r); ok {
				k.list(w, r, q)
			}
		}
	default:
		switch r.Method {
		case http.MethodGet:
			k.doGet(h, w, r, id)
		case http.MethodPut:
			k.doReplace(h, w, r, id)
		case http.MethodPatch:
			k.doPatch(h, w, r, id)
		case http.MethodDelete:
			audit.Resource(r.Context(), id, "", "")
			if err := k.remove(r.Context(), id, r.Header.Get("If-Match")); err != nil {
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

func (k *kind[T]) doGet(h *Handler, w http.ResponseWriter, r *http.Request, id string) {
	q, err := scim.ParseQuery(r.URL.Query())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v, err := k.get(r, id, q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if tag := scim.ETag(k.version(v)); tag != "" && scim.ETagMatches(r.Header.Get("If-None-Match"), tag) {
		w.Header().Set("ETag", tag)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	k.write(h, w, r, http.StatusOK, v)
}

// write answers v with its ETag, its Location (on 201) and the projection the
// request asks for.
func (k *kind[T]) write(h *Handler, w http.ResponseWriter, r *http.Request, status int, v T) {
	opt := h.renderOptions(r)
	if tag := scim.ETag(k.version(v)); tag != "" {
		w.Header().Set("ETag", tag)
	}
	if status == http.StatusCreated {
		w.Header().Set("Location", opt.BaseURL+k.rt.Endpoint+"/"+k.id(v))
	}
	q, _ := scim.ParseQuery(r.URL.Query())
	if k.fast != nil && !projects(q) {
		writeBody(w, status, k.fast(make([]byte, 0, 1024), v, opt), nil)
		return
	}
	writeJSON(w, status, scim.Project(k.render(v, opt), k.rt, q.Attributes, q.ExcludedAttributes))
}

// read decodes a POST or PUT body; on failure it has answered the error.
func (k *kind[T]) read(h *Handler, w http.ResponseWriter, r *http.Request) (T, scim.Resource, bool) {
	var zero T
	body, ok := h.readBody(w, r)
	if !ok {
		return zero, nil, false
	}
	res, err := scim.DecodeResourceWith(body, k.rt, h.lenient)
	if err != nil {
		h.fail(w, r, err)
		return zero, nil, false
	}
	v, err := k.decode(res)
	if err != nil {
		h.fail(w, r, err)
		return zero, nil, false
	}
	return v, res, true
}

func (k *kind[T]) doCreate(h *Handler, w http.ResponseWriter, r *http.Request) {
	v, res, ok := k.read(h, w, r)
	if !ok {
		return
	}
	k.note(r, "", v)
	out, err := k.create(r.Context(), v, res)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	k.note(r, k.id(out), out)
	h.logger.Info("scim "+strings.ToLower(k.rt.Name)+" created", k.created(out)...)
	k.write(h, w, r, http.StatusCreated, out)
}

func (k *kind[T]) doReplace(h *Handler, w http.ResponseWriter, r *http.Request, id string) {
	audit.Resource(r.Context(), id, "", "")
	v, res, ok := k.read(h, w, r)
	if !ok {
		return
	}
	k.note(r, id, v)
	out, err := k.replace(r.Context(), id, v, res, r.Header.Get("If-Match"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	k.note(r, id, out)
	k.write(h, w, r, http.StatusOK, out)
}

func (k *kind[T]) doPatch(h *Handler, w http.ResponseWriter, r *http.Request, id string) {
	audit.Resource(r.Context(), id, "", "")
	body, ok := h.readBody(w, r)
	if !ok {
		return
	}
	ops, err := scim.ParsePatchWith(body, k.rt, h.lenient)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := k.patch(r.Context(), id, ops, r.Header.Get("If-Match"), h.renderOptions(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	k.note(r, id, out)
	if q, _ := scim.ParseQuery(r.URL.Query()); !k.patchBody(q) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	k.write(h, w, r, http.StatusOK, out)
}

// projects reports whether q asks for attributes or excludedAttributes: only then
// is a resource answered through its projected map rather than a typed encoder.
func projects(q scim.Query) bool {
	return len(q.Attributes) > 0 || len(q.ExcludedAttributes) > 0
}

// readSearch reads the SearchRequest body of a POST …/.search (RFC 7644 §3.4.3);
// on failure it has answered the error.
func (h *Handler) readSearch(w http.ResponseWriter, r *http.Request) (scim.Query, bool) {
	body, ok := h.readBody(w, r)
	if !ok {
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

// kinds are the resource types of the pipeline, built once: by Provision, or on
// first use by a handler a unit test built without it.
type kinds struct {
	users  *kind[adapters.Record]
	groups *kind[*scim.Group]
}

func (h *Handler) kinds() *kinds {
	if h.kindSet == nil {
		h.kindSet = &kinds{users: h.users(), groups: h.groupKind()}
	}
	return h.kindSet
}
