package audit

import (
	"context"
	"encoding/json"
	"strconv"
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

	written, dropped atomic.Int64
}

// streamQueue bounds the events waiting for Redis.
const streamQueue = 4096

// NewStream starts writing to key, keeping about maxLen events (and, with maxAge,
// none older); Close stops it.
func NewStream(c redis.UniversalClient, key string, maxLen int64, maxAge time.Duration) *Stream {
	s := &Stream{c: c, key: key, maxLen: maxLen, maxAge: maxAge, ch: make(chan Event, streamQueue), done: make(chan struct{})}
	go s.run()
	return s
}

// Add queues e for the stream.
func (s *Stream) Add(e Event) {
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
			b, _ := json.Marshal(e)
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
	close(s.ch)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
	}
}

// Recent reads the newest n events, newest first.
func (s *Stream) Recent(ctx context.Context, n int64) ([]Event, error) {
	return Recent(ctx, s.c, s.key, n)
}

// Recent reads the newest n events of the stream at key, newest first.
func Recent(ctx context.Context, c redis.UniversalClient, key string, n int64) ([]Event, error) {
	msgs, err := c.XRevRangeN(ctx, key, "+", "-", n).Result()
	if err != nil {
		return nil, err
	}
	out := make([]Event, 0, len(msgs))
	for _, m := range msgs {
		raw, _ := m.Values["e"].(string)
		var e Event
		if json.Unmarshal([]byte(raw), &e) == nil {
			out = append(out, e)
		}
	}
	return out, nil
}
