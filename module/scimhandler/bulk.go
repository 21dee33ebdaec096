package scimhandler

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/audit"
	"github.com/caddy-scim/caddy-scim/module/auth"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// defaultBulkOperations is maxOperations when bulk_max_operations is not set.
const defaultBulkOperations = 100

type principalKey struct{}

// bulk serves POST /Bulk (RFC 7644 §3.7). Every operation is served by the same
// pipeline as its single request — decoding, the SCIM and safety rules, locks, the
// audit trail (one event per operation) — so it gets exactly their semantics: one
// that fails leaves nothing half applied and does not undo the others. Operations
// run in the request's order, except that one referring to "bulkId:<id>" runs after
// the POST that defines it; a circle of references is refused (409).
func (h *Handler) bulk(w http.ResponseWriter, r *http.Request) {
	if h.features.BulkMaxOperations <= 0 {
		h.fail(w, r, scim.NotImplemented("Bulk operations are turned off (bulk_max_operations)"))
		return
	}
	if !h.allow(w, r, http.MethodPost) {
		return
	}
	body, ok := h.readBody(w, r) // max_body_size is maxPayloadSize: 413 beyond it
	if !ok {
		return
	}
	req, err := scim.ParseBulk(body, h.features.BulkMaxOperations)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	order, cyclic := scim.BulkOrder(req.Operations)
	results := make([]*scim.BulkResultItem, len(req.Operations))
	ids := map[string]string{}   // bulkId → the id its POST created
	defined := map[string]bool{} // bulkIds of the request's POSTs
	for _, op := range req.Operations {
		if id := op.Defines(); id != "" {
			defined[id] = true
		}
	}
	errs := 0
	for _, i := range append(order, cyclic...) {
		if req.FailOnErrors > 0 && errs >= req.FailOnErrors {
			break // RFC 7644 §3.7.3: the rest is not performed, nor answered
		}
		op := req.Operations[i]
		var res scim.BulkResultItem
		if slices.Contains(cyclic, i) {
			res = bulkFailure(op, &scim.Error{Status: http.StatusConflict,
				Detail: "circular bulkId references: this operation and the POSTs it refers to (" + strings.Join(op.Refs(), ", ") + ") each wait for another"})
		} else {
			res = h.bulkOne(r, op, ids, defined)
		}
		if st, _ := strconv.Atoi(res.Status); st >= 400 {
			errs++
		}
		results[i] = &res
	}
	out := scim.BulkResponse{Schemas: []string{scim.MessageBulkResponse}, Operations: []scim.BulkResultItem{}}
	for _, res := range results {
		if res != nil {
			out.Operations = append(out.Operations, *res)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// bulkOne runs one operation as the request it stands for.
// A reference missing from ids is to a POST that failed (ordering ran it first) or,
// when defined lacks it, to no POST of the request.
func (h *Handler) bulkOne(r *http.Request, op scim.BulkOperation, ids map[string]string, defined map[string]bool) scim.BulkResultItem {
	if _, err := op.Check(); err != nil {
		return bulkFailure(op, err)
	}
	resolved, missing := op.Resolve(ids)
	if len(missing) > 0 {
		for _, m := range missing {
			if !defined[m] {
				return bulkFailure(op, scim.BadRequest(scim.ErrInvalidValue, "bulkId %q is not defined by a POST of this request", m))
			}
		}
		return bulkFailure(op, &scim.Error{Status: http.StatusConflict,
			Detail: fmt.Sprintf("the POST that defines bulkId %q failed, so this operation was not performed", missing[0])})
	}
	method := strings.ToUpper(resolved.Method)
	start := time.Now()
	ctx, note := audit.WithNote(r.Context())
	ctx, calls := adapters.WithCallCount(ctx)
	sub, err := http.NewRequestWithContext(ctx, method, h.BasePath+resolved.Path, bytes.NewReader(resolved.Data))
	if err != nil {
		return bulkFailure(op, scim.BadRequest(scim.ErrInvalidPath, "path %q is not a valid URL path", op.Path))
	}
	sub.Host, sub.RemoteAddr, sub.TLS = r.Host, r.RemoteAddr, r.TLS
	sub.Header.Set("Content-Type", scim.ContentType)
	sub.Header.Set("User-Agent", r.UserAgent())
	if resolved.Version != "" {
		sub.Header.Set("If-Match", resolved.Version)
	}
	rec := &recorder{header: http.Header{}}
	sw := &statusWriter{ResponseWriter: rec}
	h.route(sw, sub, resolved.Path)
	who, _ := r.Context().Value(principalKey{}).(*auth.Principal)
	h.audit(sub, opLabel(method, resolved.Path), who, sw, note, calls(), start)

	status := rec.code
	if status == 0 {
		status = http.StatusOK
	}
	res := scim.BulkResultItem{Method: method, BulkID: op.BulkID, Status: strconv.Itoa(status), Version: rec.header.Get("ETag")}
	switch {
	case status >= 400:
		res.Response = json.RawMessage(rec.body.Bytes())
	case method == http.MethodPost:
		res.Location = rec.header.Get("Location")
		var created struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(rec.body.Bytes(), &created) == nil && created.ID != "" {
			ids[op.BulkID] = created.ID
		}
	default:
		res.Location = h.baseURL(r) + resolved.Path
	}
	return res
}

// bulkFailure is the answer of an operation that was refused before it ran.
func bulkFailure(op scim.BulkOperation, err error) scim.BulkResultItem {
	se, _ := toSCIMError(err)
	b, _ := json.Marshal(se)
	return scim.BulkResultItem{Method: strings.ToUpper(op.Method), BulkID: op.BulkID, Status: strconv.Itoa(se.Status), Response: b}
}

// recorder keeps one operation's answer.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (rec *recorder) Header() http.Header { return rec.header }
func (rec *recorder) WriteHeader(code int) {
	if rec.code == 0 {
		rec.code = code
	}
}
func (rec *recorder) Write(b []byte) (int, error) {
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	return rec.body.Write(b)
}

var _ http.ResponseWriter = (*recorder)(nil)
