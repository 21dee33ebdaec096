package audit

import (
	"context"
	"fmt"
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
