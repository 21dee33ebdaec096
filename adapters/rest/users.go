package rest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
)

// maxListPages bounds one walk of the listing (a paging loop in a broken upstream).
const maxListPages = 100_000

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Info describes the mapped application. Its listing cannot filter on the managed
// marker, so ListUsers reads it all (ListScans); a group's members are read as the
// application keeps them, unmanaged accounts included (UnmanagedMembers). A mapping
// without SCIM's marks, or without active, says so (MarksInStore, NoBlock).
func (a *Adapter) Info() adapters.Info { return a.m.info }

// describe is the adapter's Info for this mapping (the service asks for it on
// every read: it is made once, in compile).
func (c *compiled) describe() adapters.Info {
	u := c.m.Users
	size := u.List.PageSize
	if size <= 0 {
		size = 100
	}
	in := adapters.Info{Name: "rest:" + strings.ToLower(c.m.Name), UserAttributes: u.Attributes,
		MaxPageSize: size, OneName: u.OneName, ListScans: true, MarksInStore: c.marksInStore, NoBlock: c.noBlock}
	if c.m.Groups != nil {
		in.GroupAttributes = c.m.Groups.Attributes
		in.UnmanagedMembers = true
	}
	return in
}

// SetTenant implements adapters.Tenancy: writes keep tenant at the mapping's
// read.tenant, and listings and group lookups answer only its accounts and groups.
// A mapping without room for a tenant serves only the default one.
func (a *Adapter) SetTenant(tenant string) error {
	if err := adapters.CheckTenant(tenant); err != nil {
		return fmt.Errorf("rest: %v", err)
	}
	if a.m != nil { // else Provision checks it
		if err := a.m.tenantRoom(tenant); err != nil {
			return err
		}
	}
	a.tenant = tenant
	return nil
}

// call sends one mapped request and turns an error answer into a fact.
func (a *Adapter) call(ctx context.Context, r *request, d Data) (*upstream.Response, error) {
	d.Tenant = a.tenant
	req, err := r.build(d)
	if err != nil {
		return nil, adapters.MisconfiguredBecause("rest mapping %s", err)
	}
	if a.m.rules5xx {
		req.Definite = a.m.ruled
	}
	resp, err := a.do(ctx, req)
	if err != nil {
		return nil, err
	}
	if resp.OK() {
		return resp, nil
	}
	for _, rule := range a.m.errors {
		if rule.matches(resp.Status, resp.Body) {
			return nil, rule.fact(a.m.m.Name + ": " + a.api.Message(resp))
		}
	}
	return nil, a.api.StatusFact(resp, "")
}

// send is call for a write: r's before calls run first, in order, and d gains the
// values they fetched (its then calls read them too).
func (a *Adapter) send(ctx context.Context, r *request, d *Data) (*upstream.Response, error) {
	if r.mentions(".Password") {
		pw, err := adapters.RandomPassword()
		if err != nil {
			return nil, err
		}
		d.Password = pw
	}
	if len(r.before) > 0 {
		vals := maps.Clone(d.Before)
		if vals == nil {
			vals = map[string]string{}
		}
		for _, f := range r.before {
			fd := *d
			fd.Before = vals
			resp, err := a.call(ctx, f.req, fd)
			if err != nil {
				return nil, err
			}
			v := gjson.GetBytes(resp.Body, f.value)
			if !v.Exists() {
				return nil, adapters.BadAnswerf("%s answered no %s to %s (%s)", a.m.m.Name, f.value, f.req.name, f.name)
			}
			vals[f.name] = v.String()
		}
		d.Before = vals
	}
	return a.call(ctx, r, *d)
}

// then runs the then calls of write r, in order, with the data r was sent with.
func (a *Adapter) then(ctx context.Context, r *request, d Data) error {
	for _, t := range r.then {
		td := d
		if _, err := a.send(ctx, t, &td); err != nil {
			return err
		}
	}
	return nil
}

