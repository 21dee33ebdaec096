package rest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/caddy-scim/caddy-scim/adapters"
)

// Mapping describes one application's admin REST API: how to authenticate, where
// each user operation goes, what it sends, and where the answer keeps each attribute
// and the durable provisioning state. Operators write one as JSON (inline in the
// adapter's config, or in a file), or pick a preset by name.
type Mapping struct {
	// Name of the application in errors and logs, e.g. "Kratos".
	Name string `json:"name"`
	// Params names the params the adapter's config must give (instance-specific
	// values such as the id of a custom field); templates read them as
	// {{.Params.<name>}}.
	Params []string `json:"params,omitempty"`
	// Auth is how the adapter's token is sent: "none" (no credentials: Kratos'
	// admin API), "bearer" (Authorization: Bearer <token>), "header:<Name>"
	// (<Name>: <token>, e.g. header:X-Redmine-API-Key) or "basic:<user>" (HTTP
	// basic auth, the token as the password).
	Auth string `json:"auth"`
	// Login, when the application's admin tokens expire: the call that fetches
	// one (see Login); auth then says how it is sent.
	Login *Login `json:"login,omitempty"`
	// APIPath is appended once to the adapter's url, e.g. "/api/v1". Default "".
	APIPath string `json:"api_path,omitempty"`
	// IDs is the shape of the application's user ids: "uuid", "numeric" or "any"
	// (default). An id of another shape is not found without a call.
	IDs string `json:"ids,omitempty"`
	// ErrorMessage lists JSON paths (gjson syntax) of the error text in an error
	// answer, the first non-empty one wins, e.g. ["error.reason", "error.message"].
	ErrorMessage []string `json:"error_message,omitempty"`
	// ErrorField is the JSON path of the name of the field an error answer is
	// about, where the application keys its errors by field (PocketBase
	// "data|@keys|0", WordPress "data.params|@keys|0", Directus
	// "errors.0.extensions.field"): the detail then names it ("email: Value must
	// be unique.").
	ErrorField string `json:"error_field,omitempty"`
	// Errors say what an error answer means where its status alone would mislead,
	// the first that fits wins, e.g. {"status": 403, "contains": "LIMIT_EXCEEDED",
	// "means": "refused"}. Answers no rule fits: 404 not found, 409 taken, 400 and
	// 422 invalid, 401 and 403 misconfigured, 429 and 5xx unavailable.
	Errors []ErrorRule `json:"errors,omitempty"`
	// Users maps the SCIM User resource.
	Users Users `json:"users"`
	// Groups maps the SCIM Group resource; absent: no groups (/Groups is 501).
	Groups *Groups `json:"groups,omitempty"`
}

// Groups is the mapping of SCIM groups. Only groups SCIM created (read.managed) are
// visible; member values are SCIM user ids (the application's user ids).
type Groups struct {
	// Attributes are the group attributes the application stores; displayName
	// and members are required.
	Attributes []string    `json:"attributes"`
	Read       GroupFields `json:"read"`
	Create     Call        `json:"create"`
	Get        Call        `json:"get"`
	Update     Call        `json:"update"`
	Delete     Call        `json:"delete"`
	List       List        `json:"list"`
	// Members reads a group with its members (result: the group; read.members:
	// where the member ids are in it). Where the application keeps the members
	// behind their own endpoint, members reads the group and a then call (GET,
	// with as) the members: "then": [{"method": "GET", "path":
	// "/groups/{{.ID}}/users", "as": "members"}] with read.members
	// "members.users.#.id".
	Members Call `json:"members"`
	// AddMember and RemoveMember change one membership ({{.ID}} the group,
	// {{.Member}} the user). The adapter reads the members first, so a repeated
	// add or remove is never sent.
	AddMember    Call `json:"add_member"`
	RemoveMember Call `json:"remove_member"`
	// UserGroups reads a user's groups (result: the list; each with read.id);
	// optional: without it, the members of every managed group are read.
	UserGroups *Call `json:"user_groups,omitempty"`
}

// GroupFields are JSON paths into a group as the application answers it.
type GroupFields struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	ExternalID  string `json:"externalId"`
	Managed     Flag   `json:"managed"`
	// Members is the path of the member ids in the members call's group,
	// e.g. "users.#.id".
	Members string `json:"members"`
	// Tenant is where groups.create keeps {{.Tenant}}; optional, needed to serve
	// a tenant other than the default (see Fields.Tenant).
	Tenant Text `json:"tenant,omitzero"`
}

// Users is the mapping of SCIM users.
type Users struct {
	// Attributes are the SCIM attributes the application stores, in canonical
	// spelling ("userName", "name.givenName", "emails", "active", …).
	Attributes []string `json:"attributes"`
	// OneName is set when the application keeps a person's name as one string
	// (read.formatted); the service then merges name changes into it.
	OneName bool `json:"one_name,omitempty"`
	// UserNameFixed is set when the application does not let an account's owner
	// change the name at read.userName: that name is then SCIM's userName of
	// record. Give it or read.recorded_user_name; with neither, only the link
	// store records which userName an account belongs to.
	UserNameFixed bool `json:"user_name_fixed,omitempty"`
	// Read says where an answer keeps each attribute and the durable state.
	Read Fields `json:"read"`
	// The operations. get, create, update and delete are required; list is
	// required too (externalId lookups and the link index page through it).
	Create Call `json:"create"`
	Get    Call `json:"get"`
	Update Call `json:"update"`
	Delete Call `json:"delete"`
	List   List `json:"list"`
	// Deactivate and Reactivate are actions ("POST /users/{id}/block", or a body
	// that removes the roles) for applications whose writes cannot set the
	// account's state: after an update, the adapter calls the one that brings the
	// account to the user's active, when it differs. Without read.active (the
	// application cannot block) they run only when SCIM's active changes, never on
	// a write that keeps it. Both or neither.
	Deactivate *Call `json:"deactivate,omitempty"`
	Reactivate *Call `json:"reactivate,omitempty"`
	// Point lookups; each answers a list of users (result: where the list is).
	// A missing one is answered by paging through list.
	FindUserName   *Call `json:"find_username,omitempty"`
	FindEmail      *Call `json:"find_email,omitempty"`
	FindExternalID *Call `json:"find_external_id,omitempty"`
	// GetMany reads several users by id in one call, answering a list (result:
	// where it is): .IDs are the ids (ascending), .Limit their number. A list page
	// then costs one call instead of one get per user. Users it does not answer
	// are read with get.
	GetMany *Call `json:"get_many,omitempty"`
	// Taken lists the answers, beyond 409, that mean "this userName or e-mail is
	// taken", e.g. [{"status": 422, "contains": "has already been taken"}].
	Taken []Rule `json:"taken,omitempty"`
}

