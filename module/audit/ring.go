package audit

import "sync"

// Ring keeps the newest events of this process, for instances without Redis.
type Ring struct {
	mu   sync.Mutex
	buf  []Event
	next int
	full bool
}

// NewRing keeps the newest n events.
func NewRing(n int) *Ring { return &Ring{buf: make([]Event, n)} }

// Add keeps e, dropping the oldest event when full.
func (r *Ring) Add(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf[r.next] = e
	r.next = (r.next + 1) % len(r.buf)
	r.full = r.full || r.next == 0
}

// Recent returns up to n events, newest first.
func (r *Ring) Recent(n int) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	size := r.next
	if r.full {
		size = len(r.buf)
	}
	out := make([]Event, 0, min(n, size))
	for i := 1; i <= size && len(out) < n; i++ {
		out = append(out, r.buf[(r.next-i+len(r.buf))%len(r.buf)])
	}
	return out
}
