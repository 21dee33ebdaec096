package links_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/links/linkstest"
)

// These tests run against real redis-server processes (single node, Cluster,
// Sentinel) started by testenv; only the Guard's unit tests use a fake.

func client(t testing.TB, o *redis.UniversalOptions) redis.UniversalClient {
	t.Helper()
	c := redis.NewUniversalClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newRedis returns a store on c with keys of its own, so that tests sharing a server
// never see each other's keys.
func newRedis(c redis.UniversalClient, ttl time.Duration) *links.Redis {
	return links.NewRedis(c, testenv.UniqueName("t")+":", ttl)
}

// redisOptions: without the index the Redis store is a cache (entries expire); with
// it, links are kept. Locks are renewed either way.
var redisOptions = linkstest.Options{Expires: true, LockRenews: true}

func TestRedisConformance(t *testing.T) {
	c := client(t, &redis.UniversalOptions{Addrs: []string{testenv.Redis(t).Addr}})
	linkstest.Run(t, func(t *testing.T) links.Store { return newRedis(c, linkstest.TTL) }, redisOptions)
}

// TestRedisIndexedConformance: the same suite with the completeness index on.
func TestRedisIndexedConformance(t *testing.T) {
	c := client(t, &redis.UniversalOptions{Addrs: []string{testenv.Redis(t).Addr}})
	linkstest.Run(t, func(t *testing.T) links.Store {
		s := newRedis(c, linkstest.TTL)
		s.EnableIndex(nil)
		return s
	}, linkstest.Options{LockRenews: true, Indexed: true})
}

func TestRedisClusterConformance(t *testing.T) {
	rc := testenv.RedisCluster(t)
	c := client(t, &redis.UniversalOptions{Addrs: rc.Addrs})
	if _, ok := c.(*redis.ClusterClient); !ok {
		t.Fatalf("three addresses gave a %T, want a cluster client", c)
	}
	linkstest.Run(t, func(t *testing.T) links.Store { return newRedis(c, linkstest.TTL) }, redisOptions)

	// The suite's keys really were spread over the nodes: every node holds some.
	s := newRedis(c, time.Minute)
	for i := 0; i < 60; i++ {
		id := testenv.UniqueName("c")
		if err := s.Put(context.Background(), links.Link{ID: id, ExternalID: "e" + id, UserName: "u" + id}); err != nil {
			t.Fatal(err)
		}
	}
	cc := c.(*redis.ClusterClient)
	var nodes, empty atomic.Int32
	err := cc.ForEachMaster(context.Background(), func(ctx context.Context, n *redis.Client) error {
		nodes.Add(1)
		if n.DBSize(ctx).Val() == 0 {
			empty.Add(1)
		}
		return nil
	})
	if err != nil || nodes.Load() != 3 || empty.Load() != 0 {
		t.Fatalf("masters %d, empty %d, err %v: want keys on all 3", nodes.Load(), empty.Load(), err)
	}
}

// TestRedisClusterIndexedConformance: the index on a Cluster, whose keys (a link's,
// its index entries', the order's) live in different slots.
func TestRedisClusterIndexedConformance(t *testing.T) {
	c := client(t, &redis.UniversalOptions{Addrs: testenv.RedisCluster(t).Addrs})
	linkstest.Run(t, func(t *testing.T) links.Store {
		s := newRedis(c, linkstest.TTL)
		s.EnableIndex(nil)
		return s
	}, linkstest.Options{LockRenews: true, Indexed: true})
}

func TestRedisSentinelConformance(t *testing.T) {
	rs := testenv.RedisSentinel(t)
	c := client(t, &redis.UniversalOptions{Addrs: rs.SentinelAddrs, MasterName: rs.MasterName})
	if _, ok := c.(*redis.Client); !ok {
		t.Fatalf("a master name gave a %T, want a failover client", c)
	}
	linkstest.Run(t, func(t *testing.T) links.Store { return newRedis(c, linkstest.TTL) }, redisOptions)

	// The writes went to the master the sentinel named.
	prefix := testenv.UniqueName("t") + ":"
	s := links.NewRedis(c, prefix, time.Minute)
	if err := s.Put(context.Background(), links.Link{ID: "s1", UserName: "Sentinel.User"}); err != nil {
		t.Fatal(err)
	}
	direct := links.NewRedis(client(t, &redis.UniversalOptions{Addrs: []string{rs.MasterAddr}}), prefix, time.Minute)
	if id, ok, err := direct.ByUserName(context.Background(), "sentinel.user"); err != nil || !ok || id != "s1" {
		t.Fatalf("on the master: %q %v %v", id, ok, err)
	}
}

// countHook counts what the client really sends: one per command, one per pipeline.
// The handshake of a new connection (HELLO, CLIENT …) goes through the hook too, but
// it is paid once per connection, not per operation, so it is left out.
type countHook struct{ n atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !handshake(cmd) {
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if !handshake(c) {
				h.n.Add(1)
				break
			}
		}
		return next(ctx, cmds)
	}
}

