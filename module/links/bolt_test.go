package links_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/links/linkstest"
)

// openBolt opens a link store file of the test's own, closed after the test.
func openBolt(t testing.TB, path string) *links.BoltDB {
	t.Helper()
	db, err := links.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func newBolt(t testing.TB) *links.Bolt {
	t.Helper()
	return openBolt(t, filepath.Join(t.TempDir(), "links.db")).Store("scim")
}

func TestBoltConformance(t *testing.T) {
	linkstest.Run(t, func(t *testing.T) links.Store { return newBolt(t) }, linkstest.Options{
		Indexed: true,
		Durable: func(t *testing.T) func() links.Store {
			path := filepath.Join(t.TempDir(), "links.db")
			var db *links.BoltDB
			t.Cleanup(func() {
				if db != nil {
					_ = db.Close()
				}
			})
			return func() links.Store {
				if db != nil {
					if err := db.Close(); err != nil {
						t.Fatal(err)
					}
				}
				var err error
				if db, err = links.OpenBolt(path); err != nil {
					t.Fatal(err)
				}
				return db.Store("scim")
			}
		},
	})
}

// TestGuardedBoltConformance: the store as the handler uses it, behind a Guard.
func TestGuardedBoltConformance(t *testing.T) {
	linkstest.Run(t, func(t *testing.T) links.Store {
		return links.Guard(newBolt(t), func(err error) { t.Errorf("onDown: %v", err) }, nil)
	}, linkstest.Options{Indexed: true})
}

// TestBoltNamespaces: two handlers sharing a file never see each other's links,
// index or locks.
func TestBoltNamespaces(t *testing.T) {
	ctx := context.Background()
	db := openBolt(t, filepath.Join(t.TempDir(), "links.db"))
	a, b := db.Store("a"), db.Store("b")
	if db.Store("a") != a {
		t.Fatal("Store returned another *Bolt for the same namespace")
	}
	la := links.Link{ID: "1", ExternalID: "e1", UserName: "Alice"}
	lb := links.Link{ID: "1", ExternalID: "e1", UserName: "Bob", Tenant: "b"}
	for s, l := range map[*links.Bolt]links.Link{a: la, b: lb} {
		if err := s.Put(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Put(ctx, links.Link{ID: "2", UserName: "only-a"}); err != nil {
		t.Fatal(err)
	}
	if l, _, _ := b.Get(ctx, "1"); l != lb {
		t.Fatalf("b's link 1 = %+v, want %+v", l, lb)
	}
	if _, ok, _ := b.ByUserName(ctx, "alice"); ok {
		t.Fatal("b resolves a's userName")
	}
	if _, ok, _ := b.Get(ctx, "2"); ok {
		t.Fatal("b sees a's link 2")
	}
	if ls, _ := b.GetMany(ctx, []string{"2"}); ls[0] != (links.Link{}) {
		t.Fatalf("b's GetMany sees a's link: %+v", ls)
	}
	if l, ok, _ := a.LinkByExternalID(ctx, "e1"); !ok || l != la {
		t.Fatalf("a's LinkByExternalID(e1) = %+v %v", l, ok)
	}
	n := 0
	_ = b.Each(ctx, func(links.Link) error { n++; return nil })
	if n != 1 {
		t.Fatalf("b exports %d links, want 1", n)
	}
	// a namespace nobody wrote reads as empty
	if _, ok, err := db.Store("never").Get(ctx, "1"); ok || err != nil {
		t.Fatalf("an unwritten namespace = %v %v", ok, err)
	}

	// a's index is a's only
	linkstest.Rebuild(t, a, []links.Link{la, {ID: "2", UserName: "only-a"}})
	if st, _ := b.IndexState(ctx); st.Mark != "" {
		t.Fatalf("b's mark = %q after a's rebuild", st.Mark)
	}
	if ids, total, ok := pageIDs(t, a, 0, 10); !ok || total != 2 || !slices.Equal(ids, []string{"1", "2"}) {
		t.Fatalf("a's page = %v %d %v", ids, total, ok)
	}
	if _, _, ok := pageIDs(t, b, 0, 10); ok {
		t.Fatal("b's index answered without a rebuild of its own")
	}
	linkstest.Rebuild(t, b, []links.Link{lb})
	if ids, total, _ := pageIDs(t, b, 0, 10); total != 1 || !slices.Equal(ids, []string{"1"}) {
		t.Fatalf("b's page = %v %d", ids, total)
	}
	if linkstest.ProveNew(t, b, "", "only-a") != true || linkstest.ProveNew(t, a, "", "only-a") != false {
		t.Fatal("ProveNew crosses namespaces")
	}
	if err := b.Forget(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := a.Get(ctx, "1"); !ok {
		t.Fatal("b's Forget dropped a's link")
	}
	if err := b.Invalidate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := pageIDs(t, a, 0, 10); !ok {
		t.Fatal("b's Invalidate dropped a's mark")
	}

	// locks are per namespace
	ra, ok, _ := a.Lock(ctx, "k", time.Minute)
	if !ok {
		t.Fatal("a's Lock")
	}
	rb, ok, _ := b.Lock(ctx, "k", time.Minute)
	if !ok {
		t.Fatal("b's Lock blocked by a's")
	}
	ra()
	rb()
}

// TestBoltFile: the file and its directory are created private; the epoch is the
// file's, kept across opens and new for a new file; opens in one process share the
// file until the last one closes.
func TestBoltFile(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state", "scim")
	path := filepath.Join(dir, "links.db")
	db, err := links.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	if db.Path() != path {
		t.Fatalf("Path = %q, want %q", db.Path(), path)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Fatalf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
	}
	st, err := db.Store("x").IndexState(ctx)
	if err != nil || len(st.Epoch) < 16 {
		t.Fatalf("IndexState = %+v %v", st, err)
	}
	epoch := st.Epoch

	// a second open in the same process does not wait for the file lock
	start := time.Now()
	db2, err := links.OpenBolt(filepath.Join(dir, ".", "links.db"))
	if err != nil || time.Since(start) > time.Second {
		t.Fatalf("second open in the process = %v after %v", err, time.Since(start))
	}
	if db2.Store("x") != db.Store("x") {
		t.Fatal("two opens of one file give two stores for one namespace")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil { // twice: nothing
		t.Fatal(err)
	}
	s := db2.Store("x")
	if err := s.Put(ctx, links.Link{ID: "1"}); err != nil {
		t.Fatalf("Put with the file still open elsewhere: %v", err)
	}
	if err := db2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, links.Link{ID: "2"}); err == nil {
		t.Fatal("Put on a closed file succeeded")
	}

	db = openBolt(t, path)
	if st, _ := db.Store("x").IndexState(ctx); st.Epoch != epoch {
		t.Fatalf("epoch %q after reopen, want %q", st.Epoch, epoch)
	}
	if _, ok, _ := db.Store("x").Get(ctx, "1"); !ok {
		t.Fatal("link lost across reopen")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	db = openBolt(t, path)
	if st, _ := db.Store("x").IndexState(ctx); st.Epoch == epoch || st.Epoch == "" {
		t.Fatalf("a new file kept the epoch %q", st.Epoch)
	}
}

// TestBoltIndexMarkSurvivesReopen: the index of a durable store stays complete across
// a restart (its epoch is the file's), and the restarted process trusts it once it
// has verified it.
func TestBoltIndexMarkSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "links.db")
	db, err := links.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	linkstest.Rebuild(t, db.Store("scim"), []links.Link{{ID: "1", ExternalID: "e1", UserName: "one"}})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s := openBolt(t, path).Store("scim")
	if linkstest.ProveNew(t, s, "e2", "two") {
		t.Fatal("ProveNew before this process verified the mark")
	}
	st, err := s.IndexState(ctx)
	if err != nil || st.Mark == "" || st.Mark != st.Epoch {
		t.Fatalf("IndexState after reopen = %+v %v", st, err)
	}
	s.Verified(st)
	if !linkstest.ProveNew(t, s, "e2", "two") || linkstest.ProveNew(t, s, "e1", "x") {
		t.Fatal("the verified index does not answer after reopen")
	}
	if p, err := s.Phase(ctx); err != nil || p != links.PhaseComplete {
		t.Fatalf("Phase = %q %v", p, err)
	}
}

// TestBoltInUseByAnotherProcess: a file held by another process is a clear error
// within the open timeout, not a hang.
func TestBoltInUseByAnotherProcess(t *testing.T) {
	if path := os.Getenv("LINKS_BOLT_HOLD"); path != "" {
		// the other process: hold the file until stdin closes
		db, err := links.OpenBolt(path)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("ready")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		_ = db.Close()
		os.Exit(0)
	}
	path := filepath.Join(t.TempDir(), "links.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestBoltInUseByAnotherProcess$")
	cmd.Env = append(os.Environ(), "LINKS_BOLT_HOLD="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stdin.Close(); _ = cmd.Wait() }()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("the holder said %q %v", line, err)
	}
	start := time.Now()
	db, err := links.OpenBolt(path)
	if err == nil {
		_ = db.Close()
		t.Fatal("opened a file another process holds")
	}
	if !strings.Contains(err.Error(), "is in use by another process") || !strings.Contains(err.Error(), path) {
		t.Fatalf("error = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the open took %v", d)
	}
	// once the holder is gone, the file opens
	_ = stdin.Close()
	_ = cmd.Wait()
	openBolt(t, path)
}

// BenchmarkBolt: the latency of the embedded store's operations on a file of 10,000
// links, and the transactions each costs (tx/op). Put commits with fsync; the
// parallel Put shows writers sharing commits.
func BenchmarkBolt(b *testing.B) {
	ctx := context.Background()
	s := newBolt(b)
	const n = 10_000
	ls := make([]links.Link, n)
	for i := range ls {
		ls[i] = links.Link{ID: fmt.Sprint(i + 1), ExternalID: fmt.Sprintf("ext-%d", i+1), UserName: fmt.Sprintf("User.%d@example.com", i+1),
			Email: fmt.Sprintf("user.%d@example.com", i+1), Active: true, Block: links.BlockNone, Tenant: "acme"}
	}
	if err := s.PutAll(ctx, ls); err != nil {
		b.Fatal(err)
	}
	report := func(b *testing.B, tx0 int64) {
		b.ReportMetric(float64(s.Transactions()-tx0)/float64(b.N), "tx/op")
	}
	b.Run("Put", func(b *testing.B) {
		tx0, i := s.Transactions(), 0
		for b.Loop() {
			l := ls[i%n]
			l.Version = fmt.Sprint(i)
			i++
			if err := s.Put(ctx, l); err != nil {
				b.Fatal(err)
			}
		}
		report(b, tx0)
	})
	b.Run("PutParallel", func(b *testing.B) {
		tx0 := s.Transactions()
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if err := s.Put(ctx, ls[i%n]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
		report(b, tx0)
	})
	b.Run("Get", func(b *testing.B) {
		tx0, i := s.Transactions(), 0
		for b.Loop() {
			if _, ok, err := s.Get(ctx, ls[i%n].ID); err != nil || !ok {
				b.Fatal(ok, err)
			}
			i++
		}
		report(b, tx0)
	})
	b.Run("LinkByUserName", func(b *testing.B) {
		tx0, i := s.Transactions(), 0
		for b.Loop() {
			if _, ok, err := s.LinkByUserName(ctx, strings.ToUpper(ls[i%n].UserName)); err != nil || !ok {
				b.Fatal(ok, err)
			}
			i++
		}
		report(b, tx0)
	})
}

// TestBoltReadCache: lookups answer from a read cache, and a write is never hidden
// by it: readers racing writers end up reading the last write, by id, userName and
// externalId, and a cached lookup costs no transaction.
func TestBoltReadCache(t *testing.T) {
	b := newBolt(t)
	ctx := context.Background()
	if err := b.Put(ctx, links.Link{ID: "1", UserName: "Ann", ExternalID: "e1", Version: "v0"}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := b.Get(ctx, "1"); !ok {
		t.Fatal("miss")
	}
	tx := b.Transactions()
	for range 10 {
		b.Get(ctx, "1")
		b.LinkByUserName(ctx, "ANN")
	}
	if n := b.Transactions() - tx; n > 1 {
		t.Errorf("20 warm lookups ran %d transactions, want at most 1 (the userName's first)", n)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					b.Get(ctx, "1")
					b.LinkByUserName(ctx, "ann")
					b.LinkByExternalID(ctx, "e1")
				}
			}
		})
	}
	last := links.Link{ID: "1", UserName: "Ann", ExternalID: "e1", Version: "v0"}
	for i := range 200 {
		next := last
		next.Version = fmt.Sprintf("v%d", i+1)
		if ok, err := b.Swap(ctx, last, next); err != nil || !ok {
			t.Fatalf("swap %d: %v %v", i, ok, err)
		}
		last = next
	}
	close(stop)
	wg.Wait()
	for _, got := range []func() (links.Link, bool, error){
		func() (links.Link, bool, error) { return b.Get(ctx, "1") },
		func() (links.Link, bool, error) { return b.LinkByUserName(ctx, "ann") },
		func() (links.Link, bool, error) { return b.LinkByExternalID(ctx, "e1") },
	} {
		if l, ok, err := got(); err != nil || !ok || l.Version != "v200" {
			t.Errorf("after the writes: %+v %v %v, want v200", l, ok, err)
		}
	}
	if err := b.Forget(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := b.Get(ctx, "1"); ok {
		t.Error("a forgotten link is still read")
	}
	if _, ok, _ := b.LinkByUserName(ctx, "ann"); ok {
		t.Error("a forgotten link is still found by userName")
	}
}
