package gitea

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
)

// listPageSize is the page size asked of GET /admin/users. Gitea silently caps it at
// [api] MAX_RESPONSE_ITEMS (default 50); paging follows X-Total-Count, so the cap only
// costs extra calls.
const listPageSize = 100

// scanAhead bounds the pages of one scan fetched at once. A long scan (listing every
// user to rebuild the link index) is mostly Gitea's time; a few pages in flight let
// it use more than one core.
const scanAhead = 4

// giteaUser is the admin view of a Gitea user (convert.ToUser with an admin doer).
type giteaUser struct {
	ID            int64     `json:"id"`
	Login         string    `json:"login"`
	LoginName     string    `json:"login_name"`
	SourceID      int64     `json:"source_id"`
	FullName      string    `json:"full_name"`
	Email         string    `json:"email"`
	IsAdmin       bool      `json:"is_admin"`
	Active        bool      `json:"active"`
	ProhibitLogin bool      `json:"prohibit_login"`
	Created       time.Time `json:"created"`
}

// Info describes what the adapter persists.
func (a *Adapter) Info() adapters.Info {
	return adapters.Info{
		Name:            "gitea",
		UserAttributes:  adapters.OneNameUserAttributes,
		GroupAttributes: a.groupAttributes(),
		MaxPageSize:     listPageSize,
		ListScans:       true,
		OneName:         true,
		NameKeyed:       true,
	}
}

// record maps a Gitea user to what the provisioning service sees.
func (a *Adapter) record(g *giteaUser) adapters.Record {
	st := decodeLoginName(g.LoginName)
	if g.SourceID != a.SourceID {
		// login_name of another source (LDAP, OIDC auto-registration) is not ours.
		st = loginState{}
	}
	u := &adapters.User{
		ID:         strconv.FormatInt(g.ID, 10),
		ExternalID: st.externalID,
		UserName:   g.Login,
		Active:     g.Active && !g.ProhibitLogin,
	}
	if st.emailName && g.Email != "" {
		u.UserName = g.Email
	}
	if g.FullName != "" {
		given, family, _ := strings.Cut(g.FullName, " ")
		u.Name = &adapters.Name{Formatted: g.FullName, GivenName: given, FamilyName: strings.TrimSpace(family)}
		u.DisplayName = g.FullName
	}
	if g.Email != "" {
		u.Emails = []adapters.MultiValue{{Value: g.Email, Type: "work", Primary: true}}
	}
	u.Meta.Created = g.Created
	// Gitea has no update timestamp or version.
	u.Meta.Version = adapters.Version(g.ID, g.Login, g.LoginName, g.SourceID, g.FullName, g.Email, g.Active, g.ProhibitLogin, g.IsAdmin)
	// Gitea's "active" is "activated": an account whose e-mail was never confirmed
	// (REGISTER_EMAIL_CONFIRM) is not.
	return adapters.Record{User: u, Managed: st.managed, Deleted: st.managed && st.deleted, Admin: g.IsAdmin, Unconfirmed: !g.Active,
		BlockReason: blockReason(g), Login: g.Login, Unrecorded: true, Tenant: st.tenant,
		BlockMark: st.managed && (st.blocked || (st.deleted && !st.handBlock))}
}

// blockReason: "Disable sign-in" is Gitea's block (an account not activated yet is
// inactive but not blocked).
func blockReason(g *giteaUser) string {
	if g.ProhibitLogin {
		return "has sign-in disabled in Gitea by an administrator"
	}
	return ""
}

// getByName is GET /users/{name}; a missing or renamed-away name (Gitea redirects
// it) is (nil, nil).
func (a *Adapter) getByName(ctx context.Context, name string) (*giteaUser, error) {
	if checkUsername(name) != nil {
		return nil, nil
	}
	r, err := a.get(ctx, path("users", userPath(name)), nil)
	if err != nil {
		return nil, err
	}
	switch {
	case r.Status == http.StatusOK:
	case r.Status == http.StatusNotFound, r.Status/100 == 3:
		return nil, nil
	default:
		return nil, a.fail(r)
	}
	var g giteaUser
	if err := a.api.Decode(r, &g); err != nil {
		return nil, err
	}
	if !strings.EqualFold(g.Login, name) {
		return nil, nil
	}
	// the same user by id, for an UpdateUser later in this operation
	cp := g
	adapters.MemoFrom(ctx).Put(memoUserKey(g.ID), &cp)
	return &g, nil
}

