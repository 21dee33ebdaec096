package scimhandler

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapters/adaptertest"
	"github.com/caddy-scim/caddy-scim/module/audit"
)

// TestViews: what the operator's views read of a handler — it is Live between
// register and unregister; its in-process events come back newest first, filtered,
// from no stream; a drift report with a maxAge is kept, one without is new each time.
func TestViews(t *testing.T) {
	h := testHandler(t)
	h.ring, h.drift = audit.NewRing(ringSize), &driftCache{}
	register(h)
	if !slices.Contains(Live(), h) {
		t.Fatal("a registered handler is not live")
	}
	unregister(h)
	if slices.Contains(Live(), h) {
		t.Fatal("an unregistered handler is live")
	}
	serve(t, h, "PATCH", "/scim/v2/Users/first", `{"Operations":`, true)
	serve(t, h, "PATCH", "/scim/v2/Users/second", `{"Operations":`, true)
	evs, err := h.RecentEvents(context.Background(), 10, func(e audit.Event) bool { return e.Path != "/scim/v2/Users/first" }, 10)
	if err != nil || len(evs) != 1 || evs[0].Path != "/scim/v2/Users/second" {
		t.Fatalf("recent events %+v (%v)", evs, err)
	}
	if s := h.EventStream(); s != "" {
		t.Errorf("a handler without redis names a stream: %q", s)
	}
	if h.AdapterName() != h.adapter.Info().Name {
		t.Errorf("adapter %q", h.AdapterName())
	}
	listed := h.adapter.(*adaptertest.Memory).UpstreamCalls
	ctx := context.Background()
	before := listed()
	if _, err := h.Drift(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	walked := listed()
	if walked == before {
		t.Fatal("the first report did not walk the application")
	}
	if _, err := h.Drift(ctx, time.Minute); err != nil || listed() != walked {
		t.Errorf("a report younger than maxAge walked the application again (%v)", err)
	}
	if _, err := h.Drift(ctx, 0); err != nil || listed() == walked {
		t.Errorf("a report without maxAge did not walk the application (%v)", err)
	}
}
