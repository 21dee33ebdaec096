// Package adaptertest is a conformance suite for adapters.UserAdapter
// implementations. It drives an adapter only through the interface, against a real
// upstream or a faithful emulator, and checks the behaviour the provisioning
// service relies on: lookups, round-trips of the persisted attributes, durable
// provisioning state, paging, scope, adoption and error mapping.
//
// An adapter is checked on what it advertises it keeps (Info().UserAttributes):
// the e-mail checks run only for an adapter that lists "emails", the name checks
// only for one that lists a person's name ("name.*" or "displayName"); see keeps.
// userName, active and the marks are checked for every adapter.
//
// An adapter package runs it from a test:
//
//	func TestConformance(t *testing.T) {
//		adaptertest.Run(t, adaptertest.Harness{Adapter: a, MakeUnmanaged: …})
//	}
//
// Cases share the upstream but not their users: every case makes its own, with
// names unique per run, so the suite also runs against a long-lived server.
package adaptertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// Harness is what the suite needs from an adapter package.
type Harness struct {
	// Adapter is a provisioned adapter talking to the upstream. Required.
	Adapter adapters.UserAdapter

	// MakeUnmanaged creates an upstream user by hand, as an operator would (not
	// through the adapter, not managed, no externalId), and returns its SCIM id.
	// An application that keeps no e-mail ignores email. Required.
	MakeUnmanaged func(t *testing.T, username, email string) (id string)

	// Admin returns an upstream administrator that SCIM does not manage (the site
	// admin the upstream was installed with will do), as its SCIM id and username.
	// Optional: the admin case is skipped without it.
	Admin func(t *testing.T) (id, username string)

	// BlockByHand blocks user id in the application as an administrator would,
	// behind SCIM's back. Optional: the block-ownership case is skipped without it.
	BlockByHand func(t *testing.T, id string)

	// Upstream holds optional checks of the upstream's real state.
	Upstream Upstream

	// InvalidEmail is an address the upstream refuses. Default: an address
	// without '@'. Unused when the adapter keeps no e-mail.
	InvalidEmail string

	// UserNameFolded is set for applications that keep usernames in one case
	// (Miniflux: lower case). userName is not caseExact (RFC 7643 §4.1.1), so the
	// suite then compares the userName an adapter answers with the one sent in any
	// case; otherwise exactly, as sent.
	UserNameFolded bool

	// Timeout bounds each adapter call. Default: 30s.
	Timeout time.Duration

	// EmailUserNameIsEmail is set for upstreams that can keep an e-mail-shaped
	// userName only as the user's primary e-mail (Gitea: usernames cannot hold '@').
	// The suite then sends such users with that e-mail and checks that a different
	// e-mail is refused with 400 invalidValue instead of silently changed.
	EmailUserNameIsEmail bool

	// MarksInStore and NoBlock say that the application has no room for SCIM's
	// marks, or cannot block (adapters.Info, which must say the same: an adapter
	// that drifts into a mode fails rather than pass a lighter suite). The suite
	// then checks the mode's contract where it checks marks and the block: every
	// record unmarked (no externalId, Managed and Deleted false) and listed, no
	// externalId lookup; active always true, the block case skipped.
	MarksInStore, NoBlock bool

	// Deprovisioned reports whether the application's account id has had its
	// access removed by the adapter's deprovisioning action (NoBlock: what
	// State.Deactivating runs, and State.Reactivating undoes). Optional: without
	// it the action itself is not checked.
	Deprovisioned func(t *testing.T, id string) bool
}

// Upstream holds optional checks that look past the adapter.
type Upstream struct {
	// UserExists reports whether the upstream still has user id; used after
	// DeleteUser.
	UserExists func(t *testing.T, id string) bool
}

// Run runs every conformance case as a subtest of t.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Adapter == nil || h.MakeUnmanaged == nil {
		t.Fatal("adaptertest: Harness.Adapter and Harness.MakeUnmanaged are required")
	}
	if h.InvalidEmail == "" {
		h.InvalidEmail = "not-an-address-" + randHex(3)
	}
	if h.Timeout <= 0 {
		h.Timeout = 30 * time.Second
	}
	s := &suite{h: h, a: h.Adapter}
	subtests{
		{"Info", s.info},
		{"CreateAndFind", s.createAndFind},
		{"EmailShapedUserName", s.emailShapedUserName},
		{"Update", s.update},
		{"DeprovisionAndReactivate", s.deprovisionAndReactivate},
		{"DeletedState", s.deletedState},
		{"ListPaging", s.listPaging},
		{"BatchRead", s.batchRead},
		{"ScopeUnmanaged", s.scopeUnmanaged},
		{"Adoption", s.adoption},
		{"AdminFlag", s.adminFlag},
		{"BlockOwnership", s.blockOwnership},
		{"DuplicateUserName", s.duplicateUserName},
		{"InvalidEmail", s.invalidEmail},
		{"UnknownID", s.unknownID},
		{"Delete", s.delete},
	}.run(t)
}

// subtests are the cases of a suite, run in order.
type subtests []struct {
	name string
	fn   func(t *testing.T)
}

func (cs subtests) run(t *testing.T) {
	for _, c := range cs {
		t.Run(c.name, c.fn)
	}
}