// joined is object v of id (a user, a group) with the answers of read r's then
// calls under their names, where the read paths find them. One that is not found
// joins as null.
func (a *Adapter) joined(ctx context.Context, r *request, id string, v gjson.Result) (gjson.Result, error) {
	var b strings.Builder
	b.WriteString("{")
	for _, t := range r.then {
		part := "null"
		resp, err := a.call(ctx, t, Data{ID: id})
		switch {
		case adapters.Is(err, adapters.NotFound):
		case err != nil:
			return v, err
		default:
			if p := result(t, resp.Body); p.Exists() {
				part = p.Raw
			}
		}
		key, _ := json.Marshal(t.as)
		b.Write(key)
		b.WriteString(":" + part + ",")
	}
	rest := strings.TrimSpace(v.Raw)[1:] // after the object's {
	if strings.TrimSpace(rest) == "}" {
		return gjson.Parse(strings.TrimSuffix(b.String(), ",") + "}"), nil
	}
	b.WriteString(rest)
	return gjson.Parse(b.String()), nil
}

// date reads a mapped date; one that does not parse is logged, once, since
// meta.created and meta.lastModified would otherwise vanish without a word.
func (a *Adapter) date(s string) time.Time {
	t, ok := parseTime(s, a.m.m.Users.Read.DateFormat)
	if !ok && s != "" && a.dateWarned.CompareAndSwap(false, true) {
		a.logger.Warn("a date the application answers does not parse; set users.read.date_format",
			zap.String("application", a.m.m.Name), zap.String("value", s))
	}
	return t
}

// result is the part of an answer at the call's result path.
func result(r *request, body []byte) gjson.Result {
	if r.result == "" {
		return gjson.ParseBytes(body)
	}
	return gjson.GetBytes(body, r.result)
}

// record reads one user as the mapping says. The userName at read.userName is the
// account's own name (Login); the userName of record is the mapping's copy of it,
// or that name itself when its owner cannot change it, else the link store's alone.
func (a *Adapter) record(v gjson.Result) adapters.Record {
	f := a.m.m.Users.Read
	get := func(p string) string {
		if p == "" {
			return ""
		}
		return v.Get(p).String()
	}
	// an application that cannot block reads active: SCIM's active is the link store's
	u := &adapters.User{ID: get(f.ID), UserName: get(f.UserName), DisplayName: get(f.DisplayName), Active: a.m.noBlock || flag(v, f.Active)}
	given, family, formatted := get(f.GivenName), get(f.FamilyName), get(f.Formatted)
	if one := cmp.Or(formatted, u.DisplayName); a.m.m.Users.OneName && one != "" {
		// one name string: every read carries it as displayName and split in parts,
		// as the code adapters read theirs, so that the service merges a PATCH of a
		// part into it (module/provision/names.go)
		given, family, _ = strings.Cut(one, " ")
		family, formatted, u.DisplayName = strings.TrimSpace(family), one, one
	}
	if given != "" || family != "" || formatted != "" {
		u.Name = &adapters.Name{GivenName: given, FamilyName: family, Formatted: formatted}
	}
	email := get(f.Email)
	if email != "" {
		u.Emails = []adapters.MultiValue{{Value: email, Type: "work", Primary: true}}
	}
	u.Meta.Created = a.date(get(f.Created))
	u.Meta.LastModified = a.date(get(f.Modified))
	// without marks every account reads unmarked: the link store says which are SCIM's
	managed := !a.m.marksInStore && flag(v, f.Managed)
	deleted, scimBlock := managed && flag(v, f.Deleted), managed && flag(v, f.SCIMBlock)
	recorded, tenant := get(f.RecordedUserName), textAt(v, f.Tenant)
	if managed {
		u.ExternalID = get(f.ExternalID)
	}
	u.Meta.Version = adapters.Version(u.ID, u.UserName, u.ExternalID, given, family, formatted, u.DisplayName, email, u.Active, managed, deleted, scimBlock, recorded, tenant)
	rec := adapters.Record{User: u, Managed: managed, Deleted: deleted, Admin: f.Admin.Path != "" && flag(v, f.Admin),
		Login: u.UserName, Unconfirmed: f.EmailVerified.Path != "" && !flag(v, f.EmailVerified)}
	switch {
	case f.RecordedUserName != "":
		if managed || a.m.marksInStore {
			rec.RecordedUserName = recorded
		}
	case a.m.m.Users.UserNameFixed:
		if managed || a.m.marksInStore {
			rec.RecordedUserName = u.UserName
		}
	default:
		rec.Unrecorded = true
	}
	if managed {
		rec.Tenant, rec.BlockMark = tenant, scimBlock
	}
	if !u.Active {
		rec.BlockReason = "is blocked in " + a.m.m.Name
	}
	return rec
}