func handshake(c redis.Cmder) bool {
	switch c.Name() {
	case "hello", "client", "auth", "select":
		return true
	}
	return false
}

// TestRedisRoundTrips pins the cost of each operation on a warm store, and checks
// RoundTrips against what the client actually sent.
func TestRedisRoundTrips(t *testing.T) {
	rc := redis.NewClient(&redis.Options{Addr: testenv.Redis(t).Addr})
	t.Cleanup(func() { _ = rc.Close() })
	hook := &countHook{}
	rc.AddHook(hook)
	s := newRedis(rc, time.Minute)
	ctx := context.Background()

	step := func(name string, want int64, f func() error) {
		t.Helper()
		r0, h0 := s.RoundTrips(), hook.n.Load()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := s.RoundTrips() - r0; got != want {
			t.Errorf("%s: %d round trips, want %d", name, got, want)
		}
		if got, sent := s.RoundTrips()-r0, hook.n.Load()-h0; got != sent {
			t.Errorf("%s: RoundTrips says %d, the client sent %d", name, got, sent)
		}
	}
	l := links.Link{ID: "rt1", ExternalID: "ext-rt1", UserName: "RT.User", Active: true}
	step("Put", 1, func() error { return s.Put(ctx, l) })
	step("ByExternalID", 1, func() error { _, _, err := s.ByExternalID(ctx, "ext-rt1"); return err })
	step("ByUserName", 1, func() error { _, _, err := s.ByUserName(ctx, "rt.user"); return err })
	step("Get", 1, func() error { _, _, err := s.Get(ctx, "rt1"); return err })
	step("LinkByExternalID", 1, func() error {
		got, ok, err := s.LinkByExternalID(ctx, "ext-rt1")
		if err == nil && (!ok || got != l) {
			t.Errorf("LinkByExternalID = %+v %v, want %+v", got, ok, l)
		}
		return err
	})
	step("LinkByUserName", 1, func() error {
		got, ok, err := s.LinkByUserName(ctx, "RT.USER")
		if err == nil && (!ok || got != l) {
			t.Errorf("LinkByUserName = %+v %v, want %+v", got, ok, l)
		}
		return err
	})
	step("miss", 1, func() error { _, _, err := s.ByUserName(ctx, "nobody"); return err })
	var rel func()
	step("Lock", 1, func() error { var err error; rel, _, err = s.Lock(ctx, "k", time.Minute); return err })
	// The release script is loaded on first use (EVALSHA, then EVAL), so the second
	// release is the warm cost.
	rel()
	step("Lock (warm)", 1, func() error { var err error; rel, _, err = s.Lock(ctx, "k", time.Minute); return err })
	step("release (warm)", 1, func() error { rel(); return nil })
	var f1, f2 int64
	var relF func()
	step("LockFenced", 2, func() error {
		var ok bool
		var err error
		relF, f1, ok, err = s.LockFenced(ctx, "f", time.Minute)
		if err == nil && !ok {
			err = errors.New("not locked")
		}
		return err
	})
	step("release", 1, func() error { relF(); return nil })
	if r, f, ok, err := s.LockFenced(ctx, "f", time.Minute); err != nil || !ok {
		t.Fatalf("second LockFenced = %v %v", ok, err)
	} else {
		f2 = f
		r()
	}
	if f1 <= 0 || f2 <= f1 {
		t.Errorf("fencing tokens %d then %d, want increasing", f1, f2)
	}
	// Swap: the compare, then (only when it won) the index entries, once its
	// scripts are loaded (a first use costs one more pipeline each)
	l2 := l
	l2.UserName = "RT.Renamed"
	if ok, err := s.Swap(ctx, l, l2); err != nil || !ok {
		t.Fatalf("Swap = %v %v", ok, err)
	}
	l3 := l2
	l3.UserName, l3.Email = "RT.Third", "rt@example.com"
	step("Swap", 2, func() error {
		ok, err := s.Swap(ctx, l2, l3)
		if err == nil && !ok {
			err = errors.New("lost")
		}
		return err
	})
	step("Swap (lost)", 1, func() error {
		ok, err := s.Swap(ctx, l2, l3)
		if err == nil && ok {
			err = errors.New("won over a changed link")
		}
		return err
	})
	step("SwapAll", 2, func() error {
		n, err := s.SwapAll(ctx, []links.Link{l3, {}, l2}, []links.Link{l, {ID: "rt2"}, l})
		if err == nil && n != 2 {
			err = fmt.Errorf("%d written, want 2", n)
		}
		return err
	})
	step("Forget", 2, func() error { return s.Forget(ctx, "rt1") })
}