// callCtx bounds one adapter call of a case by timeout.
func callCtx(t *testing.T, timeout time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

type suite struct {
	h Harness
	a adapters.UserAdapter
}

func (s *suite) ctx(t *testing.T) context.Context { return callCtx(t, s.h.Timeout) }

// The attributes whose checks depend on whether the adapter keeps them.
const (
	attrEmails = "emails"
	attrName   = "name" // a person's name: any name.* sub-attribute, or displayName
)

// keeps reports whether the adapter advertises (Info().UserAttributes) that it
// persists attr, attrEmails or attrName. The suite checks an attribute only where
// the adapter keeps it: an application without an e-mail or a name is not failed
// for not keeping one (adaptertest/roundtrip checks that what is advertised is
// kept).
func (s *suite) keeps(attr string) bool {
	for _, a := range s.a.Info().UserAttributes {
		if a == attr || (attr == attrName && (strings.HasPrefix(a, attrName+".") || a == "displayName")) {
			return true
		}
	}
	return false
}

// sameUserName compares a userName an adapter answers with the one sent: exactly,
// or in any case when the application keeps usernames in one case
// (Harness.UserNameFolded).
func (s *suite) sameUserName(got, sent string) bool {
	if s.h.UserNameFolded {
		return strings.EqualFold(got, sent)
	}
	return got == sent
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// uniqueName is a short lowercase name valid as a username everywhere.
func uniqueName(prefix string) string { return prefix + randHex(4) }

// newUser builds a complete SCIM user with unique userName, externalId and email.
func newUser(prefix string) *adapters.User {
	n := uniqueName(prefix)
	return &adapters.User{
		UserName:   n,
		ExternalID: "ext-" + n + "-AbC",
		Name:       &adapters.Name{GivenName: "Ada", FamilyName: "Lovelace " + n, Formatted: "Ada Lovelace " + n},
		Emails:     []adapters.MultiValue{{Value: n + "@example.com", Type: "work", Primary: true}},
		Active:     true,
	}
}

func (s *suite) create(t *testing.T, u *adapters.User) adapters.Record {
	t.Helper()
	rec, err := s.a.CreateUser(s.ctx(t), u)
	if err != nil {
		t.Fatalf("CreateUser(%q): %v", u.UserName, err)
	}
	if rec.User == nil || rec.User.ID == "" {
		t.Fatalf("CreateUser(%q): record without a user id: %+v", u.UserName, rec)
	}
	return rec
}

func (s *suite) update(t *testing.T) {
	u := newUser("ctupd")
	rec := s.create(t, u)
	id := rec.User.ID

	v := newUser("ctupd") // every persisted attribute changes
	v.ID = id
	got := s.mustUpdate(t, id, v, adapters.State{Managed: true})
	if got.User.ID != id {
		t.Fatalf("UpdateUser changed the id: %s → %s", id, got.User.ID)
	}
	s.checkFields(t, "UpdateUser result", got, v)

	read := s.mustFind(t, adapters.Lookup{Kind: adapters.ByID, Value: id}, id)
	s.checkFields(t, "FindUsers(ByID) after update", read, v)
	s.mustFind(t, adapters.Lookup{Kind: adapters.ByUserName, Value: v.UserName}, id)
	s.mustFindExt(t, v.ExternalID, id)
	s.mustNotFind(t, adapters.Lookup{Kind: adapters.ByExternalID, Value: u.ExternalID}, id)
	s.mustNotFind(t, adapters.Lookup{Kind: adapters.ByUserName, Value: u.UserName}, id)

	// The new address finds the user, the old one does not, where e-mails are kept.
	if !s.keeps(attrEmails) {
		return
	}
	s.mustFind(t, adapters.Lookup{Kind: adapters.ByEmail, Value: v.PrimaryEmail()}, id)
	s.mustNotFind(t, adapters.Lookup{Kind: adapters.ByEmail, Value: u.PrimaryEmail()}, id)

	// The old address must be free again for another user.
	w := newUser("ctupd")
	w.Emails[0].Value = u.PrimaryEmail()
	s.create(t, w)
}

func (s *suite) mustUpdate(t *testing.T, id string, u *adapters.User, st adapters.State) adapters.Record {
	t.Helper()
	rec, err := s.a.UpdateUser(s.ctx(t), id, u, st)
	if err != nil {
		t.Fatalf("UpdateUser(%s): %v", id, err)
	}
	if rec.User == nil {
		t.Fatalf("UpdateUser(%s): record without a user", id)
	}
	return rec
}

func (s *suite) find(t *testing.T, q adapters.Lookup) []adapters.Record {
	t.Helper()
	recs, err := s.a.FindUsers(s.ctx(t), q)
	if err != nil {
		t.Fatalf("FindUsers(%s %q): %v", kindName(q.Kind), q.Value, err)
	}
	for _, r := range recs {
		if r.User == nil {
			t.Fatalf("FindUsers(%s %q): a record without a user", kindName(q.Kind), q.Value)
		}
	}
	return recs
}

// mustFind returns the record of id among the lookup's results.
func (s *suite) mustFind(t *testing.T, q adapters.Lookup, id string) adapters.Record {
	t.Helper()
	recs := s.find(t, q)
	for _, r := range recs {
		if r.User.ID == id {
			return r
		}
	}
	t.Fatalf("FindUsers(%s %q) = %s; want user %s among them", kindName(q.Kind), q.Value, ids(recs), id)
	return adapters.Record{}
}

func (s *suite) mustNotFind(t *testing.T, q adapters.Lookup, id string) {
	t.Helper()
	for _, r := range s.find(t, q) {
		if r.User.ID == id {
			t.Fatalf("FindUsers(%s %q) returned user %s; want it absent", kindName(q.Kind), q.Value, id)
		}
	}
}

func ids(recs []adapters.Record) string {
	var out []string
	for _, r := range recs {
		out = append(out, r.User.ID)
	}
	return "[" + strings.Join(out, " ") + "]"
}

func kindName(k adapters.LookupKind) string {
	switch k {
	case adapters.ByID:
		return "ByID"
	case adapters.ByUserName:
		return "ByUserName"
	case adapters.ByExternalID:
		return "ByExternalID"
	case adapters.ByEmail:
		return "ByEmail"
	}
	return "kind" + strconv.Itoa(int(k))
}

// mustFindExt looks up externalId ext, which id has: found, or, when the link store
// keeps the marks, nothing at all (the store answers that lookup).
func (s *suite) mustFindExt(t *testing.T, ext, id string) {
	t.Helper()
	q := adapters.Lookup{Kind: adapters.ByExternalID, Value: ext}
	if !s.h.MarksInStore {
		s.mustFind(t, q, id)
		return
	}
	if recs := s.find(t, q); len(recs) != 0 {
		t.Errorf("FindUsers(ByExternalID %q) = %s; the application keeps no externalId (MarksInStore), want none", ext, ids(recs))
	}
}

// checkFields compares the attributes the adapter keeps (userName always, the
// e-mail and the name where it advertises them), and the marks and state as the
// adapter's mode reads them.
func (s *suite) checkFields(t *testing.T, what string, got adapters.Record, want *adapters.User) {
	t.Helper()
	g := got.User
	if !s.sameUserName(g.UserName, want.UserName) {
		t.Errorf("%s: userName = %q, want %q (as sent; in any case when UserNameFolded)", what, g.UserName, want.UserName)
	}
	wantExt, wantActive := want.ExternalID, want.Active
	if s.h.MarksInStore {
		wantExt = "" // the link store keeps it
	}
	if s.h.NoBlock {
		wantActive = true // the application has no such state
	}
	if g.ExternalID != wantExt {
		t.Errorf("%s: externalId = %q, want %q", what, g.ExternalID, wantExt)
	}
	if s.keeps(attrEmails) {
		if !strings.EqualFold(g.PrimaryEmail(), want.PrimaryEmail()) {
			t.Errorf("%s: primary email = %q, want %q", what, g.PrimaryEmail(), want.PrimaryEmail())
		}
		primaries := 0
		for _, e := range g.Emails {
			if e.Primary {
				primaries++
			}
		}
		if primaries != 1 {
			t.Errorf("%s: %d primary emails, want exactly 1: %+v", what, primaries, g.Emails)
		}
	}
	if s.keeps(attrName) && g.FullName() != want.FullName() {
		t.Errorf("%s: full name = %q, want %q", what, g.FullName(), want.FullName())
	}
	if g.Active != wantActive {
		t.Errorf("%s: active = %v, want %v", what, g.Active, wantActive)
	}
	if got.Managed == s.h.MarksInStore {
		t.Errorf("%s: Managed = %v, want %v", what, got.Managed, !s.h.MarksInStore)
	}
}

func (s *suite) info(t *testing.T) {
	in := s.a.Info()
	if in.Name == "" {
		t.Error("Info().Name is empty")
	}
	if in.MaxPageSize <= 0 {
		t.Errorf("Info().MaxPageSize = %d, want > 0", in.MaxPageSize)
	}
	have := map[string]bool{}
	for _, a := range in.UserAttributes {
		have[a] = true
	}
	for _, a := range []string{"userName", "active"} {
		if !have[a] {
			t.Errorf("Info().UserAttributes lacks %q: %v", a, in.UserAttributes)
		}
	}
	for _, a := range []string{attrEmails, attrName} {
		if !s.keeps(a) {
			t.Logf("Info().UserAttributes %v: the adapter keeps no %s; the suite checks none", in.UserAttributes, a)
		}
	}
	if in.MarksInStore != s.h.MarksInStore || in.NoBlock != s.h.NoBlock {
		t.Errorf("Info() says MarksInStore %v NoBlock %v; the harness expects %v %v", in.MarksInStore, in.NoBlock, s.h.MarksInStore, s.h.NoBlock)
	}
}

func (s *suite) createAndFind(t *testing.T) {
	u := newUser("ctnew")
	rec := s.create(t, u)
	id := rec.User.ID
	s.checkFields(t, "CreateUser result", rec, u)
	if rec.Deleted {
		t.Error("CreateUser result: Deleted = true")
	}
	if rec.Admin {
		t.Error("CreateUser result: Admin = true")
	}
	if rec.User.Meta.Version == "" {
		t.Log("CreateUser result: no Meta.Version (ETags will come from the body only)")
	}

	read := s.mustFind(t, adapters.Lookup{Kind: adapters.ByID, Value: id}, id)
	s.checkFields(t, "FindUsers(ByID)", read, u)
	if read.Deleted {
		t.Error("FindUsers(ByID): Deleted = true")
	}
	if rec.User.Meta.Version != "" && read.User.Meta.Version != rec.User.Meta.Version {
		t.Errorf("Meta.Version changed without a write: create %q, read %q", rec.User.Meta.Version, read.User.Meta.Version)
	}

	// userName compares case-insensitively.
	s.mustFind(t, adapters.Lookup{Kind: adapters.ByUserName, Value: u.UserName}, id)
	s.mustFind(t, adapters.Lookup{Kind: adapters.ByUserName, Value: strings.ToUpper(u.UserName)}, id)
	// externalId is caseExact (RFC 7643 §3.1).
	s.mustFindExt(t, u.ExternalID, id)
	s.mustNotFind(t, adapters.Lookup{Kind: adapters.ByExternalID, Value: swapCase(u.ExternalID)}, id)
	// Emails compare case-insensitively; an adapter that keeps none finds no one by one.
	if s.keeps(attrEmails) {
		s.mustFind(t, adapters.Lookup{Kind: adapters.ByEmail, Value: u.PrimaryEmail()}, id)
		s.mustFind(t, adapters.Lookup{Kind: adapters.ByEmail, Value: strings.ToUpper(u.PrimaryEmail())}, id)
	} else {
		s.mustNotFind(t, adapters.Lookup{Kind: adapters.ByEmail, Value: u.PrimaryEmail()}, id)
	}

	// Misses are empty, not errors.
	for _, q := range []adapters.Lookup{
		{Kind: adapters.ByUserName, Value: uniqueName("ctnobody")},
		{Kind: adapters.ByExternalID, Value: "ext-" + uniqueName("ctnobody")},
		{Kind: adapters.ByEmail, Value: uniqueName("ctnobody") + "@example.com"},
	} {
		if recs := s.find(t, q); len(recs) != 0 {
			t.Errorf("FindUsers(%s %q) = %s, want none", kindName(q.Kind), q.Value, ids(recs))
		}
	}
}

func swapCase(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		}
		return r
	}, s)
}

