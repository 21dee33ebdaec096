package scimhandler

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are registered in Caddy's per-config registry on every Provision (Caddy
// makes a new registry on each reload), served by the admin endpoint's /metrics.
// Labels are bounded: the operation, the status class and the handler's base path;
// never a user, a token or an id.
type handlerMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func (h *Handler) registerMetrics(reg *prometheus.Registry) error {
	if reg == nil {
		return nil
	}
	labels := prometheus.Labels{"base_path": h.BasePath, "adapter": h.adapter.Info().Name}
	m := &handlerMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "scim", Name: "requests_total",
			Help: "SCIM requests answered, by operation and status class.", ConstLabels: labels,
		}, []string{"op", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "caddy", Subsystem: "scim", Name: "request_duration_seconds",
			Help: "Time to answer a SCIM request, upstream calls included.", ConstLabels: labels,
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"op"}),
	}
	collectors := []prometheus.Collector{m.requests, m.duration}
	if c, ok := h.adapter.(interface{ UpstreamCalls() int64 }); ok {
		collectors = append(collectors, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "scim", Name: "upstream_requests_total",
			Help: "HTTP requests the adapter sent to the upstream application, retries included.", ConstLabels: labels,
		}, func() float64 { return float64(c.UpstreamCalls()) }))
	}
	if rt, ok := h.linkStoreCounter(); ok {
		collectors = append(collectors, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "scim", Name: "link_store_round_trips_total",
			Help: "Round trips to the Redis link store.", ConstLabels: labels,
		}, func() float64 { return float64(rt()) }))
	}
	if h.redisStore != nil && h.redisStore.Indexed() {
		collectors = append(collectors, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "caddy", Subsystem: "scim", Name: "link_index_complete",
			Help: "1 while this instance trusts the Redis link index to prove identities new (POSTs then skip the upstream lookups).", ConstLabels: labels,
		}, func() float64 {
			if h.redisStore.Trusted() {
				return 1
			}
			return 0
		}))
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				continue // two handlers with one base path and adapter share the series
			}
			return err
		}
	}
	h.metrics = m
	return nil
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