// flag reads a Flag.
func flag(v gjson.Result, f Flag) bool {
	x := v.Get(f.Path)
	s := x.String()
	if f.Before != "" {
		s, _, _ = strings.Cut(s, f.Before)
	}
	if len(f.Equals) == 0 {
		return x.Type == gjson.True || strings.EqualFold(s, "true")
	}
	return slices.Contains(f.Equals, s)
}

// textAt reads a Text; "" when it has no path.
func textAt(v gjson.Result, t Text) string {
	if t.Path == "" {
		return ""
	}
	s := v.Get(t.Path).String()
	if t.After != "" {
		_, s, _ = strings.Cut(s, t.After)
	}
	return s
}

// data is the template data of a write of u. Blocked is SCIM's block only: a block
// the core keeps foreign (ForeignBlock), DELETEd or not, stays the application's.
func data(id string, u *adapters.User, st adapters.State) Data {
	d := Data{ID: id, Managed: st.Managed, Deleted: st.Deleted, Blocked: !u.Active && !st.ForeignBlock}
	d.User = View{UserName: u.UserName, DisplayName: u.DisplayName, Email: u.PrimaryEmail(), ExternalID: u.ExternalID, Active: u.Active}
	if u.Name != nil {
		d.User.GivenName, d.User.FamilyName, d.User.Formatted = u.Name.GivenName, u.Name.FamilyName, u.Name.Formatted
	}
	if u.Name != nil && u.Name.Formatted == "" {
		d.User.Formatted = strings.TrimSpace(u.Name.GivenName + " " + u.Name.FamilyName)
	}
	return d
}

// validID reports whether id has the shape of the application's ids.
func (a *Adapter) validID(id string) bool {
	switch a.m.m.IDs {
	case "uuid":
		return uuidRE.MatchString(id)
	case "numeric":
		_, ok := adapters.NumericID(id)
		return ok
	}
	return id != ""
}

// get reads user id; ok=false when the application has none.
func (a *Adapter) get(ctx context.Context, id string) (adapters.Record, bool, error) {
	if !a.validID(id) {
		return adapters.Record{}, false, nil
	}
	resp, err := a.call(ctx, a.m.get, Data{ID: id})
	if adapters.Is(err, adapters.NotFound) {
		return adapters.Record{}, false, nil
	}
	if err != nil {
		return adapters.Record{}, false, err
	}
	v := result(a.m.get, resp.Body)
	if !v.Exists() && a.m.get.emptyNotFound {
		return adapters.Record{}, false, nil
	}
	if !v.IsObject() {
		return adapters.Record{}, false, adapters.BadAnswerf("%s answered no user object to %s", a.m.m.Name, a.m.get.name)
	}
	if len(a.m.get.then) > 0 {
		if v, err = a.joined(ctx, a.m.get, id, v); err != nil {
			return adapters.Record{}, false, err
		}
	}
	return a.record(v), true, nil
}

var _ adapters.UserBatch = (*Adapter)(nil)

