package audit

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Stream writes events to a capped Redis stream shared by every instance that uses
// the same Redis and prefix, off the request path: Add never blocks, and an event
// that finds the queue full (Redis slow or down) is counted in Dropped instead. The
// log line of each event is written regardless.
type Stream struct {
	c      redis.UniversalClient
	key    string
	maxLen int64
	maxAge time.Duration
	ch     chan Event
	done   chan struct{}

	// closeMu lets a late Add (a Gate's summary after Close) count its event as
	// dropped instead of sending on the closed channel.
	closeMu sync.RWMutex
	closed  bool

	written, dropped atomic.Int64
}

// streamQueue bounds the events waiting for Redis.
const streamQueue = 4096

// StreamLen is how many events keep a stream within maxBytes as well as maxLen:
// events are counted at their bound, MaxEventBytes. At least one.
func StreamLen(maxLen, maxBytes int64) int64 {
	return max(1, min(maxLen, maxBytes/MaxEventBytes))
}

// NewStream starts writing to key, keeping about maxLen events (and, with maxAge,
// none older); Close stops it. Each event is written through Bound, so that maxLen
// events take at most maxLen*MaxEventBytes.
func NewStream(c redis.UniversalClient, key string, maxLen int64, maxAge time.Duration) *Stream {
	s := &Stream{c: c, key: key, maxLen: maxLen, maxAge: maxAge, ch: make(chan Event, streamQueue), done: make(chan struct{})}
	go s.run()
	return s
}

// Add queues e for the stream.
func (s *Stream) Add(e Event) {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		s.dropped.Add(1)
		return
	}
	select {
	case s.ch <- e:
	default:
		s.dropped.Add(1)
	}
}

// Written and Dropped count the events written to Redis and those lost on the way.
func (s *Stream) Written() int64 { return s.written.Load() }
func (s *Stream) Dropped() int64 { return s.dropped.Load() }

func (s *Stream) run() {
	defer close(s.done)
	for e := range s.ch {
		batch := []Event{e}
	drain: // what queued meanwhile goes in the same round trip
		for len(batch) < 256 {
			select {
			case e, ok := <-s.ch:
				if !ok {
					break drain
				}
				batch = append(batch, e)
			default:
				break drain
			}
		}
		s.write(batch)
	}
}

func (s *Stream) write(batch []Event) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, e := range batch {
			b, _ := json.Marshal(Bound(e))
			p.XAdd(ctx, &redis.XAddArgs{Stream: s.key, MaxLen: s.maxLen, Approx: true, Values: []any{"e", b}})
		}
		if s.maxAge > 0 {
			p.XTrimMinIDApprox(ctx, s.key, strconv.FormatInt(time.Now().Add(-s.maxAge).UnixMilli(), 10), 0)
		}
		return nil
	})
	if err != nil {
		s.dropped.Add(int64(len(batch)))
		return
	}
	s.written.Add(int64(len(batch)))
}

// Close writes what is queued (for at most a few seconds) and stops.
func (s *Stream) Close() {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return
	}
	s.closed = true
	close(s.ch)
	s.closeMu.Unlock()
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
	}
}

// Recent reads the newest n events, newest first.
func (s *Stream) Recent(ctx context.Context, n int64) ([]Event, error) {
	return Recent(ctx, s.c, s.key, n)
}

// RecentMatching reads the newest n events that keep accepts, newest first, looking
// at no more than scan events (so that a page for a quiet tenant stays cheap).
func (s *Stream) RecentMatching(ctx context.Context, n int64, keep func(Event) bool, scan int64) ([]Event, error) {
	return RecentMatching(ctx, s.c, s.key, n, keep, scan)
}

// Recent reads the newest n events of the stream at key, newest first.
func Recent(ctx context.Context, c redis.UniversalClient, key string, n int64) ([]Event, error) {
	return RecentMatching(ctx, c, key, n, nil, n)
}

// RecentMatching reads the newest n events of the stream at key that keep accepts
// (nil: all), newest first, looking at no more than scan events.
func RecentMatching(ctx context.Context, c redis.UniversalClient, key string, n int64, keep func(Event) bool, scan int64) ([]Event, error) {
	out := make([]Event, 0, min(n, 1000))
	end := "+"
	for looked := int64(0); looked < scan && int64(len(out)) < n; {
		batch := min(scan-looked, max(n-int64(len(out)), 100), 1000)
		msgs, err := c.XRevRangeN(ctx, key, end, "-", batch).Result()
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			looked++
			raw, _ := m.Values["e"].(string)
			var e Event
			if json.Unmarshal([]byte(raw), &e) == nil && (keep == nil || keep(e)) {
				if out = append(out, e); int64(len(out)) == n {
					break
				}
			}
		}
		if int64(len(msgs)) < batch {
			break
		}
		if end = before(msgs[len(msgs)-1].ID); end == "" {
			break
		}
	}
	return out, nil
}

// before is the stream ID just before id ("" for the first possible one): XREVRANGE
// bounds are inclusive, and "(" needs Redis 6.2.
func before(id string) string {
	ms, seq, ok := strings.Cut(id, "-")
	if !ok {
		return ""
	}
	m, err1 := strconv.ParseUint(ms, 10, 64)
	q, err2 := strconv.ParseUint(seq, 10, 64)
	switch {
	case err1 != nil || err2 != nil:
		return ""
	case q > 0:
		return ms + "-" + strconv.FormatUint(q-1, 10)
	case m > 0:
		return strconv.FormatUint(m-1, 10) + "-18446744073709551615"
	}
	return ""
}
