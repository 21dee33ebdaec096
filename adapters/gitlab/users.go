package gitlab

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
)

// Custom attribute keys holding the durable provisioning state.
const (
	attrManaged  = "scim_managed"
	attrDeleted  = "scim_deleted"
	attrUserName = "scim_user_name"
	// attrBlocked says whose the block of an inactive account is: "true" SCIM's
	// (deprovisioned or DELETEd), "hand" an administrator's that SCIM keeps
	// through a DELETE. Absent on an inactive account: set in GitLab, unless the
	// account is DELETEd (written before "hand" existed: SCIM's).
	attrBlocked = "scim_blocked"
	// attrTenant is the tenant of a managed user or group (adapters.Tenancy);
	// absent for the default tenant.
	attrTenant = "scim_tenant"
	// attrDeleting is the time SCIM DELETEd the account (deprovision delete),
	// while GitLab's deletion worker has not removed it: see deletion.go.
	attrDeleting = "scim_deleting"
)

// GitLab user states (app/models/user.rb state machine).
const (
	stateActive          = "active"
	stateBlocked         = "blocked"
	stateLDAPBlocked     = "ldap_blocked"
	statePendingApproval = "blocked_pending_approval"
	stateBanned          = "banned"
	stateDeactivated     = "deactivated"
)

type glIdentity struct {
	Provider  string `json:"provider"`
	ExternUID string `json:"extern_uid"`
}

// glUser is the admin view of a GitLab user (UserDetailsWithAdmin), reduced to
// what the mapping needs.
type glUser struct {
	ID        int64  `json:"id"`
	Username  string `json:"username"`
	Name      string `json:"name"`
	State     string `json:"state"`
	Email     string `json:"email"`
	IsAdmin   bool   `json:"is_admin"`
	CreatedAt string `json:"created_at"`
	// ConfirmedAt is null while the primary e-mail is unconfirmed.
	ConfirmedAt *string      `json:"confirmed_at"`
	Identities  []glIdentity `json:"identities"`
	// CustomAttributes is nil when the answer did not carry them.
	CustomAttributes *attrs `json:"custom_attributes"`
}

// externUID is the extern_uid of the identity of provider, if any.
func (u *glUser) externUID(provider string) (string, bool) {
	for _, id := range u.Identities {
		if id.Provider == provider {
			return id.ExternUID, true
		}
	}
	return "", false
}

// scimUserName is the SCIM userName: as sent when stored, else the username.
func (u *glUser) scimUserName() string {
	if v, ok := u.CustomAttributes.get(attrUserName); ok && v != "" {
		return v
	}
	return u.Username
}

func (a *Adapter) managed(u *glUser) bool {
	if _, ok := leaving(u); ok {
		return false
	}
	if v, _ := u.CustomAttributes.get(attrManaged); v == "true" {
		return true
	}
	// Created through SCIM but the attribute write was lost: the identity of our
	// provider is the proof; the next write adds the attribute. An identity
	// without extern_uid is none: GitLab leaves one behind when a PUT's
	// extern_uid is taken (Users::UpdateService creates it first).
	ext, ok := u.externUID(a.provider)
	return ok && ext != ""
}

// ours: managed for this adapter's tenant.
func (a *Adapter) ours(u *glUser) bool {
	t, _ := u.CustomAttributes.get(attrTenant)
	return a.managed(u) && t == a.TenantName()
}