func TestRedisForgetIsCompleteAndCorruptValueIsAMiss(t *testing.T) {
	rc := redis.NewClient(&redis.Options{Addr: testenv.Redis(t).Addr})
	t.Cleanup(func() { _ = rc.Close() })
	prefix := testenv.UniqueName("t") + ":"
	s := links.NewRedis(rc, prefix, time.Minute)
	ctx := context.Background()
	if err := s.Put(ctx, links.Link{ID: "f1", ExternalID: "E", UserName: "U"}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id:f1", "ext:E", "un:u"} {
		if ttl := rc.PTTL(ctx, prefix+k).Val(); ttl <= 0 || ttl > time.Minute {
			t.Fatalf("%s has TTL %v, want (0, 1m]", k, ttl)
		}
	}
	if err := s.Forget(ctx, "f1"); err != nil {
		t.Fatal(err)
	}
	if n := rc.Exists(ctx, prefix+"id:f1", prefix+"ext:E", prefix+"un:u").Val(); n != 0 {
		t.Fatalf("%d keys left after Forget", n)
	}
	rc.Set(ctx, prefix+"id:bad", "{not json", time.Minute)
	if l, ok, err := s.Get(ctx, "bad"); err != nil || ok {
		t.Fatalf("Get of a corrupt value = %+v %v %v, want a miss", l, ok, err)
	}
}

