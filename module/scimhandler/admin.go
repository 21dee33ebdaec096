package scimhandler

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-scim/caddy-scim/module/audit"
	"github.com/caddy-scim/caddy-scim/module/provision"
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

// HealthReport is the answer of /scim/health: the worst status of all handlers.
type HealthReport struct {
	Status   string   `json:"status"`
	Handlers []Health `json:"handlers"`
}

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
	rep := healthReport(r.Context(), live())
	status := http.StatusOK
	if rep.Status == HealthUnavailable {
		status = http.StatusServiceUnavailable
	}
	return writeAdminJSON(w, status, rep)
}

// healthReport checks the handlers hs now, all at once.
func healthReport(ctx context.Context, hs []*Handler) HealthReport {
	rep := HealthReport{Status: HealthOK, Handlers: make([]Health, len(hs))}
	var wg sync.WaitGroup
	for i, h := range hs {
		wg.Go(func() { rep.Handlers[i] = h.checkHealth(ctx) })
	}
	wg.Wait()
	rank := map[string]int{HealthOK: 0, HealthDegraded: 1, HealthUnavailable: 2}
	for _, x := range rep.Handlers {
		if rank[x.Status] > rank[rep.Status] {
			rep.Status = x.Status
		}
	}
	if len(hs) == 0 {
		rep.Status = HealthUnavailable // nothing serves SCIM
	}
	return rep
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
	evs, err := recentEvents(r.Context(), live(), limit, nil, int64(limit))
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: err}
	}
	return writeAdminJSON(w, http.StatusOK, map[string]any{"events": evs})
}

// recentEvents merges the newest events of the handlers hs that keep accepts (nil:
// all), newest first: each shared Redis stream once, looking at no more than scan of
// its events, and the in-process events of handlers without one.
func recentEvents(ctx context.Context, hs []*Handler, limit int, keep func(audit.Event) bool, scan int64) ([]audit.Event, error) {
	ctx, cancel := context.WithTimeout(ctx, healthCheckTimeout)
	defer cancel()
	var out []audit.Event
	streams := map[string]bool{} // handlers sharing a Redis and prefix share a stream
	for _, h := range hs {
		switch key := h.redisKey + "\x00" + h.prefix; {
		case h.stream != nil && !streams[key]:
			streams[key] = true
			evs, err := h.stream.RecentMatching(ctx, int64(limit), keep, scan)
			if err != nil {
				return nil, fmt.Errorf("reading the audit stream %saudit: %v", h.prefix, err)
			}
			out = append(out, evs...)
		case h.stream == nil && h.ring != nil:
			for _, e := range h.ring.Recent(limit) {
				if keep == nil || keep(e) {
					out = append(out, e)
				}
			}
		}
	}
	slices.SortStableFunc(out, func(a, b audit.Event) int { return b.Time.Compare(a.Time) })
	return out[:min(len(out), limit)], nil
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
	hs := live()
	out := make([]HandlerDrift, len(hs))
	for i, h := range hs { // one at a time: each walks its application
		out[i] = HandlerDrift{BasePath: h.BasePath, Adapter: h.adapter.Info().Name}
		d, err := h.svc.Drift(r.Context())
		out[i].Drift = d
		if err != nil {
			out[i].Error = err.Error()
		}
	}
	return writeAdminJSON(w, http.StatusOK, map[string]any{"handlers": out})
}
