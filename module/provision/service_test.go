package provision

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// fakeAdapter is an in-memory upstream for unit tests of the provisioning rules.
type fakeAdapter struct {
	mu      sync.Mutex
	next    int
	users   map[string]*fakeUser
	creates atomic.Int64
	calls   atomic.Int64
	delay   time.Duration
}

type fakeUser struct {
	u       scim.User
	managed bool
	deleted bool
	admin   bool
}

func newFake() *fakeAdapter { return &fakeAdapter{users: map[string]*fakeUser{}} }

func (f *fakeAdapter) Info() adapters.Info {
	return adapters.Info{Name: "fake", MaxPageSize: 2}
}

func (f *fakeAdapter) rec(fu *fakeUser) adapters.Record {
	u := fu.u
	u.Meta.Version = fmt.Sprintf("v-%s-%t-%s-%s", u.UserName, u.Active, u.ExternalID, u.DisplayName)
	return adapters.Record{User: &u, Managed: fu.managed, Deleted: fu.deleted, Admin: fu.admin}
}

func (f *fakeAdapter) FindUsers(_ context.Context, q adapters.Lookup) ([]adapters.Record, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []adapters.Record
	for _, fu := range f.users {
		var hit bool
		switch q.Kind {
		case adapters.ByID:
			hit = fu.u.ID == q.Value
		case adapters.ByUserName:
			hit = strings.EqualFold(fu.u.UserName, q.Value)
		case adapters.ByExternalID:
			hit = fu.managed && fu.u.ExternalID == q.Value
		case adapters.ByEmail:
			hit = strings.EqualFold(fu.u.PrimaryEmail(), q.Value)
		}
		if hit {
			out = append(out, f.rec(fu))
		}
	}
	return out, nil
}

func (f *fakeAdapter) ListUsers(_ context.Context, p adapters.Page) ([]adapters.Record, int, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	var all []adapters.Record
	for i := 1; i <= f.next; i++ {
		if fu, ok := f.users[strconv.Itoa(i)]; ok && fu.managed {
			all = append(all, f.rec(fu))
		}
	}
	end := min(p.Offset+p.Limit, len(all))
	if p.Offset >= len(all) {
		return nil, len(all), nil
	}
	return all[p.Offset:end], len(all), nil
}

func (f *fakeAdapter) CreateUser(_ context.Context, u *scim.User) (adapters.Record, error) {
	f.calls.Add(1)
	time.Sleep(f.delay) // widens race windows in concurrency tests
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fu := range f.users {
		if strings.EqualFold(fu.u.UserName, u.UserName) {
			return adapters.Record{}, scim.Conflict("fake: username taken")
		}
	}
	f.creates.Add(1)
	f.next++
	nu := *u
	nu.ID = strconv.Itoa(f.next)
	nu.Password = ""
	fu := &fakeUser{u: nu, managed: true}
	f.users[nu.ID] = fu
	return f.rec(fu), nil
}

func (f *fakeAdapter) UpdateUser(_ context.Context, id string, u *scim.User, st adapters.State) (adapters.Record, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	fu, ok := f.users[id]
	if !ok {
		return adapters.Record{}, adapters.ErrNotFound
	}
	nu := *u
	nu.ID = id
	nu.Password = ""
	fu.u, fu.managed, fu.deleted = nu, st.Managed, st.Deleted
	return f.rec(fu), nil
}

func (f *fakeAdapter) DeleteUser(_ context.Context, id string) error {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.users[id]; !ok {
		return adapters.ErrNotFound
	}
	delete(f.users, id)
	return nil
}

func (f *fakeAdapter) addUnmanaged(name, email string, admin bool) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	id := strconv.Itoa(f.next)
	f.users[id] = &fakeUser{u: scim.User{ID: id, UserName: name, Active: true,
		Emails: []scim.MultiValue{{Value: email, Primary: true}}}, admin: admin}
	return id
}

func newService(f *fakeAdapter) *Service {
	return &Service{Adapter: f, Links: links.NewMemory(time.Minute, 0), Deprovision: DeprovisionBlock, LinkExisting: LinkOff, MaxResults: 100}
}

func user(name, ext string) *scim.User {
	return &scim.User{UserName: name, ExternalID: ext, Active: true,
		Emails: []scim.MultiValue{{Value: name + "@example.com", Primary: true, Type: "work"}}}
}

func status(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var se *scim.Error
	if !errors.As(err, &se) {
		t.Fatalf("error %v is not a *scim.Error", err)
	}
	return se.Status
}

var ctx = context.Background()

