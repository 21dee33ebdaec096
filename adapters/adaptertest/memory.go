package adaptertest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddy-scim/caddy-scim/adapters"
)

// Memory is an in-memory upstream behind the adapter contract: the reference
// implementation of adapters.UserAdapter, adapters.GroupAdapter and
// adapters.CallCounter, and the adapter the unit tests of module/provision and
// module/scimhandler run on. It passes Run and RunGroups.
//
// What it stores and answers:
//
//   - Users and groups are numbered separately, "1", "2", … in creation order; lists
//     are in ascending id order (adapters.CompareIDs).
//   - A user is the whole adapters.User it was given, minus Password, plus its
//     provisioning state (managed, deleted) and an admin flag. userName and the
//     primary e-mail (adapters.User.PrimaryEmail) compare case-insensitively and are
//     unique among all upstream users, managed or not: CreateUser and UpdateUser
//     answer a Taken fact for a value another account has. externalId compares
//     exactly and is not checked (uniqueness is the service's rule). An empty
//     userName, or an e-mail value that is no address (no '@', or a space), is an
//     Invalid fact.
//   - CreateUser creates an active, managed user, whatever u.Active says (the
//     contract: the service deprovisions a user created inactive).
//   - Meta.Version is adapters.Version of the stored fields and the provisioning
//     state, so it changes with every change and only then. A group's covers its
//     displayName and externalId, not its members, as every adapter's does: members
//     change by deltas, and If-Match on a group guards its attributes.
//     Meta.Created and Meta.LastModified are those of a seeded record, else zero.
//   - The userName SCIM writes is also kept as the userName of record
//     (Record.RecordedUserName), unless Unrecorded; Login is the account's own
//     name, which EditUser may change. Accounts and groups are marked for the
//     tenant of SetTenant; listings answer only that tenant's.
//   - Every group of the tenant is managed. Members are SCIM user ids of existing users; member
//     changes go through adapters.EachMember (an unknown user is a NotFound fact in a
//     *adapters.MemberError; removing a non-member succeeds). DeleteUser also removes
//     the user from its groups.
//   - Every call except Info counts as one upstream call (UpstreamCalls, Calls).
//
// The zero value is ready to use; set PageSize before the first call. Memory is safe
// for concurrent use, hooks included.
type Memory struct {
	// PageSize is Info().MaxPageSize; 0 means 100. ListUsers and ListGroups answer
	// the whole window asked for, however large.
	PageSize int
	// Unrecorded makes it an application without room for a copy of the userName
	// of record (Record.Unrecorded): the link store is then the only record.
	Unrecorded bool
	// MarksInStore makes it an application without room for SCIM's marks
	// (Info.MarksInStore): every account reads unmarked, without externalId, and
	// ListUsers answers them all. It implies Unrecorded.
	MarksInStore bool
	// NoBlock makes it an application that cannot block (Info.NoBlock): accounts
	// always read active, and a write with State.Deactivating removes the account's
	// access (Deprovisioned reports it), State.Reactivating gives it back.
	NoBlock bool

	mu      sync.Mutex
	users   map[string]*memUser
	groups  map[string]*memGroup
	nextU   int
	nextG   int
	calls   map[string]int64
	creates int64
	log     MemberLog
	delay   time.Duration
	fail    map[string]error
	failAdd map[string]error
	tenant  string
}

// memUser is one upstream account; u.UserName is its login in the application,
// which its owner may change (EditUser), recorded the copy of SCIM's userName.
type memUser struct {
	u                     adapters.User
	managed, deleted, adm bool
	unconfirmed           bool
	scimBlock             bool   // the block (Active false) is SCIM's
	deprovisioned         bool   // NoBlock: its access removed by a deprovisioning action
	recorded              string // the userName SCIM last wrote
	tenant                string // the tenant of the managed mark
}

type memGroup struct {
	g       adapters.Group // ID, DisplayName, ExternalID
	members map[string]bool
	tenant  string
}

// MemberLog is what the group side of a Memory was asked to do since the last
// ResetLog.
type MemberLog struct {
	// Adds and Removes hold the user ids of each AddMembers and RemoveMembers call
	// that reached an existing group, as passed (failed members included).
	Adds, Removes [][]string
	// GroupUpdates counts the UpdateGroup calls that reached an existing group.
	GroupUpdates int
	// WithMembers is the withMembers flag of every FindGroups and ListGroups call.
	WithMembers []bool
}