func (s *suite) emailShapedUserName(t *testing.T) {
	n := randHex(4)
	u := newUser("ctmail")
	u.UserName = "First.Last." + n + "@Example.com"
	if s.h.EmailUserNameIsEmail {
		mismatch := *u
		_, err := s.a.CreateUser(s.ctx(t), &mismatch)
		factErr(t, "CreateUser with an e-mail-shaped userName and another e-mail", err, adapters.Invalid)
		u.Emails = []adapters.MultiValue{{Value: u.UserName, Type: "work", Primary: true}}
	}
	rec := s.create(t, u)
	id := rec.User.ID
	want := *u
	s.checkFields(t, "CreateUser result", rec, &want)
	read := s.mustFind(t, adapters.Lookup{Kind: adapters.ByID, Value: id}, id)
	s.checkFields(t, "FindUsers(ByID)", read, &want)
	s.mustFind(t, adapters.Lookup{Kind: adapters.ByUserName, Value: u.UserName}, id)
	s.mustFind(t, adapters.Lookup{Kind: adapters.ByUserName, Value: strings.ToLower(u.UserName)}, id)

	// A second userName that differs only after the '@' is another user.
	v := newUser("ctmail")
	v.UserName = "First.Last." + n + "@other.example.org"
	if s.h.EmailUserNameIsEmail {
		v.Emails = []adapters.MultiValue{{Value: v.UserName, Type: "work", Primary: true}}
	}
	rec2 := s.create(t, v)
	if rec2.User.ID == id {
		t.Fatalf("two userNames got the same id %s", id)
	}
	want2 := *v
	s.checkFields(t, "CreateUser result (second)", rec2, &want2)
	s.mustFind(t, adapters.Lookup{Kind: adapters.ByUserName, Value: v.UserName}, rec2.User.ID)
	s.mustNotFind(t, adapters.Lookup{Kind: adapters.ByUserName, Value: v.UserName}, id)
	s.mustNotFind(t, adapters.Lookup{Kind: adapters.ByUserName, Value: u.UserName}, rec2.User.ID)
}

