// Package linkstest is the conformance suite every links.Store must pass.
package linkstest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/module/links"
)

// TTL is the entry lifetime the suite expects from stores that expire (Options.Expires).
// It is short so that the expiry test waits little, and long enough that a Put
// followed at once by a Get never sees the entry expire on a loaded machine.
const TTL = time.Second

// Options says what the store under test promises beyond links.Store.
type Options struct {
	// Expires: entries expire after TTL (Memory; Redis with the index off).
	Expires bool
	// LockRenews: a lock is kept past its ttl while its holder has not released
	// it (Redis); otherwise an unreleased lock expires after its ttl.
	LockRenews bool
	// Indexed: the store serves links.Index (Bolt; Redis with EnableIndex), so the
	// index tests run.
	Indexed bool
	// Durable, for a store whose links survive a restart, returns reopen: each call
	// closes the store the previous call returned (if any) and opens the same data
	// again; the first call opens an empty store. Durable cleans up after t.
	Durable func(t *testing.T) (reopen func() links.Store)
}

// Run runs the suite. newStore must return an empty store (or one whose keys nobody
// else uses); each call gives a store of its own.
//
// Index entries left behind by a Put that changed a userName or externalId are not
// checked: the Redis store keeps them until they expire (callers re-verify every link
// they read), so only the new entries must resolve.
func Run(t *testing.T, newStore func(t *testing.T) links.Store, o Options) {
	t.Run("PutGet", func(t *testing.T) { testPutGet(t, newStore(t)) })
	t.Run("AllFields", func(t *testing.T) { testAllFields(t, newStore(t)) })
	t.Run("GetMany", func(t *testing.T) { testGetMany(t, newStore(t)) })
	t.Run("ByExternalIDExact", func(t *testing.T) { testByExternalID(t, newStore(t)) })
	t.Run("ByUserNameCaseInsensitive", func(t *testing.T) { testByUserName(t, newStore(t)) })
	t.Run("PutChangedIndex", func(t *testing.T) { testPutChanged(t, newStore(t)) })
	t.Run("Resolver", func(t *testing.T) { testResolver(t, newStore(t)) })
	t.Run("Forget", func(t *testing.T) { testForget(t, newStore(t)) })
	if o.Expires {
		t.Run("Expiry", func(t *testing.T) { testExpiry(t, newStore(t)) })
	}
	t.Run("ConcurrentPuts", func(t *testing.T) { testConcurrentPuts(t, newStore(t)) })
	t.Run("Swap", func(t *testing.T) { testSwap(t, newStore(t)) })
	t.Run("SwapConcurrent", func(t *testing.T) { testSwapConcurrent(t, newStore(t)) })
	t.Run("LockExclusive", func(t *testing.T) { testLockExclusive(t, newStore(t), o.LockRenews) })
	t.Run("LockConcurrent", func(t *testing.T) { testLockConcurrent(t, newStore(t)) })
	t.Run("ExportImport", func(t *testing.T) { testExportImport(t, newStore(t), newStore(t)) })
	if o.Durable != nil {
		t.Run("SurvivesReopen", func(t *testing.T) { testReopen(t, o.Durable(t)) })
	}
	if o.Indexed {
		ix := func(t *testing.T) indexed {
			s := newStore(t)
			x, ok := s.(indexed)
			if !ok {
				t.Fatalf("Options.Indexed, but %T is not a links.Index", s)
			}
			return x
		}
		t.Run("IndexProveNew", func(t *testing.T) { testIndexProveNew(t, ix(t)) })
		t.Run("IndexRebuildMark", func(t *testing.T) { testIndexMark(t, ix(t)) })
		t.Run("IndexOrder", func(t *testing.T) { testIndexOrder(t, ix(t)) })
		t.Run("IndexOrderStringIDs", func(t *testing.T) { testIndexOrderStrings(t, ix(t)) })
		t.Run("IndexIntent", func(t *testing.T) { testIndexIntent(t, ix(t)) })
		t.Run("IndexSwapAll", func(t *testing.T) { testIndexSwapAll(t, ix(t)) })
		t.Run("IndexSwapOrder", func(t *testing.T) { testIndexSwapOrder(t, ix(t)) })
		t.Run("IndexSwapIntent", func(t *testing.T) { testIndexSwapIntent(t, ix(t)) })
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustPut(t *testing.T, s links.Store, l links.Link) {
	t.Helper()
	if err := s.Put(ctx(t), l); err != nil {
		t.Fatalf("Put(%+v): %v", l, err)
	}
}

func wantID(t *testing.T, what string, id string, ok bool, err error, want string) {
	t.Helper()
	switch {
	case err != nil:
		t.Fatalf("%s: %v", what, err)
	case want == "" && ok:
		t.Fatalf("%s = %q, want a miss", what, id)
	case want != "" && (!ok || id != want):
		t.Fatalf("%s = %q (ok=%v), want %q", what, id, ok, want)
	}
}

func wantLink(t *testing.T, s links.Store, want links.Link) {
	t.Helper()
	got, ok, err := s.Get(ctx(t), want.ID)
	if err != nil || !ok || got != want {
		t.Fatalf("Get(%q) = %+v %v %v, want %+v", want.ID, got, ok, err, want)
	}
}

func testPutGet(t *testing.T, s links.Store) {
	c := ctx(t)
	l := links.Link{ID: "42", ExternalID: "ext-42", UserName: "Alice.Smith@example.com", Email: "alice@example.com",
		Active: true, Block: links.BlockNone, Tenant: "acme", Version: `W/"3"`}
	mustPut(t, s, l)
	wantLink(t, s, l)
	// Every field survives, including the false/empty ones.
	d := links.Link{ID: "43", UserName: "bob", Deleted: true, Block: links.BlockSCIM}
	mustPut(t, s, d)
	wantLink(t, s, d)
	if got, ok, err := s.Get(c, "44"); err != nil || ok {
		t.Fatalf("Get(unknown) = %+v %v %v, want a miss", got, ok, err)
	}
}

// allFields are links that, together, set every field of Link to a value other than
// its zero one, and each field alone: any field a store forgets shows.
func allFields() []links.Link {
	return []links.Link{
		{ID: "f1", ExternalID: "ext-f1", UserName: "Full.User", Email: "full@example.com", Active: true,
			Block: links.BlockApp, Tenant: "tenant-a", Version: `W/"7"`},
		{ID: "f2"},
		{ID: "f3", Email: "only-email@example.com"},
		{ID: "f4", Block: links.BlockSCIM, Deleted: true},
		{ID: "f5", Tenant: "tenant-b"},
		{ID: "\x1fgroup:f6", ExternalID: "g-ext", UserName: "\x1fgroup:Staff", Group: true, Tenant: "tenant-a", Version: "v1"},
		{ID: "f7", UserName: "ünïcödé@example.com", Email: "ünï@example.com", Active: true},
	}
}

func testAllFields(t *testing.T, s links.Store) {
	for _, l := range allFields() {
		mustPut(t, s, l)
	}
	for _, l := range allFields() {
		wantLink(t, s, l)
	}
	// a changed field replaces the old value, also back to the zero value
	f1 := allFields()[0]
	f1.Email, f1.Block, f1.Tenant, f1.Active = "", links.BlockNone, "", false
	mustPut(t, s, f1)
	wantLink(t, s, f1)
}

func testGetMany(t *testing.T, s links.Store) {
	c := ctx(t)
	a := links.Link{ID: "1", UserName: "a", Email: "a@example.com"}
	b := links.Link{ID: "2", UserName: "b", Group: true}
	mustPut(t, s, a)
	mustPut(t, s, b)
	many, err := s.GetMany(c, []string{"2", "missing", "1", "2", ""})
	want := []links.Link{b, {}, a, b, {}}
	if err != nil || !slices.Equal(many, want) {
		t.Fatalf("GetMany = %+v %v, want %+v", many, err, want)
	}
	if many, err := s.GetMany(c, nil); err != nil || len(many) != 0 {
		t.Fatalf("GetMany(nil) = %+v %v", many, err)
	}
	// more than one batch of the Redis pipeline (500)
	ids := make([]string, 1201)
	for i := range ids {
		ids[i] = fmt.Sprint("nope-", i)
	}
	ids[1200] = "1"
	many, err = s.GetMany(c, ids)
	if err != nil || len(many) != len(ids) || many[1200] != a || many[0] != (links.Link{}) {
		t.Fatalf("GetMany of %d ids: %d links, last %+v, err %v", len(ids), len(many), many[len(many)-1], err)
	}
}

func testByExternalID(t *testing.T, s links.Store) {
	c := ctx(t)
	mustPut(t, s, links.Link{ID: "1", ExternalID: "AbC-1", UserName: "u1"})
	id, ok, err := s.ByExternalID(c, "AbC-1")
	wantID(t, "ByExternalID(AbC-1)", id, ok, err, "1")
	id, ok, err = s.ByExternalID(c, "abc-1")
	wantID(t, "ByExternalID(abc-1)", id, ok, err, "")
	id, ok, err = s.ByExternalID(c, "ABC-1")
	wantID(t, "ByExternalID(ABC-1)", id, ok, err, "")
	id, ok, err = s.ByExternalID(c, "")
	wantID(t, "ByExternalID(empty)", id, ok, err, "")
}

func testByUserName(t *testing.T, s links.Store) {
	c := ctx(t)
	mustPut(t, s, links.Link{ID: "7", UserName: "Alice.Smith@Example.COM"})
	for _, q := range []string{"Alice.Smith@Example.COM", "alice.smith@example.com", "ALICE.SMITH@EXAMPLE.COM"} {
		id, ok, err := s.ByUserName(c, q)
		wantID(t, "ByUserName("+q+")", id, ok, err, "7")
	}
	id, ok, err := s.ByUserName(c, "alice.smith")
	wantID(t, "ByUserName(alice.smith)", id, ok, err, "")
	id, ok, err = s.ByUserName(c, "")
	wantID(t, "ByUserName(empty)", id, ok, err, "")
}

func testPutChanged(t *testing.T, s links.Store) {
	c := ctx(t)
	mustPut(t, s, links.Link{ID: "9", ExternalID: "old-ext", UserName: "old.name", Active: true})
	mustPut(t, s, links.Link{ID: "9", ExternalID: "new-ext", UserName: "New.Name", Active: false})
	id, ok, err := s.ByExternalID(c, "new-ext")
	wantID(t, "ByExternalID(new-ext)", id, ok, err, "9")
	id, ok, err = s.ByUserName(c, "new.name")
	wantID(t, "ByUserName(new.name)", id, ok, err, "9")
	got, ok, err := s.Get(c, "9")
	if err != nil || !ok || got.UserName != "New.Name" || got.ExternalID != "new-ext" || got.Active {
		t.Fatalf("Get after change = %+v %v %v", got, ok, err)
	}
	// An old index entry may remain until it expires, but never for another id.
	for _, f := range []func() (string, bool, error){
		func() (string, bool, error) { return s.ByExternalID(c, "old-ext") },
		func() (string, bool, error) { return s.ByUserName(c, "old.name") },
	} {
		if id, ok, err := f(); err != nil || (ok && id != "9") {
			t.Fatalf("old index entry = %q %v %v", id, ok, err)
		}
	}
	// A change of one of the two keeps the other.
	mustPut(t, s, links.Link{ID: "9", ExternalID: "new-ext", UserName: "third.name"})
	id, ok, err = s.ByExternalID(c, "new-ext")
	wantID(t, "ByExternalID(new-ext) after a rename", id, ok, err, "9")
	id, ok, err = s.ByUserName(c, "THIRD.name")
	wantID(t, "ByUserName(third.name)", id, ok, err, "9")
	// A userName taken over by another id resolves to that id.
	mustPut(t, s, links.Link{ID: "10", UserName: "Third.Name"})
	id, ok, err = s.ByUserName(c, "third.name")
	wantID(t, "ByUserName(third.name) taken over", id, ok, err, "10")
}

func testResolver(t *testing.T, s links.Store) {
	r, ok := s.(links.Resolver)
	if !ok {
		t.Skipf("%T is not a links.Resolver", s)
	}
	c := ctx(t)
	l := links.Link{ID: "r1", ExternalID: "ext-r1", UserName: "Res.User", Email: "res@example.com", Active: true,
		Block: links.BlockNone, Tenant: "t1", Version: "v9"}
	mustPut(t, s, l)
	check := func(what string, got links.Link, ok bool, err error, want links.Link) {
		t.Helper()
		if err != nil || ok != (want.ID != "") || got != want {
			t.Fatalf("%s = %+v %v %v, want %+v", what, got, ok, err, want)
		}
	}
	got, ok, err := r.LinkByExternalID(c, "ext-r1")
	check("LinkByExternalID(ext-r1)", got, ok, err, l)
	got, ok, err = r.LinkByUserName(c, "RES.USER")
	check("LinkByUserName(RES.USER)", got, ok, err, l)
	got, ok, err = r.LinkByExternalID(c, "EXT-R1")
	check("LinkByExternalID(EXT-R1)", got, ok, err, links.Link{})
	got, ok, err = r.LinkByUserName(c, "nobody")
	check("LinkByUserName(nobody)", got, ok, err, links.Link{})
	got, ok, err = r.LinkByUserName(c, "")
	check("LinkByUserName(empty)", got, ok, err, links.Link{})
	got, ok, err = r.LinkByExternalID(c, "")
	check("LinkByExternalID(empty)", got, ok, err, links.Link{})
	// the answer follows a change
	l2 := l
	l2.UserName, l2.Email, l2.Active, l2.Block = "Renamed", "new@example.com", false, links.BlockSCIM
	mustPut(t, s, l2)
	got, ok, err = r.LinkByUserName(c, "renamed")
	check("LinkByUserName(renamed)", got, ok, err, l2)
	got, ok, err = r.LinkByExternalID(c, "ext-r1")
	check("LinkByExternalID after the change", got, ok, err, l2)
	if err := s.Forget(c, "r1"); err != nil {
		t.Fatal(err)
	}
	got, ok, err = r.LinkByExternalID(c, "ext-r1")
	check("LinkByExternalID after Forget", got, ok, err, links.Link{})
}

func testForget(t *testing.T, s links.Store) {
	c := ctx(t)
	mustPut(t, s, links.Link{ID: "5", ExternalID: "e5", UserName: "five"})
	mustPut(t, s, links.Link{ID: "6", ExternalID: "e6", UserName: "six"})
	if err := s.Forget(c, "5"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Get(c, "5"); err != nil || ok {
		t.Fatalf("Get after Forget = %v %v", ok, err)
	}
	id, ok, err := s.ByExternalID(c, "e5")
	wantID(t, "ByExternalID after Forget", id, ok, err, "")
	id, ok, err = s.ByUserName(c, "FIVE")
	wantID(t, "ByUserName after Forget", id, ok, err, "")
	// The other link is untouched, and forgetting an unknown id is not an error.
	id, ok, err = s.ByUserName(c, "six")
	wantID(t, "ByUserName(six)", id, ok, err, "6")
	if err := s.Forget(c, "nope"); err != nil {
		t.Fatalf("Forget(unknown): %v", err)
	}
}

func testExpiry(t *testing.T, s links.Store) {
	c := ctx(t)
	mustPut(t, s, links.Link{ID: "x", ExternalID: "ex", UserName: "ux"})
	if _, ok, err := s.Get(c, "x"); err != nil || !ok {
		t.Fatalf("Get before expiry = %v %v", ok, err)
	}
	time.Sleep(TTL + 200*time.Millisecond)
	if _, ok, err := s.Get(c, "x"); err != nil || ok {
		t.Fatalf("Get after TTL = %v %v, want a miss", ok, err)
	}
	id, ok, err := s.ByExternalID(c, "ex")
	wantID(t, "ByExternalID after TTL", id, ok, err, "")
	id, ok, err = s.ByUserName(c, "ux")
	wantID(t, "ByUserName after TTL", id, ok, err, "")
	// an expired link is none to Swap too
	x := links.Link{ID: "x", ExternalID: "ex", UserName: "ux"}
	if ok, err := s.Swap(c, x, links.Link{ID: "x", UserName: "stale"}); err != nil || ok {
		t.Fatalf("Swap over an expired link = %v %v, want false", ok, err)
	}
	if ok, err := s.Swap(c, links.Link{}, x); err != nil || !ok {
		t.Fatalf("Swap expecting none after TTL = %v %v, want true", ok, err)
	}
	wantLink(t, s, x)
}

// testConcurrentPuts: writers at once (which the embedded store commits together)
// each find all of their links at once afterwards.
func testConcurrentPuts(t *testing.T, s links.Store) {
	c := ctx(t)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			var ids []string
			for i := range 40 {
				l := links.Link{ID: fmt.Sprintf("w%d-%d", w, i), ExternalID: fmt.Sprintf("e%d-%d", w, i), UserName: fmt.Sprintf("User.%d.%d", w, i)}
				if err := s.Put(c, l); err != nil {
					t.Errorf("Put(%+v): %v", l, err)
					return
				}
				ids = append(ids, l.ID)
			}
			ls, err := s.GetMany(c, ids)
			if err != nil {
				t.Errorf("GetMany: %v", err)
				return
			}
			for i, l := range ls {
				if l.ID != ids[i] || l.UserName != fmt.Sprintf("User.%d.%d", w, i) {
					t.Errorf("writer %d: link %d = %+v", w, i, l)
					return
				}
			}
			if id, ok, err := s.ByUserName(c, fmt.Sprintf("user.%d.39", w)); err != nil || !ok || id != ids[39] {
				t.Errorf("writer %d: ByUserName = %q %v %v", w, id, ok, err)
			}
		})
	}
	wg.Wait()
}

