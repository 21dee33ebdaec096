package linkstest

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/module/links"
)

func swap(t *testing.T, s links.Store, old, l links.Link) bool {
	t.Helper()
	ok, err := s.Swap(ctx(t), old, l)
	if err != nil {
		t.Fatalf("Swap(%+v, %+v): %v", old, l, err)
	}
	return ok
}

// wantStored checks that l is stored and that its index entries resolve to it.
func wantStored(t *testing.T, s links.Store, l links.Link) {
	t.Helper()
	wantLink(t, s, l)
	wantResolved(t, s, l)
}

// wantResolved checks that both index entries of l resolve to l (to the whole link,
// where the store is a Resolver).
func wantResolved(t *testing.T, s links.Store, l links.Link) {
	t.Helper()
	c := ctx(t)
	if l.ExternalID != "" {
		id, ok, err := s.ByExternalID(c, l.ExternalID)
		wantID(t, "ByExternalID("+l.ExternalID+")", id, ok, err, l.ID)
	}
	if l.UserName != "" {
		id, ok, err := s.ByUserName(c, l.UserName)
		wantID(t, "ByUserName("+l.UserName+")", id, ok, err, l.ID)
	}
	r, ok := s.(links.Resolver)
	if !ok {
		return
	}
	if l.ExternalID != "" {
		if got, found, err := r.LinkByExternalID(c, l.ExternalID); err != nil || !found || got != l {
			t.Fatalf("LinkByExternalID(%q) = %+v %v %v, want %+v", l.ExternalID, got, found, err, l)
		}
	}
	if l.UserName != "" {
		if got, found, err := r.LinkByUserName(c, l.UserName); err != nil || !found || got != l {
			t.Fatalf("LinkByUserName(%q) = %+v %v %v, want %+v", l.UserName, got, found, err, l)
		}
	}
}

// testSwap: a Swap writes only over the link it expects (or over none), comparing
// every field; a failed Swap writes nothing, index entries included.
func testSwap(t *testing.T, s links.Store) {
	c := ctx(t)
	a := links.Link{ID: "s1", ExternalID: "ext-s1", UserName: "Swap.User", Email: "swap@example.com", Active: true,
		Block: links.BlockNone, Tenant: "t1", Version: `W/"1"`}
	if !swap(t, s, links.Link{}, a) {
		t.Fatal("Swap over no link failed")
	}
	wantStored(t, s, a)

	// a link where none was expected: nothing written
	intruder := links.Link{ID: "s1", ExternalID: "ext-intruder", UserName: "Intruder", Block: links.BlockApp}
	if swap(t, s, links.Link{}, intruder) {
		t.Fatal("Swap expecting no link overwrote one")
	}
	wantStored(t, s, a)
	id, ok, err := s.ByExternalID(c, "ext-intruder")
	wantID(t, "ByExternalID(ext-intruder) after a failed Swap", id, ok, err, "")
	id, ok, err = s.ByUserName(c, "intruder")
	wantID(t, "ByUserName(intruder) after a failed Swap", id, ok, err, "")

	// the expected link: written, and the index follows
	b := a
	b.Block, b.Active, b.UserName, b.Version = links.BlockSCIM, false, "Swap.Renamed", `W/"2"`
	if !swap(t, s, a, b) {
		t.Fatal("Swap over the expected link failed")
	}
	wantStored(t, s, b)
	// the previous userName no longer resolves (Swap knows the link it replaced)
	id, ok, err = s.ByUserName(c, "swap.user")
	wantID(t, "ByUserName(swap.user) after the rename", id, ok, err, "")

	// a stale link that differs from the stored one in any single field: nothing written
	c2 := b
	c2.UserName, c2.ExternalID, c2.Block, c2.Version = "Stale.Write", "ext-stale", links.BlockNone, `W/"3"`
	swapStaleFails(t, s, b, c2)

	// the same link again is a successful Swap that changes nothing
	if !swap(t, s, b, b) {
		t.Fatal("Swap of the stored link onto itself failed")
	}
	wantStored(t, s, b)

	// a forgotten link: a Swap expecting it fails, one expecting none succeeds
	if err := s.Forget(c, "s1"); err != nil {
		t.Fatal(err)
	}
	if swap(t, s, b, c2) {
		t.Fatal("Swap expecting a forgotten link succeeded")
	}
	if _, ok, err := s.Get(c, "s1"); ok || err != nil {
		t.Fatalf("Get after a failed Swap over nothing = %v %v", ok, err)
	}
	if !swap(t, s, links.Link{}, c2) {
		t.Fatal("Swap over a forgotten link failed")
	}
	wantStored(t, s, c2)

	// every kind of link compares equal to itself (encodings of groups, unicode)
	for _, l := range allFields() {
		mustPut(t, s, l)
		l2 := l
		l2.Version += "+"
		if !swap(t, s, l, l2) {
			t.Fatalf("Swap over the stored %+v failed", l)
		}
		wantStored(t, s, l2)
	}

	// a link without an id is never stored
	if swap(t, s, links.Link{}, links.Link{UserName: "no-id"}) {
		t.Fatal("Swap of a link without an id succeeded")
	}
}

