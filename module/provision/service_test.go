package provision

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/adaptertest"
	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// newMemory is the upstream of the provisioning tests: the reference adapter, with
// pages of two users so that listings page.
func newMemory() *adaptertest.Memory { return &adaptertest.Memory{PageSize: 2} }

// managed reports whether upstream user id is managed.
func managed(f *adaptertest.Memory, id string) bool {
	r, ok := f.User(id)
	return ok && r.Managed
}

func newService(f *adaptertest.Memory) *Service {
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
	se, ok := SCIMError(err) // what the IdP would see
	if !ok {
		t.Fatalf("error %v has no SCIM answer", err)
	}
	return se.Status
}

var ctx = context.Background()

func TestCreateDuplicateAndReactivate(t *testing.T) {
	f := newMemory()
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
	if r, ok := f.User(id); !ok || r.User.Active {
		t.Fatal("block mode must keep the upstream user, blocked")
	}
	back, err := s.CreateUser(ctx, user("alice", "ext-a"))
	if err != nil || back.User.ID != id || back.Deleted {
		t.Fatalf("re-add after DELETE: %v %+v", err, back)
	}
	if n := f.Creates(); n != 1 {
		t.Fatalf("%d upstream creates, want 1", n)
	}
}

func TestDeleteModeRemovesUpstream(t *testing.T) {
	f := newMemory()
	s := newService(f)
	s.Deprovision = DeprovisionDelete
	rec, _ := s.CreateUser(ctx, user("bob", "ext-b"))
	if err := s.DeleteUser(ctx, rec.User.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.User(rec.User.ID); ok {
		t.Fatal("delete mode kept the upstream user")
	}
}

func TestScopeAndAdoption(t *testing.T) {
	f := newMemory()
	s := newService(f)
	hand := f.AddUnmanaged("carol", "carol@example.com", false)
	admin := f.AddUnmanaged("root", "root@example.com", true)
	if _, err := s.GetUser(ctx, hand); status(t, err) != 404 {
		t.Fatal("unmanaged user visible by id")
	}
	got, err := s.QueryUsers(ctx, nil, func(u *scim.User) scim.Resource { return scim.UserToResource(u, scim.RenderOptions{}) }, false)
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
	if r, _ := f.User(hand); err != nil || rec.User.ID != hand || !r.Managed {
		t.Fatalf("adoption by e-mail: %v %+v", err, rec)
	}
	s.LinkExisting = LinkUserName
	if _, err := s.CreateUser(ctx, user("root", "ext-r")); status(t, err) != 409 || managed(f, admin) {
		t.Fatalf("an admin was adopted: %v", err)
	}
}

func TestIfMatch(t *testing.T) {
	f := newMemory()
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
	f := newMemory()
	s := newService(f)
	rec, _ := s.CreateUser(ctx, user("erin", "ext-e"))
	ops, _ := scim.ParsePatch([]byte(`{"schemas":["`+scim.MessagePatchOp+`"],"Operations":[{"op":"replace","value":{"active":true}}]}`), scim.UserResourceType)
	before := f.UpstreamCalls()
	if _, err := s.PatchUser(ctx, rec.User.ID, ops, "", scim.RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := f.UpstreamCalls() - before; n != 1 {
		t.Fatalf("no-op PATCH made %d upstream calls, want 1 (the read)", n)
	}
}

// Racing POSTs of one identity create exactly one upstream user.
func TestConcurrentCreatesOneUser(t *testing.T) {
	f := newMemory()
	f.SetDelay(5 * time.Millisecond)
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
	if f.Creates() != 1 || ok.Load() != 1 || conflict.Load() != 19 {
		t.Fatalf("creates=%d ok=%d conflict=%d", f.Creates(), ok.Load(), conflict.Load())
	}
}

func TestListPagesThroughAdapter(t *testing.T) {
	f := newMemory()
	s := newService(f)
	for i := range 5 {
		if _, err := s.CreateUser(ctx, user(fmt.Sprintf("u%d", i), fmt.Sprintf("e%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	render := func(u *scim.User) scim.Resource { return scim.UserToResource(u, scim.RenderOptions{}) }
	all, err := s.QueryUsers(ctx, nil, render, false)
	if err != nil || len(all) != 5 {
		t.Fatalf("list: %v %d", err, len(all))
	}
	flt, _ := scim.ParseFilter(`userName sw "u" and not (userName eq "u3")`, scim.UserResourceType)
	some, err := s.QueryUsers(ctx, flt, render, false)
	if err != nil || len(some) != 4 {
		t.Fatalf("filtered list: %v %d", err, len(some))
	}
	eq, _ := scim.ParseFilter(`externalId eq "e2"`, scim.UserResourceType)
	before := f.UpstreamCalls()
	one, err := s.QueryUsers(ctx, eq, render, false)
	if err != nil || len(one) != 1 || one[0].User.UserName != "u2" {
		t.Fatalf("pushed-down filter: %v %v", err, one)
	}
	if n := f.UpstreamCalls() - before; n != 1 {
		t.Fatalf("a warm externalId lookup made %d upstream calls, want 1", n)
	}
}

// looseFind answers every lookup with every user, like an adapter whose lookup is
// broader than the filter (Gitea's e-mail-shaped userName lookup searches e-mails).
type looseFind struct{ *adaptertest.Memory }

func (l looseFind) FindUsers(ctx context.Context, q adapters.Lookup) ([]adapters.Record, error) {
	all, _, err := l.ListUsers(ctx, adapters.Page{Limit: 1000})
	return all, err
}

// TestLoneEqualityFilterChecksTheRecord: a lone `userName|externalId|id eq` is checked
// on each candidate without rendering it, with the RFC 7643 comparison; other filters
// still go through Match.
func TestLoneEqualityFilterChecksTheRecord(t *testing.T) {
	f := newMemory()
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
		recs, err := s.QueryUsers(ctx, e, render, false)
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
