package scimhandler

import (
	"context"
	"sync"
	"time"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/links"
)

// Health is what one scim handler reports on the admin API's /scim/health.
type Health struct {
	BasePath string `json:"base_path"`
	Adapter  string `json:"adapter"`
	// Status is "ok", "degraded" (Redis unreachable or the link index not trusted:
	// provisioning goes on from the upstream, slower) or "unavailable" (the upstream
	// fails or refuses the admin credential: SCIM requests fail).
	Status   string           `json:"status"`
	Upstream ComponentHealth  `json:"upstream"`
	Redis    *ComponentHealth `json:"redis,omitempty"`
	// LinkStore is the embedded link store (without redis): its file answers and
	// where its index stands.
	LinkStore *ComponentHealth `json:"link_store,omitempty"`
	Audit     *AuditHealth     `json:"audit,omitempty"`
	CheckedAt time.Time        `json:"checked_at"`
}

// ComponentHealth is one dependency's state.
type ComponentHealth struct {
	OK bool `json:"ok"`
	// Index is the link index's phase (links.Phase*).
	Index string `json:"index,omitempty"`
	// Rebuild is this instance's rebuild in progress, if any.
	Rebuild   *RebuildProgress `json:"rebuild,omitempty"`
	Error     string           `json:"error,omitempty"`
	LatencyMS float64          `json:"latency_ms"`
}

// RebuildProgress is where a link index rebuild of this instance stands.
type RebuildProgress struct {
	Phase   string    `json:"phase,omitempty"` // "reading" the users, "writing" links; "" when none runs
	Done    int       `json:"done"`
	Total   int       `json:"total"`
	Started time.Time `json:"started,omitzero"`
}

// AuditHealth counts the audit events the Redis stream took and lost.
type AuditHealth struct {
	Written int64 `json:"written"`
	Dropped int64 `json:"dropped"`
}

// Health statuses.
const (
	HealthOK          = "ok"
	HealthDegraded    = "degraded"
	HealthUnavailable = "unavailable"
)

// healthCheckTimeout bounds one check of one dependency.
const healthCheckTimeout = 5 * time.Second

// healthEvery is how often each handler checks in the background (for the metrics).
const healthEvery = 30 * time.Second

// checkHealth checks the upstream and Redis now, both at once.
func (h *Handler) checkHealth(ctx context.Context) Health {
	out := Health{BasePath: h.BasePath, Adapter: h.adapter.Info().Name, CheckedAt: time.Now().UTC()}
	var wg sync.WaitGroup
	wg.Go(func() {
		out.Upstream = timed(ctx, func(ctx context.Context) (string, error) { return "", h.svc.CheckUpstream(ctx) })
	})
	if h.redisStore != nil {
		var rh ComponentHealth
		out.Redis = &rh
		wg.Go(func() { rh = timed(ctx, h.redisStore.Phase) })
	}
	if h.boltStore != nil {
		var bh ComponentHealth
		out.LinkStore = &bh
		wg.Go(func() { bh = timed(ctx, h.boltStore.Phase) })
	}
	wg.Wait()
	for _, c := range []*ComponentHealth{out.Redis, out.LinkStore} {
		if c != nil && h.rebuild != nil {
			if p := h.rebuild.Load(); p != nil && p.Phase != "" {
				c.Rebuild = p
			}
		}
	}
	if h.stream != nil {
		out.Audit = &AuditHealth{Written: h.stream.Written(), Dropped: h.stream.Dropped()}
	}
	switch {
	case !out.Upstream.OK:
		out.Status = HealthUnavailable
	case out.Redis != nil && (!out.Redis.OK || (out.Redis.Index != links.PhaseComplete && out.Redis.Index != links.PhaseOff)),
		out.LinkStore != nil && (!out.LinkStore.OK || out.LinkStore.Index != links.PhaseComplete):
		out.Status = HealthDegraded
	default:
		out.Status = HealthOK
	}
	if h.lastHealth != nil {
		h.lastHealth.Store(&out)
	}
	return out
}

func timed(ctx context.Context, check func(context.Context) (string, error)) ComponentHealth {
	ctx, cancel := context.WithTimeout(ctx, healthCheckTimeout)
	defer cancel()
	t0 := time.Now()
	state, err := check(ctx)
	c := ComponentHealth{OK: err == nil, Index: state, LatencyMS: float64(time.Since(t0).Microseconds()) / 1000}
	if err != nil {
		c.Error = err.Error()
		if adapters.Is(err, adapters.Misconfigured) {
			c.Error = "the admin credential is refused or lacks a right: " + c.Error
		}
	}
	return c
}

// watchHealth checks every healthEvery until ctx ends, so the metrics stay current.
func (h *Handler) watchHealth(ctx context.Context) {
	t := time.NewTicker(healthEvery)
	defer t.Stop()
	for {
		h.checkHealth(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// healthy reads the last check: 1 when the component was fine, 0 when not, -1
// before the first check.
func (h *Handler) healthy(part func(*Health) *ComponentHealth) float64 {
	var last *Health
	if h.lastHealth != nil {
		last = h.lastHealth.Load()
	}
	if last == nil {
		return -1
	}
	if c := part(last); c != nil && c.OK {
		return 1
	}
	return 0
}

// handlers are the provisioned scim handlers of this process, for the operator's
// views (Live).
var handlers struct {
	sync.Mutex
	set map[*Handler]struct{}
}

func register(h *Handler) {
	handlers.Lock()
	defer handlers.Unlock()
	if handlers.set == nil {
		handlers.set = map[*Handler]struct{}{}
	}
	handlers.set[h] = struct{}{}
}

func unregister(h *Handler) {
	handlers.Lock()
	defer handlers.Unlock()
	delete(handlers.set, h)
}
