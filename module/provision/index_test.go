package provision

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// fakeIndex is an in-process links.Index over the in-process store; the real one
// (Redis) has its own tests in package links and end to end.
type fakeIndex struct {
	*links.Memory
	swapMu                sync.Mutex // one Swap at a time: compare, then Put
	mu                    sync.Mutex
	mark, epoch, verified string
	building              string
	changed               chan struct{}
	order                 map[string]bool // the visible ids
	intents               map[string]bool // "ext:"+externalId, "un:"+lower(userName)
}

func (x *fakeIndex) Intend(_ context.Context, ext, un string, _ time.Duration) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if ext != "" {
		x.intents["ext:"+ext] = true
	}
	if un != "" {
		x.intents["un:"+strings.ToLower(un)] = true
	}
	return nil
}

func (x *fakeIndex) trusted() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.verified != "" && x.mark == x.verified
}

func (x *fakeIndex) Put(ctx context.Context, l links.Link) error {
	x.mu.Lock()
	delete(x.intents, "ext:"+l.ExternalID) // the link replaces the intent, as in Redis
	delete(x.intents, "un:"+strings.ToLower(l.UserName))
	if l.Deleted {
		delete(x.order, l.ID)
	} else if l.ID != "" {
		x.order[l.ID] = true
	}
	x.mu.Unlock()
	return x.Memory.Put(ctx, l)
}

func (x *fakeIndex) Forget(ctx context.Context, id string) error {
	x.mu.Lock()
	delete(x.order, id)
	x.mu.Unlock()
	return x.Memory.Forget(ctx, id)
}

func (x *fakeIndex) PageLinks(ctx context.Context, offset, limit int) ([]links.Link, int, bool, error) {
	if !x.trusted() {
		return nil, 0, false, nil
	}
	x.mu.Lock()
	ids := slices.SortedFunc(maps.Keys(x.order), adapters.CompareIDs)
	x.mu.Unlock()
	out := []links.Link{}
	for _, id := range ids[min(offset, len(ids)):min(offset+limit, len(ids))] {
		l, ok, _ := x.Get(ctx, id)
		if !ok {
			l = links.Link{ID: id}
		}
		out = append(out, l)
	}
	return out, len(ids), true, nil
}

func (x *fakeIndex) Visible(_ context.Context, ids []string) (map[string]bool, bool, error) {
	if !x.trusted() {
		return nil, false, nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	known := map[string]bool{}
	for _, id := range ids {
		known[id] = x.order[id]
	}
	return known, true, nil
}

func newFakeIndex() *fakeIndex {
	return &fakeIndex{Memory: links.NewMemory(time.Hour, 0), epoch: "run-1", changed: make(chan struct{}, 1), order: map[string]bool{}, intents: map[string]bool{}}
}

func (x *fakeIndex) ProveNew(ctx context.Context, ext, un string) (bool, error) {
	if !x.trusted() {
		return false, nil
	}
	x.mu.Lock()
	pending := x.intents["ext:"+ext] || x.intents["un:"+strings.ToLower(un)]
	x.mu.Unlock()
	if pending {
		return false, nil
	}
	if _, hit, _ := x.ByExternalID(ctx, ext); hit && ext != "" {
		return false, nil
	}
	_, hit, _ := x.ByUserName(ctx, un)
	return !hit, nil
}

func (x *fakeIndex) IndexState(context.Context) (links.IndexState, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return links.IndexState{Mark: x.mark, Epoch: x.epoch}, nil
}

func (x *fakeIndex) Verified(st links.IndexState) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if st.Mark != "" && st.Mark == st.Epoch {
		x.verified = st.Mark
	}
}

func (x *fakeIndex) Unverify() { x.mu.Lock(); x.verified = ""; x.mu.Unlock() }

func (x *fakeIndex) BeginRebuild(context.Context) (string, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.mark, x.verified, x.building = "", "", "tok"
	clear(x.order)
	return "tok", nil
}

// Swap is Memory's, keeping the order and the intents as Put does.
func (x *fakeIndex) Swap(ctx context.Context, old, l links.Link) (bool, error) {
	x.swapMu.Lock()
	defer x.swapMu.Unlock()
	cur, ok, err := x.Memory.Get(ctx, l.ID)
	if err != nil || (ok && cur != old) || (!ok && old.ID != "") {
		return false, err
	}
	return true, x.Put(ctx, l)
}

