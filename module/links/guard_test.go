package links

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// flaky is a Store that fails with err while err is set, and otherwise answers from
// an in-process store. gate, when set, holds every call until it is closed.
type flaky struct {
	mem   *Memory
	calls atomic.Int64
	mu    sync.Mutex
	err   error
	gate  chan struct{}
}

func newFlaky() *flaky { return &flaky{mem: NewMemory(time.Hour, 100)} }

func (f *flaky) setErr(err error) { f.mu.Lock(); f.err = err; f.mu.Unlock() }

func (f *flaky) call() error {
	f.calls.Add(1)
	f.mu.Lock()
	err, gate := f.err, f.gate
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return err
}

func (f *flaky) ByExternalID(ctx context.Context, v string) (string, bool, error) {
	if err := f.call(); err != nil {
		return "", false, err
	}
	return f.mem.ByExternalID(ctx, v)
}

func (f *flaky) ByUserName(ctx context.Context, v string) (string, bool, error) {
	if err := f.call(); err != nil {
		return "", false, err
	}
	return f.mem.ByUserName(ctx, v)
}

func (f *flaky) Get(ctx context.Context, id string) (Link, bool, error) {
	if err := f.call(); err != nil {
		return Link{}, false, err
	}
	return f.mem.Get(ctx, id)
}

func (f *flaky) GetMany(ctx context.Context, ids []string) ([]Link, error) {
	if err := f.call(); err != nil {
		return nil, err
	}
	return f.mem.GetMany(ctx, ids)
}

func (f *flaky) Put(ctx context.Context, l Link) error {
	if err := f.call(); err != nil {
		return err
	}
	return f.mem.Put(ctx, l)
}

func (f *flaky) Swap(ctx context.Context, old, l Link) (bool, error) {
	if err := f.call(); err != nil {
		return false, err
	}
	return f.mem.Swap(ctx, old, l)
}

func (f *flaky) Forget(ctx context.Context, id string) error {
	if err := f.call(); err != nil {
		return err
	}
	return f.mem.Forget(ctx, id)
}

func (f *flaky) Lock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	if err := f.call(); err != nil {
		return nil, false, err
	}
	return f.mem.Lock(ctx, key, ttl)
}

func (f *flaky) Each(ctx context.Context, fn func(Link) error) error {
	return f.mem.Each(ctx, fn)
}

// clock is a settable time source for the guard's back-off.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type events struct {
	mu   sync.Mutex
	down []error
	up   int
	log  []string
}

func (e *events) onDown(err error) {
	e.mu.Lock()
	e.down = append(e.down, err)
	e.log = append(e.log, "down")
	e.mu.Unlock()
}
func (e *events) onUp() { e.mu.Lock(); e.up++; e.log = append(e.log, "up"); e.mu.Unlock() }
func (e *events) counts() (int, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.down), e.up
}

func newGuarded(t *testing.T) (*guard, *flaky, *clock, *events) {
	t.Helper()
	f := newFlaky()
	ev := &events{}
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	g := Guard(f, ev.onDown, ev.onUp).(*guard)
	g.now = clk.now
	return g, f, clk, ev
}

var errBoom = errors.New("boom")

