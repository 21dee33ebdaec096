package scimhandler

// What an operator's views read of the provisioned handlers: the activity page and
// the admin API (module/scimops) import this package, never the reverse, and see a
// handler only through Live and the methods below.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/module/audit"
	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/provision"
)

// Live returns the provisioned scim handlers of this process, by base path (a
// handler is live from its Provision to its Cleanup).
func Live() []*Handler {
	handlers.Lock()
	defer handlers.Unlock()
	out := make([]*Handler, 0, len(handlers.set))
	for h := range handlers.set {
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b *Handler) int { return strings.Compare(a.BasePath, b.BasePath) })
	return out
}

// Health checks the handler's application and its link store now, all at once
// (each check bounded to 5 s); the metrics show the last result.
func (h *Handler) Health(ctx context.Context) Health { return h.checkHealth(ctx) }

// AdapterName is the name of the handler's adapter (its driver).
func (h *Handler) AdapterName() string { return h.adapter.Info().Name }

// Drift is the drift report of the handler's application (provision.Service.Drift,
// which walks the application). With maxAge > 0 it is the handler's last report
// while that is younger than maxAge (a failed one included), else a new one, kept
// for the next call; with 0 it is always a new one, and not kept.
func (h *Handler) Drift(ctx context.Context, maxAge time.Duration) (provision.Drift, error) {
	if maxAge <= 0 || h.drift == nil {
		return h.svc.Drift(ctx)
	}
	c := h.drift
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.d == nil || time.Since(c.at) > maxAge {
		d, err := h.svc.Drift(ctx)
		c.d, c.at, c.err = &d, time.Now(), ""
		if err != nil {
			c.err = err.Error()
		}
	}
	if c.err != "" {
		return *c.d, errors.New(c.err)
	}
	return *c.d, nil
}

// driftCache is one handler's last drift report (Drift with a maxAge).
type driftCache struct {
	mu  sync.Mutex
	at  time.Time
	d   *provision.Drift
	err string
}

// RecentEvents returns up to limit of the handler's newest audit events that keep
// accepts (nil: all), newest first: from its Redis stream, looking at no more than
// scan of the stream's newest events, else from the newest events this process
// kept. A view of several handlers reads a stream once: see EventStream.
func (h *Handler) RecentEvents(ctx context.Context, limit int, keep func(audit.Event) bool, scan int64) ([]audit.Event, error) {
	switch {
	case h.stream != nil:
		evs, err := h.stream.RecentMatching(ctx, int64(limit), keep, scan)
		if err != nil {
			return nil, fmt.Errorf("reading the audit stream %saudit: %v", h.prefix, err)
		}
		return evs, nil
	case h.ring != nil:
		var out []audit.Event
		for _, e := range h.ring.Recent(limit) {
			if keep == nil || keep(e) {
				out = append(out, e)
			}
		}
		return out, nil
	}
	return nil, nil // built without Provision
}

// EventStream names the Redis stream the handler's audit events go to, "" when
// they stay in this process. Handlers with the same name (the same Redis and
// prefix) share one stream, and their RecentEvents are the same events.
func (h *Handler) EventStream() string {
	if h.stream == nil {
		return ""
	}
	return h.redisKey + " " + h.prefix + "audit"
}

// Links is the handler's link store: the record of each identity it provisioned.
func (h *Handler) Links() links.Store { return h.store }

// LinkNamespace names where in its store the handler keeps its links: handlers
// with the same one (the same handler on several sites) share their links.
func (h *Handler) LinkNamespace() string {
	if h.Redis != nil {
		return "redis " + strings.Join(h.Redis.Addresses, ",") + " " + h.prefix
	}
	return h.boltKey + " " + h.namespace()
}

// Logger is the handler's logger (http.handlers.scim), for what a view changes in
// the handler's state, such as an import of links.
func (h *Handler) Logger() *zap.Logger { return h.logger }
