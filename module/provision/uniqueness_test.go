package provision

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// Uniqueness is the service's rule, not the adapter's (adaptertest.Memory checks no
// displayName and no externalId): these cases used to be adaptertest's
// duplicateDisplayName.

// wantUniqueness fails unless err is a 409 with scimType uniqueness.
func wantUniqueness(t *testing.T, what string, err error) {
	t.Helper()
	var se *scim.Error
	if !errors.As(err, &se) || se.Status != 409 || se.ScimType != scim.ErrUniqueness {
		t.Fatalf("%s: %v; want 409 uniqueness", what, err)
	}
}

func TestGroupDisplayNameAndExternalIdUnique(t *testing.T) {
	m := newMemory()
	s := newService(m)
	s.Groups = m
	g, err := s.CreateGroup(ctx, &scim.Group{DisplayName: "CT Dup Team", ExternalID: "ext-dup"})
	if err != nil {
		t.Fatal(err)
	}
	cold := func() { s.Links = links.NewMemory(time.Minute, 0) } // no group link to help
	for _, warm := range []bool{true, false} {
		if !warm {
			cold()
		}
		for _, dn := range []string{g.DisplayName, strings.ToUpper(g.DisplayName)} {
			_, err := s.CreateGroup(ctx, &scim.Group{DisplayName: dn, ExternalID: "ext-other"})
			wantUniqueness(t, "POST with a taken displayName "+dn, err)
		}
		_, err := s.CreateGroup(ctx, &scim.Group{DisplayName: "Another", ExternalID: "ext-dup"})
		wantUniqueness(t, "POST with a taken externalId", err)
	}
	if ids := m.GroupIDs(); len(ids) != 1 {
		t.Fatalf("groups after refused duplicates: %v, want only %s", ids, g.ID)
	}
	if m.Calls("CreateGroup") != 1 {
		t.Fatalf("%d upstream creates, want 1", m.Calls("CreateGroup"))
	}

	other, err := s.CreateGroup(ctx, &scim.Group{DisplayName: "CT Other Team", ExternalID: "ext-other"})
	if err != nil {
		t.Fatal(err)
	}
	updates := m.Calls("UpdateGroup")
	for _, warm := range []bool{true, false} {
		if !warm {
			cold()
		}
		_, err := s.PatchGroup(ctx, other.ID, mustPatch(t, scim.GroupResourceType,
			`{"op":"replace","path":"displayName","value":"ct dup team"}`), "", scim.RenderOptions{})
		wantUniqueness(t, "PATCH onto another group's displayName", err)
		_, err = s.ReplaceGroup(ctx, other.ID, &scim.Group{DisplayName: "CT DUP TEAM", ExternalID: "ext-other"}, "")
		wantUniqueness(t, "PUT onto another group's displayName", err)
		_, err = s.PatchGroup(ctx, other.ID, mustPatch(t, scim.GroupResourceType,
			`{"op":"replace","path":"externalId","value":"ext-dup"}`), "", scim.RenderOptions{})
		wantUniqueness(t, "PATCH onto another group's externalId", err)
		_, err = s.ReplaceGroup(ctx, other.ID, &scim.Group{DisplayName: "CT Other Team", ExternalID: "ext-dup"}, "")
		wantUniqueness(t, "PUT onto another group's externalId", err)
	}
	if n := m.Calls("UpdateGroup") - updates; n != 0 {
		t.Fatalf("refused renames wrote %d times upstream", n)
	}
	if got, err := s.GetGroup(ctx, other.ID, false); err != nil || got.DisplayName != "CT Other Team" || got.ExternalID != "ext-other" {
		t.Fatalf("the refused renames changed the group: %+v %v", got, err)
	}

	// A group may take its own name in another case.
	if got, err := s.PatchGroup(ctx, g.ID, mustPatch(t, scim.GroupResourceType,
		`{"op":"replace","path":"displayName","value":"ct dup team"}`), "", scim.RenderOptions{}); err != nil || got.DisplayName != "ct dup team" {
		t.Fatalf("PATCH to its own displayName in another case: %+v %v", got, err)
	}
	if got, err := s.ReplaceGroup(ctx, g.ID, &scim.Group{DisplayName: "CT DUP TEAM", ExternalID: "ext-dup"}, ""); err != nil || got.DisplayName != "CT DUP TEAM" {
		t.Fatalf("PUT to its own displayName in another case: %+v %v", got, err)
	}
}

func TestUserRenameUnique(t *testing.T) {
	m := newMemory()
	s := newService(m)
	alice, err := s.CreateUser(ctx, user("alice", "ext-a"))
	if err != nil {
		t.Fatal(err)
	}
	bob, err := s.CreateUser(ctx, user("bob", "ext-b"))
	if err != nil {
		t.Fatal(err)
	}
	m.AddUnmanaged("legacy", "legacy@example.com", false)
	id := bob.User.ID
	before, _ := m.User(id)
	updates := m.Calls("UpdateUser")

	patch := func(attr, value string) error {
		_, err := s.PatchUser(ctx, id, mustPatch(t, scim.UserResourceType,
			`{"op":"replace","path":"`+attr+`","value":"`+value+`"}`), "", scim.RenderOptions{})
		return err
	}
	put := func(edit func(u *scim.User)) error {
		r, _ := m.User(id)
		edit(r.User)
		_, err := s.ReplaceUser(ctx, id, r.User, true, "")
		return err
	}
	for _, warm := range []bool{true, false} {
		if !warm {
			s.Links = links.NewMemory(time.Minute, 0) // the lookups go upstream
		}
		for _, name := range []string{"alice", "ALICE", "Alice"} {
			wantUniqueness(t, "PATCH userName onto "+name, patch("userName", name))
			wantUniqueness(t, "PUT userName onto "+name, put(func(u *scim.User) { u.UserName = name }))
		}
		// an unmanaged upstream user's userName is taken too
		for _, name := range []string{"legacy", "LEGACY"} {
			wantUniqueness(t, "PATCH userName onto the unmanaged "+name, patch("userName", name))
			wantUniqueness(t, "PUT userName onto the unmanaged "+name, put(func(u *scim.User) { u.UserName = name }))
		}
		wantUniqueness(t, "PATCH externalId onto alice's", patch("externalId", alice.User.ExternalID))
		wantUniqueness(t, "PUT externalId onto alice's", put(func(u *scim.User) { u.ExternalID = alice.User.ExternalID }))
	}
	if n := m.Calls("UpdateUser") - updates; n != 0 {
		t.Fatalf("refused changes wrote %d times upstream", n)
	}
	if after, _ := m.User(id); after.User.Meta.Version != before.User.Meta.Version || after.User.UserName != "bob" || after.User.ExternalID != "ext-b" {
		t.Fatalf("refused changes changed the user: %+v", after.User)
	}
	if a, _ := m.User(alice.User.ID); a.User.UserName != "alice" || a.User.ExternalID != "ext-a" {
		t.Fatalf("alice changed: %+v", a.User)
	}

	// Its own userName in another case, and a free externalId, are fine.
	if err := patch("userName", "BOB"); err != nil {
		t.Fatalf("PATCH to its own userName in another case: %v", err)
	}
	if err := patch("externalId", "ext-b2"); err != nil {
		t.Fatalf("PATCH to a free externalId: %v", err)
	}
	if r, _ := m.User(id); r.User.UserName != "BOB" || r.User.ExternalID != "ext-b2" {
		t.Fatalf("after the allowed changes: %+v", r.User)
	}
}