func TestGuardPassesThroughWhileHealthy(t *testing.T) {
	ctx := context.Background()
	g, f, _, ev := newGuarded(t)
	if err := g.Put(ctx, Link{ID: "1", ExternalID: "E", UserName: "Alice"}); err != nil {
		t.Fatal(err)
	}
	if id, ok, err := g.ByUserName(ctx, "alice"); err != nil || !ok || id != "1" {
		t.Fatalf("ByUserName = %q %v %v", id, ok, err)
	}
	if id, ok, err := g.ByExternalID(ctx, "E"); err != nil || !ok || id != "1" {
		t.Fatalf("ByExternalID = %q %v %v", id, ok, err)
	}
	if l, ok, err := g.Get(ctx, "1"); err != nil || !ok || l.UserName != "Alice" {
		t.Fatalf("Get = %+v %v %v", l, ok, err)
	}
	// A held lock in the store is obeyed.
	rel, ok, err := g.Lock(ctx, "k", time.Minute)
	if err != nil || !ok {
		t.Fatalf("Lock = %v %v", ok, err)
	}
	if _, ok, err := g.Lock(ctx, "k", time.Minute); err != nil || ok {
		t.Fatalf("second Lock = %v %v, want held", ok, err)
	}
	rel()
	if err := g.Forget(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	if got := f.calls.Load(); got != 7 {
		t.Fatalf("store calls = %d, want 7", got)
	}
	if d, u := ev.counts(); d != 0 || u != 0 {
		t.Fatalf("onDown %d onUp %d, want 0 0", d, u)
	}
}

func TestGuardOutage(t *testing.T) {
	ctx := context.Background()
	g, f, clk, ev := newGuarded(t)
	_ = g.Put(ctx, Link{ID: "1", UserName: "alice"})
	f.setErr(errBoom)

	// The failing call itself answers a miss, and so does every call in the back-off,
	// without reaching the store.
	if id, ok, err := g.ByUserName(ctx, "alice"); err != nil || ok || id != "" {
		t.Fatalf("failing lookup = %q %v %v, want miss without error", id, ok, err)
	}
	before := f.calls.Load()
	for i := 0; i < 100; i++ {
		if _, ok, err := g.ByExternalID(ctx, "x"); ok || err != nil {
			t.Fatalf("lookup in back-off = %v %v", ok, err)
		}
		if _, ok, err := g.Get(ctx, "1"); ok || err != nil {
			t.Fatalf("Get in back-off = %v %v", ok, err)
		}
		if err := g.Put(ctx, Link{ID: "2"}); err != nil {
			t.Fatal(err)
		}
		if err := g.Forget(ctx, "2"); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.calls.Load(); got != before {
		t.Fatalf("store reached %d times during back-off", got-before)
	}
	if d, _ := ev.counts(); d != 1 {
		t.Fatalf("onDown called %d times, want 1", d)
	}
	if !errors.Is(ev.down[0], errBoom) {
		t.Fatalf("onDown got %v", ev.down[0])
	}

	// Each failed probe doubles the back-off up to 30s; only one call probes.
	for _, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
		16 * time.Second, 30 * time.Second, 30 * time.Second} {
		clk.add(want - time.Millisecond)
		n := f.calls.Load()
		_, _, _ = g.ByUserName(ctx, "alice")
		if f.calls.Load() != n {
			t.Fatalf("probed %v early", want)
		}
		clk.add(time.Millisecond)
		_, _, _ = g.ByUserName(ctx, "alice")
		_, _, _ = g.ByUserName(ctx, "alice")
		if got := f.calls.Load() - n; got != 1 {
			t.Fatalf("after %v: %d store calls, want exactly 1 probe", want, got)
		}
	}
	if d, u := ev.counts(); d != 1 || u != 0 {
		t.Fatalf("onDown %d onUp %d during the outage, want 1 0", d, u)
	}

	// Recovery: the next probe succeeds, onUp is called and calls pass through again.
	f.setErr(nil)
	clk.add(30 * time.Second)
	if id, ok, err := g.ByUserName(ctx, "alice"); err != nil || !ok || id != "1" {
		t.Fatalf("probe after recovery = %q %v %v", id, ok, err)
	}
	if d, u := ev.counts(); d != 1 || u != 1 {
		t.Fatalf("onDown %d onUp %d after recovery, want 1 1", d, u)
	}
	n := f.calls.Load()
	for i := 0; i < 5; i++ {
		_, _, _ = g.ByUserName(ctx, "alice")
	}
	if got := f.calls.Load() - n; got != 5 {
		t.Fatalf("%d of 5 calls reached the store after recovery", got)
	}

	// A second outage is reported again, and starts from the short back-off.
	f.setErr(errBoom)
	_, _, _ = g.Get(ctx, "1")
	if d, _ := ev.counts(); d != 2 {
		t.Fatalf("onDown %d after a second outage, want 2", d)
	}
	f.setErr(nil)
	clk.add(time.Second)
	_, _, _ = g.Get(ctx, "1")
	if d, u := ev.counts(); d != 2 || u != 2 {
		t.Fatalf("onDown %d onUp %d, want 2 2", d, u)
	}
	if got := ev.log; len(got) != 4 || got[0] != "down" || got[1] != "up" || got[2] != "down" || got[3] != "up" {
		t.Fatalf("transitions %v", got)
	}
}

// TestGuardLockFailsClosed: with the store down no lock is granted, neither by the
// call that finds the outage nor during the back-off; the error says why. Once the
// store answers again, locks are the store's again.
func TestGuardLockFailsClosed(t *testing.T) {
	ctx := context.Background()
	g, f, clk, ev := newGuarded(t)
	f.setErr(errBoom)

	// the call that trips the circuit: the store's error, wrapped
	rel, ok, err := g.Lock(ctx, "create:un:alice", time.Minute)
	if ok || rel != nil || !errors.Is(err, ErrUnavailable) || !errors.Is(err, errBoom) {
		t.Fatalf("Lock with the store failing = %v %v, want ErrUnavailable wrapping the store's error", ok, err)
	}
	// the back-off: the store is not asked
	n := f.calls.Load()
	for _, key := range []string{"create:un:alice", "create:un:bob"} {
		if _, ok, err := g.Lock(ctx, key, time.Minute); ok || !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Lock(%s) in the back-off = %v %v, want ErrUnavailable", key, ok, err)
		}
	}
	if f.calls.Load() != n {
		t.Fatal("Lock reached the store during the back-off")
	}
	if d, _ := ev.counts(); d != 1 {
		t.Fatalf("onDown %d, want 1", d)
	}

	// a failing Lock while the circuit is closed fails closed too, and opens it
	f.setErr(nil)
	clk.add(time.Second)
	if _, _, err := g.Get(ctx, "1"); err != nil { // the probe closes the circuit
		t.Fatal(err)
	}
	f.setErr(errBoom)
	if _, ok, err := g.Lock(ctx, "create:un:carol", time.Minute); ok || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("failing Lock = %v %v", ok, err)
	}
	if d, u := ev.counts(); d != 2 || u != 1 {
		t.Fatalf("onDown %d onUp %d, want 2 1", d, u)
	}

	// recovered: the lock the store grants, and "held" when it is
	f.setErr(nil)
	clk.add(time.Second)
	rel, ok, err = g.Lock(ctx, "create:un:alice", time.Minute)
	if err != nil || !ok {
		t.Fatalf("Lock after recovery = %v %v", ok, err)
	}
	if _, ok, err := g.Lock(ctx, "create:un:alice", time.Minute); ok || err != nil {
		t.Fatalf("second Lock after recovery = %v %v, want held without error", ok, err)
	}
	rel()
}

