package links_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/links/linkstest"
)

// indexedStore returns a store with the index on, over a client whose connections
// are watched the way the handler's client's are.
func indexedStore(t *testing.T, addr string) (*links.Redis, redis.UniversalClient) {
	t.Helper()
	w := new(links.ConnWatcher)
	o := cacheOptions(addr)
	o.OnConnect = w.OnConnect
	c := client(t, o)
	s := newRedis(c, time.Hour)
	s.EnableIndex(w.Generation)
	return s, c
}

// TestRedisIndex: a miss proves an identity new only after a completed rebuild that
// this process verified, and only for identities the index does not hold.
func TestRedisIndex(t *testing.T) {
	srv := testenv.RedisPrivate(t)
	s, c := indexedStore(t, srv.Addr)
	ctx := context.Background()

	if linkstest.ProveNew(t, s, "e-new", "new") {
		t.Fatal("ProveNew before any rebuild")
	}
	st, err := s.IndexState(ctx)
	if err != nil || st.Mark != "" || st.Epoch == "" {
		t.Fatalf("fresh IndexState = %+v %v", st, err)
	}

	linkstest.Rebuild(t, s, []links.Link{{ID: "1", ExternalID: "e1", UserName: "Alice"}, {ID: "2", ExternalID: "e2", UserName: "bob", Deleted: true}})
	for _, tc := range []struct {
		ext, un string
		want    bool
	}{
		{"e-new", "new", true},
		{"", "new", true},
		{"e1", "new", false},          // the externalId is linked
		{"e-new", "ALICE", false},     // userName compares case-insensitively
		{"e2", "someone-else", false}, // a deleted user still holds its externalId
	} {
		if got := linkstest.ProveNew(t, s, tc.ext, tc.un); got != tc.want {
			t.Errorf("ProveNew(%q, %q) = %v, want %v", tc.ext, tc.un, got, tc.want)
		}
	}
	// With the index on, links do not expire: an expired link is a hole.
	for _, k := range []string{"id:1", "ext:e1", "un:alice"} {
		keys, _ := c.Keys(ctx, "*"+k).Result()
		if len(keys) != 1 {
			t.Fatalf("key *%s: %v", k, keys)
		}
		if ttl := c.TTL(ctx, keys[0]).Val(); ttl != -1 {
			t.Errorf("TTL of %s = %v, want none", keys[0], ttl)
		}
	}
	// Put (what a create does) keeps the index complete and is seen at once.
	if err := s.Put(ctx, links.Link{ID: "3", ExternalID: "e3", UserName: "carol"}); err != nil {
		t.Fatal(err)
	}
	if linkstest.ProveNew(t, s, "e3", "x") {
		t.Error("ProveNew true for an externalId just Put")
	}

	// An Invalidate during a rebuild makes it fail, and ProveNew stops at once.
	tok, err := s.BeginRebuild(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if linkstest.ProveNew(t, s, "e-new", "new") {
		t.Error("ProveNew true while a rebuild runs")
	}
	if err := s.Invalidate(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.CompleteRebuild(ctx, tok, st.Epoch); err != nil || ok {
		t.Fatalf("CompleteRebuild after Invalidate = %v %v, want false", ok, err)
	}

	// Another process dropping the mark (a flush, say) is seen by the next ProveNew.
	linkstest.Rebuild(t, s, nil)
	c.Del(ctx, mustKey(t, c, "*index"))
	if linkstest.ProveNew(t, s, "e-new", "new") {
		t.Error("ProveNew true after the mark was deleted")
	}
	select {
	case <-s.Changed():
	default:
		t.Error("no Changed signal after the mark vanished")
	}
}

func mustKey(t *testing.T, c redis.UniversalClient, pattern string) string {
	t.Helper()
	keys, err := c.Keys(context.Background(), pattern).Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %s = %v %v", pattern, keys, err)
	}
	return keys[0]
}

// TestRedisIndexAfterRestart: a server that restarts from its dump keeps the mark but
// may have lost the last links; the new connections make ProveNew refuse, and the new
// run_id tells the maintainer that the mark is stale.
func TestRedisIndexAfterRestart(t *testing.T) {
	srv := testenv.RedisPrivate(t)
	s, c := indexedStore(t, srv.Addr)
	ctx := context.Background()
	before := linkstest.Rebuild(t, s, []links.Link{{ID: "1", ExternalID: "e1", UserName: "alice"}})
	if !linkstest.ProveNew(t, s, "e-new", "new") {
		t.Fatal("ProveNew false on a verified index")
	}
	if err := c.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	srv.Stop(t)
	srv.Start(t) // loads the dump: the mark is back, the run_id is new

	deadline := time.Now().Add(10 * time.Second)
	var st links.IndexState
	var err error
	for {
		st, err = s.IndexState(ctx)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if st.Mark != before.Mark {
		t.Fatalf("the dump did not keep the mark: %+v (before %+v)", st, before)
	}
	if st.Epoch == before.Epoch || st.Mark == st.Epoch {
		t.Fatalf("the epoch did not change across a restart: before %+v after %+v", before, st)
	}
	if linkstest.ProveNew(t, s, "e-new", "new") {
		t.Error("ProveNew true after the server restarted")
	}
	// ... even once the new connections are made, before any check
	if linkstest.ProveNew(t, s, "e-new", "new") {
		t.Error("ProveNew true on a connection to the restarted server")
	}
	s.Verified(st) // a stale mark is never verified
	if linkstest.ProveNew(t, s, "e-new", "new") {
		t.Error("ProveNew true after Verified of a stale mark")
	}
}

// TestGuardIndexDroppedWrite: a Put dropped while Redis is down leaves a hole, so the
// guard invalidates the mark before it trusts the index again.
func TestGuardIndexDroppedWrite(t *testing.T) {
	srv := testenv.RedisPrivate(t)
	raw, c := indexedStore(t, srv.Addr)
	ctx := context.Background()
	g := links.Guard(raw, nil, nil)
	ix := g.(links.Index)
	linkstest.Rebuild(t, ix, nil)
	if err := c.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	srv.Stop(t)
	_ = g.Put(ctx, links.Link{ID: "9", ExternalID: "e9", UserName: "nine"}) // dropped
	if linkstest.ProveNew(t, ix, "e9", "nine") {
		t.Fatal("ProveNew true while Redis is down")
	}
	if _, _, ok, err := ix.PageLinks(ctx, 0, 10); ok || err != nil {
		t.Fatalf("PageLinks while Redis is down = %v %v, want a plain no", ok, err)
	}
	srv.Start(t)
	// Pretend the maintainer verified the surviving mark (it would not: the run_id
	// changed); the guard must still refuse and drop the mark, because of the
	// dropped write.
	deadline := time.Now().Add(40 * time.Second)
	for {
		ok, err := ix.ProveNew(ctx, "e9", "nine")
		if err != nil || ok {
			t.Fatalf("ProveNew after a dropped write = %v %v", ok, err)
		}
		if _, _, ok, err := ix.PageLinks(ctx, 0, 10); ok || err != nil {
			t.Fatalf("PageLinks after a dropped write = %v %v: the page would miss user 9", ok, err)
		}
		if n, _ := c.Exists(ctx, mustKeyOrEmpty(c, "*index")).Result(); n == 0 {
			break // the guard dropped the mark
		}
		if time.Now().After(deadline) {
			t.Fatal("the mark survived a dropped write")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func mustKeyOrEmpty(c redis.UniversalClient, pattern string) string {
	keys, _ := c.Keys(context.Background(), pattern).Result()
	if len(keys) == 0 {
		return "none"
	}
	return keys[0]
}

// TestConnWatcher: the pool's ordinary new connections to a known server do not make
// the index re-check; a server with a new run_id does.
func TestConnWatcher(t *testing.T) {
	srv := testenv.RedisPrivate(t)
	w := new(links.ConnWatcher)
	o := cacheOptions(srv.Addr)
	o.OnConnect = w.OnConnect
	c := client(t, o)
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	first := w.Generation()
	if first != 1 {
		t.Fatalf("generation after the first connection = %d, want 1", first)
	}
	// ten blocking commands at once: the pool opens more connections to the same server
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if err := c.BLPop(ctx, 100*time.Millisecond, "no-such-list").Err(); err != nil && err != redis.Nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := c.(*redis.Client).PoolStats().TotalConns; n < 2 {
		t.Fatalf("the pool opened %d connections; the test needs several", n)
	}
	if g := w.Generation(); g != first {
		t.Fatalf("generation %d after more connections to the same server, want %d", g, first)
	}
	srv.Stop(t)
	srv.Start(t)
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(ctx).Err() != nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if g := w.Generation(); g != first+1 {
		t.Fatalf("generation %d after a restart, want %d", g, first+1)
	}
}