// record maps a GitLab user onto the SCIM view and the provisioning state.
func (a *Adapter) record(u *glUser) adapters.Record {
	ext, _ := u.externUID(a.provider)
	su := &adapters.User{
		ID:          strconv.FormatInt(u.ID, 10),
		ExternalID:  ext,
		UserName:    u.scimUserName(),
		DisplayName: u.Name,
		Active:      u.State == stateActive,
	}
	if u.Name != "" {
		// like GitLab's User#first_name / #last_name: the first word, and the rest
		f := strings.Fields(u.Name)
		su.Name = &adapters.Name{Formatted: u.Name, GivenName: f[0], FamilyName: strings.Join(f[1:], " ")}
	}
	if u.Email != "" {
		su.Emails = []adapters.MultiValue{{Value: u.Email, Type: "work", Primary: true}}
	}
	if t, err := time.Parse(time.RFC3339, u.CreatedAt); err == nil {
		su.Meta.Created = t
	}
	deleted := false
	if v, _ := u.CustomAttributes.get(attrDeleted); v == "true" {
		deleted = true
	}
	managed := a.managed(u)
	blockedBy, _ := u.CustomAttributes.get(attrBlocked)
	tenant, _ := u.CustomAttributes.get(attrTenant)
	recorded, _ := u.CustomAttributes.get(attrUserName)
	su.Meta.Version = adapters.Version(su.ID, su.UserName, u.Username, ext, u.Name, u.Email, u.State, managed, deleted, blockedBy, tenant)
	rec := adapters.Record{User: su, Managed: managed, Deleted: deleted, Admin: u.IsAdmin, Unconfirmed: u.ConfirmedAt == nil || *u.ConfirmedAt == "",
		BlockReason: blockReason(u), Login: u.Username, RecordedUserName: recorded,
		BlockMark: managed && (blockedBy == "true" || (blockedBy == "" && deleted))}
	if managed {
		rec.Tenant = tenant
	}
	return rec
}

// blockReason says why a user is not active in GitLab.
func blockReason(u *glUser) string {
	if u.State == stateActive {
		return ""
	}
	if err := reactivationBlocked(u.State); err != nil {
		return err.(*adapters.Error).Reason
	}
	return "is " + u.State + " in GitLab by an administrator"
}

// gitlabName is GitLab's required name: the SCIM full name, else the userName.
func gitlabName(u *adapters.User) string {
	if n := u.FullName(); n != "" {
		return n
	}
	return u.UserName
}

func userPath(id int64) string { return "/users/" + strconv.FormatInt(id, 10) }

// getUser reads one user with its custom attributes.
func (a *Adapter) getUser(ctx context.Context, id int64) (*glUser, error) {
	var u glUser
	if _, err := a.getJSON(ctx, userPath(id), url.Values{"with_custom_attributes": {"true"}}, &u); err != nil {
		return nil, err
	}
	return &u, a.ensureAttrs(ctx, userPath(id), &u.CustomAttributes)
}

// findUsers runs GET /users with q (custom attributes included) over at most
// maxPages pages and keeps the users that match (attributes are read first: the
// userName match needs the stored SCIM userName).
func (a *Adapter) findUsers(ctx context.Context, q url.Values, maxPages int, match func(*glUser) bool) ([]adapters.Record, error) {
	q.Set("with_custom_attributes", "true")
	var users []glUser
	if err := walk(ctx, a, "/users", q, maxPages, func(l []glUser) bool { users = append(users, l...); return true }); err != nil {
		return nil, err
	}
	out := []adapters.Record{}
	for i := range users {
		u := &users[i]
		ok, err := a.present(ctx, u)
		if err != nil {
			return nil, err
		}
		if ok && match(u) {
			out = append(out, a.record(u))
		}
	}
	return out, nil
}

// present reads the custom attributes (SCIM's marks) of a listed user where the
// listing left them out, and reports whether the user is there for SCIM at all:
// not one GitLab's deletion worker is removing.
func (a *Adapter) present(ctx context.Context, u *glUser) (bool, error) {
	if err := a.ensureAttrs(ctx, userPath(u.ID), &u.CustomAttributes); err != nil {
		return false, err
	}
	_, gone := leaving(u)
	return !gone, nil
}