var (
	_ adapters.UserAdapter  = (*Memory)(nil)
	_ adapters.GroupAdapter = (*Memory)(nil)
	_ adapters.CallCounter  = (*Memory)(nil)
	_ adapters.Tenancy      = (*Memory)(nil)
)

// Deprovisioned reports whether a NoBlock application's account had its access
// removed by a deprovisioning action (and not given back).
func (m *Memory) Deprovisioned(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	mu, ok := m.users[id]
	return ok && mu.deprovisioned
}

// SetTenant implements adapters.Tenancy: accounts and groups are marked for tenant,
// and listings answer only that tenant's.
func (m *Memory) SetTenant(tenant string) error {
	if m.MarksInStore && tenant != "" {
		return fmt.Errorf("an application without room for SCIM's marks serves only the default tenant")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tenant = tenant
	return nil
}

// init prepares the maps; m.mu is held.
func (m *Memory) init() {
	if m.users == nil {
		m.users = map[string]*memUser{}
		m.groups = map[string]*memGroup{}
		m.calls = map[string]int64{}
	}
}

// begin counts a call of method and returns the error injected for it (Fail); it
// takes m.mu, which the caller releases.
func (m *Memory) begin(method string) error {
	m.mu.Lock()
	m.init()
	m.calls[method]++
	return m.fail[method]
}

// wait sleeps the injected delay (SetDelay), or until ctx ends.
func (m *Memory) wait(ctx context.Context) error {
	m.mu.Lock()
	d := m.delay
	m.mu.Unlock()
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Info describes the Memory adapter.
func (m *Memory) Info() adapters.Info {
	size := m.PageSize
	if size <= 0 {
		size = 100
	}
	return adapters.Info{
		Name:            "memory",
		UserAttributes:  []string{"userName", "name.formatted", "name.givenName", "name.familyName", "displayName", "emails", "active", "externalId"},
		GroupAttributes: []string{"displayName", "members"},
		MaxPageSize:     size,
		MarksInStore:    m.MarksInStore,
		ListScans:       m.MarksInStore,
		NoBlock:         m.NoBlock,
	}
}

// ---- users ----

func cloneUser(u *adapters.User) adapters.User {
	c := *u
	c.Password = ""
	if u.Name != nil {
		n := *u.Name
		c.Name = &n
	}
	if u.Enterprise != nil {
		e := *u.Enterprise
		if e.Manager != nil {
			mg := *e.Manager
			e.Manager = &mg
		}
		c.Enterprise = &e
	}
	c.Emails = slices.Clone(u.Emails)
	c.PhoneNumbers = slices.Clone(u.PhoneNumbers)
	c.IMs = slices.Clone(u.IMs)
	c.Photos = slices.Clone(u.Photos)
	c.Addresses = slices.Clone(u.Addresses)
	c.Groups = slices.Clone(u.Groups)
	c.Entitlements = slices.Clone(u.Entitlements)
	c.Roles = slices.Clone(u.Roles)
	c.X509Certificates = slices.Clone(u.X509Certificates)
	return c
}

// record is the answer for mu: a copy, with its version; m.mu is held.
func (m *Memory) record(mu *memUser) adapters.Record {
	u := cloneUser(&mu.u)
	if m.NoBlock {
		u.Active = true // the application has no such state
	}
	if m.MarksInStore {
		u.ExternalID = ""
	}
	body, _ := json.Marshal(&u) // Meta and Password are not part of it
	u.Meta.Version = adapters.Version(u.ID, string(body), mu.managed, mu.deleted, mu.recorded, mu.tenant, mu.scimBlock, mu.deprovisioned)
	r := adapters.Record{User: &u, Managed: mu.managed, Deleted: mu.deleted, Admin: mu.adm, Unconfirmed: mu.unconfirmed,
		BlockReason: map[bool]string{true: "is blocked"}[!u.Active],
		Login:       u.UserName, Unrecorded: m.Unrecorded || m.MarksInStore, BlockMark: mu.managed && mu.scimBlock}
	if m.MarksInStore {
		r.Managed, r.Deleted, r.BlockMark = false, false, false
		return r
	}
	if mu.managed {
		r.Tenant = mu.tenant
		if !m.Unrecorded {
			r.RecordedUserName = mu.recorded
		}
	}
	return r
}

// sortedUsers returns the users in ascending id order; m.mu is held.
func (m *Memory) sortedUsers() []*memUser {
	out := slices.Collect(maps.Values(m.users))
	slices.SortFunc(out, func(a, b *memUser) int { return adapters.CompareIDs(a.u.ID, b.u.ID) })
	return out
}

// FindUsers answers a point lookup among all users, managed or not.
func (m *Memory) FindUsers(_ context.Context, q adapters.Lookup) ([]adapters.Record, error) {
	err := m.begin("FindUsers")
	defer m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	out := []adapters.Record{}
	if q.Value == "" {
		return out, nil
	}
	for _, mu := range m.sortedUsers() {
		var hit bool
		switch q.Kind {
		case adapters.ByID:
			hit = mu.u.ID == q.Value
		case adapters.ByUserName: // the login, or the copy of SCIM's userName
			hit = strings.EqualFold(mu.u.UserName, q.Value) || (!m.Unrecorded && mu.managed && strings.EqualFold(mu.recorded, q.Value))
		case adapters.ByExternalID: // an application without marks has no externalId to search
			hit = !m.MarksInStore && mu.u.ExternalID == q.Value
		case adapters.ByEmail:
			hit = strings.EqualFold(mu.u.PrimaryEmail(), q.Value)
		}
		if hit {
			out = append(out, m.record(mu))
		}
	}
	return out, nil
}

// ListUsers returns a window of the managed users (deleted ones included).
func (m *Memory) ListUsers(_ context.Context, p adapters.Page) ([]adapters.Record, int, error) {
	err := m.begin("ListUsers")
	defer m.mu.Unlock()
	if err != nil {
		return nil, 0, err
	}
	var all []*memUser
	for _, mu := range m.sortedUsers() {
		if (mu.managed && mu.tenant == m.tenant) || m.MarksInStore {
			all = append(all, mu)
		}
	}
	page, total := adapters.Window(all, p)
	out := make([]adapters.Record, len(page))
	for i, mu := range page {
		out[i] = m.record(mu)
	}
	return out, total, nil
}

// check refuses what an upstream cannot store, and a userName or primary e-mail
// that another account than selfID has; m.mu is held.
func (m *Memory) check(selfID string, u *adapters.User) error {
	if strings.TrimSpace(u.UserName) == "" {
		return adapters.InvalidValue("userName", "the upstream needs a userName")
	}
	for _, e := range u.Emails {
		if e.Value == "" {
			continue
		}
		local, domain, ok := strings.Cut(e.Value, "@")
		if !ok || local == "" || domain == "" || strings.ContainsAny(e.Value, " \t\r\n") {
			return adapters.InvalidValue("emails", "%q is not an e-mail address", e.Value)
		}
	}
	email := u.PrimaryEmail()
	for _, o := range m.users {
		if o.u.ID == selfID {
			continue
		}
		if strings.EqualFold(o.u.UserName, u.UserName) {
			return adapters.TakenBy("userName", "the upstream already has an account named %q", u.UserName)
		}
		if email != "" && strings.EqualFold(o.u.PrimaryEmail(), email) {
			return adapters.TakenBy("emails", "the e-mail %q belongs to another upstream account", email)
		}
	}
	return nil
}

// CreateUser creates an active, managed user from u.
func (m *Memory) CreateUser(ctx context.Context, u *adapters.User) (adapters.Record, error) {
	werr := m.wait(ctx)
	err := m.begin("CreateUser")
	defer m.mu.Unlock()
	if err == nil {
		err = werr
	}
	if err != nil {
		return adapters.Record{}, err
	}
	if err := m.check("", u); err != nil {
		return adapters.Record{}, err
	}
	m.nextU++
	nu := cloneUser(u)
	nu.ID = strconv.Itoa(m.nextU)
	nu.Active = true
	nu.Meta = adapters.Meta{}
	mu := &memUser{u: nu, managed: true, recorded: u.UserName, tenant: m.tenant}
	m.users[nu.ID] = mu
	m.creates++
	return m.record(mu), nil
}

// UpdateUser writes u and st over user id.
func (m *Memory) UpdateUser(ctx context.Context, id string, u *adapters.User, st adapters.State) (adapters.Record, error) {
	werr := m.wait(ctx)
	err := m.begin("UpdateUser")
	defer m.mu.Unlock()
	if err == nil {
		err = werr
	}
	if err != nil {
		return adapters.Record{}, err
	}
	mu, ok := m.users[id]
	if !ok {
		return adapters.Record{}, adapters.NotFoundf("no upstream user %s", id)
	}
	if err := m.check(id, u); err != nil {
		return adapters.Record{}, err
	}
	nu := cloneUser(u)
	nu.ID = id
	nu.Meta = adapters.Meta{Created: mu.u.Meta.Created, LastModified: mu.u.Meta.LastModified}
	mu.u, mu.managed, mu.deleted = nu, st.Managed, st.Deleted
	mu.scimBlock = !nu.Active && !st.ForeignBlock
	switch {
	case m.NoBlock && st.Deactivating:
		mu.deprovisioned = true
	case m.NoBlock && st.Reactivating:
		mu.deprovisioned = false
	}
	mu.recorded, mu.tenant = "", ""
	if st.Managed {
		mu.recorded, mu.tenant = u.UserName, m.tenant
	}
	return m.record(mu), nil
}

// DeleteUser removes user id, and its memberships.
func (m *Memory) DeleteUser(_ context.Context, id string) error {
	err := m.begin("DeleteUser")
	defer m.mu.Unlock()
	if err != nil {
		return err
	}
	if _, ok := m.users[id]; !ok {
		return adapters.NotFoundf("no upstream user %s", id)
	}
	delete(m.users, id)
	for _, g := range m.groups {
		delete(g.members, id)
	}
	return nil
}

// ---- groups ----

// view is the answer for g: a copy with its version, members only when asked;
// m.mu is held.
func (m *Memory) view(g *memGroup, withMembers bool) *adapters.Group {
	out := g.g
	out.Meta = adapters.Meta{Version: adapters.Version(g.g.ID, g.g.DisplayName, g.g.ExternalID)}
	out.Members = nil
	if withMembers {
		for _, id := range slices.SortedFunc(maps.Keys(g.members), adapters.CompareIDs) {
			mem := adapters.Member{Value: id, Type: "User"}
			if u, ok := m.users[id]; ok {
				mem.Display = u.u.UserName
			}
			out.Members = append(out.Members, mem)
		}
	}
	return &out
}

func (m *Memory) sortedGroups() []*memGroup {
	out := slices.Collect(maps.Values(m.groups))
	slices.SortFunc(out, func(a, b *memGroup) int { return adapters.CompareIDs(a.g.ID, b.g.ID) })
	return out
}

// FindGroups answers ByID, ByExternalID (exact) and ByDisplayName
// (case-insensitive) lookups.
func (m *Memory) FindGroups(_ context.Context, q adapters.Lookup, withMembers bool) ([]*adapters.Group, error) {
	err := m.begin("FindGroups")
	defer m.mu.Unlock()
	m.log.WithMembers = append(m.log.WithMembers, withMembers)
	if err != nil {
		return nil, err
	}
	out := []*adapters.Group{}
	if q.Value == "" {
		return out, nil
	}
	for _, g := range m.sortedGroups() {
		if g.tenant == m.tenant && q.MatchesGroup(&g.g) {
			out = append(out, m.view(g, withMembers))
		}
	}
	return out, nil
}

// ListGroups returns a window of the groups.
func (m *Memory) ListGroups(_ context.Context, p adapters.Page, withMembers bool) ([]*adapters.Group, int, error) {
	err := m.begin("ListGroups")
	defer m.mu.Unlock()
	m.log.WithMembers = append(m.log.WithMembers, withMembers)
	if err != nil {
		return nil, 0, err
	}
	all := slices.DeleteFunc(m.sortedGroups(), func(g *memGroup) bool { return g.tenant != m.tenant })
	page, total := adapters.Window(all, p)
	out := make([]*adapters.Group, len(page))
	for i, g := range page {
		out[i] = m.view(g, withMembers)
	}
	return out, total, nil
}

// CreateGroup creates a group with g's displayName and externalId, without members.
func (m *Memory) CreateGroup(_ context.Context, g *adapters.Group) (*adapters.Group, error) {
	err := m.begin("CreateGroup")
	defer m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(g.DisplayName) == "" {
		return nil, adapters.InvalidValue("displayName", "the upstream needs a group name")
	}
	m.nextG++
	ng := &memGroup{g: adapters.Group{ID: strconv.Itoa(m.nextG), DisplayName: g.DisplayName, ExternalID: g.ExternalID}, members: map[string]bool{}, tenant: m.tenant}
	m.groups[ng.g.ID] = ng
	return m.view(ng, false), nil
}

// UpdateGroup writes displayName and externalId of group id.
func (m *Memory) UpdateGroup(_ context.Context, id string, g *adapters.Group) (*adapters.Group, error) {
	err := m.begin("UpdateGroup")
	defer m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	cur, ok := m.groups[id]
	if !ok {
		return nil, adapters.NotFoundf("no upstream group %s", id)
	}
	m.log.GroupUpdates++
	if strings.TrimSpace(g.DisplayName) == "" {
		return nil, adapters.InvalidValue("displayName", "the upstream needs a group name")
	}
	cur.g.DisplayName, cur.g.ExternalID = g.DisplayName, g.ExternalID
	return m.view(cur, false), nil
}

// AddMembers adds users to group id, one by one through adapters.EachMember.
func (m *Memory) AddMembers(ctx context.Context, id string, userIDs []string) error {
	return m.changeMembers(ctx, "AddMembers", id, userIDs, true)
}

// RemoveMembers removes users from group id; a non-member is no error.
func (m *Memory) RemoveMembers(ctx context.Context, id string, userIDs []string) error {
	return m.changeMembers(ctx, "RemoveMembers", id, userIDs, false)
}

func (m *Memory) changeMembers(ctx context.Context, method, id string, userIDs []string, add bool) error {
	werr := m.wait(ctx)
	err := m.begin(method)
	if err == nil {
		err = werr
	}
	if err == nil {
		if _, ok := m.groups[id]; !ok {
			err = adapters.NotFoundf("no upstream group %s", id)
		} else if add {
			m.log.Adds = append(m.log.Adds, slices.Clone(userIDs))
		} else {
			m.log.Removes = append(m.log.Removes, slices.Clone(userIDs))
		}
	}
	m.mu.Unlock()
	if err != nil {
		return err
	}
	return adapters.EachMember(ctx, userIDs, func(_ context.Context, uid string) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		g, ok := m.groups[id]
		if !ok {
			return adapters.ErrGroupGone
		}
		if !add {
			delete(g.members, uid)
			return nil
		}
		if err := m.failAdd[uid]; err != nil {
			return err
		}
		if _, ok := m.users[uid]; !ok {
			return adapters.NotFoundf("no upstream user %s", uid)
		}
		g.members[uid] = true
		return nil
	})
}

// DeleteGroup removes group id.
func (m *Memory) DeleteGroup(_ context.Context, id string) error {
	err := m.begin("DeleteGroup")
	defer m.mu.Unlock()
	if err != nil {
		return err
	}
	if _, ok := m.groups[id]; !ok {
		return adapters.NotFoundf("no upstream group %s", id)
	}
	delete(m.groups, id)
	return nil
}

// UserGroups returns the groups userID is a member of, in ascending id order.
func (m *Memory) UserGroups(_ context.Context, userID string) ([]adapters.GroupRef, error) {
	err := m.begin("UserGroups")
	defer m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	out := []adapters.GroupRef{}
	for _, g := range m.sortedGroups() {
		if g.members[userID] {
			out = append(out, adapters.GroupRef{Value: g.g.ID, Display: g.g.DisplayName, Type: "direct"})
		}
	}
	return out, nil
}

// ---- counters ----

// UpstreamCalls is the number of adapter calls so far (Info aside), failed ones
// included.
func (m *Memory) UpstreamCalls() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for _, c := range m.calls {
		n += c
	}
	return n
}