// TestRedisFlushAll: FLUSHALL mid-run loses nothing but speed: lookups miss without
// an error, and the store works again at once.
func TestRedisFlushAll(t *testing.T) {
	srv := testenv.RedisPrivate(t)
	c := client(t, &redis.UniversalOptions{Addrs: []string{srv.Addr}})
	s := links.NewRedis(c, "scim:", time.Hour)
	ctx := context.Background()
	for _, l := range []links.Link{{ID: "1", ExternalID: "e1", UserName: "one"}, {ID: "2", ExternalID: "e2", UserName: "two"}} {
		if err := s.Put(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	if id, ok, err := s.ByUserName(ctx, "one"); err != nil || !ok || id != "1" {
		t.Fatalf("before flush: %q %v %v", id, ok, err)
	}
	admin := client(t, &redis.UniversalOptions{Addrs: []string{srv.Addr}})
	if err := admin.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"one", "two"} {
		if id, ok, err := s.ByUserName(ctx, q); err != nil || ok {
			t.Fatalf("ByUserName(%s) after flush = %q %v %v, want a miss", q, id, ok, err)
		}
	}
	if _, ok, err := s.ByExternalID(ctx, "e1"); err != nil || ok {
		t.Fatalf("ByExternalID after flush = %v %v", ok, err)
	}
	if _, ok, err := s.Get(ctx, "2"); err != nil || ok {
		t.Fatalf("Get after flush = %v %v", ok, err)
	}
	if rel, ok, err := s.Lock(ctx, "k", time.Minute); err != nil || !ok {
		t.Fatalf("Lock after flush = %v %v", ok, err)
	} else {
		rel()
	}
	if err := s.Put(ctx, links.Link{ID: "1", ExternalID: "e1", UserName: "one"}); err != nil {
		t.Fatal(err)
	}
	if id, ok, err := s.ByExternalID(ctx, "e1"); err != nil || !ok || id != "1" {
		t.Fatalf("after re-Put: %q %v %v", id, ok, err)
	}
}

// cacheOptions are client settings for a store that is only a cache: short timeouts
// and one retry. With go-redis defaults (3 retries, 5 dial attempts each) one call to
// a dead server takes about 2s; the Guard makes that one call per back-off either way.
func cacheOptions(addr string) *redis.UniversalOptions {
	return &redis.UniversalOptions{Addrs: []string{addr}, MaxRetries: 1, DialerRetries: 1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond}
}

type guardEvents struct {
	down, up atomic.Int32
	lastErr  atomic.Value
}

func (e *guardEvents) onDown(err error) { e.down.Add(1); e.lastErr.Store(err) }
func (e *guardEvents) onUp()            { e.up.Add(1) }

// TestRedisKilledAndRestarted: with the server gone the guarded store reports the
// outage once, answers misses, refuses locks, and recovers by itself once the server
// is back on the same port.
func TestRedisKilledAndRestarted(t *testing.T) {
	srv := testenv.RedisPrivate(t)
	c := client(t, cacheOptions(srv.Addr))
	raw := links.NewRedis(c, "scim:", time.Hour)
	ev := &guardEvents{}
	s := links.Guard(raw, ev.onDown, ev.onUp)
	ctx := context.Background()
	if err := s.Put(ctx, links.Link{ID: "1", ExternalID: "e1", UserName: "one"}); err != nil {
		t.Fatal(err)
	}
	if id, ok, _ := s.ByUserName(ctx, "one"); !ok || id != "1" {
		t.Fatalf("before kill: %q %v", id, ok)
	}

	srv.Stop(t)
	if _, _, err := raw.ByUserName(ctx, "one"); err == nil {
		t.Fatal("the raw store answered with the server stopped")
	}
	before := raw.RoundTrips()
	for i := 0; i < 200; i++ {
		if id, ok, err := s.ByUserName(ctx, "one"); err != nil || ok {
			t.Fatalf("lookup %d while down = %q %v %v, want a miss without error", i, id, ok, err)
		}
		if err := s.Put(ctx, links.Link{ID: "2", UserName: "two"}); err != nil {
			t.Fatalf("Put while down: %v", err)
		}
	}
	// Only the call that found the outage reached the client; the rest were answered
	// by the open circuit (the test does not outlast the first 1s back-off by much, but
	// a probe or two may run if the machine is slow).
	if n := raw.RoundTrips() - before; n > 3 {
		t.Fatalf("%d round trips attempted for 400 calls while down", n)
	}
	if d, u := ev.down.Load(), ev.up.Load(); d != 1 || u != 0 {
		t.Fatalf("onDown %d onUp %d while down, want 1 0", d, u)
	}
	if _, ok, err := s.Lock(ctx, "create:un:x", time.Minute); ok || !errors.Is(err, links.ErrUnavailable) {
		t.Fatalf("Lock while down = %v %v, want ErrUnavailable", ok, err)
	}

	srv.Start(t)
	deadline := time.Now().Add(20 * time.Second)
	for ev.up.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no recovery within 20s after restart (onDown %d)", ev.down.Load())
		}
		_, _, _ = s.Get(ctx, "1")
		time.Sleep(50 * time.Millisecond)
	}
	if d, u := ev.down.Load(), ev.up.Load(); d != 1 || u != 1 {
		t.Fatalf("onDown %d onUp %d after restart, want 1 1", d, u)
	}
	// The restarted server is empty: a miss, then the store works again.
	if _, ok, err := s.ByUserName(ctx, "one"); err != nil || ok {
		t.Fatalf("lookup on the empty restarted server = %v %v", ok, err)
	}
	if err := s.Put(ctx, links.Link{ID: "1", ExternalID: "e1", UserName: "one"}); err != nil {
		t.Fatal(err)
	}
	if id, ok, err := raw.ByUserName(ctx, "ONE"); err != nil || !ok || id != "1" {
		t.Fatalf("raw lookup after recovery = %q %v %v", id, ok, err)
	}
	if v := ev.lastErr.Load(); v == nil {
		t.Fatal("onDown got no error")
	} else {
		t.Logf("onDown error: %v", v)
	}
}