func (s *suite) deprovisionAndReactivate(t *testing.T) {
	u := newUser("ctact")
	id := s.create(t, u).User.ID
	s.wantDeprovisioned(t, id, false, "a new account")

	off := *u
	off.Active = false
	got := s.mustUpdate(t, id, &off, adapters.State{Managed: true, Deactivating: true})
	if got.User.ID != id || got.User.Active != s.h.NoBlock {
		t.Fatalf("deprovision: id %s active %v; want id %s active %v", got.User.ID, got.User.Active, id, s.h.NoBlock)
	}
	read := s.mustFind(t, adapters.Lookup{Kind: adapters.ByID, Value: id}, id)
	s.checkFields(t, "FindUsers after deprovision", read, &off)
	if read.Deleted {
		t.Error("deprovision: Deleted = true; only DELETE marks a user deleted")
	}
	s.wantDeprovisioned(t, id, true, "after a write with State.Deactivating")
	// A deprovisioned user keeps its links.
	s.mustFindExt(t, u.ExternalID, id)
	s.mustFind(t, adapters.Lookup{Kind: adapters.ByUserName, Value: u.UserName}, id)

	// Deprovisioning twice is harmless; a write that keeps the state runs no action.
	s.mustUpdate(t, id, &off, adapters.State{Managed: true})
	s.wantDeprovisioned(t, id, true, "after a write that keeps the account inactive")

	on := *u
	got = s.mustUpdate(t, id, &on, adapters.State{Managed: true, Reactivating: true})
	if got.User.ID != id || !got.User.Active {
		t.Fatalf("reactivate: id %s active %v; want id %s active true", got.User.ID, got.User.Active, id)
	}
	s.checkFields(t, "FindUsers after reactivation", s.mustFind(t, adapters.Lookup{Kind: adapters.ByID, Value: id}, id), &on)
	s.wantDeprovisioned(t, id, false, "after a write with State.Reactivating")
	s.mustUpdate(t, id, &on, adapters.State{Managed: true})
	s.wantDeprovisioned(t, id, false, "after a write that keeps the account active")
}