// TestGuardLockCancelled: a Lock whose caller gave up is refused without counting as
// an outage.
func TestGuardLockCancelled(t *testing.T) {
	g, f, _, ev := newGuarded(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f.setErr(context.Canceled)
	if _, ok, err := g.Lock(ctx, "k", time.Minute); ok || !errors.Is(err, context.Canceled) {
		t.Fatalf("Lock with a cancelled context = %v %v", ok, err)
	}
	if d, _ := ev.counts(); d != 0 {
		t.Fatalf("onDown %d, want 0", d)
	}
}

// TestGuardEach: an export goes to the store past the circuit, and f's errors do not
// open it.
func TestGuardEach(t *testing.T) {
	ctx := context.Background()
	g, _, _, ev := newGuarded(t)
	_ = g.Put(ctx, Link{ID: "1"})
	n := 0
	if err := g.Each(ctx, func(Link) error { n++; return errBoom }); !errors.Is(err, errBoom) || n != 1 {
		t.Fatalf("Each = %v after %d links", err, n)
	}
	if d, _ := ev.counts(); d != 0 {
		t.Fatal("an error of f opened the circuit")
	}
}

func TestGuardCancelledContextIsNotAnOutage(t *testing.T) {
	g, f, _, ev := newGuarded(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f.setErr(context.Canceled)
	if _, ok, err := g.ByUserName(ctx, "alice"); ok || err != nil {
		t.Fatalf("= %v %v", ok, err)
	}
	if d, _ := ev.counts(); d != 0 {
		t.Fatalf("onDown %d for a cancelled request, want 0", d)
	}
	f.setErr(nil)
	n := f.calls.Load()
	_, _, _ = g.ByUserName(context.Background(), "alice")
	if f.calls.Load() != n+1 {
		t.Fatal("circuit opened by a cancelled request")
	}
}

// TestGuardConcurrent trips, probes and recovers under many goroutines: onDown and
// onUp are each called once, and only one probe reaches the store at a time.
func TestGuardConcurrent(t *testing.T) {
	ctx := context.Background()
	g, f, clk, ev := newGuarded(t)
	f.setErr(errBoom)
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				_, _, _ = g.ByUserName(ctx, "alice")
				_ = g.Put(ctx, Link{ID: "1", UserName: "alice"})
				if rel, ok, _ := g.Lock(ctx, "k", time.Minute); ok {
					rel()
				}
			}
		}()
	}
	wg.Wait()
	if d, u := ev.counts(); d != 1 || u != 0 {
		t.Fatalf("onDown %d onUp %d, want 1 0", d, u)
	}

	// Hold the probe in the store: everyone else gets the fallback meanwhile.
	gate := make(chan struct{})
	f.mu.Lock()
	f.err, f.gate = nil, gate
	f.mu.Unlock()
	clk.add(time.Second)
	n := f.calls.Load() + 1 // the probe's call
	probeDone := make(chan struct{})
	go func() { _, _, _ = g.ByUserName(ctx, "alice"); close(probeDone) }()
	for f.calls.Load() < n {
		time.Sleep(time.Millisecond)
	}
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); _, _, _ = g.Get(ctx, "1") }()
	}
	wg.Wait()
	if got := f.calls.Load(); got != n {
		t.Fatalf("%d calls reached the store while the probe was in flight", got-n)
	}
	close(gate)
	<-probeDone
	if d, u := ev.counts(); d != 1 || u != 1 {
		t.Fatalf("onDown %d onUp %d, want 1 1", d, u)
	}
}

