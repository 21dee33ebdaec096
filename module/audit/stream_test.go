package audit

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestStream: events reach the shared stream in order, newest read first, and the
// stream stays capped by length and by age.
func TestStream(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: testenv.Redis(t).Addr})
	defer c.Close()
	ctx := context.Background()
	key := testenv.UniqueName("audit") + ":audit"
	s := NewStream(c, key, 50, 0)
	for i := range 1000 {
		s.Add(Event{Op: "users.create", ID: fmt.Sprint(i), Status: 201})
	}
	s.Close()
	if s.Written()+s.Dropped() != 1000 {
		t.Fatalf("written %d + dropped %d, want 1000", s.Written(), s.Dropped())
	}
	if s.Dropped() > 0 {
		t.Logf("%d events dropped (queue full)", s.Dropped())
	}
	n, err := c.XLen(ctx, key).Result()
	if err != nil || n >= 300 || n < 50 {
		t.Fatalf("stream length %d (%v), want about 50 (trimmed by whole nodes)", n, err)
	}
	got, err := Recent(ctx, c, key, 3)
	if err != nil || len(got) != 3 || got[0].ID != "999" || got[1].ID != "998" {
		t.Fatalf("recent: %+v %v", got, err)
	}

	aged := testenv.UniqueName("audit") + ":audit"
	s = NewStream(c, aged, 100000, 50*time.Millisecond)
	for i := range 500 {
		s.Add(Event{ID: fmt.Sprint(i)})
	}
	time.Sleep(200 * time.Millisecond)
	s.Add(Event{ID: "last"})
	s.Close()
	if n, _ := c.XLen(ctx, aged).Result(); n >= 500 {
		t.Fatalf("stream length %d after the age limit, want the old events trimmed", n)
	}
}

// TestStreamBounded: a stream of events with 16 KiB User-Agents holds each at most
// MaxEventBytes; an event added after Close is counted as dropped.
func TestStreamBounded(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: testenv.Redis(t).Addr})
	defer c.Close()
	ctx := context.Background()
	key := testenv.UniqueName("audit") + ":audit"
	s := NewStream(c, key, StreamLen(100, 64<<20), 0)
	for range 10 {
		s.Add(Event{Op: "users.list", Status: 401, Client: strings.Repeat("A", 16<<10), Path: strings.Repeat("/x", 8<<10)})
	}
	s.Close()
	s.Add(Event{Op: "late"})
	if s.Dropped() != 1 {
		t.Fatalf("dropped %d, want the late event", s.Dropped())
	}
	msgs, err := c.XRange(ctx, key, "-", "+").Result()
	if err != nil || len(msgs) != 10 {
		t.Fatalf("%d events (%v)", len(msgs), err)
	}
	for _, m := range msgs {
		if raw, _ := m.Values["e"].(string); len(raw) > MaxEventBytes {
			t.Fatalf("an event of %d bytes in the stream", len(raw))
		}
	}
	if n := StreamLen(100_000, 64<<20); n != 32768 {
		t.Fatalf("StreamLen(100000, 64 MiB) = %d, want 32768", n)
	}
	if n := StreamLen(100, 64<<20); n != 100 {
		t.Fatalf("StreamLen(100, 64 MiB) = %d", n)
	}
}

// TestRecentMatching: the newest events a filter accepts, newest first, found past
// others' events in batches, and no further than the scan limit.
func TestRecentMatching(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: testenv.Redis(t).Addr})
	defer c.Close()
	ctx := context.Background()
	key := testenv.UniqueName("audit") + ":audit"
	s := NewStream(c, key, 100_000, 0)
	for i := range 3000 {
		tenant := "b"
		if i%500 == 0 {
			tenant = "a"
		}
		s.Add(Event{Tenant: tenant, ID: fmt.Sprint(i)})
	}
	s.Close()
	isA := func(e Event) bool { return e.Tenant == "a" }
	got, err := RecentMatching(ctx, c, key, 4, isA, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range got {
		ids = append(ids, e.ID)
	}
	if fmt.Sprint(ids) != "[2500 2000 1500 1000]" {
		t.Fatalf("tenant a's newest: %v", ids)
	}
	if got, _ := RecentMatching(ctx, c, key, 10, isA, 1200); len(got) != 2 {
		t.Fatalf("%d found within 1200 events, want 2", len(got))
	}
	if got, _ := RecentMatching(ctx, c, key, 10, nil, 10); len(got) != 10 || got[0].ID != "2999" {
		t.Fatalf("unfiltered: %+v", got)
	}
	if before("5-0") != "4-18446744073709551615" || before("5-3") != "5-2" || before("0-0") != "" {
		t.Fatal("before")
	}
}

func TestNote(t *testing.T) {
	ctx, n := WithNote(context.Background())
	Resource(ctx, "", "ext-1", "ada")
	Resource(ctx, "42", "", "")
	var e Event
	n.Fill(&e)
	if e.ID != "42" || e.ExternalID != "ext-1" || e.Name != "ada" {
		t.Fatalf("%+v", e)
	}
	Resource(context.Background(), "x", "y", "z") // no note: nothing happens
}

func TestRing(t *testing.T) {
	r := NewRing(3)
	if len(r.Recent(10)) != 0 {
		t.Fatal("not empty")
	}
	for i := range 5 {
		r.Add(Event{ID: fmt.Sprint(i)})
	}
	got := r.Recent(10)
	if len(got) != 3 || got[0].ID != "4" || got[2].ID != "2" {
		t.Fatalf("%+v", got)
	}
	if got := r.Recent(1); len(got) != 1 || got[0].ID != "4" {
		t.Fatalf("%+v", got)
	}
}