// FindUsers answers a point lookup; managed or not, deleted or not.
func (a *Adapter) FindUsers(ctx context.Context, q adapters.Lookup) ([]adapters.Record, error) {
	if q.Value == "" {
		return []adapters.Record{}, nil
	}
	switch q.Kind {
	case adapters.ByID:
		id, ok := adapters.NumericID(q.Value)
		if !ok {
			return []adapters.Record{}, nil
		}
		u, err := a.getUser(ctx, id)
		if adapters.Is(err, adapters.NotFound) {
			return []adapters.Record{}, nil
		}
		if err != nil {
			return nil, err
		}
		if _, ok := leaving(u); ok {
			return []adapters.Record{}, nil
		}
		return []adapters.Record{a.record(u)}, nil

	case adapters.ByUserName:
		match := func(u *glUser) bool { return strings.EqualFold(u.scimUserName(), q.Value) }
		san := SanitizeUsername(q.Value)
		recs, err := a.findUsers(ctx, url.Values{"username": {san}}, 1, match)
		if err != nil || len(recs) > 0 {
			return recs, err
		}
		// A sanitised name that was taken got a numeric suffix at create
		// ("jdoe" → "jdoe1"); a search on the base finds those.
		return a.findUsers(ctx, url.Values{"search": {san}}, 5, match)

	case adapters.ByExternalID:
		// GitLab compares extern_uid case-insensitively; externalId is caseExact
		// (RFC 7643 §3.1).
		return a.findUsers(ctx, url.Values{"extern_uid": {q.Value}, "provider": {a.provider}}, 1, func(u *glUser) bool {
			ext, ok := u.externUID(a.provider)
			return ok && ext == q.Value
		})

	case adapters.ByEmail:
		return a.findUsers(ctx, url.Values{"search": {q.Value}}, 1, func(u *glUser) bool { return strings.EqualFold(u.Email, q.Value) })
	}
	return nil, adapters.InvalidValue("", "gitlab: unknown lookup kind %d", q.Kind)
}

// CreateUser creates a GitLab user with a random password, the identity that
// holds the externalId, and the custom attributes that mark it managed. The
// username is the sanitised userName; when that is taken it gets a numeric suffix,
// unless it is the userName itself and another user has it (409): that is the
// Taken fact. A group path or a reserved route of that name (400) takes a suffix.
func (a *Adapter) CreateUser(ctx context.Context, u *adapters.User) (adapters.Record, error) {
	email := u.PrimaryEmail()
	if email == "" {
		return adapters.Record{}, adapters.InvalidValue("emails", "GitLab requires an email address: send emails with a primary or work value")
	}
	body := map[string]any{
		"email":                 email,
		"name":                  gitlabName(u),
		"force_random_password": true,
		"skip_confirmation":     true,
	}
	if u.ExternalID != "" {
		body["extern_uid"] = u.ExternalID
		body["provider"] = a.provider
	}
	created, err := a.postUser(ctx, body, u)
	if err != nil {
		return adapters.Record{}, err
	}

	// The SCIM userName first, the managed mark last: a user whose mark is written
	// is complete.
	created.CustomAttributes = &attrs{}
	owner := userPath(created.ID)
	err = a.syncAttr(ctx, owner, created.CustomAttributes, attrUserName, u.UserName)
	if err == nil {
		err = a.syncAttr(ctx, owner, created.CustomAttributes, attrTenant, a.TenantName())
	}
	if err == nil {
		err = a.syncAttr(ctx, owner, created.CustomAttributes, attrManaged, "true")
	}
	if err != nil {
		if u.ExternalID == "" {
			// Without an identity nothing marks this user as ours: remove it so
			// that the IdP's retry starts clean instead of meeting an unmanaged
			// namesake.
			if derr := a.remove(ctx, owner); derr != nil {
				a.logger.Warn("could not remove a half-created GitLab user", zap.Int64("id", created.ID), zap.Error(derr))
			}
		}
		return adapters.Record{}, err
	}
	return a.record(created), nil
}

// postUser creates the user body describes, under the sanitised userName or, when
// that is taken, a suffixed one (usernameSuffix).
func (a *Adapter) postUser(ctx context.Context, body map[string]any, u *adapters.User) (*glUser, error) {
	base := SanitizeUsername(u.UserName)
	var resp *upstream.Response
	for name, more := range usernameSuffix.Names(base) {
		body["username"] = name
		var err error
		if resp, err = a.sendAwaiting(ctx, upstream.Request{Method: http.MethodPost, Path: "/users", Body: body}, body); err != nil {
			return nil, err
		}
		if resp.OK() {
			var created glUser
			if err := a.api.Decode(resp, &created); err != nil {
				return nil, err
			}
			return &created, nil
		}
		if !usernameTaken(resp) || !more {
			break
		}
		if resp.Status == http.StatusConflict && strings.EqualFold(base, u.UserName) {
			// another user has exactly this userName as its username
			return nil, adapters.TakenBy("userName", "userName %q is already the username of another GitLab user", u.UserName)
		}
	}
	return nil, a.writeError(resp, u.PrimaryEmail(), u.ExternalID)
}

