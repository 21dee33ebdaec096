// Package adapters defines the contract between the SCIM core and an upstream
// application. Each upstream lives in its own sub-package and registers a Caddy guest
// module in the namespace "scim.adapters" (for example scim.adapters.gitea).
//
// The contract:
//
//  1. An adapter maps one normalized User (and Group) onto one upstream
//     admin API — find, list, create, update, delete — and nothing more.
//  2. It keeps in the upstream, durably, what SCIM needs to survive a flushed cache:
//     the externalId, the "managed by SCIM" marker and the SCIM-deleted mark.
//  3. It answers with records and typed facts (facts.go): not found; a field taken;
//     a value invalid, and why; upstream unavailable, retry after; refused, and why;
//     misconfigured; an unreadable answer. It never builds a SCIM error.
//  4. It decides no SCIM rule: uniqueness, adoption, reactivation, the inactive
//     create, name merging, PATCH, filters, paging, scope and safety live once in
//     module/provision and module/scim. A login name it derives from a userName (not
//     the userName itself) may take a numeric suffix when taken.
//  5. Its HTTP goes through adapters/upstream: auth, size cap, retries honouring
//     Retry-After, the per-request memo, call counts, scrubbed upstream text.
//  6. Optional capabilities are the named interfaces of this file.
//  7. adapters/adaptertest checks all of it against a real upstream, and its Memory
//     adapter is the reference implementation.
package adapters

import (
	"context"
	"fmt"
	"strings"
)

// Info describes what an adapter can do; discovery documents are built from it.
type Info struct {
	// Name is the adapter's name, e.g. "gitea".
	Name string
	// UserAttributes lists the User attribute paths the upstream persists, in
	// canonical spelling: "userName", "name.givenName", "emails", "active",
	// "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", …
	// Attributes not listed are accepted on input and not stored. id, externalId and
	// meta are always supported and need not be listed.
	UserAttributes []string
	// GroupAttributes likewise for groups; empty when the adapter has no groups.
	GroupAttributes []string
	// MaxPageSize is the largest page the upstream answers in one call.
	MaxPageSize int
	// ListScans is set when ListUsers reads the whole upstream directory whatever
	// the window (the upstream cannot filter on the managed marker): the service
	// then checks group members one by one rather than against a listing.
	ListScans bool
	// UnmanagedMembers is set when group members as the adapter answers them
	// include accounts SCIM does not manage (the rest adapter reads a group's
	// member list as the application keeps it): the service then shows, and so
	// removes, only the managed ones.
	UnmanagedMembers bool
	// OneName is set when the upstream keeps a person's name as one string. The
	// service then merges what the IdP changed (name.formatted, givenName and
	// familyName, displayName) into the user's FullName before every write, and the
	// adapter stores FullName().
	OneName bool
	// MarksInStore is set when the application has no room for SCIM's marks (which
	// accounts SCIM manages, their externalId, the deleted and block marks): the
	// link store keeps them, and is then their only record. The adapter answers
	// every account unmarked (Managed false, no externalId) and ListUsers answers
	// every account; the service overlays each account's link, and an account
	// without a link is not SCIM's. Such an adapter serves only the default tenant.
	MarksInStore bool
	// NoBlock is set when the application cannot block an account: SCIM's active
	// lives in the link store, and what deprovisioning does in the application is
	// what UpdateUser does on State.Deactivating (an action: remove the roles,
	// suspend), or nothing.
	NoBlock bool
	// NameKeyed is set when the upstream reads an account by name faster than by
	// id (Gitea): a ByID lookup then carries the link store's UserNameHint, so the
	// service reads the link first. Otherwise it reads the link and the account at
	// the same time.
	NameKeyed bool
}

// OneNameUserAttributes are the User attributes an upstream stores that keeps a login
// name, one primary e-mail, an active flag and one name string (Info.OneName), as
// Gitea and GitLab do. name.givenName and name.familyName are accepted (and merged
// into the one name) but not advertised: "Mary Ann" "van Dyke" would read back as
// "Mary" "Ann van Dyke" (adaptertest/roundtrip).
var OneNameUserAttributes = []string{
	"userName",
	"name.formatted",
	"displayName",
	"emails",
	"active",
	"externalId",
}