// wantDeprovisioned checks, for an application that cannot block, whether its
// deprovisioning action took account id's access (when the harness can tell).
func (s *suite) wantDeprovisioned(t *testing.T, id string, want bool, when string) {
	t.Helper()
	if !s.h.NoBlock || s.h.Deprovisioned == nil {
		return
	}
	if got := s.h.Deprovisioned(t, id); got != want {
		t.Errorf("%s: the account's access removed %v, want %v", when, got, want)
	}
}

func (s *suite) deletedState(t *testing.T) {
	u := newUser("ctdel")
	rec := s.create(t, u)
	id := rec.User.ID
	v0 := rec.User.Meta.Version

	off := *u
	off.Active = false
	got := s.mustUpdate(t, id, &off, adapters.State{Managed: true, Deleted: true, Deactivating: true})
	marked := !s.h.MarksInStore // else the link store keeps the marks
	if got.Deleted != marked || got.Managed != marked || got.User.Active != s.h.NoBlock {
		t.Fatalf("UpdateUser(deleted): Deleted %v Managed %v Active %v; want %v %v %v", got.Deleted, got.Managed, got.User.Active, marked, marked, s.h.NoBlock)
	}
	if v0 != "" && got.User.Meta.Version == v0 && !s.h.NoBlock { // without a block state the application may show no change
		t.Errorf("Meta.Version %q unchanged after deprovision+delete", v0)
	}
	s.wantDeprovisioned(t, id, true, "after a DELETE's write")
	lookups := []adapters.Lookup{{Kind: adapters.ByID, Value: id}, {Kind: adapters.ByUserName, Value: u.UserName}}
	if marked {
		lookups = append(lookups, adapters.Lookup{Kind: adapters.ByExternalID, Value: u.ExternalID})
	}
	for _, q := range lookups {
		r := s.mustFind(t, q, id)
		if r.Deleted != marked || r.Managed != marked {
			t.Errorf("FindUsers(%s) after delete: Deleted %v Managed %v; want %v %v", kindName(q.Kind), r.Deleted, r.Managed, marked, marked)
		}
	}
	if !s.listed(t, id) {
		t.Error("ListUsers omits a SCIM-deleted user; it must list deleted managed users too")
	}

	on := *u
	got = s.mustUpdate(t, id, &on, adapters.State{Managed: true, Reactivating: true})
	if got.Deleted || !got.User.Active || got.User.ID != id {
		t.Fatalf("reactivation: Deleted %v Active %v id %s; want false true %s", got.Deleted, got.User.Active, got.User.ID, id)
	}
	r := s.mustFind(t, adapters.Lookup{Kind: adapters.ByID, Value: id}, id)
	if r.Deleted {
		t.Error("FindUsers after reactivation: Deleted still true")
	}
	s.checkFields(t, "FindUsers after reactivation", r, &on)
	s.wantDeprovisioned(t, id, false, "after reactivation")
}

// listAll walks ListUsers with pages of size, checking order and totals.
func (s *suite) listAll(t *testing.T, size int) []adapters.Record {
	t.Helper()
	all := walkPages(t, "ListUsers", "records", size, func(p adapters.Page) ([]adapters.Record, int, error) {
		return s.a.ListUsers(s.ctx(t), p)
	})
	seen := map[string]bool{}
	for i, r := range all {
		if r.User == nil {
			t.Fatalf("ListUsers: record %d without a user", i)
		}
		if seen[r.User.ID] {
			t.Fatalf("ListUsers: id %s twice", r.User.ID)
		}
		seen[r.User.ID] = true
		switch {
		case s.h.MarksInStore && r.Managed:
			t.Errorf("ListUsers: user %s reads managed; the link store keeps the marks (MarksInStore)", r.User.ID)
		case !s.h.MarksInStore && !r.Managed:
			t.Errorf("ListUsers: unmanaged user %s listed", r.User.ID)
		}
		if i > 0 && !idLess(all[i-1].User.ID, r.User.ID) {
			t.Errorf("ListUsers: ids not ascending: %s before %s", all[i-1].User.ID, r.User.ID)
		}
	}
	return all
}

// walkPages pages through a listing (what names it, noun its items) with pages of
// size, checking that pages are full until the total, never larger than asked, that
// the total does not change while paging, and that the walk ends on the total.
func walkPages[T any](t *testing.T, what, noun string, size int, list func(adapters.Page) ([]T, int, error)) []T {
	t.Helper()
	var all []T
	total := -1
	for off := 0; ; off += size {
		items, tot, err := list(adapters.Page{Offset: off, Limit: size})
		if err != nil {
			t.Fatalf("%s(%d,%d): %v", what, off, size, err)
		}
		if len(items) > size {
			t.Fatalf("%s(%d,%d) returned %d %s", what, off, size, len(items), noun)
		}
		if total >= 0 && tot != total {
			t.Fatalf("%s total changed while paging: %d → %d", what, total, tot)
		}
		total = tot
		all = append(all, items...)
		if off+size >= total || len(items) == 0 {
			if off+size < total {
				t.Fatalf("%s(%d,%d): empty page before the total %d", what, off, size, total)
			}
			break
		}
		if len(items) != size {
			t.Fatalf("%s(%d,%d): short page (%d) before the total %d", what, off, size, len(items), total)
		}
	}
	if len(all) != total {
		t.Fatalf("%s: walked %d %s, total says %d", what, len(all), noun, total)
	}
	return all
}