// ReadUsers reads ids with users.get_many, the application's answer as FindUsers
// by id would give it; without get_many it reads nothing (the service then reads
// each user with get).
func (a *Adapter) ReadUsers(ctx context.Context, ids []string) ([]adapters.Record, error) {
	if a.m.getMany == nil {
		return nil, nil
	}
	valid := make([]string, 0, len(ids))
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		if a.validID(id) {
			valid = append(valid, id)
			want[id] = true
		}
	}
	if len(valid) == 0 {
		return nil, nil
	}
	resp, err := a.call(ctx, a.m.getMany, Data{IDs: valid, Limit: len(valid)})
	if err != nil {
		return nil, err
	}
	var out []adapters.Record
	for _, v := range result(a.m.getMany, resp.Body).Array() {
		if !want[v.Get(a.m.m.Users.Read.ID).String()] {
			continue // never a user the page does not name
		}
		r, ok, err := a.item(ctx, a.m.getMany, v)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// complete reports whether what r answers is the whole user: not when it says its
// users lack fields, nor when users.get reads some behind their own endpoint.
func (a *Adapter) complete(r *request) bool {
	return !r.reread && len(a.m.get.then) == 0
}

// item reads one user of a lookup's or the list's answer, again with get when the
// call says its users lack fields; ok=false when it vanished meanwhile.
func (a *Adapter) item(ctx context.Context, r *request, v gjson.Result) (adapters.Record, bool, error) {
	if a.complete(r) {
		return a.record(v), true, nil
	}
	return a.get(ctx, v.Get(a.m.m.Users.Read.ID).String())
}

// written reads the user a write answered, or reads it again (after then calls,
// which change what the answer shows).
func (a *Adapter) written(ctx context.Context, r *request, resp *upstream.Response, id string) (adapters.Record, error) {
	if a.complete(r) && len(r.then) == 0 {
		v := result(r, resp.Body)
		if v.IsObject() {
			return a.record(v), nil
		}
		if id == "" {
			return adapters.Record{}, adapters.BadAnswerf("%s answered no user object to %s", a.m.m.Name, r.name)
		}
	}
	rec, ok, err := a.get(ctx, id)
	if err == nil && !ok {
		err = adapters.NotFoundf("%s: user %s vanished after %s", a.m.m.Name, id, r.name)
	}
	return rec, err
}

// FindUsers answers a point lookup with every matching user, managed or not.
func (a *Adapter) FindUsers(ctx context.Context, q adapters.Lookup) ([]adapters.Record, error) {
	if q.Kind == adapters.ByID {
		rec, ok, err := a.get(ctx, q.Value)
		if err != nil || !ok {
			return nil, err
		}
		return []adapters.Record{rec}, nil
	}
	var finder *request
	var match func(adapters.Record) bool
	switch q.Kind {
	case adapters.ByUserName:
		// the account's own name, or the copy of SCIM's (its owner renamed it): the
		// service decides which one it answers to
		finder, match = a.m.findUserName, func(r adapters.Record) bool {
			return strings.EqualFold(r.User.UserName, q.Value) || (r.Managed && r.RecordedUserName != "" && strings.EqualFold(r.RecordedUserName, q.Value))
		}
	case adapters.ByEmail:
		finder, match = a.m.findEmail, func(r adapters.Record) bool { return strings.EqualFold(r.User.PrimaryEmail(), q.Value) }
	case adapters.ByExternalID:
		if a.m.marksInStore {
			return nil, nil // the application keeps none: the link store answers
		}
		finder, match = a.m.findEx, func(r adapters.Record) bool { return r.Managed && r.User.ExternalID == q.Value }
	default:
		return nil, adapters.InvalidValue("", "rest: unsupported lookup kind %d", q.Kind)
	}
	var found []adapters.Record
	keep := func(r adapters.Record) {
		if match(r) {
			found = append(found, r)
		}
	}
	if finder == nil {
		// no lookup in the API: page through the listing
		return found, a.walk(ctx, func(r adapters.Record) bool { keep(r); return true })
	}
	resp, err := a.call(ctx, finder, Data{Value: q.Value})
	if adapters.Is(err, adapters.NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	for _, v := range result(finder, resp.Body).Array() {
		if !a.complete(finder) && !match(a.record(v)) {
			continue // what was listed already rules it out: no read
		}
		r, ok, err := a.item(ctx, finder, v)
		if err != nil {
			return nil, err
		}
		if ok {
			keep(r)
		}
	}
	return found, nil
}

// walk visits every user of the listing, page after page, until visit returns false.
func (a *Adapter) walk(ctx context.Context, visit func(adapters.Record) bool) error {
	l := a.m.m.Users.List
	size := a.Info().MaxPageSize
	p := upstream.Paging{PerPage: size, Exact: true, MaxPages: maxListPages,
		Unended: adapters.BadAnswerf("%s: the listing did not end after %d pages", a.m.m.Name, maxListPages)}
	switch l.Paging {
	case "link":
		p.Link = true
	case "offset":
		p.Offset, p.Size = l.OffsetParam, l.LimitParam
	case "page":
		p.Page, p.Size = l.PageParam, l.LimitParam
	}
	pages := a.pages(a.m.list, "users", func(at upstream.PageAt) Data {
		if p.Link {
			return Data{Limit: size, Page: 1} // the links name the next pages
		}
		return Data{Limit: size, Page: at.Number, Offset: at.Offset}
	})
	var verr error
	err := upstream.EachPage(ctx, p, pages, func(items []gjson.Result) bool {
		for _, v := range items {
			r, ok, err := a.item(ctx, a.m.list, v)
			if err != nil {
				verr = err
				return false
			}
			if ok && !visit(r) {
				return false
			}
		}
		return true
	})
	if verr != nil {
		return verr
	}
	return err
}

// pages reads the pages of the mapped listing r of what ("users", "groups"); data
// is what its templates see of a page.
func (a *Adapter) pages(r *request, what string, data func(upstream.PageAt) Data) upstream.Reader[gjson.Result] {
	return func(ctx context.Context, at upstream.PageAt) ([]gjson.Result, *upstream.Response, error) {
		d := data(at)
		d.Tenant = a.tenant
		req, err := r.build(d)
		if err != nil {
			return nil, nil, adapters.MisconfiguredBecause("rest mapping %s", err)
		}
		req.Query = at.Query(req.Query)
		resp, err := a.do(ctx, req)
		if err != nil {
			return nil, nil, err
		}
		if !resp.OK() {
			return nil, nil, a.api.StatusFact(resp, "")
		}
		items := result(r, resp.Body)
		if !items.IsArray() {
			return nil, nil, adapters.BadAnswerf("%s answered no list of %s to %s", a.m.m.Name, what, r.name)
		}
		return items.Array(), resp, nil
	}
}

// ListUsers returns a window of the tenant's managed users in ascending id order
// (every account, when the link store keeps the marks). It reads the whole listing
// (the application cannot filter on the managed marker); with the link index the
// service answers plain list pages without it.
func (a *Adapter) ListUsers(ctx context.Context, p adapters.Page) ([]adapters.Record, int, error) {
	var managed []adapters.Record
	if err := a.walk(ctx, func(r adapters.Record) bool {
		if r.Managed && r.Tenant == a.tenant || a.m.marksInStore {
			managed = append(managed, r)
		}
		return true
	}); err != nil {
		return nil, 0, err
	}
	recs, total := adapters.WindowOf(managed, p)
	return recs, total, nil
}

// CreateUser creates an active, managed user with a random password, then runs
// create's then calls. One that fails removes the new account again, so that the
// IdP's retry starts over rather than meet a half-made account.
func (a *Adapter) CreateUser(ctx context.Context, u *adapters.User) (adapters.Record, error) {
	active := *u
	active.Active = true
	d := data("", &active, adapters.State{Managed: true})
	resp, err := a.send(ctx, a.m.create, &d)
	if err != nil {
		return adapters.Record{}, err
	}
	id := ""
	if v := result(a.m.create, resp.Body); v.IsObject() {
		id = v.Get(a.m.m.Users.Read.ID).String()
	}
	if len(a.m.create.then) > 0 {
		if id == "" {
			return adapters.Record{}, adapters.BadAnswerf("%s answered no user id to %s, which its then calls need", a.m.m.Name, a.m.create.name)
		}
		d.ID = id
		if err := a.then(ctx, a.m.create, d); err != nil {
			if derr := a.DeleteUser(ctx, id); derr != nil && !adapters.Is(derr, adapters.NotFound) {
				return adapters.Record{}, fmt.Errorf("%w (removing the half-made account %s failed too: %v)", err, id, derr)
			}
			return adapters.Record{}, err
		}
	}
	return a.written(ctx, a.m.create, resp, id)
}

// write sends the update of u and st to user id, with its then calls, and reads
// the user it wrote.
func (a *Adapter) write(ctx context.Context, id string, u *adapters.User, st adapters.State) (adapters.Record, error) {
	d := data(id, u, st)
	resp, err := a.send(ctx, a.m.update, &d)
	if err != nil {
		return adapters.Record{}, err
	}
	if err := a.then(ctx, a.m.update, d); err != nil {
		return adapters.Record{}, err
	}
	return a.written(ctx, a.m.update, resp, id)
}

// action runs deactivate or reactivate on user id and reads it again.
func (a *Adapter) action(ctx context.Context, r *request, id string, u *adapters.User, st adapters.State) (adapters.Record, error) {
	d := data(id, u, st)
	if _, err := a.send(ctx, r, &d); err != nil {
		return adapters.Record{}, err
	}
	rec, ok, err := a.get(ctx, id)
	if err == nil && !ok {
		err = adapters.NotFoundf("%s: user %s vanished after %s", a.m.m.Name, id, r.name)
	}
	return rec, err
}

// UpdateUser writes u and the provisioning state st to user id.
func (a *Adapter) UpdateUser(ctx context.Context, id string, u *adapters.User, st adapters.State) (adapters.Record, error) {
	if !a.validID(id) {
		return adapters.Record{}, adapters.ErrNotFound
	}
	if a.m.noBlock {
		return a.updateNoBlock(ctx, id, u, st)
	}
	// With action endpoints, the state goes last on the way down (the update marks
	// the block as SCIM's, then deactivate) and first on the way up (reactivate,
	// then the update clears the mark): a call failing in between never leaves an
	// account blocked without SCIM's mark, which would read as a hand block that
	// the IdP's retry could not lift.
	if a.m.deactivate != nil && u.Active {
		cur, ok, err := a.get(ctx, id)
		if err != nil {
			return adapters.Record{}, err
		}
		if ok && !cur.User.Active {
			d := data(id, u, st)
			if _, err := a.send(ctx, a.m.reactivate, &d); err != nil {
				return adapters.Record{}, err
			}
		}
	}
	rec, err := a.write(ctx, id, u, st)
	if err != nil || a.m.deactivate == nil || rec.User.Active == u.Active {
		return rec, err
	}
	action := a.m.reactivate
	if !u.Active {
		action = a.m.deactivate
	}
	return a.action(ctx, action, id, u, st)
}

// updateNoBlock is UpdateUser for an application that cannot block: SCIM's active
// lives in the link store, and the mapping's actions run on its changes only
// (State.Deactivating, Reactivating), never on a write that keeps it, which would
// undo what an administrator gave (roles reset on every IdP push). As with a block,
// the state goes first on the way up and last on the way down, so a retry repairs
// a write that failed between them.
func (a *Adapter) updateNoBlock(ctx context.Context, id string, u *adapters.User, st adapters.State) (adapters.Record, error) {
	if st.Reactivating && a.m.reactivate != nil {
		d := data(id, u, st)
		if _, err := a.send(ctx, a.m.reactivate, &d); err != nil {
			return adapters.Record{}, err
		}
	}
	rec, err := a.write(ctx, id, u, st)
	if err != nil || !st.Deactivating || a.m.deactivate == nil {
		return rec, err
	}
	return a.action(ctx, a.m.deactivate, id, u, st)
}

// DeleteUser removes user id.
func (a *Adapter) DeleteUser(ctx context.Context, id string) error {
	if !a.validID(id) {
		return adapters.ErrNotFound
	}
	// An application that answers no 404 for an id it lacks (users.get has
	// empty_is_not_found) may answer a DELETE of one with success too (Directus
	// answers 204): read it first.
	if a.m.get.emptyNotFound {
		if _, ok, err := a.get(ctx, id); err != nil || !ok {
			if err == nil {
				err = adapters.ErrNotFound
			}
			return err
		}
	}
	resp, err := a.send(ctx, a.m.del, &Data{ID: id})
	if err != nil {
		return err
	}
	if resp.Status != http.StatusNoContent && resp.Status/100 != 2 {
		return a.api.StatusFact(resp, "")
	}
	return nil
}
