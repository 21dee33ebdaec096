package provision

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/adaptertest"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// indexedService returns a service over the reference adapter whose link index is
// complete and trusted, with n managed users.
func indexedService(t *testing.T, n int) (*Service, *fakeIndex) {
	t.Helper()
	s := newService(newMemory())
	x := newFakeIndex()
	s.Links = x
	for i := range n {
		if _, err := s.CreateUser(ctx, user(fmt.Sprintf("u%03d", i), fmt.Sprintf("e%03d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if !s.checkIndex(ctx, x, IndexEvents{}) {
		t.Fatal("the index is not trusted")
	}
	return s, x
}

func page(t *testing.T, s *Service, offset, limit int) ([]string, int) {
	t.Helper()
	recs, total, ok, err := s.UserPage(ctx, offset, limit)
	if err != nil || !ok {
		t.Fatalf("UserPage(%d, %d) = %v %v", offset, limit, ok, err)
	}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.User.ID
	}
	return ids, total
}

// TestUserPageCostsThePage: with the link index, a page reads its own users
// upstream and nothing else, at the start as at the end of a large directory.
func TestUserPageCostsThePage(t *testing.T) {
	s, _ := indexedService(t, 300)
	f := s.Adapter.(*adaptertest.Memory)
	for _, off := range []int{0, 150, 290} {
		before := f.UpstreamCalls()
		ids, total := page(t, s, off, 10)
		if n := f.UpstreamCalls() - before; n != 10 {
			t.Errorf("page at %d cost %d upstream calls, want 10 (one read per user)", off, n)
		}
		if total != 300 || len(ids) != 10 {
			t.Errorf("page at %d: %d users, total %d", off, len(ids), total)
		}
	}
	if ids, total := page(t, s, 0, 0); len(ids) != 0 || total != 300 {
		t.Errorf("count=0: %v total %d", ids, total)
	}
	if ids, total := page(t, s, 400, 10); len(ids) != 0 || total != 300 {
		t.Errorf("past the end: %v total %d", ids, total)
	}
}

// batchMemory is the reference adapter with a batch read (adapters.UserBatch) made
// of one ListUsers call, which leaves out the ids in skip (out of its reach).
type batchMemory struct {
	*adaptertest.Memory
	skip map[string]bool
}

func (b *batchMemory) ReadUsers(ctx context.Context, ids []string) ([]adapters.Record, error) {
	all, _, err := b.ListUsers(ctx, adapters.Page{Limit: 1 << 20})
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = !b.skip[id]
	}
	var out []adapters.Record
	for _, r := range all {
		if want[r.User.ID] {
			out = append(out, r)
		}
	}
	return out, nil
}

// TestUserPageReadsInABatch: with an adapter that reads many users at once, a page
// costs that one call; a user the batch does not return is read alone, so what the
// page holds (and what it heals) is the same as with one read per user.
func TestUserPageReadsInABatch(t *testing.T) {
	s, x := indexedService(t, 300)
	m := s.Adapter.(*adaptertest.Memory)
	b := &batchMemory{Memory: m, skip: map[string]bool{}}
	s.Adapter = b
	before := m.UpstreamCalls()
	ids, total := page(t, s, 150, 100)
	if n := m.UpstreamCalls() - before; n != 1 {
		t.Errorf("a page of 100 cost %d upstream calls, want 1 (the batch)", n)
	}
	if total != 300 || len(ids) != 100 || ids[0] != "151" || ids[99] != "250" {
		t.Fatalf("page: %d users from %v, total %d", len(ids), ids[:1], total)
	}
	m.EditUser("152", func(r *adapters.Record) { r.Managed = false })
	m.EditUser("153", func(r *adapters.Record) { r.Deleted = true })
	b.skip["154"] = true
	before = m.UpstreamCalls()
	ids, total = page(t, s, 150, 5)
	// 152 (no longer managed) is not in the batch either: read alone, like 154
	if n := m.UpstreamCalls() - before; n != 3 {
		t.Errorf("%d upstream calls, want 3 (the batch, then 152 and 154 alone)", n)
	}
	if fmt.Sprint(ids) != "[151 154 155]" || total != 298 {
		t.Errorf("page %v total %d, want [151 154 155] 298", ids, total)
	}
	if known, _, _ := x.Visible(ctx, []string{"152", "153", "154"}); known["152"] || known["153"] || !known["154"] {
		t.Errorf("the index after the page: %v", known)
	}
	var told []error
	s.OnBatchFailed = func(err error) { told = append(told, err) }
	m.Fail("ListUsers", adapters.UnavailableFor(0, "down"))
	if ids, _ := page(t, s, 0, 3); fmt.Sprint(ids) != "[1 2 3]" {
		t.Errorf("a failed batch read: %v, want the users read one by one", ids)
	}
	if len(told) != 1 {
		t.Errorf("the failed batch was told %d times, want once", len(told))
	}
}

// TestUserPageImportSeesEveryoneOnce: Okta's import pages with startIndex += count
// while the IdP creates and deactivates users; every user is seen exactly once, the
// new ones included.
func TestUserPageImportSeesEveryoneOnce(t *testing.T) {
	s, _ := indexedService(t, 95)
	want := map[string]bool{}
	seen := map[string]int{}
	for off, round := 0, 0; ; off, round = off+10, round+1 {
		ids, total := page(t, s, off, 10)
		for _, id := range ids {
			seen[id]++
		}
		if round < 5 { // between pages: two creates, one deactivation behind and one ahead
			for k := range 2 {
				r, err := s.CreateUser(ctx, user(fmt.Sprintf("new%d-%d", round, k), fmt.Sprintf("enew%d-%d", round, k)))
				if err != nil {
					t.Fatal(err)
				}
				want[r.User.ID] = true
			}
			for _, id := range []string{ids[0], fmt.Sprint(off + 30)} {
				if _, err := s.PatchUser(ctx, id, mustPatch(t, scim.UserResourceType, `{"op":"replace","value":{"active":false}}`), "", scim.RenderOptions{}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if off+10 >= total {
			break
		}
	}
	all, err := s.QueryUsers(ctx, nil, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range all {
		want[r.User.ID] = true
	}
	if len(want) != 105 {
		t.Fatalf("%d users, want 105", len(want))
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("user %s seen %d times", id, seen[id])
		}
	}
	if len(seen) != len(want) {
		t.Errorf("seen %d users, want %d", len(seen), len(want))
	}
}

// TestUserPageHeals: a user the index lists who is gone, no longer managed or
// DELETEd leaves the page and the index; a failed read fails the page.
func TestUserPageHeals(t *testing.T) {
	s, x := indexedService(t, 6)
	m := s.Adapter.(*adaptertest.Memory)
	if err := m.DeleteUser(ctx, "2"); err != nil { // removed in the application
		t.Fatal(err)
	}
	m.EditUser("3", func(r *adapters.Record) { r.Managed = false })
	m.EditUser("4", func(r *adapters.Record) { r.Deleted = true })
	ids, total := page(t, s, 0, 10)
	if fmt.Sprint(ids) != "[1 5 6]" || total != 3 {
		t.Fatalf("page %v total %d, want [1 5 6] 3", ids, total)
	}
	if known, _, _ := x.Visible(ctx, []string{"2", "3", "4", "5"}); known["2"] || known["3"] || known["4"] || !known["5"] {
		t.Errorf("the index still lists what left: %v", known)
	}
	m.Fail("FindUsers", adapters.UnavailableFor(0, "down"))
	if _, _, _, err := s.UserPage(ctx, 0, 10); status(t, err) != http.StatusServiceUnavailable {
		t.Errorf("a failed read answered %v, want 503", err)
	}
}

// TestScanBound: a query the upstream cannot answer is evaluated over at most
// MaxScan users; beyond, 400 tooMany, or 503 while the link index that would serve
// a plain listing is not trusted yet.
func TestScanBound(t *testing.T) {
	s := newService(newMemory())
	for i := range 6 {
		if _, err := s.CreateUser(ctx, user(fmt.Sprintf("u%d", i), fmt.Sprintf("e%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	s.MaxScan = 5
	flt, err := scim.ParseFilter(`userName sw "u"`, scim.UserResourceType)
	if err != nil {
		t.Fatal(err)
	}
	render := func(u *scim.User) scim.Resource { return scim.UserToResource(u, scim.RenderOptions{}) }
	for _, tc := range []struct {
		name   string
		filter scim.Expr
		sorted bool
	}{{"filter", flt, false}, {"sortBy", nil, true}, {"plain, no index", nil, false}} {
		_, err := s.QueryUsers(ctx, tc.filter, render, tc.sorted)
		var se *scim.Error
		if status(t, err) != http.StatusBadRequest || !errors.As(err, &se) || se.ScimType != scim.ErrTooMany {
			t.Errorf("%s over 6 users with max_scan 5: %v, want 400 tooMany", tc.name, err)
		}
	}
	eq, _ := scim.ParseFilter(`userName eq "u4"`, scim.UserResourceType)
	if got, err := s.QueryUsers(ctx, eq, render, false); err != nil || len(got) != 1 {
		t.Errorf("a pushed-down equality is not bounded: %v %v", got, err)
	}
	s.Links = newFakeIndex() // an index not built yet
	if _, err := s.QueryUsers(ctx, nil, render, false); status(t, err) != http.StatusServiceUnavailable {
		t.Errorf("plain listing while the index is not ready: %v, want 503", err)
	}
	s.MaxScan = 6
	if got, err := s.QueryUsers(ctx, flt, render, false); err != nil || len(got) != 6 {
		t.Errorf("within max_scan: %d users, %v", len(got), err)
	}

	// a trusted index knows the count: the refusal reads nothing upstream
	s, _ = indexedService(t, 6)
	s.MaxScan = 5
	m := s.Adapter.(*adaptertest.Memory)
	lists := m.Calls("ListUsers")
	if _, err := s.QueryUsers(ctx, flt, render, false); status(t, err) != http.StatusBadRequest {
		t.Errorf("filter over 6 indexed users with max_scan 5: %v, want 400", err)
	}
	if n := m.Calls("ListUsers") - lists; n != 0 {
		t.Errorf("the refusal listed the upstream %d times, want 0", n)
	}
}

// TestMembersCheckedAgainstTheIndex: with a trusted index, a group of many members
// costs no listing of the users, and one read per member only for the safety rule
// (an administrator or a protected account is never added or removed).
func TestMembersCheckedAgainstTheIndex(t *testing.T) {
	s, _ := indexedService(t, 60)
	m := s.Adapter.(*adaptertest.Memory)
	s.Groups = m
	ids := make([]string, 0, 61)
	for i := 1; i <= 60; i++ {
		ids = append(ids, fmt.Sprint(i))
	}
	ids = append(ids, "999")
	finds, lists := m.Calls("FindUsers"), m.Calls("ListUsers")
	g, err := s.CreateGroup(ctx, &scim.Group{DisplayName: "many", Members: membersOf(ids)})
	if err != nil {
		t.Fatal(err)
	}
	if n := m.Calls("ListUsers") - lists; n != 0 {
		t.Errorf("checking 61 members listed the users %d times, want 0", n)
	}
	if n := m.Calls("FindUsers") - finds; n != 61 {
		t.Errorf("checking 61 members cost %d user reads, want 61 (one each, for the safety rule)", n)
	}
	if got := len(m.Members(g.ID)); got != 60 {
		t.Errorf("%d members, want 60 (999 is no user)", got)
	}
}