// idLess orders numeric ids numerically, others as strings.
func idLess(a, b string) bool {
	x, err1 := strconv.ParseInt(a, 10, 64)
	y, err2 := strconv.ParseInt(b, 10, 64)
	if err1 == nil && err2 == nil {
		return x < y
	}
	return a < b
}

func (s *suite) listed(t *testing.T, id string) bool {
	t.Helper()
	size := s.a.Info().MaxPageSize
	if size <= 0 || size > 100 {
		size = 100
	}
	for _, r := range s.listAll(t, size) {
		if r.User.ID == id {
			return true
		}
	}
	return false
}

func (s *suite) listPaging(t *testing.T) {
	var made []string
	for i := 0; i < 5; i++ {
		made = append(made, s.create(t, newUser("ctlist")).User.ID)
	}
	unmanaged := s.h.MakeUnmanaged(t, uniqueName("ctlistun"), uniqueName("ctlistun")+"@example.com")

	all := s.listAll(t, 2)
	in := map[string]bool{}
	for _, r := range all {
		in[r.User.ID] = true
	}
	for _, id := range made {
		if !in[id] {
			t.Errorf("ListUsers: managed user %s missing", id)
		}
	}
	if in[unmanaged] != s.h.MarksInStore { // with the marks in the store it lists every account
		t.Errorf("ListUsers: unmanaged user %s listed %v, want %v", unmanaged, in[unmanaged], s.h.MarksInStore)
	}

	// Limit 0 asks for the total alone.
	recs, total, err := s.a.ListUsers(s.ctx(t), adapters.Page{Offset: 0, Limit: 0})
	if err != nil {
		t.Fatalf("ListUsers(0,0): %v", err)
	}
	if len(recs) != 0 || total != len(all) {
		t.Errorf("ListUsers(0,0) = %d records, total %d; want 0 records, total %d", len(recs), total, len(all))
	}
	// A window that does not start on a page boundary.
	if len(all) >= 4 {
		recs, _, err := s.a.ListUsers(s.ctx(t), adapters.Page{Offset: 1, Limit: 3})
		if err != nil {
			t.Fatalf("ListUsers(1,3): %v", err)
		}
		if got, want := ids(recs), ids(all[1:4]); got != want {
			t.Errorf("ListUsers(1,3) = %s, want %s", got, want)
		}
	}
	// Past the end: empty, same total.
	recs, total, err = s.a.ListUsers(s.ctx(t), adapters.Page{Offset: len(all) + 10, Limit: 2})
	if err != nil {
		t.Fatalf("ListUsers past the end: %v", err)
	}
	if len(recs) != 0 || total != len(all) {
		t.Errorf("ListUsers past the end = %d records, total %d; want 0, %d", len(recs), total, len(all))
	}
}

// batchRead: an adapter that reads many users at once (adapters.UserBatch) answers
// the users a page names, as FindUsers by id does, in one call, and no user the
// page does not name.
func (s *suite) batchRead(t *testing.T) {
	b, ok := s.a.(adapters.UserBatch)
	if !ok {
		t.Skip("the adapter reads one user per call")
	}
	var made []adapters.Record
	for range 3 {
		made = append(made, s.create(t, newUser("ctbatch")))
	}
	other := s.create(t, newUser("ctbatchout"))
	page := []string{made[0].User.ID, made[1].User.ID, made[2].User.ID}
	slices.SortFunc(page, adapters.CompareIDs)
	var before int64
	cc, counts := s.a.(adapters.CallCounter)
	if counts {
		before = cc.UpstreamCalls()
	}
	recs, err := b.ReadUsers(s.ctx(t), page)
	if err != nil {
		t.Fatalf("ReadUsers: %v", err)
	}
	if recs == nil {
		t.Skip("this configuration has no batch read (the service reads each user alone)")
	}
	if counts {
		if n := cc.UpstreamCalls() - before; n > 1 {
			t.Errorf("ReadUsers of 3 users made %d upstream calls, want 1", n)
		}
	}
	got := map[string]adapters.Record{}
	for _, r := range recs {
		got[r.User.ID] = r
	}
	if _, ok := got[other.User.ID]; ok || len(got) != 3 {
		t.Errorf("ReadUsers(%v) answered %s, want exactly those 3", page, ids(recs))
	}
	for _, m := range made {
		r, ok := got[m.User.ID]
		if !ok || !r.Managed || !strings.EqualFold(r.User.UserName, m.User.UserName) || r.User.ExternalID != m.User.ExternalID {
			t.Errorf("ReadUsers: user %s read as %+v, want %+v", m.User.ID, r.User, m.User)
		}
	}
}