func TestCreateDuplicateAndReactivate(t *testing.T) {
	f := newFake()
	s := newService(f)
	rec, err := s.CreateUser(ctx, user("alice", "ext-a"))
	if err != nil {
		t.Fatal(err)
	}
	id := rec.User.ID
	// duplicate by userName (any case) or externalId: 409
	if st := status(t, func() error { _, err := s.CreateUser(ctx, user("ALICE", "ext-other")); return err }()); st != 409 {
		t.Fatalf("duplicate userName: %d", st)
	}
	if st := status(t, func() error { _, err := s.CreateUser(ctx, user("alice2", "ext-a")); return err }()); st != 409 {
		t.Fatalf("duplicate externalId: %d", st)
	}
	// deprovision by PATCH, re-add by POST: same id, active again
	ops, err := scim.ParsePatch([]byte(`{"schemas":["`+scim.MessagePatchOp+`"],"Operations":[{"op":"replace","value":{"active":false}}]}`), scim.UserResourceType)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s.PatchUser(ctx, id, ops, "", scim.RenderOptions{}); err != nil || r.User.Active {
		t.Fatalf("deprovision: %v %+v", err, r.User)
	}
	again, err := s.CreateUser(ctx, user("alice", "ext-a"))
	if err != nil || again.User.ID != id || !again.User.Active {
		t.Fatalf("re-add: %v %+v", err, again.User)
	}
	// DELETE in block mode hides the user and keeps it; POST brings it back
	if err := s.DeleteUser(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetUser(ctx, id); status(t, err) != 404 {
		t.Fatalf("GET after DELETE: %v", err)
	}
	if err := s.DeleteUser(ctx, id, ""); status(t, err) != 404 {
		t.Fatalf("second DELETE: %v", err)
	}
	if f.users[id] == nil || f.users[id].u.Active {
		t.Fatal("block mode must keep the upstream user, blocked")
	}
	back, err := s.CreateUser(ctx, user("alice", "ext-a"))
	if err != nil || back.User.ID != id || back.Deleted {
		t.Fatalf("re-add after DELETE: %v %+v", err, back)
	}
	if n := f.creates.Load(); n != 1 {
		t.Fatalf("%d upstream creates, want 1", n)
	}
}

func TestDeleteModeRemovesUpstream(t *testing.T) {
	f := newFake()
	s := newService(f)
	s.Deprovision = DeprovisionDelete
	rec, _ := s.CreateUser(ctx, user("bob", "ext-b"))
	if err := s.DeleteUser(ctx, rec.User.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.users[rec.User.ID]; ok {
		t.Fatal("delete mode kept the upstream user")
	}
}

func TestScopeAndAdoption(t *testing.T) {
	f := newFake()
	s := newService(f)
	hand := f.addUnmanaged("carol", "carol@example.com", false)
	admin := f.addUnmanaged("root", "root@example.com", true)
	if _, err := s.GetUser(ctx, hand); status(t, err) != 404 {
		t.Fatal("unmanaged user visible by id")
	}
	got, err := s.QueryUsers(ctx, nil, func(u *scim.User) scim.Resource { return scim.UserToResource(u, scim.RenderOptions{}) })
	if err != nil || len(got) != 0 {
		t.Fatalf("list shows unmanaged users: %v %d", err, len(got))
	}
	_, err = s.CreateUser(ctx, user("carol", "ext-c"))
	if status(t, err) != 409 || !strings.Contains(err.Error(), "link_existing") {
		t.Fatalf("POST over an unmanaged user: %v", err)
	}
	// same e-mail, other userName
	u := user("carol2", "ext-c")
	u.Emails[0].Value = "carol@example.com"
	if _, err := s.CreateUser(ctx, u); status(t, err) != 409 {
		t.Fatalf("POST with an unmanaged user's e-mail: %v", err)
	}
	s.LinkExisting = LinkEmail
	rec, err := s.CreateUser(ctx, u)
	if err != nil || rec.User.ID != hand || !f.users[hand].managed {
		t.Fatalf("adoption by e-mail: %v %+v", err, rec)
	}
	s.LinkExisting = LinkUserName
	if _, err := s.CreateUser(ctx, user("root", "ext-r")); status(t, err) != 409 || f.users[admin].managed {
		t.Fatalf("an admin was adopted: %v", err)
	}
}

func TestIfMatch(t *testing.T) {
	f := newFake()
	s := newService(f)
	rec, _ := s.CreateUser(ctx, user("dave", "ext-d"))
	ops, _ := scim.ParsePatch([]byte(`{"schemas":["`+scim.MessagePatchOp+`"],"Operations":[{"op":"replace","path":"displayName","value":"D"}]}`), scim.UserResourceType)
	if _, err := s.PatchUser(ctx, rec.User.ID, ops, `W/"stale"`, scim.RenderOptions{}); status(t, err) != http.StatusPreconditionFailed {
		t.Fatalf("stale If-Match: %v", err)
	}
	if _, err := s.PatchUser(ctx, rec.User.ID, ops, scim.ETag(rec.User.Meta.Version), scim.RenderOptions{}); err != nil {
		t.Fatalf("current If-Match: %v", err)
	}
}

func TestNoOpPatchSkipsUpstreamWrite(t *testing.T) {
	f := newFake()
	s := newService(f)
	rec, _ := s.CreateUser(ctx, user("erin", "ext-e"))
	ops, _ := scim.ParsePatch([]byte(`{"schemas":["`+scim.MessagePatchOp+`"],"Operations":[{"op":"replace","value":{"active":true}}]}`), scim.UserResourceType)
	before := f.calls.Load()
	if _, err := s.PatchUser(ctx, rec.User.ID, ops, "", scim.RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := f.calls.Load() - before; n != 1 {
		t.Fatalf("no-op PATCH made %d upstream calls, want 1 (the read)", n)
	}
}

// Racing POSTs of one identity create exactly one upstream user.
func TestConcurrentCreatesOneUser(t *testing.T) {
	f := newFake()
	f.delay = 5 * time.Millisecond
	s := newService(f)
	var wg sync.WaitGroup
	var ok, conflict atomic.Int64
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.CreateUser(ctx, user("frank", "ext-f"))
			switch {
			case err == nil:
				ok.Add(1)
			case status(t, err) == 409:
				conflict.Add(1)
			default:
				t.Errorf("unexpected %v", err)
			}
		}()
	}
	wg.Wait()
	if f.creates.Load() != 1 || ok.Load() != 1 || conflict.Load() != 19 {
		t.Fatalf("creates=%d ok=%d conflict=%d", f.creates.Load(), ok.Load(), conflict.Load())
	}
}

func TestListPagesThroughAdapter(t *testing.T) {
	f := newFake()
	s := newService(f)
	for i := range 5 {
		if _, err := s.CreateUser(ctx, user(fmt.Sprintf("u%d", i), fmt.Sprintf("e%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	render := func(u *scim.User) scim.Resource { return scim.UserToResource(u, scim.RenderOptions{}) }
	all, err := s.QueryUsers(ctx, nil, render)
	if err != nil || len(all) != 5 {
		t.Fatalf("list: %v %d", err, len(all))
	}
	flt, _ := scim.ParseFilter(`userName sw "u" and not (userName eq "u3")`, scim.UserResourceType)
	some, err := s.QueryUsers(ctx, flt, render)
	if err != nil || len(some) != 4 {
		t.Fatalf("filtered list: %v %d", err, len(some))
	}
	eq, _ := scim.ParseFilter(`externalId eq "e2"`, scim.UserResourceType)
	before := f.calls.Load()
	one, err := s.QueryUsers(ctx, eq, render)
	if err != nil || len(one) != 1 || one[0].User.UserName != "u2" {
		t.Fatalf("pushed-down filter: %v %v", err, one)
	}
	if n := f.calls.Load() - before; n != 1 {
		t.Fatalf("a warm externalId lookup made %d upstream calls, want 1", n)
	}
}

// looseFind answers every lookup with every user, like an adapter whose lookup is
// broader than the filter (Gitea's e-mail-shaped userName lookup searches e-mails).
type looseFind struct{ *fakeAdapter }

func (l looseFind) FindUsers(ctx context.Context, q adapters.Lookup) ([]adapters.Record, error) {
	all, _, err := l.ListUsers(ctx, adapters.Page{Limit: 1000})
	return all, err
}

// TestLoneEqualityFilterChecksTheRecord: a lone `userName|externalId|id eq` is checked
// on each candidate without rendering it, with the RFC 7643 comparison; other filters
// still go through Match.
func TestLoneEqualityFilterChecksTheRecord(t *testing.T) {
	f := newFake()
	s := newService(f)
	for _, u := range []*scim.User{user("alice", "e1"), user("bob", "e2")} {
		if _, err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	s.Adapter = looseFind{f}
	s.Links = links.NewMemory(time.Minute, 0) // every lookup goes to the adapter
	renders := 0
	render := func(u *scim.User) scim.Resource { renders++; return scim.UserToResource(u, scim.RenderOptions{}) }
	for _, tc := range []struct {
		filter  string
		want    []string
		renders bool
	}{
		{`userName eq "ALICE"`, []string{"alice"}, false},
		{`externalId eq "e2"`, []string{"bob"}, false},
		{`externalId eq "E2"`, nil, false}, // caseExact
		{`id eq "1"`, []string{"alice"}, false},
		{`userName eq "alice" and active eq true`, []string{"alice"}, true},
	} {
		renders = 0
		e, err := scim.ParseFilter(tc.filter, scim.UserResourceType)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := s.QueryUsers(ctx, e, render)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range recs {
			got = append(got, r.User.UserName)
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s: got %v, want %v", tc.filter, got, tc.want)
		}
		if (renders > 0) != tc.renders {
			t.Errorf("%s: %d renders", tc.filter, renders)
		}
	}
}