// usernameTaken reports a username GitLab refused that a numbered one may get:
// 409 "Username has already been taken"; a 400 whose username error is taken,
// reserved, too short or a file-extension ending; or the 400 base error of a
// username that is another namespace's route, a group's path (GitLab's 409
// covers other users only).
func usernameTaken(resp *upstream.Response) bool {
	switch resp.Status {
	case http.StatusConflict:
		return strings.Contains(strings.ToLower(extractMessage(resp.Body)), "username")
	case http.StatusBadRequest:
		errs := errorsOf(resp.Body)
		return taken(errs, true, func(k string) bool { return k == "username" }) ||
			pathRule(errs["username"]) || namespaceTaken(errs["base"])
	}
	return false
}

// pathRule reports the namespace path rules a suffix satisfies: at least two
// characters, no file-extension ending (".json", ".html", …).
func pathRule(msgs []string) bool {
	for _, m := range msgs {
		if strings.Contains(m, "is too short") || strings.Contains(m, "reserved file extension") {
			return true
		}
	}
	return false
}

// namespaceTaken reports GitLab's base error for a username whose namespace
// route another namespace holds.
func namespaceTaken(msgs []string) bool {
	for _, m := range msgs {
		if strings.Contains(m, "already exists with that username") {
			return true
		}
	}
	return false
}

// writeError maps a failed POST or PUT of a user.
func (a *Adapter) writeError(resp *upstream.Response, email, ext string) error {
	msg := a.message(resp)
	switch resp.Status {
	case http.StatusConflict:
		if strings.Contains(strings.ToLower(msg), "email") {
			return adapters.TakenBy("emails", "email %q is already used by another GitLab user", email)
		}
		if strings.Contains(strings.ToLower(msg), "username") {
			return adapters.TakenBy("userName", "no free GitLab username for this userName: %s", msg)
		}
		return adapters.TakenBy("", "GitLab: %s", msg)
	case http.StatusBadRequest:
		errs := errorsOf(resp.Body)
		if taken(errs, false, func(k string) bool { return strings.HasPrefix(k, "identities") || k == "extern_uid" }) {
			return adapters.TakenBy("externalId", "externalId %q is already linked to another GitLab user", ext)
		}
		if taken(errs, false, func(k string) bool { return k == "email" }) {
			return adapters.TakenBy("emails", "email %q is already used by another GitLab user", email)
		}
		return adapters.InvalidValue("", "GitLab refused the user: %s", msg)
	}
	return a.fail(resp)
}

// UpdateUser writes the persisted attributes of u and the provisioning state st.
func (a *Adapter) UpdateUser(ctx context.Context, id string, u *adapters.User, st adapters.State) (adapters.Record, error) {
	uid, ok := adapters.NumericID(id)
	if !ok {
		return adapters.Record{}, adapters.ErrNotFound
	}
	cur, err := a.getUser(ctx, uid)
	if err != nil {
		return adapters.Record{}, err
	}
	if _, ok := leaving(cur); ok {
		return adapters.Record{}, adapters.ErrNotFound
	}
	// Refuse an impossible reactivation before writing anything.
	if u.Active && cur.State != stateActive {
		if err := reactivationBlocked(cur.State); err != nil {
			return adapters.Record{}, err
		}
	}
	if err := a.putProfile(ctx, cur, u); err != nil {
		return adapters.Record{}, err
	}
	// The marks claim a block before SCIM blocks, and let go of it after SCIM
	// unblocks: whatever call fails in between, the account is never blocked by
	// SCIM without SCIM's mark (which would read as a hand block that no retry
	// lifts), and the IdP's retry of the same request completes it.
	if !u.Active {
		if err := a.writeMarks(ctx, uid, cur, u, st); err != nil {
			return adapters.Record{}, err
		}
	}
	if err := a.setActive(ctx, cur, u.Active); err != nil {
		return adapters.Record{}, err
	}
	if u.Active {
		if err := a.writeMarks(ctx, uid, cur, u, st); err != nil {
			return adapters.Record{}, err
		}
	}
	return a.record(cur), nil
}