func memoUserKey(id int64) string { return "gitea:user:" + strconv.FormatInt(id, 10) }

// getByID is fetchByID, answered once per operation (adapters.Memo). Callers get
// their own copy.
func (a *Adapter) getByID(ctx context.Context, id int64) (*giteaUser, error) {
	v, err := adapters.MemoFrom(ctx).Do(memoUserKey(id), func() (any, error) { return a.fetchByID(ctx, id) })
	if g, ok := v.(*giteaUser); ok && g != nil && err == nil {
		cp := *g
		return &cp, nil
	}
	return nil, err
}

// searchByID is GET /users/search?uid=N, which only returns individual users (not
// organizations); ok is false when the users page is disabled (404).
func (a *Adapter) searchByID(ctx context.Context, id int64) (found []giteaUser, ok bool, err error) {
	q := url.Values{"uid": {strconv.FormatInt(id, 10)}, "limit": {"1"}}
	r, err := a.get(ctx, path("users", "search"), q)
	if err != nil || r.Status == http.StatusNotFound {
		return nil, false, err
	}
	if r.Status != http.StatusOK {
		return nil, false, a.fail(r)
	}
	var res struct {
		Data []giteaUser `json:"data"`
	}
	if err := a.api.Decode(r, &res); err != nil {
		return nil, false, err
	}
	return res.Data, true, nil
}

// fetchByID resolves a numeric id; when the users page is disabled it scans
// /admin/users.
func (a *Adapter) fetchByID(ctx context.Context, id int64) (*giteaUser, error) {
	found, ok, err := a.searchByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		var g *giteaUser
		err := a.scan(ctx, url.Values{"sort": {"id"}, "order": {"asc"}}, func(u *giteaUser) bool {
			if u.ID == id {
				g = u
			}
			return g == nil
		})
		return g, err
	}
	for i := range found {
		if found[i].ID == id {
			return &found[i], nil
		}
	}
	return nil, nil
}

// isIndividual tells users from organizations, which GET /users/{name} also returns.
func (a *Adapter) isIndividual(ctx context.Context, g *giteaUser) (bool, error) {
	found, ok, err := a.searchByID(ctx, g.ID)
	if err != nil {
		return false, err
	}
	return !ok || len(found) > 0, nil // users page disabled: cannot tell; orgs are rare name clashes
}

// scan pages through GET /admin/users with the given filters, calling f for each
// user, in Gitea's order, until f returns false or the users run out.
func (a *Adapter) scan(ctx context.Context, filter url.Values, f func(*giteaUser) bool) error {
	paging := upstream.Paging{Page: "page", Size: "limit", PerPage: listPageSize, Total: "X-Total-Count", Ahead: scanAhead}
	walk := func(q url.Values) error {
		users := upstream.JSONArray[giteaUser](a.api, upstream.Request{Path: path("admin", "users"), Query: q})
		return upstream.EachPage(ctx, paging, users, func(us []giteaUser) bool {
			for i := range us {
				if !f(&us[i]) {
					return false
				}
			}
			return true
		})
	}
	err := walk(filter)
	if adapters.Is(err, adapters.Invalid) && filter.Has("sort") {
		// Forgejo knows other sort names (422); callers sort what they need themselves.
		q := url.Values{}
		for k, v := range filter {
			if k != "sort" && k != "order" {
				q[k] = v
			}
		}
		err = walk(q)
	}
	return err
}

