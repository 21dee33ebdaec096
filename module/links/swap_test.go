package links_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
	"github.com/caddy-scim/caddy-scim/module/links"
)

func mustJSON(t *testing.T, l links.Link) string {
	t.Helper()
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRedisSwapIndexEntries: only the id key is compared atomically, so a Put that
// lands between a Swap's two pipelines must keep its index entries: the Swap writes an
// entry over the link it replaced, none, an intent or another id's link, never over
// another link of its own id. It drops the replaced link's entries only while they
// still hold that link.
func TestRedisSwapIndexEntries(t *testing.T) {
	c := client(t, &redis.UniversalOptions{Addrs: []string{testenv.Redis(t).Addr}})
	prefix := testenv.UniqueName("t") + ":"
	s := links.NewRedis(c, prefix, time.Hour)
	s.EnableIndex(nil)
	ctx := context.Background()
	key := func(k string) string { return prefix + k }

	// a group id (\x1f is escaped in JSON) and HTML characters (escaped by
	// json.Marshal, not by cjson)
	a := links.Link{ID: "\x1fgroup:7", ExternalID: "g<7>", UserName: "\x1fgroup:A&B", Group: true, Block: links.BlockNone}
	if err := s.Put(ctx, a); err != nil {
		t.Fatal(err)
	}
	// what a Put after the Swap's compare would have left in the index entries
	newer := a
	newer.Block, newer.Version = links.BlockSCIM, "newer"
	for _, k := range []string{"ext:g<7>", "un:\x1fgroup:a&b"} {
		c.Set(ctx, key(k), mustJSON(t, newer), 0)
	}
	b := a
	b.Version = "swapped"
	if ok, err := s.Swap(ctx, a, b); err != nil || !ok {
		t.Fatalf("Swap = %v %v", ok, err)
	}
	if l, _, _ := s.Get(ctx, a.ID); l != b {
		t.Fatalf("the link = %+v, want %+v", l, b)
	}
	if l, ok, err := s.LinkByExternalID(ctx, "g<7>"); err != nil || !ok || l != newer {
		t.Fatalf("LinkByExternalID = %+v %v %v: the Swap overwrote a newer entry of its id", l, ok, err)
	}
	if l, ok, err := s.LinkByUserName(ctx, "\x1fgroup:A&B"); err != nil || !ok || l != newer {
		t.Fatalf("LinkByUserName = %+v %v %v: the Swap overwrote a newer entry of its id", l, ok, err)
	}

	// entries holding another id's link, an intent, an id of an older version, or
	// something unreadable are written over, as Put does
	u := links.Link{ID: "8", ExternalID: "e8", UserName: "eight"}
	if err := s.Put(ctx, u); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"ext:e8": mustJSON(t, links.Link{ID: "other", ExternalID: "e8"}), "un:eight-b": `{"pending":true}`,
		"ext:e8-c": "8", "un:eight-c": "{not json",
	} {
		c.Set(ctx, key(k), v, 0)
	}
	u2 := links.Link{ID: "8", ExternalID: "e8", UserName: "Eight-B"}
	if ok, err := s.Swap(ctx, u, u2); err != nil || !ok {
		t.Fatalf("Swap = %v %v", ok, err)
	}
	u3 := links.Link{ID: "8", ExternalID: "e8-c", UserName: "eight-c"}
	if ok, err := s.Swap(ctx, u2, u3); err != nil || !ok {
		t.Fatalf("Swap = %v %v", ok, err)
	}
	for _, k := range []string{"un:eight-c", "ext:e8-c"} {
		if v := c.Get(ctx, key(k)).Val(); v != mustJSON(t, u3) {
			t.Fatalf("%s = %q, want the link", k, v)
		}
	}
	// the replaced links' entries went (u's un:eight; u2's ext:e8 and un:eight-b) …
	for _, k := range []string{"un:eight", "ext:e8", "un:eight-b"} {
		if n := c.Exists(ctx, key(k)).Val(); n != 0 {
			t.Fatalf("%s survived the Swap that replaced its link: %q", k, c.Get(ctx, key(k)).Val())
		}
	}
	// … but not an entry another link has taken since
	v := links.Link{ID: "9", ExternalID: "e9", UserName: "nine"}
	if err := s.Put(ctx, v); err != nil {
		t.Fatal(err)
	}
	taker := links.Link{ID: "10", UserName: "nine"}
	if err := s.Put(ctx, taker); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Swap(ctx, v, links.Link{ID: "9", ExternalID: "e9", UserName: "nine-renamed"}); err != nil || !ok {
		t.Fatalf("Swap = %v %v", ok, err)
	}
	if id, ok, err := s.ByUserName(ctx, "nine"); err != nil || !ok || id != "10" {
		t.Fatalf("ByUserName(nine) = %q %v %v: the Swap dropped another link's entry", id, ok, err)
	}

	// a link stored in another encoding (an older version's) compares unequal: the
	// Swap fails and leaves it
	c.Set(ctx, key("id:old"), `{"un":"legacy","id":"old"}`, 0)
	old, ok, err := s.Get(ctx, "old")
	if err != nil || !ok || old != (links.Link{ID: "old", UserName: "legacy"}) {
		t.Fatalf("Get of the legacy encoding = %+v %v %v", old, ok, err)
	}
	if ok, err := s.Swap(ctx, old, links.Link{ID: "old", UserName: "new"}); err != nil || ok {
		t.Fatalf("Swap over another encoding = %v %v, want false", ok, err)
	}
}

// TestRedisSwapScriptsFlushed: a Swap whose scripts the server no longer knows (a
// restart, SCRIPT FLUSH) loads them and succeeds.
func TestRedisSwapScriptsFlushed(t *testing.T) {
	srv := testenv.RedisPrivate(t)
	c := client(t, &redis.UniversalOptions{Addrs: []string{srv.Addr}})
	s := links.NewRedis(c, "scim:", time.Hour)
	ctx := context.Background()
	a := links.Link{ID: "1", ExternalID: "e1", UserName: "one"}
	for i := range 3 {
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		b := a
		b.UserName = a.UserName + "+" // a rename: both scripts run
		var old links.Link
		if i > 0 {
			old = a
		}
		if ok, err := s.Swap(ctx, old, b); err != nil || !ok {
			t.Fatalf("Swap %d after SCRIPT FLUSH = %v %v", i, ok, err)
		}
		if n, err := s.SwapAll(ctx, []links.Link{b}, []links.Link{b}); err != nil || n != 1 {
			t.Fatalf("SwapAll %d = %d %v", i, n, err)
		}
		if id, ok, err := s.ByUserName(ctx, b.UserName); err != nil || !ok || id != "1" {
			t.Fatalf("ByUserName after the Swap = %q %v %v", id, ok, err)
		}
		if i > 0 {
			if _, ok, _ := s.ByUserName(ctx, a.UserName); ok {
				t.Fatal("the replaced userName still resolves")
			}
		}
		a = b
	}
}
