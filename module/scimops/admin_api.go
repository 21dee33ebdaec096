package scimops

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-scim/caddy-scim/module/provision"
	"github.com/caddy-scim/caddy-scim/module/scimhandler"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI serves the scim handlers of this Caddy on its admin API (loaded by
// itself with the admin endpoint, which listens on localhost:2019 unless the config
// says otherwise):
//
//	GET /scim/health   every handler's upstream and Redis, 200 or 503 (JSON)
//	GET /scim/events   the newest audit events (?limit=, default 100), from the
//	                   shared Redis stream, else from this process
//	GET /scim/report   the drift report of every handler (walks each application)
//
// The activity page is not here: Caddy's admin API refuses browsers (its cross-site
// protection), so the page is the scim_activity handler, on a path of a site.
type AdminAPI struct{}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "admin.api.scim", New: func() caddy.Module { return new(AdminAPI) }}
}

// Routes implements caddy.AdminRouter.
func (AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/scim/health", Handler: caddy.AdminHandlerFunc(serveHealth)},
		{Pattern: "/scim/events", Handler: caddy.AdminHandlerFunc(serveEvents)},
		{Pattern: "/scim/report", Handler: caddy.AdminHandlerFunc(serveReport)},
	}
}

var _ caddy.AdminRouter = AdminAPI{}

func allowGet(r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
	}
	return nil
}

func serveHealth(w http.ResponseWriter, r *http.Request) error {
	if err := allowGet(r); err != nil {
		return err
	}
	rep := healthReport(r.Context(), scimhandler.Live())
	status := http.StatusOK
	if rep.Status == scimhandler.HealthUnavailable {
		status = http.StatusServiceUnavailable
	}
	return writeAdminJSON(w, status, rep)
}

func serveEvents(w http.ResponseWriter, r *http.Request) error {
	if err := allowGet(r); err != nil {
		return err
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > 10000 {
			return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("limit must be 1 to 10000")}
		}
		limit = n
	}
	evs, err := recentEvents(r.Context(), scimhandler.Live(), limit, nil, int64(limit))
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: err}
	}
	return writeAdminJSON(w, http.StatusOK, map[string]any{"events": evs})
}

func writeAdminJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// HandlerDrift is one handler's part of /scim/report.
type HandlerDrift struct {
	BasePath string          `json:"base_path"`
	Adapter  string          `json:"adapter"`
	Drift    provision.Drift `json:"drift"`
	Error    string          `json:"error,omitempty"`
}

func serveReport(w http.ResponseWriter, r *http.Request) error {
	if err := allowGet(r); err != nil {
		return err
	}
	hs := scimhandler.Live()
	out := make([]HandlerDrift, len(hs))
	for i, h := range hs { // one at a time: each walks its application
		out[i] = HandlerDrift{BasePath: h.BasePath, Adapter: h.AdapterName()}
		d, err := h.Drift(r.Context(), 0)
		out[i].Drift = d
		if err != nil {
			out[i].Error = err.Error()
		}
	}
	return writeAdminJSON(w, http.StatusOK, map[string]any{"handlers": out})
}