// swapStaleFails: a Swap of next over a link that differs from the stored b in any
// single field writes nothing: neither next's userName nor its externalId resolves.
func swapStaleFails(t *testing.T, s links.Store, b, next links.Link) {
	c := ctx(t)
	for name, change := range map[string]func(*links.Link){
		"Block":      func(l *links.Link) { l.Block = links.BlockNone },
		"UserName":   func(l *links.Link) { l.UserName = "Swap.User" },
		"UserCase":   func(l *links.Link) { l.UserName = "swap.renamed" },
		"ExternalID": func(l *links.Link) { l.ExternalID = "ext-other" },
		"Email":      func(l *links.Link) { l.Email = "" },
		"Active":     func(l *links.Link) { l.Active = true },
		"Deleted":    func(l *links.Link) { l.Deleted = true },
		"Tenant":     func(l *links.Link) { l.Tenant = "t2" },
		"Version":    func(l *links.Link) { l.Version = `W/"1"` },
		"Group":      func(l *links.Link) { l.Group = true },
		"ID":         func(l *links.Link) { l.ID = "s2" },
	} {
		stale := b
		change(&stale)
		if swap(t, s, stale, next) {
			t.Fatalf("Swap over a link differing in %s overwrote it", name)
		}
		wantStored(t, s, b)
		id, ok, err := s.ByUserName(c, next.UserName)
		wantID(t, "ByUserName("+next.UserName+") after a failed Swap ("+name+")", id, ok, err, "")
		id, ok, err = s.ByExternalID(c, next.ExternalID)
		wantID(t, "ByExternalID("+next.ExternalID+") after a failed Swap ("+name+")", id, ok, err, "")
	}
}

// testSwapConcurrent: of many Swaps from the same link (or from none), exactly one
// wins, and the store and its index entries hold the winner's link.
func testSwapConcurrent(t *testing.T, s links.Store) {
	c := ctx(t)
	base := links.Link{ID: "race", ExternalID: "ext-race", UserName: "Race.User", Block: links.BlockNone}
	for round := range 4 {
		old := base
		if round%2 == 0 {
			// from none: a fresh id each time
			old = links.Link{}
			base.ID = fmt.Sprint("race-", round)
			base.ExternalID = fmt.Sprint("ext-race-", round)
		} else {
			mustPut(t, s, base)
		}
		var (
			wg     sync.WaitGroup
			start  = make(chan struct{})
			wins   atomic.Int32
			winner atomic.Value
		)
		for i := range 20 {
			l := base
			l.Version = fmt.Sprint("v", round, "-", i)
			l.Block = []string{links.BlockNone, links.BlockSCIM, links.BlockApp}[i%3]
			wg.Go(func() {
				<-start
				ok, err := s.Swap(c, old, l)
				if err != nil {
					t.Errorf("Swap: %v", err)
					return
				}
				if ok {
					wins.Add(1)
					winner.Store(l)
				}
			})
		}
		close(start)
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("round %d: %d Swaps from the same link won, want exactly 1", round, wins.Load())
		}
		w := winner.Load().(links.Link)
		wantStored(t, s, w)
		base = w
	}
}

