package gitlab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// Custom attribute keys holding the durable provisioning state.
const (
	attrManaged  = "scim_managed"
	attrDeleted  = "scim_deleted"
	attrUserName = "scim_user_name"
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

// usernameTries bounds the numeric-suffix retries on a username conflict.
const usernameTries = 6

type glIdentity struct {
	Provider  string `json:"provider"`
	ExternUID string `json:"extern_uid"`
}

type glAttr struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// glUser is the admin view of a GitLab user (UserDetailsWithAdmin), reduced to
// what the mapping needs.
type glUser struct {
	ID         int64        `json:"id"`
	Username   string       `json:"username"`
	Name       string       `json:"name"`
	State      string       `json:"state"`
	Email      string       `json:"email"`
	IsAdmin    bool         `json:"is_admin"`
	CreatedAt  string       `json:"created_at"`
	Identities []glIdentity `json:"identities"`
	// CustomAttributes is nil when the answer did not carry them.
	CustomAttributes *[]glAttr `json:"custom_attributes"`
}

func (u *glUser) attr(key string) (string, bool) {
	if u.CustomAttributes == nil {
		return "", false
	}
	for _, a := range *u.CustomAttributes {
		if a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}

func (u *glUser) setAttr(key, value string) {
	if u.CustomAttributes == nil {
		u.CustomAttributes = &[]glAttr{}
	}
	for i, a := range *u.CustomAttributes {
		if a.Key == key {
			(*u.CustomAttributes)[i].Value = value
			return
		}
	}
	*u.CustomAttributes = append(*u.CustomAttributes, glAttr{Key: key, Value: value})
}

func (u *glUser) delAttr(key string) {
	if u.CustomAttributes == nil {
		return
	}
	out := (*u.CustomAttributes)[:0]
	for _, a := range *u.CustomAttributes {
		if a.Key != key {
			out = append(out, a)
		}
	}
	*u.CustomAttributes = out
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
	if v, ok := u.attr(attrUserName); ok && v != "" {
		return v
	}
	return u.Username
}

func (a *Adapter) managed(u *glUser) bool {
	if v, _ := u.attr(attrManaged); v == "true" {
		return true
	}
	// Created through SCIM but the attribute write was lost: the identity of our
	// provider is the proof; the next write adds the attribute.
	_, ok := u.externUID(a.provider)
	return ok
}

// record maps a GitLab user onto the SCIM view and the provisioning state.
func (a *Adapter) record(u *glUser) adapters.Record {
	ext, _ := u.externUID(a.provider)
	given, family := splitName(u.Name)
	su := &scim.User{
		ID:          strconv.FormatInt(u.ID, 10),
		ExternalID:  ext,
		UserName:    u.scimUserName(),
		DisplayName: u.Name,
		Active:      u.State == stateActive,
	}
	if u.Name != "" {
		su.Name = &scim.Name{Formatted: u.Name, GivenName: given, FamilyName: family}
	}
	if u.Email != "" {
		su.Emails = []scim.MultiValue{{Value: u.Email, Type: "work", Primary: true}}
	}
	if t, err := time.Parse(time.RFC3339, u.CreatedAt); err == nil {
		su.Meta.Created = t
	}
	deleted := false
	if v, _ := u.attr(attrDeleted); v == "true" {
		deleted = true
	}
	managed := a.managed(u)
	h := sha256.Sum256([]byte(strings.Join([]string{
		su.ID, su.UserName, u.Username, ext, u.Name, u.Email, u.State,
		strconv.FormatBool(managed), strconv.FormatBool(deleted),
	}, "\x00")))
	su.Meta.Version = hex.EncodeToString(h[:8])
	return adapters.Record{User: su, Managed: managed, Deleted: deleted, Admin: u.IsAdmin}
}

// splitName splits like GitLab's User#first_name / #last_name: the first word,
// and the rest.
func splitName(name string) (given, family string) {
	f := strings.Fields(name)
	if len(f) == 0 {
		return "", ""
	}
	return f[0], strings.Join(f[1:], " ")
}

// desiredName picks GitLab's single name field from a SCIM user. name.formatted
// wins, as in scim.User.FullName; but when formatted is unchanged (a PATCH of
// name.givenName alone keeps the old formatted value) a changed given/family name
// or displayName is the real edit.
func desiredName(u *scim.User, current string) string {
	if u.Name != nil && u.Name.Formatted != "" && u.Name.Formatted == current {
		cg, cf := splitName(current)
		if (u.Name.GivenName != "" || u.Name.FamilyName != "") && (u.Name.GivenName != cg || u.Name.FamilyName != cf) {
			return strings.TrimSpace(u.Name.GivenName + " " + u.Name.FamilyName)
		}
		if u.DisplayName != "" && u.DisplayName != current {
			return u.DisplayName
		}
	}
	if n := u.FullName(); n != "" {
		return n
	}
	return u.UserName
}

func parseID(id string) (int64, bool) {
	if id == "" || strings.Trim(id, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(id, 10, 64)
	return n, err == nil && n > 0
}

func userPath(id int64) string { return "/users/" + strconv.FormatInt(id, 10) }

// getUser reads one user with its custom attributes.
func (a *Adapter) getUser(ctx context.Context, id int64) (*glUser, error) {
	var u glUser
	if _, err := a.getJSON(ctx, userPath(id), url.Values{"with_custom_attributes": {"true"}}, &u); err != nil {
		return nil, err
	}
	if err := a.ensureAttrs(ctx, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// ensureAttrs fetches the custom attributes when an answer lacked them.
func (a *Adapter) ensureAttrs(ctx context.Context, u *glUser) error {
	if u.CustomAttributes != nil {
		return nil
	}
	var list []glAttr
	if _, err := a.getJSON(ctx, userPath(u.ID)+"/custom_attributes", nil, &list); err != nil {
		return err
	}
	u.CustomAttributes = &list
	return nil
}

// searchUsers runs GET /users with q (custom attributes included) over at most
// maxPages pages of 100.
func (a *Adapter) searchUsers(ctx context.Context, q url.Values, maxPages int) ([]glUser, error) {
	q.Set("with_custom_attributes", "true")
	q.Set("per_page", strconv.Itoa(maxPerPage))
	var all []glUser
	for page := 1; page <= maxPages; page++ {
		q.Set("page", strconv.Itoa(page))
		var list []glUser
		resp, err := a.getJSON(ctx, "/users", q, &list)
		if err != nil {
			return nil, err
		}
		all = append(all, list...)
		if len(list) < maxPerPage || resp.header.Get("X-Next-Page") == "" {
			break
		}
	}
	return all, nil
}

func (a *Adapter) records(ctx context.Context, users []glUser, keep func(*glUser) bool) ([]adapters.Record, error) {
	out := []adapters.Record{}
	for i := range users {
		u := &users[i]
		// Attributes first: the userName match needs the stored SCIM userName.
		if err := a.ensureAttrs(ctx, u); err != nil {
			return nil, err
		}
		if keep(u) {
			out = append(out, a.record(u))
		}
	}
	return out, nil
}

// FindUsers answers a point lookup; managed or not, deleted or not.
func (a *Adapter) FindUsers(ctx context.Context, q adapters.Lookup) ([]adapters.Record, error) {
	if q.Value == "" {
		return []adapters.Record{}, nil
	}
	switch q.Kind {
	case adapters.ByID:
		id, ok := parseID(q.Value)
		if !ok {
			return []adapters.Record{}, nil
		}
		u, err := a.getUser(ctx, id)
		if errors.Is(err, adapters.ErrNotFound) {
			return []adapters.Record{}, nil
		}
		if err != nil {
			return nil, err
		}
		return []adapters.Record{a.record(u)}, nil

	case adapters.ByUserName:
		match := func(u *glUser) bool { return strings.EqualFold(u.scimUserName(), q.Value) }
		san := SanitizeUsername(q.Value)
		users, err := a.searchUsers(ctx, url.Values{"username": {san}}, 1)
		if err != nil {
			return nil, err
		}
		recs, err := a.records(ctx, users, match)
		if err != nil || len(recs) > 0 {
			return recs, err
		}
		// A sanitised name that was taken got a numeric suffix at create
		// ("jdoe" → "jdoe1"); a search on the base finds those.
		users, err = a.searchUsers(ctx, url.Values{"search": {san}}, 5)
		if err != nil {
			return nil, err
		}
		return a.records(ctx, users, match)

	case adapters.ByExternalID:
		users, err := a.searchUsers(ctx, url.Values{"extern_uid": {q.Value}, "provider": {a.provider}}, 1)
		if err != nil {
			return nil, err
		}
		// GitLab compares extern_uid case-insensitively; externalId is caseExact
		// (RFC 7643 §3.1).
		return a.records(ctx, users, func(u *glUser) bool {
			ext, ok := u.externUID(a.provider)
			return ok && ext == q.Value
		})

	case adapters.ByEmail:
		users, err := a.searchUsers(ctx, url.Values{"search": {q.Value}}, 1)
		if err != nil {
			return nil, err
		}
		return a.records(ctx, users, func(u *glUser) bool { return strings.EqualFold(u.Email, q.Value) })
	}
	return nil, fmt.Errorf("gitlab: unknown lookup kind %d", q.Kind)
}

// CreateUser creates a GitLab user with a random password, the identity that
// holds the externalId, and the custom attributes that mark it managed.
func (a *Adapter) CreateUser(ctx context.Context, u *scim.User) (adapters.Record, error) {
	email := u.PrimaryEmail()
	if email == "" {
		return adapters.Record{}, scim.BadRequest(scim.ErrInvalidValue, "GitLab requires an email address: send emails with a primary or work value")
	}
	if strings.TrimSpace(u.UserName) == "" {
		return adapters.Record{}, scim.BadRequest(scim.ErrInvalidValue, "userName is required")
	}
	body := map[string]any{
		"email":                 email,
		"name":                  desiredName(u, ""),
		"force_random_password": true,
		"skip_confirmation":     true,
	}
	if u.ExternalID != "" {
		body["extern_uid"] = u.ExternalID
		body["provider"] = a.provider
	}
	base := SanitizeUsername(u.UserName)
	var created glUser
	for try := 0; ; try++ {
		body["username"] = usernameCandidate(base, try)
		resp, err := a.send(ctx, request{method: http.MethodPost, path: "/users", body: body})
		if err != nil {
			return adapters.Record{}, err
		}
		if resp.status == http.StatusCreated || resp.status == http.StatusOK {
			if err := jsonBody(resp, &created); err != nil {
				return adapters.Record{}, err
			}
			break
		}
		if usernameTaken(resp) && try+1 < usernameTries {
			if try == 0 {
				if err := a.userNameFree(ctx, u.UserName, 0); err != nil {
					return adapters.Record{}, err
				}
			}
			continue
		}
		return adapters.Record{}, a.writeError(resp, email, u.ExternalID)
	}

	// The SCIM userName first, the managed mark last: a user whose mark is written
	// is complete.
	created.CustomAttributes = &[]glAttr{}
	err := a.putAttr(ctx, created.ID, attrUserName, u.UserName)
	if err == nil {
		err = a.putAttr(ctx, created.ID, attrManaged, "true")
	}
	if err != nil {
		if u.ExternalID == "" {
			// Without an identity nothing marks this user as ours: remove it so
			// that the IdP's retry starts clean instead of meeting an unmanaged
			// namesake.
			if _, derr := a.send(ctx, request{method: http.MethodDelete, path: userPath(created.ID), retry: true}); derr != nil {
				a.logger.Warn("could not remove a half-created GitLab user", zap.Int64("id", created.ID), zap.Error(derr))
			}
		}
		return adapters.Record{}, err
	}
	created.setAttr(attrUserName, u.UserName)
	created.setAttr(attrManaged, "true")
	return a.record(&created), nil
}

// userNameFree tells a sanitised-name collision ("jdoe@a.com" and "jdoe@b.com"
// both want "jdoe"), which a numeric suffix resolves, from a second user with the
// same SCIM userName, which SCIM forbids.
func (a *Adapter) userNameFree(ctx context.Context, userName string, self int64) error {
	recs, err := a.FindUsers(ctx, adapters.Lookup{Kind: adapters.ByUserName, Value: userName})
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.User.ID != strconv.FormatInt(self, 10) {
			return scim.Conflict("userName %q is already taken by GitLab user %s", userName, r.User.ID)
		}
	}
	return nil
}

// usernameCandidate is base, then base1, base2, …; the last try takes a random-ish
// suffix so that a crowd of namesakes cannot exhaust the tries.
func usernameCandidate(base string, try int) string {
	switch {
	case try == 0:
		return base
	case try < usernameTries-1:
		return withSuffix(base, try)
	default:
		return withSuffix(base, int(time.Now().UnixNano()%90000)+10000)
	}
}

func jsonBody(resp *response, out any) error {
	if err := json.Unmarshal(resp.body, out); err != nil {
		return scim.Errorf(http.StatusBadGateway, "", "GitLab answered with a body that is not the expected JSON")
	}
	return nil
}

// usernameTaken reports a username conflict: 409 "Username has already been
// taken", or a 400 whose username error is "taken" or "reserved" (a top-level
// group or route of that name).
func usernameTaken(resp *response) bool {
	switch resp.status {
	case http.StatusConflict:
		return strings.Contains(strings.ToLower(extractMessage(resp.body)), "username")
	case http.StatusBadRequest:
		for _, m := range errorsOf(resp.body)["username"] {
			if strings.Contains(m, "has already been taken") || strings.Contains(m, "is a reserved name") {
				return true
			}
		}
	}
	return false
}

// writeError maps a failed POST or PUT of a user.
func (a *Adapter) writeError(resp *response, email, ext string) error {
	msg := a.message(resp)
	switch resp.status {
	case http.StatusConflict:
		if strings.Contains(strings.ToLower(msg), "email") {
			return scim.Conflict("email %q is already used by another GitLab user", email)
		}
		if strings.Contains(strings.ToLower(msg), "username") {
			return scim.Conflict("no free GitLab username for this userName: %s", msg)
		}
		return scim.Conflict("GitLab: %s", msg)
	case http.StatusBadRequest:
		if errs := errorsOf(resp.body); errs != nil {
			for k, ms := range errs {
				if strings.HasPrefix(k, "identities") || k == "extern_uid" {
					for _, m := range ms {
						if strings.Contains(m, "has already been taken") {
							return scim.Conflict("externalId %q is already linked to another GitLab user", ext)
						}
					}
				}
			}
			if ms := errs["email"]; len(ms) > 0 && strings.Contains(strings.Join(ms, " "), "has already been taken") {
				return scim.Conflict("email %q is already used by another GitLab user", email)
			}
		}
		return scim.BadRequest(scim.ErrInvalidValue, "GitLab refused the user: %s", msg)
	}
	return a.statusError(resp)
}

// putAttr writes a user's custom attribute (an idempotent PUT, retried).
func (a *Adapter) putAttr(ctx context.Context, id int64, key, value string) error {
	return a.putCustomAttr(ctx, userPath(id), key, value)
}

// deleteAttr removes a user's custom attribute; an absent one is fine.
func (a *Adapter) deleteAttr(ctx context.Context, id int64, key string) error {
	return a.deleteCustomAttr(ctx, userPath(id), key)
}

// putCustomAttr writes a custom attribute of the user or group at owner.
func (a *Adapter) putCustomAttr(ctx context.Context, owner, key, value string) error {
	resp, err := a.send(ctx, request{
		method: http.MethodPut, path: owner + "/custom_attributes/" + key,
		body: map[string]string{"value": value}, retry: true,
	})
	if err != nil {
		return err
	}
	if resp.status != http.StatusOK && resp.status != http.StatusCreated {
		return a.statusError(resp)
	}
	return nil
}

// deleteCustomAttr removes a custom attribute of the user or group at owner.
func (a *Adapter) deleteCustomAttr(ctx context.Context, owner, key string) error {
	resp, err := a.send(ctx, request{method: http.MethodDelete, path: owner + "/custom_attributes/" + key, retry: true})
	if err != nil {
		return err
	}
	if resp.status/100 != 2 && resp.status != http.StatusNotFound {
		return a.statusError(resp)
	}
	return nil
}

// UpdateUser writes the persisted attributes of u and the provisioning state st.
func (a *Adapter) UpdateUser(ctx context.Context, id string, u *scim.User, st adapters.State) (adapters.Record, error) {
	uid, ok := parseID(id)
	if !ok {
		return adapters.Record{}, adapters.ErrNotFound
	}
	cur, err := a.getUser(ctx, uid)
	if err != nil {
		return adapters.Record{}, err
	}
	// Refuse an impossible reactivation before writing anything.
	if u.Active && cur.State != stateActive {
		if err := reactivationBlocked(cur.State); err != nil {
			return adapters.Record{}, err
		}
	}
	if strings.TrimSpace(u.UserName) == "" {
		return adapters.Record{}, scim.BadRequest(scim.ErrInvalidValue, "userName is required")
	}

	if err := a.putProfile(ctx, cur, u); err != nil {
		return adapters.Record{}, err
	}
	if err := a.setActive(ctx, cur, u.Active); err != nil {
		return adapters.Record{}, err
	}

	// Provisioning state.
	if v, _ := cur.attr(attrUserName); v != u.UserName {
		if err := a.putAttr(ctx, uid, attrUserName, u.UserName); err != nil {
			return adapters.Record{}, err
		}
		cur.setAttr(attrUserName, u.UserName)
	}
	_, hasDeleted := cur.attr(attrDeleted)
	switch {
	case st.Deleted && !hasDeleted:
		if err := a.putAttr(ctx, uid, attrDeleted, "true"); err != nil {
			return adapters.Record{}, err
		}
		cur.setAttr(attrDeleted, "true")
	case !st.Deleted && hasDeleted:
		if err := a.deleteAttr(ctx, uid, attrDeleted); err != nil {
			return adapters.Record{}, err
		}
		cur.delAttr(attrDeleted)
	}
	mark, _ := cur.attr(attrManaged)
	switch {
	case st.Managed && mark != "true":
		// Adoption, or healing a create whose mark was lost.
		if err := a.putAttr(ctx, uid, attrManaged, "true"); err != nil {
			return adapters.Record{}, err
		}
		cur.setAttr(attrManaged, "true")
	case !st.Managed && mark != "":
		if err := a.deleteAttr(ctx, uid, attrManaged); err != nil {
			return adapters.Record{}, err
		}
		cur.delAttr(attrManaged)
	}
	return a.record(cur), nil
}

// putProfile sends PUT /users/:id with what changed (name, username, email,
// identity) and updates cur. Privilege fields are never sent.
func (a *Adapter) putProfile(ctx context.Context, cur *glUser, u *scim.User) error {
	body := map[string]any{}
	if name := desiredName(u, cur.Name); name != cur.Name {
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
		if san := SanitizeUsername(u.UserName); !isSuffixed(cur.Username, san) {
			base = san
		}
	}
	if len(body) == 0 && base == "" {
		return nil
	}
	var upd glUser
	for try := 0; ; try++ {
		if base != "" {
			cand := usernameCandidate(base, try)
			if strings.EqualFold(cand, cur.Username) {
				cand = cur.Username // our own name, suffixed earlier
			}
			if cand != cur.Username {
				body["username"] = cand
			} else {
				delete(body, "username")
			}
		}
		if len(body) == 0 {
			return nil
		}
		resp, err := a.send(ctx, request{method: http.MethodPut, path: userPath(cur.ID), body: body})
		if err != nil {
			return err
		}
		if resp.status == http.StatusOK {
			if err := jsonBody(resp, &upd); err != nil {
				return err
			}
			break
		}
		if base != "" && usernameTaken(resp) && try+1 < usernameTries {
			if try == 0 {
				if err := a.userNameFree(ctx, u.UserName, cur.ID); err != nil {
					return err
				}
			}
			continue
		}
		return a.writeError(resp, email, u.ExternalID)
	}
	if email != "" && !strings.EqualFold(upd.Email, email) {
		return scim.BadRequest(scim.ErrInvalidValue, "GitLab did not make %q the primary email", email)
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
		now, _ := fresh.externUID(a.provider)
		if now != u.ExternalID {
			return scim.Conflict("externalId %q is already linked to another GitLab user", u.ExternalID)
		}
		cur.Identities = fresh.Identities
	}
	return nil
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
			resp, err := a.send(ctx, request{method: http.MethodDelete, path: userPath(id) + "/emails/" + strconv.FormatInt(e.ID, 10), retry: true})
			if err == nil && resp.status/100 != 2 && resp.status != http.StatusNotFound {
				err = a.statusError(resp)
			}
			if err != nil {
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
		return scim.Errorf(http.StatusConflict, "",
			"the GitLab user is ldap_blocked (by LDAP sync or GitLab's own SCIM), and GitLab's REST API cannot unblock such users; "+
				"unblock it in the LDAP directory or in Admin Area > Users, then retry")
	case statePendingApproval:
		return scim.Errorf(http.StatusConflict, "",
			"the GitLab user is pending approval; a GitLab administrator must approve it in Admin Area > Users, then retry")
	}
	return scim.Errorf(http.StatusConflict, "", "the GitLab user is in state %q, which the adapter cannot change to active", state)
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
	resp, err := a.send(ctx, request{method: http.MethodPost, path: userPath(cur.ID) + "/" + action})
	if err != nil {
		return err
	}
	switch {
	case resp.status/100 == 2:
		// block answers null when already blocked, unblock false when already
		// active: both mean the wanted state holds.
	case resp.status == http.StatusForbidden && a.message(resp) != "403 Forbidden" && !strings.Contains(a.message(resp), "insufficient_scope"):
		return scim.Errorf(http.StatusConflict, "", "GitLab refused to %s the user: %s", action, a.message(resp))
	default:
		return a.statusError(resp)
	}
	if want {
		cur.State = stateActive
	} else {
		cur.State = stateBlocked
	}
	return nil
}

// DeleteUser removes the GitLab user (deprovision mode "delete").
func (a *Adapter) DeleteUser(ctx context.Context, id string) error {
	uid, ok := parseID(id)
	if !ok {
		return adapters.ErrNotFound
	}
	resp, err := a.send(ctx, request{method: http.MethodDelete, path: userPath(uid), retry: true})
	if err != nil {
		return err
	}
	switch {
	case resp.status/100 == 2:
		return nil
	case resp.status == http.StatusConflict:
		return scim.Errorf(http.StatusConflict, "", "GitLab cannot delete the user: %s", a.message(resp))
	}
	return a.statusError(resp)
}

// isSuffixed reports whether username is base or base followed by digits (a
// name this adapter gave for base earlier), case-insensitively.
func isSuffixed(username, base string) bool {
	l, b := strings.ToLower(username), strings.ToLower(base)
	if !strings.HasPrefix(l, b) {
		return false
	}
	return strings.Trim(l[len(b):], "0123456789") == ""
}