// TestRedisSlowerThanReadTimeout: a server stalled longer than the client's read
// timeout (DEBUG SLEEP 2 against a 200ms ReadTimeout) yields a timeout error from the
// store and a miss from the guarded store while the stall lasts: neither waits for it.
func TestRedisSlowerThanReadTimeout(t *testing.T) {
	srv := testenv.RedisPrivate(t)
	raw := links.NewRedis(client(t, cacheOptions(srv.Addr)), "scim:", time.Hour)
	ev := &guardEvents{}
	g := links.Guard(raw, ev.onDown, ev.onUp)
	ctx := context.Background()
	if err := raw.Put(ctx, links.Link{ID: "1", UserName: "one"}); err != nil {
		t.Fatal(err)
	}

	// The stall runs on a client of its own without a read timeout, so it completes.
	admin := client(t, &redis.UniversalOptions{Addrs: []string{srv.Addr}, ReadTimeout: -1})
	stalled := make(chan error, 1)
	go func() { stalled <- admin.Do(context.Background(), "DEBUG", "SLEEP", "2").Err() }()
	// Wait until the server is inside the sleep: a PING with a short timeout fails.
	probe := client(t, &redis.UniversalOptions{Addrs: []string{srv.Addr}, ReadTimeout: 50 * time.Millisecond, MaxRetries: -1})
	for i := 0; i < 100 && probe.Ping(ctx).Err() == nil; i++ {
		time.Sleep(10 * time.Millisecond)
	}

	id, ok, err := raw.ByUserName(ctx, "one")
	var ne net.Error
	if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("lookup during the stall = %q %v %v, want a timeout error", id, ok, err)
	}
	if id, ok, err := g.ByUserName(ctx, "one"); err != nil || ok {
		t.Fatalf("guarded lookup during the stall = %q %v %v, want a miss", id, ok, err)
	}
	// Both answered while the server was still asleep: they did not wait for it.
	select {
	case err := <-stalled:
		t.Fatalf("the stall ended (%v) before the lookups answered", err)
	default:
	}
	if ev.down.Load() != 1 {
		t.Fatalf("onDown %d, want 1", ev.down.Load())
	}
	if err := <-stalled; err != nil {
		t.Fatalf("DEBUG SLEEP: %v", err)
	}
	// Once the stall is over the same client answers again.
	if id, ok, err := raw.ByUserName(ctx, "one"); err != nil || !ok || id != "1" {
		t.Fatalf("after the stall: %q %v %v", id, ok, err)
	}
}