// Calls is the number of calls of one method so far, by its name ("FindUsers",
// "CreateUser", "AddMembers", …), failed ones included.
func (m *Memory) Calls(method string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[method]
}

// Creates is the number of users CreateUser created.
func (m *Memory) Creates() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.creates
}

// Log returns a copy of the membership log.
func (m *Memory) Log() MemberLog {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := MemberLog{GroupUpdates: m.log.GroupUpdates, WithMembers: slices.Clone(m.log.WithMembers)}
	for _, a := range m.log.Adds {
		l.Adds = append(l.Adds, slices.Clone(a))
	}
	for _, r := range m.log.Removes {
		l.Removes = append(l.Removes, slices.Clone(r))
	}
	return l
}

// ResetLog empties the membership log.
func (m *Memory) ResetLog() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.log = MemberLog{}
}

// ---- hooks ----

// SetDelay makes CreateUser, UpdateUser, AddMembers and RemoveMembers wait d (outside the lock)
// before they act, to widen race windows; 0 turns it off.
func (m *Memory) SetDelay(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.delay = d
}

// Fail makes every call of method (by name, as Calls) answer err, as an upstream
// failure would, until Fail(method, nil). err should be a fact
// (adapters.UnavailableFor, …).
func (m *Memory) Fail(method string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail == nil {
		m.fail = map[string]error{}
	}
	if err == nil {
		delete(m.fail, method)
		return
	}
	m.fail[method] = err
}