// Record is one upstream user as the provisioning service sees it: the SCIM view plus
// the durable provisioning state that the adapter keeps in the upstream itself.
type Record struct {
	User *User
	// Managed is true for users this plugin created or adopted; others are invisible
	// to SCIM.
	Managed bool
	// Deleted is true once the user was DELETEd through SCIM in "block" mode: the
	// upstream user is blocked and still linked, but SCIM answers 404 for it.
	Deleted bool
	// Admin is true for upstream administrators, which SCIM never changes.
	Admin bool
	// Unconfirmed is true when the upstream has not confirmed the account's
	// e-mail (its holder may not own it): such an account is never adopted.
	Unconfirmed bool
	// BlockReason says, in words for the IdP's administrator, why the application
	// keeps the account from signing in ("has sign-in disabled in Gitea", "is
	// ldap_blocked in GitLab"); "" when it does not, or when the account's inactive
	// state is not a block (an e-mail not confirmed yet). Whose block it is, SCIM's
	// or someone else's, the service decides from BlockMark.
	BlockReason string
	// HandBlock is set by the service (module/provision), never by an adapter: why a
	// managed account is blocked by someone other than SCIM (BlockReason, when the
	// account is blocked without SCIM's mark). SCIM never lifts such a block.
	HandBlock string
	// BlockMark is set when the account carries SCIM's block mark in the
	// application (SCIM deprovisioned or DELETEd it), whether or not it is blocked
	// now: an active account with the mark was unblocked by someone else, and the
	// service then clears the stale mark (a write with the account's state), so
	// that a later block by hand never reads as SCIM's.
	BlockMark bool
	// Login is the account's own name in the application (its login or username),
	// which its owner may be able to change; "" when the application has none
	// besides the userName.
	Login string
	// RecordedUserName is the userName SCIM last wrote, read from the copy the
	// application keeps of it (Gitea login_name, a GitLab custom attribute, a
	// mapping's admin-only field); "" when this account carries none (written by a
	// version before the copy existed, or Unrecorded).
	RecordedUserName string
	// Unrecorded is set when the application has no room for that copy for this
	// account: the link store is then the only record of its userName, and a lost
	// link is never guessed from the application's name.
	Unrecorded bool
	// Tenant is the SCIM tenant whose mark a managed account carries (see
	// Tenancy); "" is the default tenant. The service sees only
	// its own tenant's accounts as managed.
	Tenant string
}

// State is the durable provisioning state written by UpdateUser.
type State struct {
	Managed bool
	Deleted bool
	// ForeignBlock keeps an inactive account's block as the application's own
	// (the account was HandBlocked), DELETEd or not: without it, writing Active
	// false records the block as SCIM's, which a later write with Active true lifts.
	ForeignBlock bool
	// Deactivating and Reactivating say that this write takes the account from
	// active to inactive, or back (as SCIM knew it before the write): an adapter
	// whose application cannot block (Info.NoBlock) runs its deprovisioning and
	// reprovisioning actions on them only, never on a write that keeps the state.
	Deactivating, Reactivating bool
}

// LookupKind names the attribute of a point lookup.
type LookupKind int

// Lookup kinds an adapter must answer; they are pushed down from SCIM filters.
const (
	ByID LookupKind = iota
	ByUserName
	ByExternalID
	ByEmail
	ByDisplayName // groups only
)

// Lookup is a point lookup. UserNameHint, when set on a ByID lookup, is the last known
// userName of that id (from the link store), which lets adapters whose API is keyed
// by name avoid a search.
type Lookup struct {
	Kind         LookupKind
	Value        string
	UserNameHint string
}

// MatchesGroup reports whether g answers q as FindGroups does: ByID and ByExternalID
// exactly, ByDisplayName in any case, no other kind.
func (q Lookup) MatchesGroup(g *Group) bool {
	switch q.Kind {
	case ByID:
		return g.ID == q.Value
	case ByExternalID:
		return g.ExternalID == q.Value
	case ByDisplayName:
		return strings.EqualFold(g.DisplayName, q.Value)
	}
	return false
}