func (s *suite) scopeUnmanaged(t *testing.T) {
	name := uniqueName("cthand")
	email := name + "@example.com"
	id := s.h.MakeUnmanaged(t, name, email)
	lookups := []adapters.Lookup{{Kind: adapters.ByID, Value: id}, {Kind: adapters.ByUserName, Value: name}}
	if s.keeps(attrEmails) {
		lookups = append(lookups, adapters.Lookup{Kind: adapters.ByEmail, Value: email})
	}
	for _, q := range lookups {
		r := s.mustFind(t, q, id)
		if r.Managed {
			t.Errorf("FindUsers(%s) of a hand-made user: Managed = true", kindName(q.Kind))
		}
		if r.Deleted {
			t.Errorf("FindUsers(%s) of a hand-made user: Deleted = true", kindName(q.Kind))
		}
		if r.User.ExternalID != "" {
			t.Errorf("FindUsers(%s) of a hand-made user: externalId %q, want none", kindName(q.Kind), r.User.ExternalID)
		}
		if !strings.EqualFold(r.User.UserName, name) {
			t.Errorf("FindUsers(%s) of a hand-made user: userName %q, want %q", kindName(q.Kind), r.User.UserName, name)
		}
	}
	if s.listed(t, id) != s.h.MarksInStore {
		t.Errorf("ListUsers lists a hand-made (unmanaged) user: %v, want %v (MarksInStore: every account)", !s.h.MarksInStore, s.h.MarksInStore)
	}
}

func (s *suite) adoption(t *testing.T) {
	name := uniqueName("ctadopt")
	email := name + "@example.com"
	id := s.h.MakeUnmanaged(t, name, email)

	u := &adapters.User{
		ID:         id,
		UserName:   name,
		ExternalID: "ext-" + name,
		Name:       &adapters.Name{Formatted: "Adopted " + name, GivenName: "Adopted", FamilyName: name},
		Emails:     []adapters.MultiValue{{Value: email, Type: "work", Primary: true}},
		Active:     true,
	}
	got := s.mustUpdate(t, id, u, adapters.State{Managed: true})
	if got.User.ID != id {
		t.Fatalf("adoption changed the id: %s → %s", id, got.User.ID)
	}
	s.checkFields(t, "UpdateUser (adoption)", got, u)
	r := s.mustFind(t, adapters.Lookup{Kind: adapters.ByID, Value: id}, id)
	s.checkFields(t, "FindUsers after adoption", r, u)
	s.mustFindExt(t, u.ExternalID, id)
	if !s.listed(t, id) {
		t.Error("ListUsers omits an adopted user")
	}
}

func (s *suite) adminFlag(t *testing.T) {
	if s.h.Admin == nil {
		t.Skip("harness has no Admin")
	}
	id, name := s.h.Admin(t)
	r := s.mustFind(t, adapters.Lookup{Kind: adapters.ByID, Value: id}, id)
	if !r.Admin {
		t.Error("FindUsers of an upstream administrator: Admin = false")
	}
	if r.Managed {
		t.Error("FindUsers of a hand-made administrator: Managed = true")
	}
	r = s.mustFind(t, adapters.Lookup{Kind: adapters.ByUserName, Value: name}, id)
	if !r.Admin {
		t.Error("FindUsers(ByUserName) of an upstream administrator: Admin = false")
	}
}

// blockOwnership: a block SCIM set carries SCIM's mark (BlockMark), a block set by hand
// a reason (BlockReason) and no mark, and a write with ForeignBlock — DELETE included —
// keeps the latter without the mark. (Whose block it is, the service decides from
// these two facts.)
func (s *suite) blockOwnership(t *testing.T) {
	if s.h.NoBlock {
		t.Skip("the application cannot block (NoBlock): there is no block to own, by SCIM or by hand")
	}
	if s.h.BlockByHand == nil {
		t.Skip("harness has no BlockByHand")
	}
	mark := !s.h.MarksInStore // else SCIM's block mark is the link store's
	u := newUser("ctblk")
	id := s.create(t, u).User.ID
	off := *u
	off.Active = false
	if r := s.mustUpdate(t, id, &off, adapters.State{Managed: true, Deactivating: true}); r.User.Active || r.BlockMark != mark {
		t.Fatalf("SCIM's deprovision: active %v mark %v; want false and mark %v", r.User.Active, r.BlockMark, mark)
	}
	if r := s.mustFind(t, adapters.Lookup{Kind: adapters.ByID, Value: id}, id); r.BlockMark != mark || r.BlockReason == "" {
		t.Errorf("a block SCIM set reads back with mark %v reason %q", r.BlockMark, r.BlockReason)
	}
	if r := s.mustUpdate(t, id, u, adapters.State{Managed: true, Reactivating: true}); !r.User.Active || r.BlockMark { // SCIM lifts its own block
		t.Fatalf("SCIM lifts its block: active %v mark %v", r.User.Active, r.BlockMark)
	}

	s.h.BlockByHand(t, id)
	r := s.mustFind(t, adapters.Lookup{Kind: adapters.ByID, Value: id}, id)
	if r.User.Active || r.BlockMark || r.BlockReason == "" {
		t.Fatalf("after a block by hand: active %v mark %v reason %q; want false, no mark and a reason", r.User.Active, r.BlockMark, r.BlockReason)
	}
	ren := off
	ren.Name = &adapters.Name{Formatted: "Renamed While Blocked", GivenName: "Renamed", FamilyName: "While Blocked"} // one-name upstreams keep formatted, others the parts
	for _, st := range []adapters.State{{Managed: true, ForeignBlock: true}, {Managed: true, Deleted: true, ForeignBlock: true}} {
		if got := s.mustUpdate(t, id, &ren, st); got.User.Active || got.BlockMark || got.BlockReason == "" || (s.keeps(attrName) && got.User.FullName() != ren.FullName()) {
			t.Errorf("a write keeping the foreign block (%+v): active %v mark %v reason %q name %q", st, got.User.Active, got.BlockMark, got.BlockReason, got.User.FullName())
		}
	}
}