// testIndexSwapAll: SwapAll writes the links whose stored link is still the one the
// caller read (or still none), and only those.
func testIndexSwapAll(t *testing.T, s indexed) {
	c := ctx(t)
	a1 := links.Link{ID: "1", ExternalID: "e1", UserName: "one", Block: links.BlockNone}
	b1 := links.Link{ID: "2", ExternalID: "e2", UserName: "two", Block: links.BlockNone}
	d1 := links.Link{ID: "4", ExternalID: "e4", UserName: "four", Block: links.BlockApp}
	e1 := links.Link{ID: "5", ExternalID: "e5", UserName: "five"}
	for _, l := range []links.Link{a1, b1, e1} {
		mustPut(t, s, l)
	}
	// what the caller read: a1, b1, none for 3 and 4, e1; then meanwhile b changes
	// (SCIM blocks it), 4 gets a link, 5 is forgotten
	b2 := b1
	b2.Block, b2.Deleted = links.BlockSCIM, true
	mustPut(t, s, b2)
	mustPut(t, s, d1)
	if err := s.Forget(c, "5"); err != nil {
		t.Fatal(err)
	}
	a2 := a1
	a2.Email = "one@example.com"
	b3 := links.Link{ID: "2", ExternalID: "e2", UserName: "two-renamed", Block: links.BlockNone}
	c1 := links.Link{ID: "3", ExternalID: "e3", UserName: "three"}
	d2 := links.Link{ID: "4", ExternalID: "e4", UserName: "four", Block: links.BlockNone}
	e2 := links.Link{ID: "5", ExternalID: "e5", UserName: "five", Active: true}
	olds := []links.Link{a1, b1, {}, {}, e1}
	n, err := s.SwapAll(c, olds, []links.Link{a2, b3, c1, d2, e2})
	if err != nil || n != 2 {
		t.Fatalf("SwapAll = %d %v, want 2 written (1 and 3)", n, err)
	}
	wantLink(t, s, a2)
	wantLink(t, s, b2)
	wantLink(t, s, c1)
	wantLink(t, s, d1)
	if _, ok, err := s.Get(c, "5"); ok || err != nil {
		t.Fatalf("a link forgotten meanwhile came back: %v %v", ok, err)
	}
	for _, l := range []links.Link{a2, b2, c1, d1} {
		wantResolved(t, s, l)
	}
	if id, ok, err := s.ByUserName(c, "two-renamed"); ok || err != nil {
		t.Fatalf("a lost Swap wrote an index entry: %q %v %v", id, ok, err)
	}

	// more than one batch of every store
	const many = 1201
	ls := make([]links.Link, many)
	for i := range ls {
		ls[i] = links.Link{ID: fmt.Sprint("m", i), ExternalID: fmt.Sprint("em", i), UserName: fmt.Sprint("Many.", i)}
	}
	none := make([]links.Link, many)
	if n, err := s.SwapAll(c, none, ls); err != nil || n != many {
		t.Fatalf("SwapAll of %d new links = %d %v", many, n, err)
	}
	if n, err := s.SwapAll(c, none, ls); err != nil || n != 0 {
		t.Fatalf("SwapAll of %d links expecting none again = %d %v, want 0", many, n, err)
	}
	// one of them changes meanwhile
	changed := ls[700]
	changed.Block = links.BlockSCIM
	mustPut(t, s, changed)
	next := slices.Clone(ls)
	for i := range next {
		next[i].Active = true
	}
	if n, err := s.SwapAll(c, ls, next); err != nil || n != many-1 {
		t.Fatalf("SwapAll over %d read links, one changed meanwhile = %d %v, want %d", many, n, err, many-1)
	}
	got, err := s.GetMany(c, []string{"m0", "m700", fmt.Sprint("m", many-1)})
	if err != nil || got[0] != next[0] || got[1] != changed || got[2] != next[many-1] {
		t.Fatalf("after SwapAll: %+v %v", got, err)
	}
	wantResolved(t, s, next[many-1])
	wantResolved(t, s, changed)

	if n, err := s.SwapAll(c, nil, nil); err != nil || n != 0 {
		t.Fatalf("SwapAll(nil) = %d %v", n, err)
	}
	if _, err := s.SwapAll(c, olds[:1], ls[:2]); err == nil {
		t.Fatal("SwapAll with fewer old links than links did not fail")
	}
}

