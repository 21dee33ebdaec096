// Package linkstest is the conformance suite every links.Store must pass.
package linkstest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/module/links"
)

// TTL is the entry lifetime the suite expects from the stores newStore returns. It is
// short so that the expiry test waits little, and long enough that a Put followed at
// once by a Get never sees the entry expire on a loaded machine.
const TTL = time.Second

// Run runs the suite. newStore must return an empty store (or one whose keys nobody
// else uses) whose entries expire after TTL.
//
// Index entries left behind by a Put that changed a userName or externalId are not
// checked: the Redis store keeps them until they expire (callers re-verify every link
// they read), so only the new entries must resolve.
func Run(t *testing.T, newStore func(t *testing.T) links.Store) {
	t.Run("PutGet", func(t *testing.T) { testPutGet(t, newStore(t)) })
	t.Run("ByExternalIDExact", func(t *testing.T) { testByExternalID(t, newStore(t)) })
	t.Run("ByUserNameCaseInsensitive", func(t *testing.T) { testByUserName(t, newStore(t)) })
	t.Run("PutChangedIndex", func(t *testing.T) { testPutChanged(t, newStore(t)) })
	t.Run("Forget", func(t *testing.T) { testForget(t, newStore(t)) })
	t.Run("Expiry", func(t *testing.T) { testExpiry(t, newStore(t)) })
	t.Run("LockExclusive", func(t *testing.T) { testLockExclusive(t, newStore(t)) })
	t.Run("LockConcurrent", func(t *testing.T) { testLockConcurrent(t, newStore(t)) })
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

func testPutGet(t *testing.T, s links.Store) {
	c := ctx(t)
	l := links.Link{ID: "42", ExternalID: "ext-42", UserName: "Alice.Smith@example.com",
		Active: true, Version: `W/"3"`}
	mustPut(t, s, l)
	got, ok, err := s.Get(c, "42")
	if err != nil || !ok || got != l {
		t.Fatalf("Get = %+v %v %v, want %+v", got, ok, err, l)
	}
	// Every field survives, including the false/empty ones.
	d := links.Link{ID: "43", UserName: "bob", Deleted: true}
	mustPut(t, s, d)
	if got, ok, err := s.Get(c, "43"); err != nil || !ok || got != d {
		t.Fatalf("Get = %+v %v %v, want %+v", got, ok, err, d)
	}
	if got, ok, err := s.Get(c, "44"); err != nil || ok {
		t.Fatalf("Get(unknown) = %+v %v %v, want a miss", got, ok, err)
	}
	many, err := s.GetMany(c, []string{"43", "44", "42"})
	if err != nil || len(many) != 3 || many[0] != d || many[1] != (links.Link{}) || many[2] != l {
		t.Fatalf("GetMany(43, 44, 42) = %+v %v, want [%+v {} %+v]", many, err, d, l)
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
}

func testLockExclusive(t *testing.T, s links.Store) {
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

	// An unreleased lock expires after its ttl.
	if _, ok, err := s.Lock(c, "create:ext:e1", 300*time.Millisecond); err != nil || !ok {
		t.Fatalf("short Lock = %v %v", ok, err)
	}
	if _, ok, _ := s.Lock(c, "create:ext:e1", time.Minute); ok {
		t.Fatal("short lock not held")
	}
	time.Sleep(400 * time.Millisecond)
	r3, ok, err := s.Lock(c, "create:ext:e1", time.Minute)
	if err != nil || !ok {
		t.Fatalf("Lock after ttl = %v %v, want ok", ok, err)
	}
	r3()
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