// writeMarks writes the provisioning state of u and st to the custom attributes;
// the managed mark last (adoption, or healing a create whose mark was lost).
func (a *Adapter) writeMarks(ctx context.Context, uid int64, cur *glUser, u *adapters.User, st adapters.State) error {
	owner := userPath(uid)
	deleted, blocked, managed, tenant := "", "", "", ""
	if st.Deleted {
		deleted = "true"
	}
	switch {
	case u.Active && !st.Deleted:
	case st.ForeignBlock:
		blocked = "hand"
	default:
		blocked = "true"
	}
	if st.Managed {
		managed, tenant = "true", a.TenantName()
	}
	for _, kv := range [][2]string{{attrUserName, u.UserName}, {attrBlocked, blocked}, {attrDeleted, deleted}, {attrTenant, tenant}, {attrManaged, managed}} {
		if err := a.syncAttr(ctx, owner, cur.CustomAttributes, kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// putProfile sends PUT /users/:id with what changed (name, username, email,
// identity) and updates cur. Privilege fields are never sent. The service has
// checked that no other user answers to a new userName, so a taken username takes
// a numeric suffix.
func (a *Adapter) putProfile(ctx context.Context, cur *glUser, u *adapters.User) error {
	body := map[string]any{}
	if name := gitlabName(u); name != cur.Name {
		body["name"] = name
	}
	email := u.PrimaryEmail()
	oldEmail := cur.Email
	if email != "" && !strings.EqualFold(email, cur.Email) {
		// skip_reconfirmation: the IdP is the authority on the address; without it
		// GitLab keeps the old primary until the user clicks a link.
		body["email"] = email
		body["skip_reconfirmation"] = true
	}
	ext, _ := cur.externUID(a.provider)
	extChange := u.ExternalID != "" && u.ExternalID != ext
	if extChange {
		body["extern_uid"] = u.ExternalID
		body["provider"] = a.provider
	}
	base := ""
	if u.UserName != cur.scimUserName() {
		if san := SanitizeUsername(u.UserName); !usernameSuffix.Numbered(cur.Username, san) {
			base = san
		}
	}
	upd, err := a.putUser(ctx, cur, body, base, email, u.ExternalID)
	if err != nil || upd == nil {
		return err
	}
	if email != "" && !strings.EqualFold(upd.Email, email) {
		return adapters.InvalidValue("emails", "GitLab did not make %q the primary email", email)
	}
	cur.Name, cur.Username, cur.Email = upd.Name, upd.Username, upd.Email
	if !strings.EqualFold(oldEmail, cur.Email) {
		a.dropSecondaryEmail(ctx, cur.ID, oldEmail)
	}
	if extChange {
		// GitLab saves the rest and silently drops an identity change that
		// breaks extern_uid uniqueness: only a re-read tells.
		fresh, err := a.getUser(ctx, cur.ID)
		if err != nil {
			return err
		}
		if now, had := fresh.externUID(a.provider); now != u.ExternalID {
			if had && now == "" {
				a.dropEmptyIdentity(ctx, cur.ID)
			}
			return adapters.TakenBy("externalId", "externalId %q is already linked to another GitLab user", u.ExternalID)
		}
		cur.Identities = fresh.Identities
	}
	return nil
}

// putUser sends PUT /users/:id with body and, when base is set, the username base
// or, when that is taken, a suffixed one (usernameSuffix); nil when there is
// nothing to send.
func (a *Adapter) putUser(ctx context.Context, cur *glUser, body map[string]any, base, email, ext string) (*glUser, error) {
	var resp *upstream.Response
	for name := range usernameSuffix.Names(base) {
		delete(body, "username")
		if base != "" && !strings.EqualFold(name, cur.Username) {
			body["username"] = name
		}
		if len(body) == 0 {
			return nil, nil
		}
		var err error
		if resp, err = a.sendAwaiting(ctx, upstream.Request{Method: http.MethodPut, Path: userPath(cur.ID), Body: body}, body); err != nil {
			return nil, err
		}
		if resp.Status == http.StatusOK {
			var upd glUser
			if err := a.api.Decode(resp, &upd); err != nil {
				return nil, err
			}
			return &upd, nil
		}
		if base == "" || !usernameTaken(resp) {
			break
		}
	}
	return nil, a.writeError(resp, email, ext)
}

// dropEmptyIdentity removes the identity of our provider that a refused
// extern_uid left without one. Best effort: it no longer counts as SCIM's mark.
func (a *Adapter) dropEmptyIdentity(ctx context.Context, id int64) {
	if err := a.remove(ctx, userPath(id)+"/identities/"+url.PathEscape(a.provider)); err != nil {
		a.logger.Warn("could not remove an identity without extern_uid from a GitLab user", zap.Int64("id", id), zap.Error(err))
	}
}

// dropSecondaryEmail removes the old primary that GitLab keeps as a confirmed
// secondary after an e-mail change: otherwise the IdP could never give that
// address to another user. Best effort: a failure only leaves the address behind.
func (a *Adapter) dropSecondaryEmail(ctx context.Context, id int64, old string) {
	if old == "" {
		return
	}
	var emails []struct {
		ID    int64  `json:"id"`
		Email string `json:"email"`
	}
	if _, err := a.getJSON(ctx, userPath(id)+"/emails", url.Values{"per_page": {"100"}}, &emails); err != nil {
		a.logger.Warn("could not list GitLab secondary emails", zap.Int64("id", id), zap.Error(err))
		return
	}
	for _, e := range emails {
		if strings.EqualFold(e.Email, old) {
			if err := a.remove(ctx, userPath(id)+"/emails/"+strconv.FormatInt(e.ID, 10)); err != nil {
				a.logger.Warn("could not remove a previous GitLab email", zap.Int64("id", id), zap.Error(err))
			}
		}
	}
}

// reactivationBlocked explains the states the REST API cannot lift.
func reactivationBlocked(state string) error {
	switch state {
	case stateBlocked, stateDeactivated, stateBanned:
		return nil
	case stateLDAPBlocked:
		return adapters.RefusedBecause("the GitLab user is ldap_blocked (by LDAP sync or GitLab's own SCIM), and GitLab's REST API cannot unblock such users; " +
			"unblock it in the LDAP directory or in Admin Area > Users, then retry")
	case statePendingApproval:
		return adapters.RefusedBecause("the GitLab user is pending approval; a GitLab administrator must approve it in Admin Area > Users, then retry")
	}
	return adapters.RefusedBecause("the GitLab user is in state %q, which the adapter cannot change to active", state)
}

// setActive moves the user to active or blocked as wanted.
func (a *Adapter) setActive(ctx context.Context, cur *glUser, want bool) error {
	var action string
	switch {
	case want && cur.State != stateActive:
		if err := reactivationBlocked(cur.State); err != nil {
			return err
		}
		action = map[string]string{stateBlocked: "unblock", stateDeactivated: "activate", stateBanned: "unban"}[cur.State]
	case !want && cur.State == stateActive:
		action = "block"
	default:
		return nil // already as wanted (any non-active state counts as inactive)
	}
	resp, err := a.send(ctx, upstream.Request{Method: http.MethodPost, Path: userPath(cur.ID) + "/" + action})
	if err != nil {
		return err
	}
	switch msg := a.message(resp); {
	case resp.OK():
		// block answers null when already blocked, unblock false when already
		// active: both mean the wanted state holds.
	case resp.Status == http.StatusForbidden && msg != "403 Forbidden" && !strings.Contains(msg, "insufficient_scope"):
		return adapters.RefusedBecause("GitLab refused to %s the user: %s", action, msg)
	default:
		return a.fail(resp)
	}
	cur.State = stateBlocked
	if want {
		cur.State = stateActive
	}
	return nil
}