// Page is a window of the managed users in a stable order (ascending upstream id).
// Offset is 0-based. Limit 0 asks only for the total.
type Page struct {
	Offset int
	Limit  int
}

// UserAdapter is implemented by every adapter.
type UserAdapter interface {
	Info() Info

	// FindUsers answers a point lookup. It returns every matching upstream user,
	// managed or not, deleted or not (the service decides what SCIM sees). userName and
	// email compare case-insensitively, externalId exactly (RFC 7643 caseExact); ByEmail
	// matches the upstream's primary e-mail (the one it keeps unique). No match is an
	// empty slice.
	FindUsers(ctx context.Context, q Lookup) ([]Record, error)

	// ListUsers returns managed users (deleted ones included) in ascending id order,
	// and the total number of managed users.
	ListUsers(ctx context.Context, p Page) (recs []Record, total int, err error)

	// CreateUser creates an active upstream user from u, with a random password the
	// user never needs, stores u.ExternalID and u.UserName (the userName of record)
	// durably and marks the user managed (for its tenant, see Tenancy; the service
	// deprovisions a user created inactive). A taken userName or e-mail is a
	// Taken fact.
	CreateUser(ctx context.Context, u *User) (Record, error)

	// UpdateUser writes the persisted attributes of u (userName, name, emails,
	// active, externalId, …) and the provisioning state st to upstream user id,
	// u.UserName as the userName of record. u is the complete desired resource
	// (PUT semantics). A retry of a write that failed halfway must repair it: the
	// account's state (blocked or not) is written last, after the attributes and
	// SCIM's marks, so a half-done write never leaves a mark that contradicts it.
	UpdateUser(ctx context.Context, id string, u *User, st State) (Record, error)

	// DeleteUser removes the upstream user (deprovision mode "delete").
	DeleteUser(ctx context.Context, id string) error
}

// GroupAdapter is implemented by adapters that map SCIM groups onto upstream groups
// (Gitea teams of one organization, GitLab groups). An adapter without it answers 501
// on /Groups and discovery leaves Groups out.
//
// Group ids are upstream ids as strings; member values are SCIM user ids. Only groups
// this plugin created (durably marked in the upstream) are visible; others do not
// exist for SCIM, exactly like unmanaged users.
//
// A group's Meta.Version covers its displayName and externalId (and the upstream
// fields they are read from), never its members: members change by deltas, and
// If-Match on a group guards its attributes.
type GroupAdapter interface {
	// FindGroups answers ByID, ByExternalID (exact) and ByDisplayName
	// (case-insensitive) lookups among managed groups; no match is an empty slice.
	// Members are included only when withMembers is true.
	FindGroups(ctx context.Context, q Lookup, withMembers bool) ([]*Group, error)
	// ListGroups returns managed groups in ascending id order and their total.
	ListGroups(ctx context.Context, p Page, withMembers bool) ([]*Group, int, error)
	// CreateGroup creates a managed group with g's displayName and externalId; it
	// does not add members (the service does, through AddMembers). The service has
	// checked that no managed group has the displayName or externalId.
	CreateGroup(ctx context.Context, g *Group) (*Group, error)
	// UpdateGroup writes displayName and externalId (members are not touched).
	UpdateGroup(ctx context.Context, id string, g *Group) (*Group, error)
	// AddMembers and RemoveMembers apply membership deltas of SCIM user ids. They
	// are idempotent (adding a member twice or removing a non-member succeeds). A
	// partial failure returns a *MemberError naming the members not applied (see
	// EachMember).
	AddMembers(ctx context.Context, id string, userIDs []string) error
	RemoveMembers(ctx context.Context, id string, userIDs []string) error
	// DeleteGroup removes the upstream group.
	DeleteGroup(ctx context.Context, id string) error
	// UserGroups returns the managed groups a user is a direct member of, for the
	// user's read-only groups attribute.
	UserGroups(ctx context.Context, userID string) ([]GroupRef, error)
}

// GroupSwitch is implemented by adapters whose group support depends on their
// configuration (Gitea needs an organization). A GroupAdapter that reports false
// is treated as having no groups: /Groups answers 501 and discovery leaves Groups out.
type GroupSwitch interface {
	GroupsEnabled() bool
}

