package audit

import (
	"sync"
	"testing"
	"time"
)

// TestGate: the bucket lets its burst through, then its rate; the rest are counted
// into one summary per interval, naming the address that sent the most.
func TestGate(t *testing.T) {
	var mu sync.Mutex
	var got []Summary
	g := NewGate(10, 20, time.Hour, func(s Summary) { mu.Lock(); got = append(got, s); mu.Unlock() })
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	g.now = func() time.Time { return now }
	allowed := 0
	for i := range 100 {
		addr := "192.0.2.1"
		if i%10 == 0 {
			addr = "192.0.2.2"
		}
		if g.Allow(addr) {
			allowed++
		}
	}
	if allowed != 20 {
		t.Fatalf("%d let through at once, want the burst of 20", allowed)
	}
	now = now.Add(time.Second)
	for range 50 {
		if g.Allow("192.0.2.1") {
			allowed++
		}
	}
	if allowed != 30 {
		t.Fatalf("%d let through after a second, want 20 + 10", allowed)
	}
	g.Flush()
	g.Flush() // nothing new: no second summary
	if len(got) != 1 || got[0].Refused != 120 || got[0].TopAddr != "192.0.2.1" || got[0].TopCount != 112 ||
		got[0].Until.Sub(got[0].Since) != time.Second {
		t.Fatalf("summaries %+v, want one of 120 refused, 112 of them from 192.0.2.1", got)
	}

	// the interval's own timer writes the summary
	g = NewGate(0, 0, 20*time.Millisecond, func(s Summary) { mu.Lock(); got = append(got, s); mu.Unlock() })
	for range 5 {
		g.Allow("198.51.100.7")
	}
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[1].Refused != 5 {
		t.Fatalf("summaries %+v, want a second of 5", got)
	}
}