// FailMembers makes AddMembers fail for these user ids with their error (the
// others are added): the error goes through adapters.EachMember like a real
// upstream's, so a fact about the member (Refused, Invalid, NotFound, Taken) is
// named in a *adapters.MemberError and any other (Unavailable, …) is returned as the
// error of the whole call. nil clears.
func (m *Memory) FailMembers(failures map[string]error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failAdd = maps.Clone(failures)
}

// AddUnmanaged creates an active upstream user that SCIM does not manage, as an
// operator would (no externalId), optionally an administrator, and returns its id.
// It is no adapter call and checks nothing.
func (m *Memory) AddUnmanaged(userName, email string, admin bool) (id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	m.nextU++
	id = strconv.Itoa(m.nextU)
	u := adapters.User{ID: id, UserName: userName, Active: true}
	if email != "" {
		u.Emails = []adapters.MultiValue{{Value: email, Type: "work", Primary: true}}
	}
	m.users[id] = &memUser{u: u, adm: admin}
	return id
}

// Seed stores records as they are, with their ids, Managed, Deleted and Admin, and
// their Meta.Created and Meta.LastModified (the version is derived as always).
// Later creates get ids above the largest numeric one. It is no adapter call and
// checks nothing; a record with an id already stored replaces it.
func (m *Memory) Seed(recs ...adapters.Record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	for _, r := range recs {
		u := cloneUser(r.User)
		u.Meta = adapters.Meta{Created: r.User.Meta.Created, LastModified: r.User.Meta.LastModified}
		m.users[u.ID] = &memUser{u: u, managed: r.Managed, deleted: r.Deleted, adm: r.Admin, recorded: r.RecordedUserName, tenant: r.Tenant}
		if n, ok := adapters.NumericID(u.ID); ok && int(n) > m.nextU {
			m.nextU = int(n)
		}
	}
}