// flakyIndex is flaky with the Index methods the guard's SwapAll and its repair
// reach; any other Index method panics (nil Index).
type flakyIndex struct {
	*flaky
	Index
	invalidated atomic.Int32
}

func (f *flakyIndex) SwapAll(ctx context.Context, olds, ls []Link) (int, error) {
	if err := f.call(); err != nil {
		return 0, err
	}
	n := 0
	for i := range ls {
		if ok, _ := f.mem.Swap(ctx, olds[i], ls[i]); ok {
			n++
		}
	}
	return n, nil
}

func (f *flakyIndex) Unverify() {}

func (f *flakyIndex) Invalidate(context.Context) error {
	if err := f.call(); err != nil {
		return err
	}
	f.invalidated.Add(1)
	return nil
}

func (g *guard) isDirty() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.dirty }

// TestGuardSwap: a Swap passes through while the store answers (a lost Swap is no
// outage); while it is down it answers false, like a lost race, and the dropped write
// marks the index dirty, as a dropped Put does.
func TestGuardSwap(t *testing.T) {
	ctx := context.Background()
	g, f, clk, ev := newGuarded(t)
	a := Link{ID: "1", UserName: "alice", Block: BlockSCIM}
	b := Link{ID: "1", UserName: "alice", Block: BlockNone}
	if ok, err := g.Swap(ctx, Link{}, a); err != nil || !ok {
		t.Fatalf("Swap over none = %v %v", ok, err)
	}
	if ok, err := g.Swap(ctx, Link{}, b); err != nil || ok {
		t.Fatalf("Swap over none when there is a link = %v %v", ok, err)
	}
	if d, _ := ev.counts(); d != 0 || g.isDirty() {
		t.Fatalf("a lost Swap: onDown %d, dirty %v", d, g.isDirty())
	}

	f.setErr(errBoom)
	if ok, err := g.Swap(ctx, a, b); err != nil || ok {
		t.Fatalf("failing Swap = %v %v, want false without error", ok, err)
	}
	if d, _ := ev.counts(); d != 1 || !g.isDirty() {
		t.Fatalf("failing Swap: onDown %d, dirty %v; want 1 true", d, g.isDirty())
	}
	n := f.calls.Load()
	if ok, err := g.Swap(ctx, a, b); err != nil || ok {
		t.Fatalf("Swap in back-off = %v %v", ok, err)
	}
	if f.calls.Load() != n {
		t.Fatal("a Swap in back-off reached the store")
	}

	f.setErr(nil)
	clk.add(time.Second)
	if ok, err := g.Swap(ctx, a, b); err != nil || !ok {
		t.Fatalf("Swap probing after recovery = %v %v", ok, err)
	}
	if l, _, _ := f.mem.Get(ctx, "1"); l != b {
		t.Fatalf("stored %+v, want %+v", l, b)
	}
}