// Fields are JSON paths (gjson syntax, e.g. "traits.name.givenName") into a user as
// the application answers it.
type Fields struct {
	ID          string `json:"id"`
	UserName    string `json:"userName"`
	GivenName   string `json:"givenName,omitempty"`
	FamilyName  string `json:"familyName,omitempty"`
	Formatted   string `json:"formatted,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	Email       string `json:"email,omitempty"`
	ExternalID  string `json:"externalId"`
	Created     string `json:"created,omitempty"`
	Modified    string `json:"modified,omitempty"`
	// DateFormat is the Go layout of created and modified
	// ("2006-01-02 15:04:05.000Z"); default: RFC 3339, the same with a space for
	// the T, or Unix seconds. A date that does not parse is logged once.
	DateFormat string `json:"date_format,omitempty"`
	// Active is whether the account may sign in. Left out (with the marks below),
	// the application cannot block: SCIM's active lives in the link store and
	// deprovisioning is users.deactivate, or nothing (adapters.Info.NoBlock).
	Active Flag `json:"active"`
	// Managed, Deleted and SCIMBlock are the durable provisioning state the
	// writes keep in the application (see Data): managed by SCIM, DELETEd
	// through SCIM, and blocked by SCIM (a block that is not SCIM's is the
	// application's own, which SCIM never lifts). Left out with ExternalID, all
	// four, the link store keeps them (adapters.Info.MarksInStore).
	Managed   Flag `json:"managed"`
	Deleted   Flag `json:"deleted"`
	SCIMBlock Flag `json:"scim_block"`
	// Admin marks the application's administrators, which SCIM never changes.
	Admin Flag `json:"admin,omitempty"`
	// RecordedUserName is an admin-only copy of the userName SCIM last wrote (the
	// create and update bodies write {{.User.UserName}} there): the userName of
	// record, which survives the account's owner renaming himself in the
	// application.
	RecordedUserName string `json:"recorded_user_name,omitempty"`
	// Tenant is where the create and update bodies keep {{.Tenant}}, so that
	// several scim handlers (one per IdP) can share the application; an absent or
	// empty value is the default tenant. Optional.
	Tenant Text `json:"tenant,omitzero"`
	// EmailVerified, when mapped, is whether the application confirmed the
	// account's e-mail: an account with it false is never adopted (its holder may
	// not own the address).
	EmailVerified Flag `json:"email_verified,omitzero"`
}

// Flag reads a boolean: true when the value at Path is JSON true, or its text is one
// of Equals. With Before, only the text before the first Before counts, so that one
// field can keep a state and a tenant ("blocked@acme" reads as "blocked"). In JSON a
// Flag is a path ("admin") or {"path": "status", "equals": ["1"]}.
type Flag struct {
	Path   string   `json:"path"`
	Equals []string `json:"equals,omitempty"`
	Before string   `json:"before,omitempty"`
}

// Text reads a string: the text at Path or, with After, the part of it after the
// first After ("" when it has none: "blocked@acme" reads as "acme", "blocked" as "").
// In JSON a Text is a path or {"path": …, "after": "@"}.
type Text struct {
	Path  string `json:"path"`
	After string `json:"after,omitempty"`
}

// UnmarshalJSON accepts a bare path.
func (t *Text) UnmarshalJSON(b []byte) error {
	var p string
	if json.Unmarshal(b, &p) == nil {
		*t = Text{Path: p}
		return nil
	}
	type plain Text
	return json.Unmarshal(b, (*plain)(t))
}

// String describes t for a summary.
func (t Text) String() string {
	if t.After == "" {
		return t.Path
	}
	return fmt.Sprintf("%s (after %q)", t.Path, t.After)
}

// UnmarshalJSON accepts a bare path.
func (f *Flag) UnmarshalJSON(b []byte) error {
	var p string
	if json.Unmarshal(b, &p) == nil {
		*f = Flag{Path: p}
		return nil
	}
	type plain Flag
	return json.Unmarshal(b, (*plain)(f))
}

// Call is one HTTP request. Path, the query values and every string in Body are Go
// templates (text/template) over Data; a body string that is one action ending in
// the json function ("{{json .Managed}}") is replaced by that JSON value (a bool, a
// number, an object), every other one stays a string.
type Call struct {
	Method string            `json:"method"`
	Path   string            `json:"path"`
	Query  map[string]string `json:"query,omitempty"`
	Body   json.RawMessage   `json:"body,omitempty"`
	// Form sends Body, a flat object, as application/x-www-form-urlencoded (PHP
	// applications such as MediaWiki's api.php read no JSON).
	Form bool `json:"form,omitempty"`
	// Result is the JSON path of the user (for lookups and lists: of the array of
	// users) in the answer; "" is the whole body.
	Result string `json:"result,omitempty"`
	// Reread: the answer carries no user (Redmine's PUT answers 204), or, for a
	// lookup or the list, its users lack fields (Redmine's list has no status):
	// each user is read again with get.
	Reread bool `json:"reread,omitempty"`
	// Before are calls made first, in order, each for one value of its answer that
	// this call's templates read as {{.Before.<name>}} (a CSRF token). Only the
	// user writes (create, update, delete, deactivate, reactivate, then) take them.
	Before []Fetch `json:"before,omitempty"`
	// Then are calls made after this one, in order, for what the application keeps
	// behind its own endpoint. After users.create and users.update they write (a
	// profile, roles); after users.get they read, and each answer joins the user
	// under its As name, where users.read's paths find it ("profile.bio").
	Then []Call `json:"then,omitempty"`
	// As names the answer of a users.get then call in the user.
	As string `json:"as,omitempty"`
	// EmptyIsNotFound: an answer without result is "no such user or group", for a
	// get that filters a list by id because the application answers another
	// status than 404 for an id it does not have (Directus: 403). Such an
	// application's DELETE is not trusted to say 404 either: users.delete reads the
	// user first. Only users.get, groups.get and groups.members.
	EmptyIsNotFound bool `json:"empty_is_not_found,omitempty"`
}

// Fetch is a call made before another for one value of its answer.
type Fetch struct {
	// Name is how templates read the value: {{.Before.<Name>}}.
	Name   string            `json:"name"`
	Method string            `json:"method"`
	Path   string            `json:"path"`
	Query  map[string]string `json:"query,omitempty"`
	Body   json.RawMessage   `json:"body,omitempty"`
	Form   bool              `json:"form,omitempty"`
	// Value is the JSON path of the value in the answer, e.g.
	// "query.tokens.csrftoken"; an answer without it fails the write.
	Value string `json:"value"`
}

// List is the listing of all users.
type List struct {
	Call
	// Paging is how the listing pages: "link" (follow the Link header's
	// rel="next"), "offset" (offset_param and limit_param), "page" (page_param,
	// 1-based, and limit_param) or "none".
	Paging      string `json:"paging"`
	PageSize    int    `json:"page_size,omitempty"` // default 100
	OffsetParam string `json:"offset_param,omitempty"`
	PageParam   string `json:"page_param,omitempty"`
	LimitParam  string `json:"limit_param,omitempty"`
}

// Rule matches an answer by status and, optionally, a piece of its text.
type Rule struct {
	Status   int    `json:"status"`
	Contains string `json:"contains,omitempty"`
}

// ErrorRule is a Rule with what the answer means.
type ErrorRule struct {
	Rule
	// Means is the fact: "taken", "invalid", "refused" (the application will not
	// do this to this account: a seat limit, a protected user), "not_found",
	// "unavailable" or "misconfigured" (the adapter's token or settings).
	Means string `json:"means"`
	// Field is the SCIM attribute a taken or invalid answer is about
	// ("userName", "emails", "externalId", "name", "displayName", "members");
	// optional.
	Field string `json:"field,omitempty"`
}

// errorFacts are the facts an ErrorRule may mean.
var errorFacts = map[string]adapters.Fact{"taken": adapters.Taken, "invalid": adapters.Invalid, "refused": adapters.Refused,
	"not_found": adapters.NotFound, "unavailable": adapters.Unavailable, "misconfigured": adapters.Misconfigured}

// errorFields are the attributes an ErrorRule's field may name.
var errorFields = []string{"userName", "emails", "externalId", "name", "displayName", "members"}

// checkErrors checks the error rules, users.taken among them (a taken rule
// without a field).
func checkErrors(m *Mapping) ([]ErrorRule, error) {
	var out []ErrorRule
	for i, r := range m.Users.Taken {
		if r.Status < 400 || r.Status > 499 {
			return nil, fmt.Errorf("mapping users.taken[%d].status: must be a 4xx status", i)
		}
		out = append(out, ErrorRule{Rule: r, Means: "taken"})
	}
	for i, r := range m.Errors {
		field := fmt.Sprintf("mapping errors[%d]", i)
		f, ok := errorFacts[r.Means]
		switch {
		case r.Status < 400 || r.Status > 599:
			return nil, fmt.Errorf("%s.status: must be a 4xx or 5xx status, not %d", field, r.Status)
		case !ok:
			return nil, fmt.Errorf("%s.means: must be taken, invalid, refused, not_found, unavailable or misconfigured, not %q", field, r.Means)
		case r.Field != "" && f != adapters.Taken && f != adapters.Invalid:
			return nil, fmt.Errorf("%s.field: only a taken or invalid answer names a field", field)
		case r.Field != "" && !slices.Contains(errorFields, r.Field):
			return nil, fmt.Errorf("%s.field: must be one of %s, not %q", field, strings.Join(errorFields, ", "), r.Field)
		}
		out = append(out, r)
	}
	return out, nil
}

// fact is what an answer that r fits means; reason is the application's text.
func (r ErrorRule) fact(reason string) *adapters.Error {
	switch f := errorFacts[r.Means]; f {
	case adapters.Taken:
		return adapters.TakenBy(r.Field, "%s", reason)
	case adapters.Invalid:
		return adapters.InvalidValue(r.Field, "%s", reason)
	case adapters.Refused:
		return adapters.RefusedBecause("%s", reason)
	case adapters.NotFound:
		return adapters.NotFoundf("%s", reason)
	case adapters.Unavailable:
		return adapters.UnavailableFor(0, "%s", reason)
	default:
		return adapters.MisconfiguredBecause("%s", reason)
	}
}

// matches reports whether an answer fits r.
func (r Rule) matches(status int, body []byte) bool {
	return status == r.Status && (r.Contains == "" || bytes.Contains(bytes.ToLower(body), []byte(strings.ToLower(r.Contains))))
}

// parseMapping reads a mapping; unknown fields are errors (a misspelt field would
// otherwise silently do nothing).
func parseMapping(b []byte) (*Mapping, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Mapping
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("mapping: %v", err)
	}
	return &m, nil
}

// compiled is a checked mapping with its templates parsed.
type compiled struct {
	m                               *Mapping
	info                            adapters.Info // what Info answers, made once
	create, get, update, del        *request
	findUserName, findEmail, findEx *request
	getMany                         *request
	list                            *request
	deactivate, reactivate          *request
	errors                          []ErrorRule
	rules5xx                        bool     // some error rule is about a 5xx
	login                           *session // nil: the adapter's token is sent as it is
	groups                          *groupRequests
	// marksInStore and noBlock are the mapping's modes (adapters.Info): users.read
	// leaves out SCIM's marks, and active too.
	marksInStore, noBlock bool
}

// groupRequests are the compiled group calls.
type groupRequests struct {
	create, get, update, del, list, members, add, remove, userGroups *request
}

// compile checks every field of m and parses its templates; an error names the
// field ("users.create.body.traits.email: …"). A mapping that fails loads nothing.
func compile(m *Mapping, params map[string]string) (*compiled, error) {
	if err := checkMapping(m, params); err != nil {
		return nil, err
	}
	if err := checkUserFields(m.Users); err != nil {
		return nil, err
	}
	c := &compiled{m: m, marksInStore: inStore(m.Users.Read)}
	var err error
	if c.login, err = compileLogin(m, params); err != nil {
		return nil, err
	}
	c.noBlock = c.marksInStore && strings.TrimSpace(m.Users.Read.Active.Path) == ""
	if err := c.compileUsers(params); err != nil {
		return nil, err
	}
	if err := checkUserList(m.Users.List); err != nil {
		return nil, err
	}
	if err := c.checkUserWrites(); err != nil {
		return nil, err
	}
	if m.Groups != nil {
		if c.groups, err = compileGroups(m.Groups, params); err != nil {
			return nil, err
		}
	}
	c.info = c.describe()
	return c, nil
}

// checkMapping checks what the whole mapping declares: its name, auth, ids and
// params, which must be exactly those the adapter's config gives.
func checkMapping(m *Mapping, params map[string]string) error {
	if strings.TrimSpace(m.Name) == "" {
		return fmt.Errorf("mapping name: required")
	}
	if err := checkAuth(m.Auth); err != nil {
		return fmt.Errorf("mapping auth: %v", err)
	}
	switch m.IDs {
	case "", "any", "uuid", "numeric":
	default:
		return fmt.Errorf("mapping ids: must be uuid, numeric or any, not %q", m.IDs)
	}
	for _, p := range m.Params {
		if _, ok := params[p]; !ok {
			return fmt.Errorf("mapping params: the adapter's params must give %s (see the mapping's documentation)", p)
		}
	}
	for p := range params {
		if !slices.Contains(m.Params, p) {
			return fmt.Errorf("params: %s is not a param of mapping %s (params: %s)", p, m.Name, strings.Join(m.Params, ", "))
		}
	}
	return nil
}

// checkUserFields checks users.attributes and where users.read finds each.
func checkUserFields(u Users) error {
	if len(u.Attributes) == 0 {
		return fmt.Errorf("mapping users.attributes: required")
	}
	if !slices.Contains(u.Attributes, "userName") {
		return fmt.Errorf("mapping users.attributes: must hold userName")
	}
	for _, f := range []struct{ name, path string }{{"id", u.Read.ID}, {"userName", u.Read.UserName}} {
		if strings.TrimSpace(f.path) == "" {
			return fmt.Errorf("mapping users.read.%s: required", f.name)
		}
	}
	if err := checkMarks(u); err != nil {
		return err
	}
	if err := checkAttributes(u); err != nil {
		return err
	}
	if u.UserNameFixed && strings.TrimSpace(u.Read.RecordedUserName) != "" {
		return fmt.Errorf("mapping users.user_name_fixed, users.read.recorded_user_name: give one or neither (a userName its owner cannot change is its own record)")
	}
	return checkOptional("users.read", map[string]Flag{"admin": u.Read.Admin, "email_verified": u.Read.EmailVerified}, u.Read.Tenant)
}

// checkAttributes refuses a name or e-mail attribute that users.attributes lists
// and users.read cannot give back (/Schemas would advertise what never round-trips)
// and, with one_name, the name parts, which read back split from the one string.
func checkAttributes(u Users) error {
	r := u.Read
	one := cmp.Or(strings.TrimSpace(r.Formatted), strings.TrimSpace(r.DisplayName))
	if u.OneName {
		switch {
		case one == "":
			return fmt.Errorf("mapping users.read.formatted: required with one_name: the path of the one name string")
		case strings.TrimSpace(r.GivenName) != "" || strings.TrimSpace(r.FamilyName) != "":
			return fmt.Errorf("mapping users.read.givenName: with one_name the name parts are read from the one string; leave givenName and familyName out")
		}
		for _, a := range u.Attributes {
			if a == "name.givenName" || a == "name.familyName" {
				return fmt.Errorf("mapping users.attributes: with one_name list name.formatted and displayName, not %s (the parts read back split at the first space)", a)
			}
		}
	}
	if !u.OneName && strings.TrimSpace(r.Formatted) != "" && strings.TrimSpace(r.Formatted) == strings.TrimSpace(r.DisplayName) {
		return fmt.Errorf("mapping users.one_name: users.read.formatted and displayName are the same field: set one_name, so that SCIM merges name changes into it")
	}
	for _, f := range []struct{ attr, read, path string }{
		{"name.givenName", "givenName", r.GivenName}, {"name.familyName", "familyName", r.FamilyName},
		{"name.formatted", "formatted", cmp.Or(r.Formatted, map[bool]string{true: one}[u.OneName])},
		{"displayName", "displayName", cmp.Or(r.DisplayName, map[bool]string{true: one}[u.OneName])},
		{"emails", "email", r.Email},
	} {
		if slices.Contains(u.Attributes, f.attr) && strings.TrimSpace(f.path) == "" {
			return fmt.Errorf("mapping users.read.%s: required, since users.attributes lists %s (it would never be read back)", f.read, f.attr)
		}
	}
	return nil
}

// marks are SCIM's marks in users.read, in the order errors name them.
func marks(f Fields) []struct{ name, path string } {
	return []struct{ name, path string }{{"externalId", f.ExternalID}, {"managed.path", f.Managed.Path},
		{"deleted.path", f.Deleted.Path}, {"scim_block.path", f.SCIMBlock.Path}}
}

// inStore reports whether users.read leaves SCIM's marks to the link store.
func inStore(f Fields) bool {
	for _, m := range marks(f) {
		if strings.TrimSpace(m.path) != "" {
			return false
		}
	}
	return true
}

// checkMarks checks the mode of users.read: SCIM's marks all in the application or
// all in the link store (half of them would be a record nobody keeps whole), and
// active left out only with them, since the core keeps SCIM's active in the store
// only for an application without marks.
func checkMarks(u Users) error {
	f := u.Read
	for _, fl := range []struct {
		name string
		f    Flag
	}{{"active", f.Active}, {"managed", f.Managed}, {"deleted", f.Deleted}, {"scim_block", f.SCIMBlock}} {
		if strings.TrimSpace(fl.f.Path) == "" && (len(fl.f.Equals) > 0 || fl.f.Before != "") {
			return fmt.Errorf("mapping users.read.%s.path: required", fl.name)
		}
	}
	if !inStore(f) {
		for _, m := range marks(f) {
			if strings.TrimSpace(m.path) == "" {
				return fmt.Errorf("mapping users.read.%s: required: map all four of externalId, managed, deleted and scim_block (SCIM's marks kept in the application), or leave all four out (kept in the link store)", m.name)
			}
		}
		if strings.TrimSpace(f.Active.Path) == "" {
			return fmt.Errorf("mapping users.read.active.path: required while SCIM's marks are kept in the application (an application that cannot block keeps them in the link store: leave out externalId, managed, deleted and scim_block too)")
		}
		return nil
	}
	if f.Tenant.Path != "" || f.Tenant.After != "" {
		return fmt.Errorf("mapping users.read.tenant: SCIM's marks are kept in the link store, which serves only the default tenant: leave it out")
	}
	if u.FindExternalID != nil && u.FindExternalID.Path != "" {
		return fmt.Errorf("mapping users.find_external_id: the application keeps no externalId (users.read.externalId is not mapped; the link store finds it): leave it out")
	}
	return nil
}

// userOp is one user call of a mapping and what it may carry.
type userOp struct {
	name     string
	call     *Call
	dst      **request
	required bool
	body     int  // bodyNone, bodyRequired or bodyOptional
	before   bool // may fetch values first
	then     int  // thenNone, thenWrite or thenRead
}

const (
	bodyNone = iota
	bodyRequired
	bodyOptional
)

const (
	thenNone = iota
	thenWrite
	thenRead
)

// compileUsers parses the user calls; the optional ones without a path stay nil.
func (c *compiled) compileUsers(params map[string]string) error {
	u := &c.m.Users
	for _, op := range []userOp{
		{"create", &u.Create, &c.create, true, bodyRequired, true, thenWrite},
		{"get", &u.Get, &c.get, true, bodyNone, false, thenRead},
		{"update", &u.Update, &c.update, true, bodyRequired, true, thenWrite},
		{"delete", &u.Delete, &c.del, true, bodyNone, true, thenNone},
		{"find_username", u.FindUserName, &c.findUserName, false, bodyNone, false, thenNone},
		{"find_email", u.FindEmail, &c.findEmail, false, bodyNone, false, thenNone},
		{"find_external_id", u.FindExternalID, &c.findEx, false, bodyNone, false, thenNone},
		{"get_many", u.GetMany, &c.getMany, false, bodyNone, false, thenNone},
		{"list", &u.List.Call, &c.list, true, bodyNone, false, thenNone},
		{"deactivate", u.Deactivate, &c.deactivate, false, bodyOptional, true, thenNone},
		{"reactivate", u.Reactivate, &c.reactivate, false, bodyOptional, true, thenNone},
	} {
		if op.call == nil || !op.required && op.call.Path == "" {
			continue
		}
		var err error
		if *op.dst, err = compileUserOp(op, params); err != nil {
			return err
		}
	}
	if (c.deactivate == nil) != (c.reactivate == nil) {
		return fmt.Errorf("mapping users.deactivate, users.reactivate: give both or neither")
	}
	if c.get.method != http.MethodGet {
		return fmt.Errorf("mapping users.get.method: must be GET")
	}
	return nil
}

// compileUserOp compiles one user call with its before and then calls, refusing a
// sequence where the call takes none.
func compileUserOp(op userOp, params map[string]string) (*request, error) {
	field := "users." + op.name
	if len(op.call.Before) > 0 && !op.before {
		return nil, fmt.Errorf("mapping %s.before: only the writes (create, update, delete, deactivate, reactivate and their then calls) fetch values first", field)
	}
	if len(op.call.Then) > 0 && op.then == thenNone {
		return nil, fmt.Errorf("mapping %s.then: only users.create, users.update and users.get take then calls", field)
	}
	if op.call.As != "" {
		return nil, fmt.Errorf("mapping %s.as: only a users.get then call names its answer", field)
	}
	if op.call.EmptyIsNotFound && op.name != "get" {
		return nil, fmt.Errorf("mapping %s.empty_is_not_found: only users.get, groups.get and groups.members read a missing result as not found", field)
	}
	withBody := op.body == bodyRequired || op.body == bodyOptional && len(op.call.Body) > 0
	r, err := compileCallIn(field, *op.call, withBody, scope{params: params})
	if err != nil {
		return nil, err
	}
	if err := r.compileThen(field, op.call.Then, op.then, params); err != nil {
		return nil, err
	}
	return r, nil
}

// compileThen compiles r's then calls of kind (thenWrite, thenRead); field names r.
func (r *request) compileThen(field string, calls []Call, kind int, params map[string]string) error {
	for i, t := range calls {
		tf := fmt.Sprintf("%s.then[%d]", field, i)
		if err := checkThen(tf, t, kind); err != nil {
			return err
		}
		sc := scope{params: params, before: r.beforeNames()}
		tr, err := compileCallIn(tf, t, len(t.Body) > 0, sc)
		if err != nil {
			return err
		}
		r.then = append(r.then, tr)
	}
	return nil
}

// checkThen checks what a then call of kind (thenWrite, thenRead) may carry.
func checkThen(field string, t Call, kind int) error {
	switch {
	case len(t.Then) > 0:
		return fmt.Errorf("mapping %s.then: a then call has no then calls of its own", field)
	case t.Reread:
		return fmt.Errorf("mapping %s.reread: a then call is never read as the user", field)
	case kind == thenWrite && t.As != "":
		return fmt.Errorf("mapping %s.as: a write's then call answers nothing SCIM reads", field)
	case kind == thenWrite && t.Result != "":
		return fmt.Errorf("mapping %s.result: a write's then call answers nothing SCIM reads", field)
	case kind == thenRead && t.As == "":
		return fmt.Errorf("mapping %s.as: required: the name under which users.read (groups.read) finds its answer", field)
	case kind == thenRead && !nameRE.MatchString(t.As):
		return fmt.Errorf("mapping %s.as: must be letters, digits and _ (users.read or groups.read finds the answer there), not %q", field, t.As)
	case kind == thenRead && strings.ToUpper(strings.TrimSpace(t.Method)) != http.MethodGet:
		return fmt.Errorf("mapping %s.method: a then call of a read reads: must be GET", field)
	case kind == thenRead && len(t.Before) > 0:
		return fmt.Errorf("mapping %s.before: a then call of a read fetches nothing first", field)
	}
	return nil
}

// checkUserList checks how users.list pages.
func checkUserList(l List) error {
	switch l.Paging {
	case "none", "link":
	case "offset":
		if l.OffsetParam == "" || l.LimitParam == "" {
			return fmt.Errorf("mapping users.list: offset paging needs offset_param and limit_param")
		}
	case "page":
		if l.PageParam == "" || l.LimitParam == "" {
			return fmt.Errorf("mapping users.list: page paging needs page_param and limit_param")
		}
	default:
		return fmt.Errorf("mapping users.list.paging: must be link, offset, page or none, not %q", l.Paging)
	}
	if l.PageSize < 0 {
		return fmt.Errorf("mapping users.list.page_size: must not be negative")
	}
	return nil
}

// checkUserWrites checks that the writes keep the tenant where users.read finds it,
// and the error rules.
func (c *compiled) checkUserWrites() error {
	u := c.m.Users
	if u.Read.Tenant.Path != "" {
		for _, r := range []*request{c.create, c.update} {
			if !r.mentions(".Tenant") {
				return fmt.Errorf("mapping %s: users.read.tenant is mapped, so this call must write {{.Tenant}} there", r.name)
			}
		}
	}
	var err error
	c.errors, err = checkErrors(c.m)
	for _, r := range c.errors {
		c.rules5xx = c.rules5xx || r.Status >= 500
	}
	return err
}

// ruled reports whether an error rule fits an answer: a 5xx one does is the
// application's last word (WordPress answers a taken login with 500), not retried.
func (c *compiled) ruled(status int, body []byte) bool {
	for _, r := range c.errors {
		if r.matches(status, body) {
			return true
		}
	}
	return false
}

func compileGroups(g *Groups, params map[string]string) (*groupRequests, error) {
	for _, a := range []string{"displayName", "members"} {
		if !slices.Contains(g.Attributes, a) {
			return nil, fmt.Errorf("mapping groups.attributes: must hold %s", a)
		}
	}
	for name, p := range map[string]string{"id": g.Read.ID, "displayName": g.Read.DisplayName, "externalId": g.Read.ExternalID,
		"managed.path": g.Read.Managed.Path, "members": g.Read.Members} {
		if strings.TrimSpace(p) == "" {
			return nil, fmt.Errorf("mapping groups.read.%s: required", name)
		}
	}
	switch g.List.Paging {
	case "none", "link":
	default:
		return nil, fmt.Errorf("mapping groups.list.paging: must be none or link, not %q", g.List.Paging)
	}
	if err := checkOptional("groups.read", nil, g.Read.Tenant); err != nil {
		return nil, err
	}
	r := &groupRequests{}
	var err error
	for _, op := range []struct {
		name string
		call *Call
		dst  **request
		body bool
	}{
		{"create", &g.Create, &r.create, true}, {"get", &g.Get, &r.get, false}, {"update", &g.Update, &r.update, true},
		{"delete", &g.Delete, &r.del, false}, {"list", &g.List.Call, &r.list, false}, {"members", &g.Members, &r.members, false},
		{"add_member", &g.AddMember, &r.add, true}, {"remove_member", &g.RemoveMember, &r.remove, true},
		{"user_groups", g.UserGroups, &r.userGroups, false},
	} {
		if op.call == nil {
			continue
		}
		call := *op.call
		if op.name == "members" { // members behind their own endpoint (Keystone)
			call.Then = nil
		}
		if err := noSequence("groups."+op.name, call); err != nil {
			return nil, err
		}
		if op.call.EmptyIsNotFound && op.name != "get" && op.name != "members" {
			return nil, fmt.Errorf("mapping groups.%s.empty_is_not_found: only users.get, groups.get and groups.members read a missing result as not found", op.name)
		}
		withBody := op.body && op.call.Method != "DELETE"
		if op.name == "add_member" || op.name == "remove_member" {
			withBody = len(op.call.Body) > 0
		}
		if *op.dst, err = compileCall("groups."+op.name, call, withBody, params); err != nil {
			return nil, err
		}
		if err := (*op.dst).compileThen("groups."+op.name, op.call.Then, thenRead, params); err != nil {
			return nil, err
		}
	}
	if g.Read.Tenant.Path != "" && !r.create.mentions(".Tenant") {
		return nil, fmt.Errorf("mapping groups.create: groups.read.tenant is mapped, so this call must write {{.Tenant}} there")
	}
	return r, nil
}

// noSequence refuses before and then calls where they would never run.
func noSequence(field string, c Call) error {
	switch {
	case len(c.Before) > 0:
		return fmt.Errorf("mapping %s.before: only the user writes fetch values first", field)
	case len(c.Then) > 0:
		return fmt.Errorf("mapping %s.then: only users.create, users.update, users.get and groups.members take then calls", field)
	case c.As != "":
		return fmt.Errorf("mapping %s.as: only a users.get then call names its answer", field)
	}
	return nil
}

// checkOptional refuses an optional flag or the tenant that says how to read a value
// but not where it is: it would silently read nothing.
func checkOptional(field string, flags map[string]Flag, tenant Text) error {
	for name, f := range flags {
		if strings.TrimSpace(f.Path) == "" && (len(f.Equals) > 0 || f.Before != "") {
			return fmt.Errorf("mapping %s.%s.path: required", field, name)
		}
	}
	if strings.TrimSpace(tenant.Path) == "" && tenant.After != "" {
		return fmt.Errorf("mapping %s.tenant.path: required", field)
	}
	return nil
}

// tenantRoom refuses a tenant other than the default when the mapping keeps none:
// every tenant would then read every other's accounts as its own.
func (c *compiled) tenantRoom(tenant string) error {
	if tenant == "" {
		return nil
	}
	if c.marksInStore {
		return fmt.Errorf("rest: mapping %s keeps SCIM's marks in the link store (the application has no room for them), so it cannot serve tenant %q: "+
			"nothing in the application says which tenant an account is, so one tenant's handler would see another's accounts as unmanaged, ready to adopt; serve it from one handler, with the default tenant", c.m.Name, tenant)
	}
	if c.m.Users.Read.Tenant.Path == "" {
		return fmt.Errorf("rest: mapping %s keeps no tenant, so it cannot serve tenant %q: add users.read.tenant (where users.create and users.update write {{.Tenant}})", c.m.Name, tenant)
	}
	if c.m.Groups != nil && c.m.Groups.Read.Tenant.Path == "" {
		return fmt.Errorf("rest: mapping %s keeps no tenant for groups, so it cannot serve tenant %q: add groups.read.tenant (where groups.create writes {{.Tenant}})", c.m.Name, tenant)
	}
	return nil
}

// recordMode says, for an operator, where a mapping keeps the userName of record.
func recordMode(u Users) string {
	switch {
	case u.Read.RecordedUserName != "":
		return "kept in " + u.Read.RecordedUserName + " (an admin-only copy the writes keep)"
	case u.UserNameFixed:
		return "fixed by the application (the account's owner cannot change " + u.Read.UserName + ")"
	}
	return "only in the link store: back it up (the application keeps no copy, and its users may rename themselves; map users.read.recorded_user_name or set users.user_name_fixed if it can)"
}

// checkAuth validates an auth form.
func checkAuth(a string) error {
	switch {
	case a == "none", a == "bearer":
		return nil
	case strings.HasPrefix(a, "header:") && http.CanonicalHeaderKey(strings.TrimPrefix(a, "header:")) != "" && !strings.ContainsAny(a[7:], " :\r\n"):
		return nil
	case strings.HasPrefix(a, "basic:") && a != "basic:" && !strings.Contains(a[6:], ":"):
		return nil
	}
	return fmt.Errorf("must be none, bearer, header:<Name> or basic:<user>, not %q", a)
}

// Check reads and checks a mapping as the adapter would load it, and describes what
// it maps, one line per operation; the error names the first field that is wrong.
// Params the mapping declares and params does not give are checked with a stand-in.
func Check(b []byte, params map[string]string) (summary []string, err error) {
	m, err := parseMapping(b)
	if err != nil {
		return nil, err
	}
	all := maps.Clone(params)
	if all == nil {
		all = map[string]string{}
	}
	for _, p := range m.Params {
		if _, ok := all[p]; !ok {
			all[p] = "1"
		}
	}
	c, err := compile(m, all)
	if err != nil {
		return nil, err
	}
	return summarize(c), nil
}

// summarize describes a compiled mapping for an operator, one line per subject.
func summarize(c *compiled) []string {
	m := c.m
	ids := m.IDs
	if ids == "" {
		ids = "any"
	}
	summary := []string{fmt.Sprintf("%s: auth %s, ids %s, attributes %s", m.Name, m.Auth, ids, strings.Join(m.Users.Attributes, " "))}
	summary = append(summary, c.modeLines()...)
	summary = append(summary, "userName of record: "+recordMode(m.Users))
	tenants := "only the default tenant (map users.read.tenant to serve several IdPs)"
	if c.marksInStore {
		tenants = "only the default tenant (nothing in the application says whose an account is)"
	}
	if t := m.Users.Read.Tenant; t.Path != "" {
		tenants = "kept in " + t.String()
		switch {
		case m.Groups != nil && m.Groups.Read.Tenant.Path != "":
			tenants = "users' kept in " + t.String() + ", groups' in " + m.Groups.Read.Tenant.String()
		case m.Groups != nil:
			tenants = "only the default tenant: users' kept in " + t.String() + ", but groups keep none (map groups.read.tenant)"
		}
	}
	summary = append(summary, "tenants: "+tenants)
	if f := m.Users.Read.EmailVerified; f.Path != "" {
		summary = append(summary, "e-mail confirmation: read from "+f.Path+" (an unconfirmed account is never adopted)")
	}
	for _, op := range []struct {
		name string
		r    *request
		c    *Call
	}{
		{"create", c.create, &m.Users.Create}, {"get", c.get, &m.Users.Get}, {"update", c.update, &m.Users.Update},
		{"delete", c.del, &m.Users.Delete}, {"list", c.list, &m.Users.List.Call},
		{"find_username", c.findUserName, m.Users.FindUserName}, {"find_email", c.findEmail, m.Users.FindEmail},
		{"find_external_id", c.findEx, m.Users.FindExternalID}, {"get_many", c.getMany, m.Users.GetMany},
		{"deactivate", c.deactivate, m.Users.Deactivate}, {"reactivate", c.reactivate, m.Users.Reactivate},
	} {
		switch {
		case op.r != nil:
			line := fmt.Sprintf("users.%s: %s", op.name, describe(op.r, op.c))
			if op.name == "list" {
				line += ", paging " + m.Users.List.Paging
			}
			summary = append(summary, line)
		case op.name == "find_external_id" && c.marksInStore:
			summary = append(summary, "users.find_external_id: not mapped: the link store finds an externalId (the application keeps none)")
		case op.name == "get_many":
			summary = append(summary, "users.get_many: not mapped: a list page reads each of its users with users.get")
		case strings.HasPrefix(op.name, "find_"):
			summary = append(summary, fmt.Sprintf("users.%s: not mapped: answered by paging through users.list", op.name))
		}
	}
	return summary
}

// describe is one call as a summary shows it: method and path, how it sends and
// reads, and the calls before and after it.
func describe(r *request, c *Call) string {
	line := r.method + " " + c.Path
	var notes []string
	if r.form {
		notes = append(notes, "form")
	}
	if r.reread {
		notes = append(notes, "then get")
	}
	for i, f := range r.before {
		notes = append(notes, fmt.Sprintf("before: .Before.%s from %s %s", f.name, f.req.method, c.Before[i].Path))
	}
	for i, t := range r.then {
		then := "then: " + describe(t, &c.Then[i])
		if t.as != "" {
			then += " as " + t.as
		}
		notes = append(notes, then)
	}
	if len(notes) > 0 {
		line += " (" + strings.Join(notes, "; ") + ")"
	}
	return line
}

// modeLines say, in an operator's words, where the mapping keeps SCIM's marks and
// what deprovisioning does, and what each costs.
func (c *compiled) modeLines() []string {
	u := c.m.Users
	var out []string
	if c.marksInStore {
		out = append(out, "SCIM's marks: in the link store only (the application has no room for them): which accounts SCIM manages, their externalId and whether SCIM deleted them are recorded nowhere else. "+
			"Back the store up (caddy scim links export): a lost store makes these accounts unmanaged: SCIM no longer sees them, and with link_existing off refuses their userName to a new identity; "+
			"caddy scim links import gives them back. It never gives an account to someone else. Accounts made in "+c.m.Name+" are never SCIM's unless adopted (link_existing).")
	} else {
		out = append(out, fmt.Sprintf("SCIM's marks: kept in %s: externalId at %s, managed at %s, deleted at %s, SCIM's block at %s (the link store is their copy)",
			c.m.Name, u.Read.ExternalID, u.Read.Managed.Path, u.Read.Deleted.Path, u.Read.SCIMBlock.Path))
	}
	switch {
	case !c.noBlock && c.deactivate != nil:
		out = append(out, fmt.Sprintf("deprovisioning: blocks the account (active read at %s) through users.deactivate, and users.reactivate lifts SCIM's block", u.Read.Active.Path))
	case !c.noBlock:
		out = append(out, fmt.Sprintf("deprovisioning: blocks the account (active read at %s, written by users.update)", u.Read.Active.Path))
	case c.deactivate != nil:
		out = append(out, "deprovisioning: "+c.m.Name+" cannot block an account: SCIM's active lives in the link store; deactivating (active false, DELETE) runs users.deactivate, reactivating runs users.reactivate, "+
			"on those changes only, never on a write that keeps the state (what an administrator changed on an active account stays). What the account can still do is what users.deactivate leaves it")
	default:
		out = append(out, "deprovisioning: "+c.m.Name+" cannot block an account and the mapping has no users.deactivate: deactivating (active false, DELETE) only hides the account from SCIM; "+
			"it can still sign in to "+c.m.Name+". Map users.deactivate and users.reactivate (remove its roles, and give them back) to take its access away, or use deprovision delete for DELETE")
	}
	return out
}