// factErr asserts err carries the typed fact f (never a SCIM error: facts become
// SCIM errors in the provisioning service) with a reason.
func factErr(t *testing.T, what string, err error, f adapters.Fact) *adapters.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error; want the %s fact", what, f)
	}
	var se *scim.Error
	if errors.As(err, &se) {
		t.Fatalf("%s: the adapter built a SCIM error (%v); it must report a fact (adapters.Error)", what, err)
	}
	e, ok := adapters.FactOf(err)
	if !ok {
		t.Fatalf("%s: error %v (%T) carries no fact; want %s", what, err, err, f)
	}
	if e.Fact != f {
		t.Fatalf("%s: fact %s (%s); want %s", what, e.Fact, e.Reason, f)
	}
	if e.Reason == "" {
		t.Errorf("%s: %s fact without a reason", what, e.Fact)
	}
	return e
}

func (s *suite) duplicateUserName(t *testing.T) {
	u := newUser("ctdup")
	s.create(t, u)

	v := newUser("ctdup")
	v.UserName = u.UserName
	_, err := s.a.CreateUser(s.ctx(t), v)
	factErr(t, "CreateUser with a taken userName", err, adapters.Taken)

	// Case does not make a userName new.
	w := newUser("ctdup")
	w.UserName = strings.ToUpper(u.UserName)
	_, err = s.a.CreateUser(s.ctx(t), w)
	factErr(t, "CreateUser with a taken userName in another case", err, adapters.Taken)

	// Nor does a taken email, where e-mails are kept.
	if !s.keeps(attrEmails) {
		return
	}
	x := newUser("ctdup")
	x.Emails[0].Value = u.PrimaryEmail()
	_, err = s.a.CreateUser(s.ctx(t), x)
	factErr(t, "CreateUser with a taken email", err, adapters.Taken)
}

func (s *suite) invalidEmail(t *testing.T) {
	if !s.keeps(attrEmails) {
		t.Skip("the adapter keeps no e-mail (Info().UserAttributes lacks \"emails\"): there is no address to refuse")
	}
	u := newUser("ctbad")
	u.Emails[0].Value = s.h.InvalidEmail
	_, err := s.a.CreateUser(s.ctx(t), u)
	factErr(t, "CreateUser with email "+strconv.Quote(s.h.InvalidEmail), err, adapters.Invalid)
	if recs := s.find(t, adapters.Lookup{Kind: adapters.ByUserName, Value: u.UserName}); len(recs) != 0 {
		t.Errorf("a refused create left user(s) %s behind", ids(recs))
	}

	// The same on update.
	v := newUser("ctbad")
	id := s.create(t, v).User.ID
	w := *v
	w.Emails = []adapters.MultiValue{{Value: s.h.InvalidEmail, Type: "work", Primary: true}}
	_, err = s.a.UpdateUser(s.ctx(t), id, &w, adapters.State{Managed: true})
	factErr(t, "UpdateUser with an invalid email", err, adapters.Invalid)
}

func (s *suite) unknownID(t *testing.T) {
	const missing = "987654321"
	if recs := s.find(t, adapters.Lookup{Kind: adapters.ByID, Value: missing}); len(recs) != 0 {
		t.Errorf("FindUsers(ByID %s) = %s, want none", missing, ids(recs))
	}
	u := newUser("ctmiss")
	_, err := s.a.UpdateUser(s.ctx(t), missing, u, adapters.State{Managed: true})
	if !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("UpdateUser of a missing id: %v; want adapters.ErrNotFound", err)
	}
	if err := s.a.DeleteUser(s.ctx(t), missing); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("DeleteUser of a missing id: %v; want adapters.ErrNotFound", err)
	}
}

func (s *suite) delete(t *testing.T) {
	u := newUser("ctrm")
	id := s.create(t, u).User.ID
	if err := s.a.DeleteUser(s.ctx(t), id); err != nil {
		t.Fatalf("DeleteUser(%s): %v", id, err)
	}
	if recs := s.find(t, adapters.Lookup{Kind: adapters.ByID, Value: id}); len(recs) != 0 {
		t.Errorf("FindUsers(ByID) after DeleteUser = %s, want none", ids(recs))
	}
	s.mustNotFind(t, adapters.Lookup{Kind: adapters.ByExternalID, Value: u.ExternalID}, id)
	s.mustNotFind(t, adapters.Lookup{Kind: adapters.ByUserName, Value: u.UserName}, id)
	if s.h.Upstream.UserExists != nil && s.h.Upstream.UserExists(t, id) {
		t.Errorf("upstream still has user %s after DeleteUser", id)
	}
	if s.listed(t, id) {
		t.Errorf("ListUsers lists deleted user %s", id)
	}
	if err := s.a.DeleteUser(s.ctx(t), id); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("second DeleteUser(%s): %v; want adapters.ErrNotFound", id, err)
	}
}