func (x *fakeIndex) SwapAll(ctx context.Context, olds, ls []links.Link) (int, error) {
	n := 0
	for i := range ls {
		ok, err := x.Swap(ctx, olds[i], ls[i])
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

func (x *fakeIndex) PutAll(ctx context.Context, ls []links.Link) error {
	for _, l := range ls {
		if err := x.Put(ctx, l); err != nil {
			return err
		}
	}
	return nil
}

func (x *fakeIndex) CompleteRebuild(_ context.Context, tok, epoch string) (bool, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.building != tok {
		return false, nil
	}
	x.building, x.mark = "", epoch
	return true, nil
}

func (x *fakeIndex) Invalidate(context.Context) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.mark, x.verified, x.building = "", "", ""
	return nil
}

func (x *fakeIndex) Changed() <-chan struct{} { return x.changed }

var _ links.Index = (*fakeIndex)(nil)

// TestIndexedCreate: with a complete index, a POST of a new identity costs the
// upstream exactly its create; names the index does not know but the upstream
// refuses still reach adoption or a 409; and deleted users are still reactivated.
func TestIndexedCreate(t *testing.T) {
	f := newMemory()
	x := newFakeIndex()
	s := newService(f)
	s.Links = x
	s.LinkExisting = LinkUserName

	// before the index exists: one upstream user, managed, then SCIM-deleted
	gone, err := s.CreateUser(ctx, user("gone", "e-gone"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, gone.User.ID, ""); err != nil {
		t.Fatal(err)
	}
	unmanaged := f.AddUnmanaged("legacy", "legacy@example.com", false)
	x.Memory = links.NewMemory(time.Hour, 0) // the store lost everything

	var events []string
	ev := IndexEvents{
		Complete:    func(n int, _ time.Duration) { events = append(events, "complete") },
		Invalidated: func(string) { events = append(events, "invalidated") },
		Failed:      func(err error) { t.Errorf("index failed: %v", err) },
	}
	if !s.checkIndex(ctx, x, ev) {
		t.Fatal("the first check did not build a trusted index")
	}
	if l, ok, _ := x.Get(ctx, gone.User.ID); !ok || !l.Deleted || l.ExternalID != "e-gone" {
		t.Fatalf("the rebuild did not restore the deleted user's link: %+v %v", l, ok)
	}

	calls := f.UpstreamCalls()
	r, err := s.CreateUser(ctx, user("fresh", "e-fresh"))
	if err != nil {
		t.Fatal(err)
	}
	if n := f.UpstreamCalls() - calls; n != 1 {
		t.Errorf("a new identity cost %d upstream calls, want 1 (the create)", n)
	}
	if _, ok, _ := x.ByExternalID(ctx, "e-fresh"); !ok {
		t.Error("the create did not write its link")
	}

	// The index proves nothing about unmanaged users: the upstream refuses the
	// name, and the full path adopts.
	r, err = s.CreateUser(ctx, user("legacy", "e-legacy"))
	if err != nil || r.User.ID != unmanaged {
		t.Fatalf("adoption through the index path = %v, %v (want id %s)", r.User, err, unmanaged)
	}

	// A deleted user's externalId is in the index: the POST reactivates the same
	// account even under a new userName and e-mail.
	r, err = s.CreateUser(ctx, user("renamed", "e-gone"))
	if err != nil || r.User.ID != gone.User.ID || !r.User.Active {
		t.Fatalf("reactivation through the index = %+v, %v (want id %s)", r.User, err, gone.User.ID)
	}

	// A restart of the store's server: the mark is stale and is rebuilt.
	x.mu.Lock()
	x.epoch = "run-2"
	x.mu.Unlock()
	if ok, _ := x.ProveNew(ctx, "e-x", "x"); !ok {
		t.Fatal("fake: the verified mark should still answer until the maintainer checks")
	}
	if !s.checkIndex(ctx, x, ev) {
		t.Fatal("no trusted index after the epoch changed")
	}
	if want := []string{"complete", "invalidated", "complete"}; len(events) != 3 || events[1] != want[1] {
		t.Fatalf("events = %v, want %v", events, want)
	}
	calls = f.UpstreamCalls()
	if _, err := s.CreateUser(ctx, user("fresh2", "e-fresh2")); err != nil {
		t.Fatal(err)
	}
	if n := f.UpstreamCalls() - calls; n != 1 {
		t.Errorf("after the rebuild a new identity cost %d upstream calls, want 1", n)
	}
}

// TestUntrustedIndexTakesTheFullPath: without a verified mark the create looks the
// identity up upstream, as without an index.
func TestUntrustedIndexTakesTheFullPath(t *testing.T) {
	f := newMemory()
	s := newService(f)
	s.Links = newFakeIndex()
	calls := f.UpstreamCalls()
	if _, err := s.CreateUser(ctx, user("a", "e-a")); err != nil {
		t.Fatal(err)
	}
	if n := f.UpstreamCalls() - calls; n < 3 {
		t.Errorf("an unverified index cost %d upstream calls; the lookups were skipped", n)
	}
}

// TestIndexedExternalIdMiss: with a complete index, a filter on an unknown externalId
// is answered without the upstream; an unknown userName still asks the upstream
// (users can rename themselves there).
func TestIndexedExternalIdMiss(t *testing.T) {
	f := newMemory()
	x := newFakeIndex()
	s := newService(f)
	s.Links = x
	if _, err := s.CreateUser(ctx, user("known", "e-known")); err != nil {
		t.Fatal(err)
	}
	if !s.checkIndex(ctx, x, IndexEvents{}) {
		t.Fatal("no trusted index")
	}
	render := func(u *scim.User) scim.Resource { return scim.UserToResource(u, scim.RenderOptions{}) }
	query := func(filter string) (int, int64) {
		t.Helper()
		e, err := scim.ParseFilter(filter, scim.UserResourceType)
		if err != nil {
			t.Fatal(err)
		}
		calls := f.UpstreamCalls()
		recs, err := s.QueryUsers(ctx, e, render, false)
		if err != nil {
			t.Fatal(err)
		}
		return len(recs), f.UpstreamCalls() - calls
	}
	if n, calls := query(`externalId eq "e-unknown"`); n != 0 || calls != 0 {
		t.Errorf("unknown externalId: %d users, %d upstream calls; want 0, 0", n, calls)
	}
	if n, calls := query(`externalId eq "e-known"`); n != 1 || calls != 1 {
		t.Errorf("known externalId: %d users, %d upstream calls; want 1, 1", n, calls)
	}
	if n, calls := query(`userName eq "unknown"`); n != 0 || calls == 0 {
		t.Errorf("unknown userName: %d users, %d upstream calls; want 0 and an upstream lookup", n, calls)
	}
	x.Unverify()
	if n, calls := query(`externalId eq "e-unknown"`); n != 0 || calls == 0 {
		t.Errorf("unknown externalId, index not trusted: %d users, %d upstream calls; want an upstream lookup", n, calls)
	}
}

// TestIndexRefresh: a link lost where no mark could record it (the blind spot) comes
// back with the periodic refresh, which leaves the mark alone; one refresh per period
// across callers, and none right after a rebuild.
func TestIndexRefresh(t *testing.T) {
	defer func(d time.Duration) { indexRefreshEvery = d }(indexRefreshEvery)
	indexRefreshEvery = 200 * time.Millisecond
	f := newMemory()
	x := newFakeIndex()
	s := newService(f)
	s.Links = x
	u, err := s.CreateUser(ctx, user("kept", "e-kept"))
	if err != nil {
		t.Fatal(err)
	}
	refreshed := 0
	ev := IndexEvents{Refreshed: func(int, time.Duration) { refreshed++ }, Failed: func(err error) { t.Error(err) }}
	if !s.checkIndex(ctx, x, ev) {
		t.Fatal("no trusted index")
	}
	s.refreshIndex(ctx, x, ev)
	if refreshed != 0 {
		t.Fatal("a refresh ran right after the rebuild")
	}
	// the blind spot: the link vanished, the mark stayed
	if err := x.Forget(ctx, u.User.ID); err != nil {
		t.Fatal(err)
	}
	if ok, _ := x.ProveNew(ctx, "e-kept", "someone-else"); !ok {
		t.Fatal("fake: the lost link should make the externalId look new")
	}
	time.Sleep(indexRefreshEvery + 50*time.Millisecond) // the period passes
	s.refreshIndex(ctx, x, ev)
	if refreshed != 1 {
		t.Fatalf("%d refreshes, want 1", refreshed)
	}
	if ok, _ := x.ProveNew(ctx, "e-kept", "someone-else"); ok {
		t.Error("the refresh did not bring the lost link back")
	}
	s.refreshIndex(ctx, x, ev)
	if refreshed != 1 {
		t.Errorf("a second refresh within the period ran")
	}
	if st, _ := x.IndexState(ctx); st.Mark == "" {
		t.Error("the refresh dropped the mark")
	}
}