func testLockExclusive(t *testing.T, s links.Store, renews bool) {
	c := ctx(t)
	rel, ok, err := s.Lock(c, "create:un:alice", time.Minute)
	if err != nil || !ok {
		t.Fatalf("first Lock = %v %v", ok, err)
	}
	if _, ok, err := s.Lock(c, "create:un:alice", time.Minute); err != nil || ok {
		t.Fatalf("second Lock while held = %v %v, want ok=false", ok, err)
	}
	if r, ok, err := s.Lock(c, "create:un:bob", time.Minute); err != nil || !ok {
		t.Fatalf("Lock on another key = %v %v", ok, err)
	} else {
		r()
	}
	rel()
	rel() // release is idempotent and must not drop a later holder's lock
	rel2, ok, err := s.Lock(c, "create:un:alice", time.Minute)
	if err != nil || !ok {
		t.Fatalf("Lock after release = %v %v", ok, err)
	}
	rel() // a stale release from the first holder
	if _, ok, err := s.Lock(c, "create:un:alice", time.Minute); err != nil || ok {
		t.Fatalf("Lock after a stale release = %v %v, want still held", ok, err)
	}
	rel2()

	short, ok, err := s.Lock(c, "create:ext:e1", 300*time.Millisecond)
	if err != nil || !ok {
		t.Fatalf("short Lock = %v %v", ok, err)
	}
	if _, ok, _ := s.Lock(c, "create:ext:e1", time.Minute); ok {
		t.Fatal("short lock not held")
	}
	if renews {
		// A holder that runs past the ttl keeps the lock until it releases it.
		time.Sleep(time.Second)
		if _, ok, err := s.Lock(c, "create:ext:e1", time.Minute); err != nil || ok {
			t.Fatalf("Lock past the holder's ttl = %v %v, want still held (renewed)", ok, err)
		}
		short()
	} else {
		// An unreleased lock expires after its ttl.
		time.Sleep(400 * time.Millisecond)
	}
	r3, ok, err := s.Lock(c, "create:ext:e1", time.Minute)
	if err != nil || !ok {
		t.Fatalf("Lock after ttl or release = %v %v, want ok", ok, err)
	}
	r3()
	short() // a late release of the expired lock is harmless
	if r4, ok, err := s.Lock(c, "create:ext:e1", time.Minute); err != nil || !ok {
		t.Fatalf("Lock after a late release = %v %v", ok, err)
	} else {
		r4()
	}
}