// BenchmarkRedisLookup reports the Redis round trips per warm lookup (rtt/op), the
// number a SCIM GET by filter costs in the link store.
func BenchmarkRedisLookup(b *testing.B) {
	c := client(b, &redis.UniversalOptions{Addrs: []string{testenv.Redis(b).Addr}})
	s := newRedis(c, time.Hour)
	ctx := context.Background()
	if err := s.Put(ctx, links.Link{ID: "b1", ExternalID: "eb1", UserName: "bench.user"}); err != nil {
		b.Fatal(err)
	}
	rt0 := s.RoundTrips()
	b.ResetTimer()
	for b.Loop() {
		if _, ok, err := s.ByUserName(ctx, "Bench.User"); err != nil || !ok {
			b.Fatalf("lookup: %v %v", ok, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(s.RoundTrips()-rt0)/float64(b.N), "rtt/op")
}

// TestRedisLockRenewal: a held lock outlives its ttl; an extension that finds the
// lock no longer ours stops quietly and leaves the new holder alone; a release
// dropped without being called stops the extensions once it is garbage.
func TestRedisLockRenewal(t *testing.T) {
	rc := redis.NewClient(&redis.Options{Addr: testenv.Redis(t).Addr})
	t.Cleanup(func() { _ = rc.Close() })
	prefix := testenv.UniqueName("t") + ":"
	s := links.NewRedis(rc, prefix, time.Minute)
	ctx := context.Background()

	rel, ok, err := s.Lock(ctx, "long", 300*time.Millisecond)
	if err != nil || !ok {
		t.Fatalf("Lock = %v %v", ok, err)
	}
	time.Sleep(time.Second)
	if ttl := rc.PTTL(ctx, prefix+"lock:long").Val(); ttl <= 0 || ttl > 300*time.Millisecond {
		t.Fatalf("PTTL of a held lock after 1s = %v, want (0, 300ms]", ttl)
	}
	rel()
	if n := rc.Exists(ctx, prefix+"lock:long").Val(); n != 0 {
		t.Fatal("the lock survived its release")
	}

	// Someone else has the key now (the holder paused past its ttl, say).
	rel, ok, err = s.Lock(ctx, "taken", 300*time.Millisecond)
	if err != nil || !ok {
		t.Fatalf("Lock = %v %v", ok, err)
	}
	rc.Set(ctx, prefix+"lock:taken", "intruder", 10*time.Second)
	time.Sleep(250 * time.Millisecond) // the next extension finds the lock gone
	rt := s.RoundTrips()
	time.Sleep(400 * time.Millisecond)
	if got := s.RoundTrips() - rt; got != 0 {
		t.Fatalf("%d round trips after the lock was lost: the extensions did not stop", got)
	}
	if v, ttl := rc.Get(ctx, prefix+"lock:taken").Val(), rc.PTTL(ctx, prefix+"lock:taken").Val(); v != "intruder" || ttl < 5*time.Second {
		t.Fatalf("the other holder's lock = %q, ttl %v: touched by the old holder", v, ttl)
	}
	rel()
	if v := rc.Get(ctx, prefix+"lock:taken").Val(); v != "intruder" {
		t.Fatalf("a stale release deleted the other holder's lock (%q)", v)
	}

	// A long lock bounds background work and is left to expire: never renewed.
	if _, ok, err := s.Lock(ctx, "timer", time.Minute); err != nil || !ok {
		t.Fatalf("Lock = %v %v", ok, err)
	}
	rt = s.RoundTrips()
	time.Sleep(400 * time.Millisecond)
	if got := s.RoundTrips() - rt; got != 0 {
		t.Fatalf("%d round trips while a long lock was held: it is renewed", got)
	}
}

// TestRedisExport: Each lists the links of its own prefix only (one with glob
// characters too), skips values that are not links, and a cancelled export stops.
func TestRedisExport(t *testing.T) {
	rc := redis.NewClient(&redis.Options{Addr: testenv.Redis(t).Addr})
	t.Cleanup(func() { _ = rc.Close() })
	base := testenv.UniqueName("t")
	s := links.NewRedis(rc, base+"[a]*?:", time.Minute)
	lookalike := links.NewRedis(rc, base+"a"+"xy:", time.Minute) // matches the prefix as an unquoted pattern
	ctx := context.Background()
	for _, id := range []string{"1", "2", "3"} {
		if err := s.Put(ctx, links.Link{ID: id, UserName: "u" + id}); err != nil {
			t.Fatal(err)
		}
		if err := lookalike.Put(ctx, links.Link{ID: "other" + id}); err != nil {
			t.Fatal(err)
		}
	}
	rc.Set(ctx, base+"[a]*?:id:bad", "{not json", time.Minute)
	rc.Set(ctx, base+"[a]*?:id:4", `{"id":"not-4"}`, time.Minute)
	var ids []string
	if err := s.Each(ctx, func(l links.Link) error { ids = append(ids, l.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"1", "2", "3"}) {
		t.Fatalf("Each = %v, want [1 2 3]", ids)
	}
	stop := errors.New("stop")
	calls := 0
	if err := s.Each(ctx, func(links.Link) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("Each with a failing f = %v after %d calls", err, calls)
	}
}
