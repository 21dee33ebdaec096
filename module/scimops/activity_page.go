package scimops

import (
	_ "embed"
	"html/template"
	"net/http"
	"sort"
	"time"

	"github.com/caddy-scim/caddy-scim/module/audit"
	"github.com/caddy-scim/caddy-scim/module/provision"
	"github.com/caddy-scim/caddy-scim/module/scimhandler"
)

//go:embed activity_page.html
var activityPageHTML string

// activityPage is what the scim_activity handler serves: server-rendered, no script
// and no external assets.
var activityPage = template.Must(template.New("activity_page.html").Parse(activityPageHTML))

// pageEvents is how many of the newest events the page shows and counts, and
// pageScan how many of a shared stream's newest it looks through for its tenant's.
const (
	pageEvents = 500
	pageScan   = 20_000
)

// driftCacheFor is how long the page shows a handler's last drift report: the
// report walks the application, which a reloaded page must not do every time.
const driftCacheFor = time.Minute

type pageData struct {
	Tenant      string
	Now         time.Time
	EventSource string
	Handlers    []pageHandler
	Counts      []opCount
	Errors      []audit.Event
	Recent      []audit.Event
	Events      []audit.Event
}

type pageHandler struct {
	Health   scimhandler.Health
	Drift    *provision.Drift
	DriftErr string
}

type opCount struct {
	Caller, Client, Op  string
	OK, Refused, Failed int
}

// renderActivity writes the page for the scim handlers of this process that serve
// tenant, with their tenant's events only: a tenant's page shows nothing of another.
func renderActivity(w http.ResponseWriter, r *http.Request, tenant string) error {
	var hs []*scimhandler.Handler
	for _, h := range scimhandler.Live() {
		if h.Tenant == tenant {
			hs = append(hs, h)
		}
	}
	rep := healthReport(r.Context(), hs)
	data := pageData{Tenant: tenant, Now: time.Now().UTC(), EventSource: "this process"}
	for i, h := range hs {
		ph := pageHandler{Health: rep.Handlers[i]}
		d, err := h.Drift(r.Context(), driftCacheFor)
		ph.Drift = &d
		if err != nil {
			ph.DriftErr = err.Error()
		}
		data.Handlers = append(data.Handlers, ph)
		if h.EventStream() != "" {
			data.EventSource = "the shared Redis stream"
		}
	}
	evs, err := recentEvents(r.Context(), hs, pageEvents, func(e audit.Event) bool { return e.Tenant == tenant }, pageScan)
	if err != nil {
		data.EventSource = "nowhere: " + err.Error()
	}
	data.Events = evs
	counts := map[[3]string]*opCount{}
	for _, e := range evs {
		k := [3]string{e.Caller, e.Client, e.Op}
		c := counts[k]
		if c == nil {
			c = &opCount{Caller: e.Caller, Client: e.Client, Op: e.Op}
			counts[k] = c
		}
		switch {
		case e.Status >= 500:
			c.Failed++
		case e.Status >= 400:
			c.Refused++
		default:
			c.OK++
		}
		if e.Refused() && len(data.Errors) < 20 {
			data.Errors = append(data.Errors, e)
		}
	}
	for _, c := range counts {
		data.Counts = append(data.Counts, *c)
	}
	sort.Slice(data.Counts, func(i, j int) bool {
		a, b := data.Counts[i], data.Counts[j]
		if a.Caller != b.Caller {
			return a.Caller < b.Caller
		}
		if a.Client != b.Client {
			return a.Client < b.Client
		}
		return a.Op < b.Op
	})
	data.Recent = evs[:min(len(evs), 50)]
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	return activityPage.Execute(w, data)
}
