package audit

import (
	"sync"
	"time"
)

// Gate keeps requests that anyone can send — unauthenticated ones — from flooding
// the trail: a token bucket lets a few through as events of their own, and counts
// the rest into one summary per interval, so that a flood costs the trail (and the
// log) a line every few seconds instead of one per request.
type Gate struct {
	rate, burst float64
	every       time.Duration
	summary     func(Summary)
	now         func() time.Time // a test's clock

	mu      sync.Mutex
	tokens  float64
	last    time.Time
	refused int64
	since   time.Time
	addrs   map[string]int64
	timer   *time.Timer
}

// Summary is what a Gate counted instead of letting through, over one interval.
type Summary struct {
	Refused      int64
	Since, Until time.Time
	// TopAddr sent the most of them (among the first addresses seen), TopCount.
	TopAddr  string
	TopCount int64
}

// maxGateAddrs bounds the addresses a Gate counts apart in one interval.
const maxGateAddrs = 64

// NewGate lets perSecond requests through (burst at once) and reports the others to
// summary, once per interval every, from a timer of its own.
func NewGate(perSecond float64, burst int, every time.Duration, summary func(Summary)) *Gate {
	return &Gate{rate: perSecond, burst: float64(burst), tokens: float64(burst), every: every, summary: summary,
		now: time.Now, addrs: map[string]int64{}}
}

// Allow reports whether a request from addr may be an event of its own; if not, it
// is counted in the interval's summary.
func (g *Gate) Allow(addr string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if !g.last.IsZero() {
		g.tokens = min(g.burst, g.tokens+now.Sub(g.last).Seconds()*g.rate)
	}
	g.last = now
	if g.tokens >= 1 {
		g.tokens--
		return true
	}
	if g.refused == 0 {
		g.since = now
		g.timer = time.AfterFunc(g.every, g.Flush)
	}
	g.refused++
	if _, ok := g.addrs[addr]; ok || len(g.addrs) < maxGateAddrs {
		g.addrs[addr]++
	}
	return false
}

// Flush reports what was counted since the last summary, if anything, now rather
// than at the end of the interval.
func (g *Gate) Flush() {
	g.mu.Lock()
	if g.refused == 0 {
		g.mu.Unlock()
		return
	}
	s := Summary{Refused: g.refused, Since: g.since, Until: g.now()}
	for a, n := range g.addrs {
		if n > s.TopCount || (n == s.TopCount && a < s.TopAddr) {
			s.TopAddr, s.TopCount = a, n
		}
	}
	g.refused = 0
	clear(g.addrs)
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	g.mu.Unlock()
	g.summary(s)
}