// testIndexSwapOrder: the order and Visible follow Swap and SwapAll as they follow
// Put, and a lost Swap changes neither; a rebuild may write with SwapAll.
func testIndexSwapOrder(t *testing.T, s indexed) {
	c := ctx(t)
	// a rebuild writing what it read (GetMany) with SwapAll
	mustPut(t, s, links.Link{ID: "10", UserName: "ten", Block: links.BlockSCIM})
	st, err := s.IndexState(c)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.BeginRebuild(c)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{"9", "10", "100"}
	olds, err := s.GetMany(c, ids)
	if err != nil {
		t.Fatal(err)
	}
	ls := []links.Link{{ID: "9", UserName: "nine"}, {ID: "10", UserName: "ten", Block: links.BlockSCIM}, {ID: "100", UserName: "hundred"}}
	// a write under a lock between the rebuild's read and its write wins
	ten := links.Link{ID: "10", UserName: "ten", Block: links.BlockSCIM, Deleted: true}
	mustPut(t, s, ten)
	if n, err := s.SwapAll(c, olds, ls); err != nil || n != 2 {
		t.Fatalf("rebuild SwapAll = %d %v, want 2", n, err)
	}
	if ok, err := s.CompleteRebuild(c, tok, st.Epoch); err != nil || !ok {
		t.Fatalf("CompleteRebuild = %v %v", ok, err)
	}
	st, err = s.IndexState(c)
	if err != nil {
		t.Fatal(err)
	}
	s.Verified(st)
	wantLink(t, s, ten)
	if ids, total, ok := pageIDs(t, s, 0, 10); !ok || total != 2 || !slices.Equal(ids, []string{"9", "100"}) {
		t.Fatalf("after the rebuild: %v total %d ok %v; want [9 100] 2 (10 was DELETEd meanwhile)", ids, total, ok)
	}

	nine := links.Link{ID: "9", UserName: "nine"}
	goneNine := links.Link{ID: "9", UserName: "nine", Deleted: true}
	for _, step := range []struct {
		name     string
		old, l   links.Link
		ok       bool
		wantPage []string
	}{
		{"create", links.Link{}, links.Link{ID: "101", UserName: "new"}, true, []string{"9", "100", "101"}},
		{"DELETE", nine, goneNine, true, []string{"100", "101"}},
		{"stale un-DELETE", nine, links.Link{ID: "9", UserName: "nine", Active: true}, false, []string{"100", "101"}},
		{"stale DELETE", links.Link{ID: "100", UserName: "hundred", Active: true},
			links.Link{ID: "100", UserName: "hundred", Deleted: true}, false, []string{"100", "101"}},
		{"group", links.Link{}, links.Link{ID: "\x1fgroup:5", UserName: "\x1fgroup:Staff", Group: true}, true, []string{"100", "101"}},
		{"stale create", links.Link{}, links.Link{ID: "101", UserName: "new", Deleted: true}, false, []string{"100", "101"}},
		{"reactivation", goneNine, nine, true, []string{"9", "100", "101"}},
	} {
		if got := swap(t, s, step.old, step.l); got != step.ok {
			t.Fatalf("%s: Swap = %v, want %v", step.name, got, step.ok)
		}
		ids, total, ok := pageIDs(t, s, 0, 10)
		if !ok || total != len(step.wantPage) || !slices.Equal(ids, step.wantPage) {
			t.Fatalf("%s: page %v total %d ok %v; want %v", step.name, ids, total, ok, step.wantPage)
		}
		known, ok, err := s.Visible(c, []string{"9", "10", "100", "101", "\x1fgroup:5"})
		if err != nil || !ok {
			t.Fatalf("%s: Visible = %v %v", step.name, ok, err)
		}
		for _, id := range []string{"9", "10", "100", "101", "\x1fgroup:5"} {
			if known[id] != slices.Contains(step.wantPage, id) {
				t.Fatalf("%s: Visible = %v; want the page %v", step.name, known, step.wantPage)
			}
		}
	}
	// SwapAll too: one DELETEd, one stale
	hundred, _, _ := s.Get(c, "100")
	gone := hundred
	gone.Deleted = true
	n, err := s.SwapAll(c, []links.Link{hundred, {}}, []links.Link{gone, {ID: "9", UserName: "nine", Deleted: true}})
	if err != nil || n != 1 {
		t.Fatalf("SwapAll = %d %v, want 1", n, err)
	}
	if ids, total, ok := pageIDs(t, s, 0, 10); !ok || total != 2 || !slices.Equal(ids, []string{"9", "101"}) {
		t.Fatalf("after SwapAll: %v total %d ok %v; want [9 101] 2", ids, total, ok)
	}
}

// testIndexSwapIntent: a Swap expecting no link replaces an intent as Put does, and
// leaves none behind once the link is forgotten.
func testIndexSwapIntent(t *testing.T, s indexed) {
	c := ctx(t)
	Rebuild(t, s, nil)
	for i, write := range []func(old, l links.Link) bool{
		func(old, l links.Link) bool { return swap(t, s, old, l) },
		func(old, l links.Link) bool {
			n, err := s.SwapAll(c, []links.Link{old}, []links.Link{l})
			if err != nil {
				t.Fatal(err)
			}
			return n == 1
		},
	} {
		ext, un := fmt.Sprint("e-intent-", i), fmt.Sprint("Intent.", i)
		if err := s.Intend(c, ext, un, time.Hour); err != nil {
			t.Fatal(err)
		}
		if ProveNew(t, s, ext, "") || ProveNew(t, s, "", un) {
			t.Fatal("an intent is not held")
		}
		l := links.Link{ID: fmt.Sprint("i", i), ExternalID: ext, UserName: un}
		if !write(links.Link{}, l) {
			t.Fatalf("write %d: a Swap over an intent failed", i)
		}
		wantStored(t, s, l)
		if err := s.Forget(c, l.ID); err != nil {
			t.Fatal(err)
		}
		if !ProveNew(t, s, ext, un) {
			t.Fatalf("write %d: an intent outlived the link that replaced it", i)
		}
	}
}