// TestGuardSwapAll: SwapAll passes through while the store answers; when it fails,
// and while the circuit is open, it returns the error (a rebuild must not complete
// over lost writes) and marks the index dirty, so that the next index read drops the
// mark first. A caller's mismatched lengths are neither an outage nor a dropped write.
func TestGuardSwapAll(t *testing.T) {
	ctx := context.Background()
	if _, err := Guard(newFlaky(), nil, nil).(*guard).SwapAll(ctx, nil, nil); !errors.Is(err, errNoIndex) {
		t.Fatalf("SwapAll without an index = %v", err)
	}
	f := &flakyIndex{flaky: newFlaky()}
	ev := &events{}
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	g := Guard(f, ev.onDown, ev.onUp).(*guard)
	g.now = clk.now
	a, b := Link{ID: "1", UserName: "a"}, Link{ID: "2", UserName: "b"}
	if n, err := g.SwapAll(ctx, []Link{{}, {}}, []Link{a, b}); err != nil || n != 2 {
		t.Fatalf("SwapAll = %d %v", n, err)
	}
	if n, err := g.SwapAll(ctx, []Link{{}}, []Link{a}); err != nil || n != 0 {
		t.Fatalf("lost SwapAll = %d %v", n, err)
	}
	calls := f.calls.Load()
	if _, err := g.SwapAll(ctx, nil, []Link{a}); err == nil || errors.Is(err, ErrUnavailable) {
		t.Fatalf("SwapAll with mismatched lengths = %v", err)
	}
	if d, _ := ev.counts(); d != 0 || g.isDirty() || f.calls.Load() != calls {
		t.Fatalf("mismatched lengths: onDown %d, dirty %v, store calls %d", d, g.isDirty(), f.calls.Load()-calls)
	}

	f.setErr(errBoom)
	a2 := Link{ID: "1", UserName: "a", Active: true}
	if _, err := g.SwapAll(ctx, []Link{a}, []Link{a2}); !errors.Is(err, errBoom) {
		t.Fatalf("failing SwapAll = %v, want the store's error", err)
	}
	if d, _ := ev.counts(); d != 1 || !g.isDirty() {
		t.Fatalf("failing SwapAll: onDown %d, dirty %v; want 1 true", d, g.isDirty())
	}
	if _, err := g.SwapAll(ctx, []Link{a}, []Link{a2}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("SwapAll in back-off = %v, want ErrUnavailable", err)
	}

	f.setErr(nil)
	clk.add(time.Second)
	if !g.repair(ctx, f) || f.invalidated.Load() != 1 || g.isDirty() {
		t.Fatalf("repair after the outage: invalidated %d, dirty %v", f.invalidated.Load(), g.isDirty())
	}
	if n, err := g.SwapAll(ctx, []Link{a}, []Link{a2}); err != nil || n != 1 {
		t.Fatalf("SwapAll after recovery = %d %v", n, err)
	}
}
