package scimops

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/caddy-scim/caddy-scim/module/audit"
	"github.com/caddy-scim/caddy-scim/module/scimhandler"
)

// HealthReport is the answer of /scim/health: the worst status of all handlers.
type HealthReport struct {
	Status   string               `json:"status"`
	Handlers []scimhandler.Health `json:"handlers"`
}

// healthReport checks the handlers hs now, all at once.
func healthReport(ctx context.Context, hs []*scimhandler.Handler) HealthReport {
	rep := HealthReport{Status: scimhandler.HealthOK, Handlers: make([]scimhandler.Health, len(hs))}
	var wg sync.WaitGroup
	for i, h := range hs {
		wg.Go(func() { rep.Handlers[i] = h.Health(ctx) })
	}
	wg.Wait()
	rank := map[string]int{scimhandler.HealthOK: 0, scimhandler.HealthDegraded: 1, scimhandler.HealthUnavailable: 2}
	for _, x := range rep.Handlers {
		if rank[x.Status] > rank[rep.Status] {
			rep.Status = x.Status
		}
	}
	if len(hs) == 0 {
		rep.Status = scimhandler.HealthUnavailable // nothing serves SCIM
	}
	return rep
}

// eventsTimeout bounds reading the events of all handlers (as long as a health
// check gives one dependency).
const eventsTimeout = 5 * time.Second

// recentEvents merges the newest events of the handlers hs that keep accepts (nil:
// all), newest first: each shared Redis stream once, looking at no more than scan of
// its events, and the in-process events of handlers without one.
func recentEvents(ctx context.Context, hs []*scimhandler.Handler, limit int, keep func(audit.Event) bool, scan int64) ([]audit.Event, error) {
	ctx, cancel := context.WithTimeout(ctx, eventsTimeout)
	defer cancel()
	var out []audit.Event
	streams := map[string]bool{} // handlers sharing a Redis and prefix share a stream
	for _, h := range hs {
		if s := h.EventStream(); s != "" {
			if streams[s] {
				continue
			}
			streams[s] = true
		}
		evs, err := h.RecentEvents(ctx, limit, keep, scan)
		if err != nil {
			return nil, err
		}
		out = append(out, evs...)
	}
	slices.SortStableFunc(out, func(a, b audit.Event) int { return b.Time.Compare(a.Time) })
	return out[:min(len(out), limit)], nil
}