func testLockConcurrent(t *testing.T, s links.Store) {
	c := ctx(t)
	for round := 0; round < 3; round++ {
		key := fmt.Sprintf("create:un:race%d", round)
		var (
			wg       sync.WaitGroup
			start    = make(chan struct{})
			winners  atomic.Int32
			errs     atomic.Int32
			relMu    sync.Mutex
			releases []func()
		)
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				rel, ok, err := s.Lock(c, key, time.Minute)
				if err != nil {
					errs.Add(1)
					return
				}
				if ok {
					winners.Add(1)
					relMu.Lock()
					releases = append(releases, rel)
					relMu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		if errs.Load() != 0 || winners.Load() != 1 {
			t.Fatalf("round %d: %d winners, %d errors, want exactly 1 winner", round, winners.Load(), errs.Load())
		}
		for _, r := range releases {
			r()
		}
	}
}

// all reads every link of e.
func all(t *testing.T, e links.Exporter) map[string]links.Link {
	t.Helper()
	m := map[string]links.Link{}
	err := e.Each(ctx(t), func(l links.Link) error {
		if _, dup := m[l.ID]; dup {
			return fmt.Errorf("link %q passed twice", l.ID)
		}
		m[l.ID] = l
		return nil
	})
	if err != nil {
		t.Fatalf("Each: %v", err)
	}
	return m
}

func testExportImport(t *testing.T, s, fresh links.Store) {
	e, ok := s.(links.Exporter)
	if !ok {
		t.Skipf("%T is not a links.Exporter", s)
	}
	c := ctx(t)
	want := map[string]links.Link{}
	for _, l := range allFields() {
		mustPut(t, s, l)
		want[l.ID] = l
	}
	// more than one batch of every store's walk, imported (in batches where the
	// store has them, so that a store whose entries expire still holds the first
	// ones when the last are written)
	var seed bytes.Buffer
	for i := range 1234 {
		l := links.Link{ID: fmt.Sprint(i), ExternalID: fmt.Sprint("e", i), UserName: fmt.Sprint("User.", i), Active: i%2 == 0}
		b, _ := json.Marshal(l)
		seed.Write(append(b, '\n'))
		want[l.ID] = l
	}
	if n, err := links.ReadJSONLines(c, &seed, s); err != nil || n != 1234 {
		t.Fatalf("ReadJSONLines of the seed = %d %v", n, err)
	}
	mustPut(t, s, links.Link{ID: "gone", UserName: "gone"})
	if err := s.Forget(c, "gone"); err != nil {
		t.Fatal(err)
	}
	if got := all(t, e); !maps.Equal(got, want) {
		t.Fatalf("Each: %d links, want %d (%s)", len(got), len(want), diff(got, want))
	}
	var buf bytes.Buffer
	n, err := links.WriteJSONLines(c, &buf, e)
	if err != nil || n != len(want) {
		t.Fatalf("WriteJSONLines = %d %v, want %d", n, err, len(want))
	}
	if lines := bytes.Count(buf.Bytes(), []byte("\n")); lines != n {
		t.Fatalf("%d lines for %d links", lines, n)
	}
	n, err = links.ReadJSONLines(c, &buf, fresh)
	if err != nil || n != len(want) {
		t.Fatalf("ReadJSONLines = %d %v, want %d", n, err, len(want))
	}
	fe, ok := fresh.(links.Exporter)
	if !ok {
		t.Fatalf("%T exports, %T does not", s, fresh)
	}
	if got := all(t, fe); !maps.Equal(got, want) {
		t.Fatalf("after the import: %d links, want %d (%s)", len(got), len(want), diff(got, want))
	}
	// the imported links answer lookups
	id, ok, err := fresh.ByUserName(c, "user.1233")
	wantID(t, "ByUserName(user.1233) after the import", id, ok, err, "1233")
	id, ok, err = fresh.ByExternalID(c, "g-ext")
	wantID(t, "ByExternalID(g-ext) after the import", id, ok, err, "\x1fgroup:f6")
}

func diff(got, want map[string]links.Link) string {
	for id, w := range want {
		if g, ok := got[id]; !ok || g != w {
			return fmt.Sprintf("%q: got %+v (present %v), want %+v", id, g, ok, w)
		}
	}
	for id, g := range got {
		if _, ok := want[id]; !ok {
			return fmt.Sprintf("unexpected %+v", g)
		}
	}
	return "no difference"
}

func testReopen(t *testing.T, reopen func() links.Store) {
	s := reopen()
	c := ctx(t)
	for _, l := range allFields() {
		mustPut(t, s, l)
	}
	mustPut(t, s, links.Link{ID: "forgotten", ExternalID: "e-forgotten", UserName: "forgotten"})
	if err := s.Forget(c, "forgotten"); err != nil {
		t.Fatal(err)
	}
	// renamed before the restart: the new name resolves, the old one not to it
	mustPut(t, s, links.Link{ID: "ren", UserName: "before"})
	mustPut(t, s, links.Link{ID: "ren", UserName: "after"})

	s = reopen()
	for _, l := range allFields() {
		wantLink(t, s, l)
	}
	id, ok, err := s.ByUserName(c, "FULL.USER")
	wantID(t, "ByUserName(FULL.USER) after reopen", id, ok, err, "f1")
	id, ok, err = s.ByExternalID(c, "ext-f1")
	wantID(t, "ByExternalID(ext-f1) after reopen", id, ok, err, "f1")
	id, ok, err = s.ByUserName(c, "after")
	wantID(t, "ByUserName(after) after reopen", id, ok, err, "ren")
	id, ok, err = s.ByUserName(c, "before")
	wantID(t, "ByUserName(before) after reopen", id, ok, err, "")
	if _, ok, err := s.Get(c, "forgotten"); err != nil || ok {
		t.Fatalf("a forgotten link came back: %v %v", ok, err)
	}
	id, ok, err = s.ByExternalID(c, "e-forgotten")
	wantID(t, "ByExternalID(e-forgotten) after reopen", id, ok, err, "")
	if r, ok := s.(links.Resolver); ok {
		l, found, err := r.LinkByExternalID(c, "g-ext")
		if err != nil || !found || l != allFields()[5] {
			t.Fatalf("LinkByExternalID(g-ext) after reopen = %+v %v %v", l, found, err)
		}
	}
	// and it takes writes again
	mustPut(t, s, links.Link{ID: "new", UserName: "new"})
	s = reopen()
	wantLink(t, s, links.Link{ID: "new", UserName: "new"})
}
