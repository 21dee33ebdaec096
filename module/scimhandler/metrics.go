package scimhandler

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-scim/caddy-scim/adapters"
)

// Metrics are registered in Caddy's per-config registry on every Provision (Caddy
// makes a new registry on each reload), served by the admin endpoint's /metrics.
// Labels are bounded: the operation, the status class and the handler's base path;
// never a user, a token or an id. Handlers of one config that share the labels
// share the collectors: the first registers them, the others use what is registered.
type handlerMetrics struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	unknownMembers prometheus.Counter
	// unknownAttributes counts attributes dropped by unknown_attributes ignore
	unknownAttributes prometheus.Counter
}

func (h *Handler) registerMetrics(reg *prometheus.Registry) error {
	if reg == nil {
		return nil
	}
	labels := prometheus.Labels{"base_path": h.BasePath, "adapter": h.adapter.Info().Name}
	m := &handlerMetrics{}
	var err error
	if m.requests, err = registerOnce(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "scim", Name: "requests_total",
		Help: "SCIM requests answered, by operation and status class.", ConstLabels: labels,
	}, []string{"op", "code"})); err != nil {
		return err
	}
	if m.duration, err = registerOnce(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "caddy", Subsystem: "scim", Name: "request_duration_seconds",
		Help: "Time to answer a SCIM request, upstream calls included.", ConstLabels: labels,
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"op"})); err != nil {
		return err
	}
	if m.unknownMembers, err = registerOnce(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "scim", Name: "unknown_members_total",
		Help: "Group member ids that were no SCIM user and were skipped (unknown_members skip).", ConstLabels: labels,
	})); err != nil {
		return err
	}
	if m.unknownAttributes, err = registerOnce(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "scim", Name: "unknown_attributes_total",
		Help: "Attributes and extension schemas unknown to this server that requests sent and that were ignored (unknown_attributes ignore).", ConstLabels: labels,
	})); err != nil {
		return err
	}
	if c, ok := h.adapter.(adapters.CallCounter); ok {
		err = registerSum(reg, "upstream_requests_total", "HTTP requests the adapter sent to the upstream application, retries included.",
			prometheus.CounterValue, labels, func() float64 { return float64(c.UpstreamCalls()) })
		if err != nil {
			return err
		}
	}
	// the store's own cost: Redis round trips, or the embedded store's transactions
	var trips func() int64
	var trusted func() bool
	switch {
	case h.redisStore != nil:
		trips = h.redisStore.RoundTrips
		if h.redisStore.Indexed() {
			trusted = h.redisStore.Trusted
		}
	case h.boltStore != nil:
		trips, trusted = h.boltStore.Transactions, h.boltStore.Trusted
	}
	if trips != nil {
		err = registerSum(reg, "link_store_round_trips_total", "Round trips to the Redis link store, or transactions of the embedded one.",
			prometheus.CounterValue, labels, func() float64 { return float64(trips()) })
		if err == nil && trusted != nil {
			err = registerSum(reg, "link_index_complete", "Instances (handlers) that trust the link index to prove identities new (POSTs then skip the upstream lookups).",
				prometheus.GaugeValue, labels, func() float64 {
					if trusted() {
						return 1
					}
					return 0
				})
		}
		if err != nil {
			return err
		}
	}
	health := []struct {
		name, help string
		part       func(*Health) *ComponentHealth
	}{
		{"upstream_healthy", "1 when the last health check (every 30s) found the upstream answering and accepting the admin credential, 0 when not, -1 before the first check.",
			func(x *Health) *ComponentHealth { return &x.Upstream }},
		{"redis_healthy", "1 when the last health check (every 30s) reached Redis, 0 when not, -1 before the first check (with redis).",
			func(x *Health) *ComponentHealth { return x.Redis }},
	}
	for _, c := range health {
		if c.name == "redis_healthy" && h.redisStore == nil {
			continue
		}
		if err := registerSum(reg, c.name, c.help, prometheus.GaugeValue, labels, func() float64 { return h.healthy(c.part) }); err != nil {
			return err
		}
	}
	if h.stream != nil {
		if err := registerSum(reg, "audit_events_dropped_total", "Audit events that could not be written to the Redis stream (they are still logged).",
			prometheus.CounterValue, labels, func() float64 { return float64(h.stream.Dropped()) }); err != nil {
			return err
		}
	}
	h.metrics = m
	return nil
}

// registerOnce registers c, or returns the equal collector already registered.
func registerOnce[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}

// registerSum registers a metric whose value is the sum of value over every handler
// that registered it with the same labels.
func registerSum(reg prometheus.Registerer, name, help string, typ prometheus.ValueType, labels prometheus.Labels, value func() float64) error {
	s := &sumCollector{desc: prometheus.NewDesc("caddy_scim_"+name, help, nil, labels), typ: typ}
	s, err := registerOnce(reg, s)
	if err == nil {
		s.add(value)
	}
	return err
}

// sumCollector is a counter or gauge read from functions, summed.
type sumCollector struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
	mu   sync.Mutex
	fns  []func() float64
}

func (s *sumCollector) add(f func() float64) {
	s.mu.Lock()
	s.fns = append(s.fns, f)
	s.mu.Unlock()
}

func (s *sumCollector) Describe(ch chan<- *prometheus.Desc) { ch <- s.desc }

func (s *sumCollector) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	sum := 0.0
	for _, f := range s.fns {
		sum += f()
	}
	s.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(s.desc, s.typ, sum)
}

// observe records one answered request.
func (h *Handler) observe(op string, code int, start time.Time) {
	if h.metrics == nil {
		return
	}
	h.metrics.requests.WithLabelValues(op, codeLabel(code)).Inc()
	h.metrics.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

func codeLabel(code int) string {
	switch {
	case code < 200 || code > 599:
		return "other"
	default:
		return [...]string{"", "", "2xx", "3xx", "4xx", "5xx"}[code/100]
	}
}

// opLabel names the operation of a request under base_path, from a fixed set.
func opLabel(method, rest string) string {
	seg := strings.Split(strings.TrimPrefix(rest, "/"), "/")
	res := strings.ToLower(seg[0])
	switch res {
	case "serviceproviderconfig", "resourcetypes", "schemas":
		return "discovery"
	case ".search":
		return "search"
	case "bulk", "me":
		return res
	case "users", "groups":
	default:
		return "unknown"
	}
	if len(seg) == 1 {
		switch method {
		case http.MethodGet:
			return res + ".list"
		case http.MethodPost:
			return res + ".create"
		}
		return res + ".other"
	}
	if seg[1] == ".search" {
		return res + ".search"
	}
	switch method {
	case http.MethodGet:
		return res + ".get"
	case http.MethodPut:
		return res + ".replace"
	case http.MethodPatch:
		return res + ".patch"
	case http.MethodDelete:
		return res + ".delete"
	}
	return res + ".other"
}

// statusWriter remembers the status code written, for the metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
	// scimType and detail of the SCIM error answered, for the audit trail
	scimType, detail string
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
