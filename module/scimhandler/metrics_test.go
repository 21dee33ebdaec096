package scimhandler

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/adaptertest"
)

// Two handlers of one config with the same base path and adapter share the series:
// each one's requests and upstream calls are counted (the second used to keep
// unregistered collectors of its own and record nothing).
func TestMetricsOfASecondHandler(t *testing.T) {
	reg := prometheus.NewRegistry()
	var hs []*Handler
	for i := range 2 {
		h := testHandler(t)
		a := &adaptertest.Memory{}
		for range 10 * (i + 1) { // 10 and 20 upstream calls
			if _, _, err := a.ListUsers(context.Background(), adapters.Page{}); err != nil {
				t.Fatal(err)
			}
		}
		h.adapter = a
		if err := h.registerMetrics(reg); err != nil {
			t.Fatalf("handler %d: %v", i, err)
		}
		hs = append(hs, h)
	}
	hs[1].observe("users.get", http.StatusOK, time.Now())
	hs[1].observe("users.get", http.StatusOK, time.Now())
	hs[0].observe("users.get", http.StatusNotFound, time.Now())

	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			got[mf.GetName()+labelsOf(m)] += value(m)
		}
	}
	for k, want := range map[string]float64{
		"caddy_scim_requests_total{code=2xx,op=users.get}":  2,
		"caddy_scim_requests_total{code=4xx,op=users.get}":  1,
		"caddy_scim_request_duration_seconds{op=users.get}": 3,
		"caddy_scim_upstream_requests_total{}":              30,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], want, got)
		}
	}
}

func labelsOf(m *dto.Metric) string {
	s := "{"
	for _, l := range m.GetLabel() {
		if l.GetName() == "base_path" || l.GetName() == "adapter" {
			continue
		}
		if s != "{" {
			s += ","
		}
		s += l.GetName() + "=" + l.GetValue()
	}
	return s + "}"
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}