// User returns the stored user id with its state (Managed, Deleted, Admin), as
// FindUsers would, without counting a call.
func (m *Memory) User(id string) (adapters.Record, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mu, ok := m.users[id]
	if !ok {
		return adapters.Record{}, false
	}
	return m.record(mu), true
}

// EditUser changes user id behind SCIM's back, as an operator or the user would
// upstream: edit gets the stored record (a copy) and what it leaves is stored (its
// id and Meta aside): r.User.UserName is the account's login, which its owner may
// rename, RecordedUserName the copy of SCIM's userName and Tenant the mark, which
// only an administrator could change. SCIM's block marker stays as it is, as an
// application leaves an admin-only field its administrator does not edit. It reports whether the user exists; no call
// is counted.
func (m *Memory) EditUser(id string, edit func(*adapters.Record)) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	mu, ok := m.users[id]
	if !ok {
		return false
	}
	r := m.record(mu)
	edit(&r)
	u := cloneUser(r.User)
	u.ID, u.Meta = id, mu.u.Meta
	mu.u, mu.managed, mu.deleted, mu.adm, mu.unconfirmed = u, r.Managed, r.Deleted, r.Admin, r.Unconfirmed
	if !m.Unrecorded {
		mu.recorded = r.RecordedUserName
	}
	mu.tenant = r.Tenant
	return true
}

// EditGroup changes the displayName and externalId of group id behind SCIM's back
// (members are changed with AddMembers and RemoveMembers). It reports whether the
// group exists; no call is counted.
func (m *Memory) EditGroup(id string, edit func(*adapters.Group)) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	g, ok := m.groups[id]
	if !ok {
		return false
	}
	c := g.g
	edit(&c)
	g.g.DisplayName, g.g.ExternalID = c.DisplayName, c.ExternalID
	return true
}

// Members returns the member ids of group id in ascending id order (nil when the
// group does not exist), without counting a call.
func (m *Memory) Members(groupID string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	g, ok := m.groups[groupID]
	if !ok {
		return nil
	}
	return slices.SortedFunc(maps.Keys(g.members), adapters.CompareIDs)
}

// GroupIDs returns the ids of the stored groups in ascending order, without
// counting a call.
func (m *Memory) GroupIDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.SortedFunc(maps.Keys(m.groups), adapters.CompareIDs)
}