// FindUsers answers a point lookup with every matching user, managed or not.
func (a *Adapter) FindUsers(ctx context.Context, q adapters.Lookup) ([]adapters.Record, error) {
	var found []*giteaUser
	var err error
	switch q.Kind {
	case adapters.ByID:
		found, err = a.findByID(ctx, q)
	case adapters.ByUserName:
		found, err = a.findByUserName(ctx, q.Value)
	case adapters.ByExternalID:
		found, err = a.findByExternalID(ctx, q.Value)
	case adapters.ByEmail:
		found, err = a.findByEmail(ctx, q.Value)
	default:
		return nil, adapters.InvalidValue("", "gitea: unsupported lookup kind %d", q.Kind)
	}
	if err != nil {
		return nil, err
	}
	recs := make([]adapters.Record, 0, len(found))
	for _, g := range found {
		rec := a.record(g)
		// externalId is only defined for managed users, and compared as the contract says.
		if q.Kind == adapters.ByExternalID && (!rec.Managed || rec.User.ExternalID != q.Value) {
			continue
		}
		if q.Kind == adapters.ByUserName && !strings.EqualFold(rec.User.UserName, q.Value) {
			continue
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

func (a *Adapter) findByID(ctx context.Context, q adapters.Lookup) ([]*giteaUser, error) {
	id, ok := adapters.NumericID(q.Value)
	if !ok {
		return nil, nil
	}
	if q.UserNameHint != "" {
		g, err := a.getByName(ctx, q.UserNameHint)
		if err != nil || (g != nil && g.ID == id) {
			return nonNil(g), err
		}
	}
	g, err := a.getByID(ctx, id)
	return nonNil(g), err
}

func nonNil(g *giteaUser) []*giteaUser {
	if g == nil {
		return nil
	}
	return []*giteaUser{g}
}

func (a *Adapter) findByUserName(ctx context.Context, name string) ([]*giteaUser, error) {
	if isEmailShaped(name) {
		// an e-mail-shaped userName is stored as the e-mail of a flagged user
		return a.findByEmail(ctx, name)
	}
	g, err := a.getByName(ctx, name)
	if err != nil || g == nil {
		return nil, err
	}
	// Orgs share the user namespace; a managed user is never one.
	if rec := a.record(g); !rec.Managed {
		if ok, err := a.isIndividual(ctx, g); err != nil || !ok {
			return nil, err
		}
	}
	return []*giteaUser{g}, nil
}

// findByExternalID sends one exact login_name query per encoded form, in parallel: a
// miss costs one round trip.
func (a *Adapter) findByExternalID(ctx context.Context, ext string) ([]*giteaUser, error) {
	if ext == "" || len(ext) > maxExternalID(a.TenantName()) {
		return nil, nil
	}
	forms := loginNameForms(ext, a.TenantName())
	var mu sync.Mutex
	seen := map[int64]bool{}
	var found []*giteaUser
	errs := adapters.Parallel(ctx, len(forms), len(forms), func(ctx context.Context, i int) error {
		filter := url.Values{"login_name": {forms[i]}}
		if a.SourceID > 0 {
			filter.Set("source_id", strconv.FormatInt(a.SourceID, 10))
		}
		return a.scan(ctx, filter, func(g *giteaUser) bool {
			mu.Lock()
			defer mu.Unlock()
			if !seen[g.ID] {
				seen[g.ID] = true
				found = append(found, g)
			}
			return true
		})
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(found, func(x, y *giteaUser) int { return cmp.Compare(x.ID, y.ID) })
	return found, nil
}

// findByEmail: q is a LIKE search over name, full name and e-mail; exact e-mail
// matches are kept.
func (a *Adapter) findByEmail(ctx context.Context, email string) ([]*giteaUser, error) {
	if email == "" || strings.ContainsAny(email, "\x00\r\n") {
		return nil, nil
	}
	var found []*giteaUser
	err := a.scan(ctx, url.Values{"q": {email}}, func(g *giteaUser) bool {
		if strings.EqualFold(g.Email, email) {
			found = append(found, g)
		}
		return true
	})
	return found, err
}

// ListUsers returns a window of the managed users in ascending id order. It reads
// every page of /admin/users on each call (Gitea cannot filter on "managed"), a cost
// linear in the number of Gitea users.
func (a *Adapter) ListUsers(ctx context.Context, p adapters.Page) ([]adapters.Record, int, error) {
	var managed []adapters.Record
	err := a.EachUser(ctx, func(rec adapters.Record) bool {
		if rec.Managed && rec.Tenant == a.TenantName() {
			managed = append(managed, rec)
		}
		return true
	})
	if err != nil {
		return nil, 0, err
	}
	recs, total := adapters.WindowOf(managed, p)
	return recs, total, nil
}

var _ adapters.AllUsers = (*Adapter)(nil)

// EachUser walks every Gitea user of the adapter's scope (its source_id, when set),
// managed or not (the drift report).
func (a *Adapter) EachUser(ctx context.Context, each func(adapters.Record) bool) error {
	filter := url.Values{"sort": {"id"}, "order": {"asc"}}
	if a.SourceID > 0 {
		filter.Set("source_id", strconv.FormatInt(a.SourceID, 10))
	}
	return a.scan(ctx, filter, func(g *giteaUser) bool { return each(a.record(g)) })
}

// plan is how a SCIM user is stored in Gitea.
type plan struct {
	email     string
	username  string // the Gitea username (derived for an e-mail-shaped userName)
	emailName bool   // the SCIM userName is the e-mail; username was derived from it
}

// checkUser validates what Gitea would reject, before any request, and decides the
// Gitea username. An e-mail-shaped userName (Okta's and Entra's default) is stored as
// the user's e-mail plus a derived username, so it must be the primary e-mail.
func checkUser(u *adapters.User, tenant string) (plan, error) {
	p := plan{email: u.PrimaryEmail(), username: u.UserName}
	if err := checkUsername(u.UserName); err != nil {
		if !isEmailShaped(u.UserName) {
			return p, adapters.InvalidValue("userName", "userName %q is not valid for Gitea (%v) and is not an e-mail address; map userName to a Gitea-compatible value or to the user's e-mail", truncate(u.UserName, 64), err)
		}
		if p.email == "" {
			p.email = u.UserName
		}
		if !strings.EqualFold(p.email, u.UserName) {
			return p, adapters.InvalidValue("emails", "userName %q is an e-mail address, which Gitea can only keep as the user's primary e-mail, but the primary e-mail is %q; send the same value for both, or map userName to a Gitea-compatible name", truncate(u.UserName, 64), truncate(p.email, 64))
		}
		p.email = u.UserName
		p.username = deriveUsername(u.UserName)
		p.emailName = true
	}
	if p.email == "" {
		return p, adapters.InvalidValue("emails", "emails: a primary or work email is required by Gitea")
	}
	if n := maxExternalID(tenant); len(u.ExternalID) > n {
		return p, adapters.InvalidValue("externalId", "externalId is longer than %d characters, the most Gitea can store", n)
	}
	if n := len([]rune(u.FullName())); n > 100 {
		return p, adapters.InvalidValue("name", "name: Gitea stores at most 100 characters of full name, got %d", n)
	}
	return p, nil
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// derivedTaken reports Gitea's answer that a derived username is taken, which the
// next numeric suffix resolves (usernameSuffix).
func (a *Adapter) derivedTaken(p plan, r *upstream.Response) bool {
	return p.emailName && strings.Contains(a.message(r), "already exists")
}

// CreateUser creates an active, managed Gitea user. A username derived from an
// e-mail-shaped userName that is already taken gets a numeric suffix, as GitLab's own
// SCIM does; a userName that is a valid Gitea username is used as is, and taken is
// the Taken fact.
func (a *Adapter) CreateUser(ctx context.Context, u *adapters.User) (adapters.Record, error) {
	p, err := checkUser(u, a.TenantName())
	if err != nil {
		return adapters.Record{}, err
	}
	pw, err := adapters.RandomPassword()
	if err != nil {
		return adapters.Record{}, err
	}
	body := map[string]any{
		"email":                p.email,
		"full_name":            u.FullName(),
		"login_name":           encodeLoginName(loginState{externalID: u.ExternalID, emailName: p.emailName, tenant: a.TenantName()}),
		"source_id":            a.SourceID,
		"password":             pw,
		"must_change_password": false,
		"send_notify":          false,
	}
	var r *upstream.Response
	for name := range usernameSuffix.Names(p.username) {
		body["username"] = name
		if r, err = a.send(ctx, http.MethodPost, path("admin", "users"), body); err != nil {
			return adapters.Record{}, err
		}
		if r.Status == http.StatusCreated {
			var g giteaUser
			if err := a.api.Decode(r, &g); err != nil {
				return adapters.Record{}, err
			}
			if strings.EqualFold(g.Email, p.email) {
				// Gitea stores the e-mail as sent but answers the create in lower case;
				// reads later return what it stored.
				g.Email = p.email
			}
			return a.record(&g), nil
		}
		if !a.derivedTaken(p, r) {
			break
		}
	}
	return adapters.Record{}, a.takenOrFail(r)
}

// UpdateUser writes u and st to Gitea user id: a rename first when userName changed,
// then one PATCH that always carries login_name and source_id together (Gitea requires
// login_name; Forgejo requires the pair).
func (a *Adapter) UpdateUser(ctx context.Context, id string, u *adapters.User, st adapters.State) (adapters.Record, error) {
	p, err := checkUser(u, a.TenantName())
	if err != nil {
		return adapters.Record{}, err
	}
	g, err := a.userByID(ctx, id)
	if err != nil {
		return adapters.Record{}, err
	}
	loginName := g.LoginName
	if st.Managed {
		loginName = encodeLoginName(loginState{externalID: u.ExternalID, deleted: st.Deleted,
			blocked: !u.Active && !st.ForeignBlock && !st.Deleted, handBlock: st.Deleted && st.ForeignBlock,
			emailName: p.emailName, tenant: a.TenantName()})
	} else if loginName == "" {
		// Gitea's PATCH rejects an empty login_name, and an empty one is what "not
		// managed" means: such a user can only be updated by adopting it.
		return adapters.Record{}, adapters.RefusedBecause("gitea user %s is not managed; it must be adopted before it can be updated", g.Login)
	}

	// Rename only when the SCIM userName changed: a suffixed, derived username stays.
	name := g.Login
	if cur := a.record(g).User.UserName; !strings.EqualFold(cur, u.UserName) && !strings.EqualFold(p.username, g.Login) {
		if name, err = a.rename(ctx, g.Login, p); err != nil {
			return adapters.Record{}, err
		}
	}

	body := map[string]any{
		"login_name":     loginName,
		"source_id":      a.SourceID,
		"email":          p.email,
		"full_name":      u.FullName(),
		"prohibit_login": !u.Active || st.Deleted,
		"active":         true,
	}
	if !st.Managed {
		body["source_id"] = g.SourceID
	}
	r, err := a.send(ctx, http.MethodPatch, path("admin", "users", userPath(name)), body)
	if err != nil {
		return adapters.Record{}, err
	}
	if r.Status != http.StatusOK {
		return adapters.Record{}, a.takenOrFail(r)
	}
	var out giteaUser
	if err := a.api.Decode(r, &out); err != nil {
		return adapters.Record{}, err
	}
	return a.record(&out), nil
}

// rename gives user login the username of p, suffixed when a derived one is taken,
// and returns the name it took.
func (a *Adapter) rename(ctx context.Context, login string, p plan) (string, error) {
	var r *upstream.Response
	for name := range usernameSuffix.Names(p.username) {
		var err error
		r, err = a.send(ctx, http.MethodPost, path("admin", "users", userPath(login), "rename"), map[string]string{"new_username": name})
		if err != nil {
			return "", err
		}
		if r.OK() {
			return name, nil
		}
		if !a.derivedTaken(p, r) {
			break
		}
	}
	return "", a.takenOrFail(r)
}

// userByID reads a user by SCIM id; a malformed or unknown id is ErrNotFound.
func (a *Adapter) userByID(ctx context.Context, id string) (*giteaUser, error) {
	n, ok := adapters.NumericID(id)
	if !ok {
		return nil, adapters.ErrNotFound
	}
	g, err := a.getByID(ctx, n)
	if err == nil && g == nil {
		err = adapters.ErrNotFound
	}
	return g, err
}

// DeleteUser removes the Gitea user; with Purge, also what it owns. Without it Gitea
// refuses a user who owns repositories (or organizations, packages), and so does
// the adapter, saying what to do.
func (a *Adapter) DeleteUser(ctx context.Context, id string) error {
	g, err := a.userByID(ctx, id)
	if err != nil {
		return err
	}
	q := url.Values{}
	if a.Purge {
		q.Set("purge", "true")
	}
	r, err := a.api.Do(ctx, upstream.Request{Method: http.MethodDelete, Path: path("admin", "users", userPath(g.Login)),
		Query: q, Idempotent: true})
	if err != nil {
		return err
	}
	switch {
	case r.Status == http.StatusNoContent:
		return nil
	case r.Status == http.StatusUnprocessableEntity:
		return adapters.RefusedBecause("gitea user %s still owns repositories, organizations or packages (%s); SCIM deletes what a user owns only with the gitea adapter's purge option: transfer or remove them in Gitea, or set purge", g.Login, a.message(r))
	}
	return a.fail(r)
}
