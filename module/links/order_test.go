package links_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/links/linkstest"
)

func pageIDs(t *testing.T, ix links.Index, offset, limit int) ([]string, int, bool) {
	t.Helper()
	ls, total, ok, err := ix.PageLinks(context.Background(), offset, limit)
	if err != nil {
		t.Fatalf("PageLinks(%d, %d): %v", offset, limit, err)
	}
	ids := []string{}
	for _, l := range ls {
		ids = append(ids, l.ID)
	}
	return ids, total, ok
}

// TestRedisOrder: the order holds the visible ids in upstream id order (numeric ids
// numerically), follows Put and Forget, starts afresh with a rebuild, and is only
// answered while the index is trusted.
func TestRedisOrder(t *testing.T) {
	srv := testenv.RedisPrivate(t)
	s, _ := indexedStore(t, srv.Addr)
	ctx := context.Background()

	if _, _, ok := pageIDs(t, s, 0, 10); ok {
		t.Fatal("PageLinks answered before any rebuild")
	}
	if err := s.Put(ctx, links.Link{ID: "777", UserName: "stale"}); err != nil {
		t.Fatal(err)
	}
	linkstest.Rebuild(t, s, []links.Link{{ID: "10", UserName: "ten"}, {ID: "9", UserName: "nine"}, {ID: "100", UserName: "hundred"},
		{ID: "2", UserName: "gone", Deleted: true}})
	ids, total, ok := pageIDs(t, s, 0, 10)
	if !ok || total != 3 || !slices.Equal(ids, []string{"9", "10", "100"}) {
		t.Fatalf("after the rebuild: %v total %d ok %v; want [9 10 100] 3 (777 was dropped by the rebuild, 2 is DELETEd)", ids, total, ok)
	}
	ls, _, _, _ := s.PageLinks(ctx, 1, 1)
	if len(ls) != 1 || ls[0].UserName != "ten" {
		t.Fatalf("PageLinks(1, 1) = %+v, want the link of 10", ls)
	}

	// a create appends, a DELETE removes, a deactivation keeps the place, Forget
	// removes, a group's link is never listed (found by the drift report: it was)
	for _, l := range []links.Link{{ID: "101", UserName: "new"}, {ID: "10", UserName: "ten", Deleted: true}, {ID: "9", UserName: "nine", Active: false},
		{ID: "\x1fgroup:5", UserName: "\x1fgroup:Staff", Group: true}} {
		if err := s.Put(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Forget(ctx, "100"); err != nil {
		t.Fatal(err)
	}
	if ids, total, _ := pageIDs(t, s, 0, 10); total != 2 || !slices.Equal(ids, []string{"9", "101"}) {
		t.Fatalf("after the writes: %v total %d; want [9 101] 2", ids, total)
	}
	if ids, total, _ := pageIDs(t, s, 5, 10); total != 2 || len(ids) != 0 {
		t.Fatalf("past the end: %v total %d", ids, total)
	}
	known, ok, err := s.Visible(ctx, []string{"9", "10", "101", "nope"})
	if err != nil || !ok || !known["9"] || known["10"] || !known["101"] || known["nope"] {
		t.Fatalf("Visible = %v %v %v", known, ok, err)
	}

	// a dropped mark (a flush, another instance's Invalidate) stops the answers
	if err := s.Invalidate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := pageIDs(t, s, 0, 10); ok {
		t.Fatal("PageLinks answered without a mark")
	}
	if _, ok, _ := s.Visible(ctx, []string{"9"}); ok {
		t.Fatal("Visible answered without a mark")
	}
}

// TestRedisOrderStringIDs: ids that are not numbers (UUIDs) sort as strings.
func TestRedisOrderStringIDs(t *testing.T) {
	srv := testenv.RedisPrivate(t)
	s, _ := indexedStore(t, srv.Addr)
	linkstest.Rebuild(t, s, []links.Link{{ID: "b-2"}, {ID: "a-10"}, {ID: "a-9"}})
	if ids, _, _ := pageIDs(t, s, 0, 10); !slices.Equal(ids, []string{"a-10", "a-9", "b-2"}) {
		t.Fatalf("order %v", ids)
	}
}

// TestRedisIntent: an intent makes an identity no longer provably new, reads as a
// miss everywhere else, and gives way to the link.
func TestRedisIntent(t *testing.T) {
	srv := testenv.RedisPrivate(t)
	s, _ := indexedStore(t, srv.Addr)
	ctx := context.Background()
	linkstest.Rebuild(t, s, nil)
	if !linkstest.ProveNew(t, s, "e-new", "new") {
		t.Fatal("not new before the intent")
	}
	if err := s.Intend(ctx, "e-new", "New", time.Hour); err != nil {
		t.Fatal(err)
	}
	if linkstest.ProveNew(t, s, "e-new", "other") || linkstest.ProveNew(t, s, "e-other", "NEW") {
		t.Fatal("an identity being created is still provably new")
	}
	if _, ok, err := s.LinkByExternalID(ctx, "e-new"); ok || err != nil {
		t.Fatalf("an intent reads as a link: %v %v", ok, err)
	}
	if err := s.Put(ctx, links.Link{ID: "7", ExternalID: "e-new", UserName: "new"}); err != nil {
		t.Fatal(err)
	}
	if l, ok, _ := s.LinkByExternalID(ctx, "e-new"); !ok || l.ID != "7" {
		t.Fatalf("the link did not replace the intent: %+v %v", l, ok)
	}
}
