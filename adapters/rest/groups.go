package rest

import (
	"context"
	"errors"
	"slices"

	"github.com/tidwall/gjson"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
)

// GroupsEnabled reports whether the mapping maps groups.
func (a *Adapter) GroupsEnabled() bool { return a.m != nil && a.m.groups != nil }

// group reads one group; ok=false when SCIM does not manage it for this tenant
// (another tenant's group does not exist here).
func (a *Adapter) group(v gjson.Result) (*adapters.Group, bool) {
	f := a.m.m.Groups.Read
	if !flag(v, f.Managed) || textAt(v, f.Tenant) != a.tenant {
		return nil, false
	}
	g := &adapters.Group{ID: v.Get(f.ID).String(), DisplayName: v.Get(f.DisplayName).String(), ExternalID: v.Get(f.ExternalID).String()}
	g.Meta.Version = adapters.Version(g.ID, g.DisplayName, g.ExternalID)
	return g, true
}

// getGroup reads managed group id, with its members when asked; ok=false when there
// is none.
func (a *Adapter) getGroup(ctx context.Context, id string, withMembers bool) (*adapters.Group, bool, error) {
	if !a.validID(id) {
		return nil, false, nil
	}
	r := a.m.groups.get
	if withMembers {
		r = a.m.groups.members
	}
	resp, err := a.call(ctx, r, Data{ID: id})
	if adapters.Is(err, adapters.NotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	v := result(r, resp.Body)
	g, ok := a.group(v)
	if !ok {
		return nil, false, nil
	}
	if len(r.then) > 0 {
		if v, err = a.joined(ctx, r, id, v); err != nil {
			return nil, false, err
		}
	}
	if withMembers {
		for _, m := range v.Get(a.m.m.Groups.Read.Members).Array() {
			g.Members = append(g.Members, adapters.Member{Value: m.String(), Type: "User"})
		}
	}
	return g, true, nil
}

// allGroups reads every managed group of the tenant, in ascending id order.
func (a *Adapter) allGroups(ctx context.Context) ([]*adapters.Group, error) {
	p := upstream.Paging{Link: a.m.m.Groups.List.Paging == "link", MaxPages: maxListPages}
	var out []*adapters.Group
	err := upstream.EachPage(ctx, p, a.pages(a.m.groups.list, "groups", func(upstream.PageAt) Data { return Data{} }), func(items []gjson.Result) bool {
		for _, v := range items {
			if g, ok := a.group(v); ok {
				out = append(out, g)
			}
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(x, y *adapters.Group) int { return adapters.CompareIDs(x.ID, y.ID) })
	return out, nil
}

// withMembers fills the members of gs (one members call each, in parallel).
func (a *Adapter) withMembers(ctx context.Context, gs []*adapters.Group) error {
	errs := adapters.Parallel(ctx, len(gs), adapters.MemberConcurrency, func(ctx context.Context, i int) error {
		g, ok, err := a.getGroup(ctx, gs[i].ID, true)
		if err == nil && ok {
			gs[i].Members = g.Members
		}
		return err
	})
	return errors.Join(errs...)
}

// FindGroups answers ByID, ByExternalID (exact) and ByDisplayName (any case) among
// managed groups.
func (a *Adapter) FindGroups(ctx context.Context, q adapters.Lookup, withMembers bool) ([]*adapters.Group, error) {
	if q.Kind == adapters.ByID {
		g, ok, err := a.getGroup(ctx, q.Value, withMembers)
		if err != nil || !ok {
			return nil, err
		}
		return []*adapters.Group{g}, nil
	}
	if q.Value == "" {
		return nil, nil
	}
	all, err := a.allGroups(ctx)
	if err != nil {
		return nil, err
	}
	var found []*adapters.Group
	for _, g := range all {
		if q.MatchesGroup(g) {
			found = append(found, g)
		}
	}
	if withMembers {
		err = a.withMembers(ctx, found)
	}
	return found, err
}

// ListGroups returns a window of the managed groups in ascending id order.
func (a *Adapter) ListGroups(ctx context.Context, p adapters.Page, withMembers bool) ([]*adapters.Group, int, error) {
	all, err := a.allGroups(ctx)
	if err != nil {
		return nil, 0, err
	}
	page, total := adapters.Window(all, p)
	if withMembers {
		err = a.withMembers(ctx, page)
	}
	return page, total, err
}

func groupData(id string, g *adapters.Group) Data {
	return Data{ID: id, Managed: true, Group: GroupView{DisplayName: g.DisplayName, ExternalID: g.ExternalID}}
}

// writtenGroup reads the group a write answered, or reads it again.
func (a *Adapter) writtenGroup(ctx context.Context, r *request, resp *upstream.Response, id string) (*adapters.Group, error) {
	if !r.reread {
		if g, ok := a.group(result(r, resp.Body)); ok {
			return g, nil
		}
	}
	if id == "" {
		id = result(r, resp.Body).Get(a.m.m.Groups.Read.ID).String()
	}
	g, ok, err := a.getGroup(ctx, id, false)
	if err == nil && !ok {
		err = adapters.NotFoundf("%s: group %s vanished after %s", a.m.m.Name, id, r.name)
	}
	return g, err
}

// CreateGroup creates a managed group without members.
func (a *Adapter) CreateGroup(ctx context.Context, g *adapters.Group) (*adapters.Group, error) {
	resp, err := a.call(ctx, a.m.groups.create, groupData("", g))
	if err != nil {
		return nil, err
	}
	return a.writtenGroup(ctx, a.m.groups.create, resp, "")
}

// UpdateGroup writes displayName and externalId.
func (a *Adapter) UpdateGroup(ctx context.Context, id string, g *adapters.Group) (*adapters.Group, error) {
	if _, ok, err := a.getGroup(ctx, id, false); err != nil || !ok {
		if err == nil {
			err = adapters.ErrNotFound
		}
		return nil, err
	}
	resp, err := a.call(ctx, a.m.groups.update, groupData(id, g))
	if err != nil {
		return nil, err
	}
	return a.writtenGroup(ctx, a.m.groups.update, resp, id)
}

// DeleteGroup removes a managed group.
func (a *Adapter) DeleteGroup(ctx context.Context, id string) error {
	if _, ok, err := a.getGroup(ctx, id, false); err != nil || !ok {
		if err == nil {
			err = adapters.ErrNotFound
		}
		return err
	}
	_, err := a.call(ctx, a.m.groups.del, Data{ID: id})
	return err
}

// AddMembers adds the users not yet members: one call each.
func (a *Adapter) AddMembers(ctx context.Context, id string, userIDs []string) error {
	return a.changeMembers(ctx, id, userIDs, true)
}

// RemoveMembers removes the users that are members: one call each.
func (a *Adapter) RemoveMembers(ctx context.Context, id string, userIDs []string) error {
	return a.changeMembers(ctx, id, userIDs, false)
}

// changeMembers reads the members once, so that a repeated change is never sent
// (applications answer a repeated add with an error, as Redmine does with 422).
func (a *Adapter) changeMembers(ctx context.Context, id string, userIDs []string, add bool) error {
	g, ok, err := a.getGroup(ctx, id, true)
	if err != nil {
		return err
	}
	if !ok {
		return adapters.ErrNotFound
	}
	in := map[string]bool{}
	for _, m := range g.Members {
		in[m.Value] = true
	}
	r := a.m.groups.remove
	if add {
		r = a.m.groups.add
	}
	return adapters.EachMember(ctx, userIDs, func(ctx context.Context, user string) error {
		if in[user] == add {
			return nil
		}
		if add && !a.validID(user) {
			return adapters.NotFoundf("no user %s", user)
		}
		_, err := a.call(ctx, r, Data{ID: id, Member: user})
		if adapters.Is(err, adapters.NotFound) && !add {
			return nil // removing a user that does not exist: nothing to remove
		}
		return err
	})
}

// UserGroups returns the managed groups user is a direct member of.
func (a *Adapter) UserGroups(ctx context.Context, userID string) ([]adapters.GroupRef, error) {
	all, err := a.allGroups(ctx)
	if err != nil {
		return nil, err
	}
	var refs []adapters.GroupRef
	if r := a.m.groups.userGroups; r != nil {
		resp, err := a.call(ctx, r, Data{ID: userID})
		if adapters.Is(err, adapters.NotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		mine := map[string]bool{}
		for _, v := range result(r, resp.Body).Array() {
			mine[v.Get(a.m.m.Groups.Read.ID).String()] = true
		}
		for _, g := range all {
			if mine[g.ID] {
				refs = append(refs, adapters.GroupRef{Value: g.ID, Display: g.DisplayName})
			}
		}
		return refs, nil
	}
	if err := a.withMembers(ctx, all); err != nil {
		return nil, err
	}
	for _, g := range all {
		for _, m := range g.Members {
			if m.Value == userID {
				refs = append(refs, adapters.GroupRef{Value: g.ID, Display: g.DisplayName})
			}
		}
	}
	return refs, nil
}