// CallCounter is implemented by adapters that count the HTTP requests they send
// upstream (retries included); the handler exports the count as a metric and the
// benchmarks read it.
type CallCounter interface {
	UpstreamCalls() int64
}

// Tenancy is implemented by adapters that keep a tenant beside the managed marker in
// the application, so that several SCIM handlers (one per IdP) can provision one
// application without seeing each other's accounts. The handler calls SetTenant
// once, before any other call: from then on writes mark accounts and groups for
// that tenant, ListUsers and the group calls answer only that tenant's, and
// Record.Tenant reports the tenant of every account FindUsers returns. An adapter
// without it serves only the default tenant (""); one that cannot keep this tenant
// (a mapping without room for it) answers an error, which fails the config load.
type Tenancy interface {
	SetTenant(tenant string) error
}

// Tenant is the tenant of an adapter that keeps one (Tenancy): embed it, and the
// adapter has SetTenant; TenantName is what its marks carry.
type Tenant struct{ name string }

// SetTenant implements Tenancy.
func (t *Tenant) SetTenant(name string) error {
	if err := CheckTenant(name); err != nil {
		return err
	}
	t.name = name
	return nil
}

// TenantName is the tenant set ("" for the default tenant).
func (t *Tenant) TenantName() string { return t.name }

// CheckTenant validates a tenant name: letters, digits, '-', '_' and '.', at most 32
// (adapters keep it in marks of limited width and syntax).
func CheckTenant(t string) error {
	if len(t) > 32 {
		return fmt.Errorf("tenant %q: at most 32 characters", t)
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("tenant %q: only letters, digits, '-', '_' and '.'", t)
		}
	}
	return nil
}

// LinkExistingDefault is implemented by adapters whose configuration block may carry
// link_existing (GitLab's, for compatibility); the handler uses it when its own
// option is unset.
type LinkExistingDefault interface {
	LinkExistingMode() string
}

// Groups returns mod as a GroupAdapter when it implements one and, if it is a
// GroupSwitch, has groups enabled; else nil.
func Groups(mod any) GroupAdapter {
	ga, ok := mod.(GroupAdapter)
	if !ok {
		return nil
	}
	if sw, ok := mod.(GroupSwitch); ok && !sw.GroupsEnabled() {
		return nil
	}
	return ga
}

// link_existing modes: whether a POST may adopt an unmanaged upstream user whose
// e-mail or username matches.
const (
	LinkOff      = "off"
	LinkEmail    = "email"
	LinkUserName = "username"
)

// CheckLinkExisting validates a link_existing value ("" means unset).
func CheckLinkExisting(v string) error {
	switch v {
	case "", LinkOff, LinkEmail, LinkUserName:
		return nil
	}
	return fmt.Errorf("link_existing must be off, email or username, not %q", v)
}

// HealthChecker is implemented by adapters that can check, cheaply and without a
// write, that the upstream answers and that the admin credential is accepted and
// has the rights the adapter needs. Without it, the service lists one user.
type HealthChecker interface {
	CheckHealth(ctx context.Context) error
}

// UserBatch is implemented by adapters that can read many managed users in a few
// calls (GitLab: its managed listing from a keyset cursor): a list page reads its
// users through it instead of one read each.
type UserBatch interface {
	// ReadUsers returns managed users among ids (given in ascending id order), in
	// any order, as FindUsers ByID would return them; an id it does not return is
	// read alone by the service (gone, no longer managed, or out of the batch's
	// reach), so a partial answer is never wrong. It never returns a user ids do not
	// name.
	ReadUsers(ctx context.Context, ids []string) ([]Record, error)
}

// AllUsers is implemented by adapters that can walk every upstream account, managed
// or not, in ascending id order, for the drift report (accounts no IdP manages).
type AllUsers interface {
	EachUser(ctx context.Context, each func(Record) bool) error
}

// AllMembers is implemented by group adapters that can walk every member of a
// group, managed or not, for the drift report (members SCIM does not manage).
type AllMembers interface {
	EachMember(ctx context.Context, groupID string, each func(Record) bool) error
}
