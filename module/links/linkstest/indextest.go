package linkstest

import (
	"slices"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/module/links"
)

// indexed is a store that serves the completeness index (Options.Indexed).
type indexed interface {
	links.Store
	links.Index
}

// Rebuild does what the index maintainer does, with the given links: a rebuild
// completed for the store's current epoch and verified. It returns the verified state.
func Rebuild(t *testing.T, ix links.Index, ls []links.Link) links.IndexState {
	t.Helper()
	c := ctx(t)
	st, err := ix.IndexState(c)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ix.BeginRebuild(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.PutAll(c, ls); err != nil {
		t.Fatal(err)
	}
	if ok, err := ix.CompleteRebuild(c, tok, st.Epoch); err != nil || !ok {
		t.Fatalf("CompleteRebuild = %v %v", ok, err)
	}
	st, err = ix.IndexState(c)
	if err != nil || st.Mark == "" || st.Mark != st.Epoch {
		t.Fatalf("after the rebuild: %+v %v", st, err)
	}
	ix.Verified(st)
	return st
}

// ProveNew is ix.ProveNew, failing the test on an error.
func ProveNew(t *testing.T, ix links.Index, ext, un string) bool {
	t.Helper()
	ok, err := ix.ProveNew(ctx(t), ext, un)
	if err != nil {
		t.Fatalf("ProveNew(%q, %q): %v", ext, un, err)
	}
	return ok
}

// pageIDs is PageLinks reduced to the ids.
func pageIDs(t *testing.T, ix links.Index, offset, limit int) (ids []string, total int, ok bool) {
	t.Helper()
	ls, total, ok, err := ix.PageLinks(ctx(t), offset, limit)
	if err != nil {
		t.Fatalf("PageLinks(%d, %d): %v", offset, limit, err)
	}
	ids = []string{}
	for _, l := range ls {
		ids = append(ids, l.ID)
	}
	return ids, total, ok
}

// testIndexProveNew: a miss proves an identity new only after a completed rebuild
// that this process verified, and only for identities the index does not hold.
func testIndexProveNew(t *testing.T, s indexed) {
	c := ctx(t)
	if ProveNew(t, s, "e-new", "new") {
		t.Fatal("ProveNew before any rebuild")
	}
	Rebuild(t, s, []links.Link{{ID: "1", ExternalID: "e1", UserName: "Alice"}, {ID: "2", ExternalID: "e2", UserName: "bob", Deleted: true},
		{ID: "\x1fgroup:3", ExternalID: "g3", UserName: "\x1fgroup:Staff", Group: true}})
	for _, tc := range []struct {
		ext, un string
		want    bool
	}{
		{"e-new", "new", true},
		{"", "new", true},
		{"e-new", "", true},
		{"e1", "new", false},          // the externalId is linked
		{"e-new", "ALICE", false},     // userName compares case-insensitively
		{"e2", "someone-else", false}, // a deleted user still holds its externalId
		{"", "BOB", false},            // and its userName
	} {
		if got := ProveNew(t, s, tc.ext, tc.un); got != tc.want {
			t.Errorf("ProveNew(%q, %q) = %v, want %v", tc.ext, tc.un, got, tc.want)
		}
	}
	// Put (what a create does) keeps the index complete and is seen at once.
	mustPut(t, s, links.Link{ID: "4", ExternalID: "e4", UserName: "carol"})
	if ProveNew(t, s, "e4", "x") || ProveNew(t, s, "x", "Carol") {
		t.Error("ProveNew true for an identity just Put")
	}
	// Forget gives the identity back.
	if err := s.Forget(c, "4"); err != nil {
		t.Fatal(err)
	}
	if !ProveNew(t, s, "e4", "carol") {
		t.Error("ProveNew false for a forgotten identity")
	}
	// Unverify stops the answers until the next Verified.
	s.Unverify()
	if ProveNew(t, s, "e-new", "new") {
		t.Error("ProveNew true after Unverify")
	}
	st, err := s.IndexState(c)
	if err != nil {
		t.Fatal(err)
	}
	s.Verified(st)
	if !ProveNew(t, s, "e-new", "new") {
		t.Error("ProveNew false after Verified again")
	}
	// A stale mark is never verified.
	s.Unverify()
	s.Verified(links.IndexState{Mark: "another-epoch", Epoch: st.Epoch})
	if ProveNew(t, s, "e-new", "new") {
		t.Error("ProveNew true after Verified of a stale mark")
	}
}

// testIndexMark: the mark's life: absent, building, complete; an Invalidate during a
// rebuild makes it fail; ProveNew stops at once when the mark goes.
func testIndexMark(t *testing.T, s indexed) {
	c := ctx(t)
	st, err := s.IndexState(c)
	if err != nil || st.Mark != "" || st.Epoch == "" {
		t.Fatalf("fresh IndexState = %+v %v, want no mark and an epoch", st, err)
	}
	tok, err := s.BeginRebuild(c)
	if err != nil || tok == "" {
		t.Fatalf("BeginRebuild = %q %v", tok, err)
	}
	if st, err := s.IndexState(c); err != nil || st.Mark != "" {
		t.Fatalf("IndexState while building = %+v %v, want no mark", st, err)
	}
	if ok, err := s.CompleteRebuild(c, "not-the-token", st.Epoch); err != nil || ok {
		t.Fatalf("CompleteRebuild with another token = %v %v, want false", ok, err)
	}
	if err := s.Invalidate(c); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.CompleteRebuild(c, tok, st.Epoch); err != nil || ok {
		t.Fatalf("CompleteRebuild after Invalidate = %v %v, want false", ok, err)
	}

	done := Rebuild(t, s, nil)
	if done.Epoch != st.Epoch {
		t.Fatalf("the epoch changed from %q to %q", st.Epoch, done.Epoch)
	}
	if !ProveNew(t, s, "e-new", "new") {
		t.Fatal("ProveNew false on a verified index")
	}
	// a rebuild that starts drops the trust at once
	tok, err = s.BeginRebuild(c)
	if err != nil {
		t.Fatal(err)
	}
	if ProveNew(t, s, "e-new", "new") {
		t.Error("ProveNew true while a rebuild runs")
	}
	if ok, err := s.CompleteRebuild(c, tok, st.Epoch); err != nil || !ok {
		t.Fatalf("CompleteRebuild = %v %v", ok, err)
	}
	if ProveNew(t, s, "e-new", "new") {
		t.Error("ProveNew true before the new mark was verified")
	}
	Rebuild(t, s, nil)
	if err := s.Invalidate(c); err != nil {
		t.Fatal(err)
	}
	if ProveNew(t, s, "e-new", "new") {
		t.Error("ProveNew true after Invalidate")
	}
	if st, err := s.IndexState(c); err != nil || st.Mark != "" {
		t.Fatalf("IndexState after Invalidate = %+v %v", st, err)
	}
}

// testIndexOrder: the order holds the visible ids in upstream id order (numeric ids
// numerically), follows Put and Forget, starts afresh with a rebuild, and is only
// answered while the index is trusted.
func testIndexOrder(t *testing.T, s indexed) {
	c := ctx(t)
	if _, _, ok := pageIDs(t, s, 0, 10); ok {
		t.Fatal("PageLinks answered before any rebuild")
	}
	if _, ok, err := s.Visible(c, []string{"9"}); ok || err != nil {
		t.Fatalf("Visible before any rebuild = %v %v", ok, err)
	}
	mustPut(t, s, links.Link{ID: "777", UserName: "stale"})
	Rebuild(t, s, []links.Link{{ID: "10", UserName: "ten"}, {ID: "9", UserName: "nine"}, {ID: "100", UserName: "hundred"},
		{ID: "2", UserName: "gone", Deleted: true}, {ID: "1000000000000000000000", UserName: "huge"}})
	ids, total, ok := pageIDs(t, s, 0, 10)
	if want := []string{"9", "10", "100", "1000000000000000000000"}; !ok || total != 4 || !slices.Equal(ids, want) {
		t.Fatalf("after the rebuild: %v total %d ok %v; want %v 4 (777 was dropped by the rebuild, 2 is DELETEd)", ids, total, ok, want)
	}
	ls, _, _, _ := s.PageLinks(c, 1, 1)
	if len(ls) != 1 || ls[0].UserName != "ten" {
		t.Fatalf("PageLinks(1, 1) = %+v, want the link of 10", ls)
	}
	if ids, total, ok := pageIDs(t, s, 0, 0); !ok || total != 4 || len(ids) != 0 {
		t.Fatalf("PageLinks(0, 0) = %v %d %v, want only the total", ids, total, ok)
	}

	// a create appends, a DELETE removes, a deactivation keeps the place, Forget
	// removes, a group's link is never listed
	for _, l := range []links.Link{{ID: "101", UserName: "new"}, {ID: "10", UserName: "ten", Deleted: true}, {ID: "9", UserName: "nine", Active: false},
		{ID: "\x1fgroup:5", UserName: "\x1fgroup:Staff", Group: true}, {ID: "11", UserName: "eleven"}, {ID: "11", UserName: "eleven", Group: true}} {
		mustPut(t, s, l)
	}
	if err := s.Forget(c, "100"); err != nil {
		t.Fatal(err)
	}
	if err := s.Forget(c, "100"); err != nil { // twice: the count must not go below
		t.Fatal(err)
	}
	want := []string{"9", "101", "1000000000000000000000"}
	if ids, total, _ := pageIDs(t, s, 0, 10); total != 3 || !slices.Equal(ids, want) {
		t.Fatalf("after the writes: %v total %d; want %v 3", ids, total, want)
	}
	if ids, total, _ := pageIDs(t, s, 1, 1); total != 3 || !slices.Equal(ids, []string{"101"}) {
		t.Fatalf("PageLinks(1, 1): %v total %d; want [101] 3", ids, total)
	}
	if ids, total, _ := pageIDs(t, s, 5, 10); total != 3 || len(ids) != 0 {
		t.Fatalf("past the end: %v total %d", ids, total)
	}
	known, ok, err := s.Visible(c, []string{"9", "10", "101", "nope", "\x1fgroup:5"})
	if err != nil || !ok || !known["9"] || known["10"] || !known["101"] || known["nope"] || known["\x1fgroup:5"] || len(known) != 5 {
		t.Fatalf("Visible = %v %v %v", known, ok, err)
	}
	if known, ok, err := s.Visible(c, nil); err != nil || !ok || len(known) != 0 {
		t.Fatalf("Visible(nil) = %v %v %v", known, ok, err)
	}

	// a dropped mark stops the answers
	if err := s.Invalidate(c); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := pageIDs(t, s, 0, 10); ok {
		t.Fatal("PageLinks answered without a mark")
	}
	if _, ok, _ := s.Visible(c, []string{"9"}); ok {
		t.Fatal("Visible answered without a mark")
	}
}

// testIndexOrderStrings: ids that are not numbers (UUIDs) sort as strings.
func testIndexOrderStrings(t *testing.T, s indexed) {
	Rebuild(t, s, []links.Link{{ID: "b-2"}, {ID: "a-10"}, {ID: "a-9"}, {ID: "B-1"}})
	if ids, _, _ := pageIDs(t, s, 0, 10); !slices.Equal(ids, []string{"B-1", "a-10", "a-9", "b-2"}) {
		t.Fatalf("order %v", ids)
	}
}

// testIndexIntent: an intent makes an identity no longer provably new, reads as a
// miss everywhere else, gives way to the link, and expires.
func testIndexIntent(t *testing.T, s indexed) {
	c := ctx(t)
	Rebuild(t, s, []links.Link{{ID: "1", ExternalID: "e1", UserName: "one"}})
	if !ProveNew(t, s, "e-new", "new") {
		t.Fatal("not new before the intent")
	}
	if err := s.Intend(c, "e-new", "New", time.Hour); err != nil {
		t.Fatal(err)
	}
	if ProveNew(t, s, "e-new", "other") || ProveNew(t, s, "e-other", "NEW") {
		t.Fatal("an identity being created is still provably new")
	}
	if id, ok, err := s.ByExternalID(c, "e-new"); ok || err != nil {
		t.Fatalf("an intent reads as a link: %q %v %v", id, ok, err)
	}
	if id, ok, err := s.ByUserName(c, "new"); ok || err != nil {
		t.Fatalf("an intent reads as a link: %q %v %v", id, ok, err)
	}
	if r, ok := s.(links.Resolver); ok {
		if _, ok, err := r.LinkByExternalID(c, "e-new"); ok || err != nil {
			t.Fatalf("an intent reads as a link: %v %v", ok, err)
		}
	}
	// an intent for a linked identity leaves the link alone
	if err := s.Intend(c, "e1", "ONE", time.Hour); err != nil {
		t.Fatal(err)
	}
	if id, ok, err := s.ByExternalID(c, "e1"); err != nil || !ok || id != "1" {
		t.Fatalf("an intent replaced a link: %q %v %v", id, ok, err)
	}
	mustPut(t, s, links.Link{ID: "7", ExternalID: "e-new", UserName: "new"})
	if id, ok, err := s.ByExternalID(c, "e-new"); err != nil || !ok || id != "7" {
		t.Fatalf("the link did not replace the intent: %q %v %v", id, ok, err)
	}
	// once the link is forgotten, no intent is left behind
	if err := s.Forget(c, "7"); err != nil {
		t.Fatal(err)
	}
	if !ProveNew(t, s, "e-new", "new") {
		t.Fatal("an intent outlived the link that replaced it")
	}
	// an intent whose create never wrote a link expires
	if err := s.Intend(c, "e-short", "short", 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if ProveNew(t, s, "e-short", "x") || ProveNew(t, s, "x", "Short") {
		t.Fatal("a short intent is not held")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !ProveNew(t, s, "e-short", "short") {
		if time.Now().After(deadline) {
			t.Fatal("an intent did not expire")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// and a new intent may take its place
	if err := s.Intend(c, "e-short", "short", time.Hour); err != nil {
		t.Fatal(err)
	}
	if ProveNew(t, s, "e-short", "short") {
		t.Fatal("a second intent after the first expired is not held")
	}
}
