package gitlabemu

import (
	"crypto/md5"
	"encoding/hex"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func fmtTimePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return fmtTime(*t)
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Server) avatarURL(email string) string {
	sum := md5.Sum([]byte(strings.ToLower(strings.TrimSpace(email))))
	return "https://www.gravatar.com/avatar/" + hex.EncodeToString(sum[:]) + "?s=80&d=identicon"
}

// userBasic is Entities::UserBasic (what non-admins see in lists).
func (s *Server) userBasic(c *reqCtx, u *UserState) map[string]any {
	return map[string]any{
		"id": u.ID, "username": u.Username, "name": u.Name, "state": u.State,
		"locked": false, "avatar_url": s.avatarURL(u.Email), "web_url": s.baseURL(c) + "/" + u.Username,
	}
}

// userEntity is Entities::UserWithAdmin / UserDetailsWithAdmin for admins
// and Entities::User for others.
func (s *Server) userEntity(c *reqCtx, u *UserState, withCA bool) map[string]any {
	return s.userEntityAs(c, u, withCA, c.admin())
}

// userEntityAs renders u with the admin fields or not, whoever asks.
func (s *Server) userEntityAs(c *reqCtx, u *UserState, withCA, admin bool) map[string]any {
	m := s.userBasic(c, u)
	m["created_at"] = fmtTime(u.CreatedAt)
	m["bio"] = u.Bio
	m["location"] = u.Location
	m["public_email"] = nullStr(u.PublicEmail)
	m["organization"] = u.Organization
	m["job_title"] = u.JobTitle
	m["pronouns"] = nullStr(u.Pronouns)
	m["website_url"] = u.WebsiteURL
	m["bot"] = u.Internal
	if !admin {
		return m
	}
	var lastAct any
	if u.LastActivityOn != nil {
		lastAct = u.LastActivityOn.UTC().Format("2006-01-02")
	}
	ids := make([]map[string]any, 0, len(u.Identities))
	for _, id := range u.Identities {
		// An identity whose extern_uid was never saved reads null (see updateUser).
		ids = append(ids, map[string]any{"provider": id.Provider, "extern_uid": nullStr(id.ExternUID), "saml_provider_id": nil})
	}
	m["last_sign_in_at"] = nil
	m["current_sign_in_at"] = fmtTimePtr(u.CurrentSignInAt)
	m["confirmed_at"] = fmtTimePtr(u.ConfirmedAt)
	m["last_activity_on"] = lastAct
	m["email"] = u.Email
	m["theme_id"] = 3
	m["color_scheme_id"] = 1
	m["projects_limit"] = u.ProjectsLimit
	m["identities"] = ids
	m["can_create_group"] = u.CanCreateGroup
	m["can_create_project"] = u.ProjectsLimit > 0
	m["two_factor_enabled"] = false
	m["external"] = u.External
	m["private_profile"] = u.PrivateProfile
	m["commit_email"] = orStr(u.CommitEmail, u.Email)
	m["is_admin"] = u.Admin
	m["note"] = nullStr(u.Note)
	m["namespace_id"] = u.ID
	m["created_by"] = nil
	m["is_auditor"] = false
	m["using_license_seat"] = u.State == StateActive
	// EE: instance SCIM identities; the emulator's scim_identities table is
	// always empty (see the package doc).
	m["scim_identities"] = []any{}
	if withCA {
		m["custom_attributes"] = caList(u.CustomAttributes)
	}
	return m
}

func orStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func caList(ca map[string]string) []map[string]string {
	keys := make([]string, 0, len(ca))
	for k := range ca {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]map[string]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, map[string]string{"key": k, "value": ca[k]})
	}
	return out
}

func (s *Server) lookupUser(c *reqCtx) *UserState {
	id, _ := strconv.Atoi(c.vars["id"])
	return s.users[id]
}

// ---------------------------------------------------------------- GET /users

var userOrderBy = []string{"id", "name", "username", "created_at", "updated_at"}

func (s *Server) listUsers(c *reqCtx) {
	p := c.p
	var g grapeErrs
	g.bools(p, "active", "blocked", "humans", "external", "exclude_active", "exclude_external",
		"exclude_internal", "without_project_bots", "admins", "with_custom_attributes", "without_projects")
	g.allOrNone(p, "extern_uid", "provider")
	g.values(p, "order_by", userOrderBy...)
	g.values(p, "sort", "asc", "desc")
	g.values(p, "pagination", "offset", "keyset")
	page, perPage := s.pageParams(c, &g)
	if g.write(c.w) {
		return
	}
	admin := c.admin()
	uid, hasUID := p.str("extern_uid")
	provider, _ := p.str("provider")
	if hasUID && !admin {
		forbidden(c.w, "")
		return
	}
	orderBy, hasOrder := p.str("order_by")
	sortDir, hasSort := p.str("sort")
	if !admin {
		// Non-admins cannot choose the order (index_params.except!).
		hasOrder, hasSort = false, false
	}
	flag := func(k string) bool { v, _, _ := p.boolean(k); return v }

	s.mu.Lock()
	defer s.mu.Unlock()
	var rows []*UserState
	search, hasSearch := p.str("search")
	username, hasUsername := p.str("username")
	ca := p.strMap("custom_attributes")
	var after, before time.Time
	if v, ok := p.str("created_after"); ok && admin {
		after, _ = time.Parse(time.RFC3339, v)
	}
	if v, ok := p.str("created_before"); ok && admin {
		before, _ = time.Parse(time.RFC3339, v)
	}
	// What GitLab's database reads through an index is not a scan here either: a
	// username or an identity names its candidates, and a keyset page in
	// ascending id order starts after its cursor and stops at the page's end.
	scan := s.sortedUsersLocked()
	switch {
	case hasUsername:
		scan = s.candidatesLocked("u:" + username)
	case hasUID:
		scan = s.candidatesLocked("i:" + provider + "\x00" + uid)
	}
	stopAt := 0
	if v, _ := p.str("pagination"); v == "keyset" && admin && (orderBy == "id" || !hasOrder) && sortDir == "asc" {
		if cur, ok := p.str("cursor"); ok && cur != "" {
			if last, ok := decodeCursor(cur); ok {
				scan = scan[sort.Search(len(scan), func(i int) bool { return scan[i].ID > last }):]
			}
		}
		stopAt = perPage + 1
	}
	for _, u := range scan {
		if stopAt > 0 && len(rows) >= stopAt {
			break
		}
		if hasUsername && !strings.EqualFold(u.Username, username) {
			continue
		}
		if hasUID {
			// EE UsersFinder routes provider=scim to the instance
			// scim_identities table, which is empty here.
			if provider == "scim" {
				continue
			}
			found := false
			for _, id := range u.Identities {
				if id.Provider == provider && strings.EqualFold(id.ExternUID, uid) {
					found = true
				}
			}
			if !found {
				continue
			}
		}
		if hasSearch && !searchMatch(u, search, admin) {
			continue
		}
		if flag("active") && u.State != StateActive {
			continue
		}
		if flag("blocked") && u.State != StateBlocked && u.State != StateLDAPBlocked {
			continue
		}
		if flag("exclude_active") && u.State == StateActive {
			continue
		}
		if flag("external") && !u.External {
			continue
		}
		if flag("exclude_external") && u.External {
			continue
		}
		if (flag("exclude_internal") || flag("humans") || flag("without_project_bots")) && u.Internal {
			continue
		}
		if admin && flag("admins") && !u.Admin {
			continue
		}
		if admin && len(ca) > 0 && !caMatch(u.CustomAttributes, ca) {
			continue
		}
		if !after.IsZero() && !u.CreatedAt.After(after) {
			continue
		}
		if !before.IsZero() && !u.CreatedAt.Before(before) {
			continue
		}
		rows = append(rows, u)
	}

	keyset := false
	if v, _ := p.str("pagination"); v == "keyset" {
		keyset = true
	}
	if hasSearch && !hasOrder && !hasSort && !keyset {
		sortSearch(rows, search)
	} else {
		if !hasOrder {
			orderBy = "id"
		}
		if !hasSort {
			sortDir = "desc"
		}
		sortUsers(rows, orderBy, sortDir == "desc")
	}

	withCA, _, _ := p.boolean("with_custom_attributes")
	render := func(list []*UserState) []map[string]any {
		out := make([]map[string]any, 0, len(list))
		for _, u := range list {
			if admin {
				out = append(out, s.userEntity(c, u, withCA))
			} else {
				out = append(out, s.userBasic(c, u))
			}
		}
		return out
	}

	if keyset {
		if orderBy != "id" {
			grapeError(c.w, 405, "Keyset pagination is not yet available for this type of request")
			return
		}
		if cur, ok := p.str("cursor"); ok && cur != "" {
			last, ok := decodeCursor(cur)
			if !ok {
				grapeError(c.w, 400, "cursor is invalid")
				return
			}
			desc := sortDir == "desc"
			i := 0
			for i < len(rows) && ((!desc && rows[i].ID <= last) || (desc && rows[i].ID >= last)) {
				i++
			}
			rows = rows[i:]
		}
		pageRows := rows
		if len(pageRows) > perPage {
			pageRows = rows[:perPage]
			link := `<` + s.linkFor(c, map[string]string{"cursor": encodeCursor(pageRows[len(pageRows)-1].ID), "per_page": strconv.Itoa(perPage)}, "page") + `>; rel="next"`
			c.w.Header().Set("Link", link)
			c.w.Header().Set("Links", link)
		}
		writeJSON(c.w, 200, render(pageRows))
		return
	}
	// The page's end, not its start, is held against the limit (lib/api/helpers/
	// pagination_strategies.rb, offset_limit_exceeded?: page * per_page > limit).
	if lim := s.opts.KeysetRequiredAbove; lim > 0 && page*perPage > lim {
		grapeError(c.w, 405, "Offset pagination has a maximum allowed offset of "+strconv.Itoa(lim)+
			" for requests that return objects of type User. Remaining records can be retrieved using keyset pagination.")
		return
	}
	lo, hi := s.offsetPage(c, len(rows), page, perPage)
	writeJSON(c.w, 200, render(rows[lo:hi]))
}

// searchMatch is User.search: fuzzy name/username (exact below 3
// characters), exact public e-mail, and for admins exact primary or
// confirmed secondary e-mail.
func searchMatch(u *UserState, q string, admin bool) bool {
	q = strings.ToLower(strings.TrimSpace(q))
	if q == "" {
		return false
	}
	name, uname := strings.ToLower(u.Name), strings.ToLower(u.Username)
	if len(q) < 3 {
		if name == q || uname == q {
			return true
		}
	} else if strings.Contains(name, q) || strings.Contains(uname, q) {
		return true
	}
	if strings.ToLower(u.PublicEmail) == q {
		return true
	}
	if admin {
		if strings.ToLower(u.Email) == q {
			return true
		}
		for _, e := range u.Emails {
			if e.ConfirmedAt != nil && strings.ToLower(e.Email) == q {
				return true
			}
		}
	}
	return false
}

// sortSearch mirrors User.search's ORDER BY: exact public e-mail, exact
// username, exact name, then name (id as the final tie-breaker).
func sortSearch(rows []*UserState, q string) {
	q = strings.ToLower(q)
	rank := func(u *UserState) int {
		switch {
		case strings.ToLower(u.PublicEmail) == q:
			return 0
		case strings.ToLower(u.Username) == q:
			return 1
		case strings.ToLower(u.Name) == q:
			return 2
		}
		return 3
	}
	sort.SliceStable(rows, func(i, j int) bool {
		ri, rj := rank(rows[i]), rank(rows[j])
		if ri != rj {
			return ri < rj
		}
		if rows[i].Name != rows[j].Name {
			return rows[i].Name < rows[j].Name
		}
		return rows[i].ID < rows[j].ID
	})
}

func sortUsers(rows []*UserState, by string, desc bool) {
	less := func(a, b *UserState) int {
		switch by {
		case "name":
			return strings.Compare(a.Name, b.Name)
		case "username":
			return strings.Compare(a.Username, b.Username)
		case "created_at":
			return a.CreatedAt.Compare(b.CreatedAt)
		case "updated_at":
			return a.UpdatedAt.Compare(b.UpdatedAt)
		}
		return 0
	}
	sort.SliceStable(rows, func(i, j int) bool {
		c := less(rows[i], rows[j])
		if c == 0 {
			// order_options_with_tie_breaker: id in the same direction.
			c = rows[i].ID - rows[j].ID
		}
		if desc {
			return c > 0
		}
		return c < 0
	})
}

func caMatch(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------- GET /users/:id, /user

func (s *Server) getUser(c *reqCtx) {
	var g grapeErrs
	g.bools(c.p, "with_custom_attributes")
	if g.write(c.w) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.lookupUser(c)
	if u == nil {
		notFound(c.w, "User")
		return
	}
	withCA, _, _ := c.p.boolean("with_custom_attributes")
	writeJSON(c.w, 200, s.userEntity(c, u, withCA && c.admin()))
}

// currentUser is GET /user: Entities::UserWithAdmin when the caller is an
// administrator (User#admin?, whatever Admin Mode says: lib/api/users.rb), so
// is_admin reads true even for a token that cannot act as one.
func (s *Server) currentUser(c *reqCtx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(c.w, 200, s.userEntityAs(c, c.caller, false, c.caller.Admin))
}

// tokenSelf is GET /personal_access_tokens/self (GitLab 15.5+): the token's own
// scopes, as GitLab answers them to any valid token.
func (s *Server) tokenSelf(c *reqCtx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(c.w, 200, map[string]any{"name": "scim", "scopes": c.scopes, "active": true, "revoked": false, "user_id": c.caller.ID})
}

// ---------------------------------------------------------------- POST /users

var userBoolParams = []string{"reset_password", "skip_confirmation", "force_random_password", "admin",
	"can_create_group", "external", "private_profile", "skip_reconfirmation", "view_diffs_file_by_file"}

// applyAttrs copies the optional attributes shared by create and update.
func applyAttrs(u *UserState, p params) {
	strs := map[string]*string{
		"name": &u.Name, "username": &u.Username, "note": &u.Note, "organization": &u.Organization,
		"public_email": &u.PublicEmail, "commit_email": &u.CommitEmail, "bio": &u.Bio,
		"location": &u.Location, "pronouns": &u.Pronouns, "website_url": &u.WebsiteURL, "job_title": &u.JobTitle,
	}
	for k, dst := range strs {
		if v, ok := p.str(k); ok {
			*dst = v
		}
	}
	bools := map[string]*bool{"admin": &u.Admin, "can_create_group": &u.CanCreateGroup,
		"external": &u.External, "private_profile": &u.PrivateProfile}
	for k, dst := range bools {
		if v, ok, _ := p.boolean(k); ok {
			*dst = v
		}
	}
	if n, ok, err := p.integer("projects_limit"); ok && err == nil {
		u.ProjectsLimit = n
	}
}

// usernameNamespaceTaken is what a username whose namespace route is another
// namespace's (a group's path) answers: the namespace's "has already been taken"
// becomes this base error when no user has the username (app/models/user.rb,
// set_username_errors; config/locales/en.yml username_exists_as_a_different_namespace).
const usernameNamespaceTaken = "A user, alias, or group already exists with that username."

// validateUser runs the User model validations that matter for
// provisioning, in GitLab's order; the username's only when it changes (a new
// user's always), as its namespace's path validations are.
func (s *Server) validateUserLocked(u *UserState, m *modelErrs, newPassword string, checkPassword, usernameChanged bool) {
	if u.Name == "" {
		m.add("name", "can't be blank")
	} else if len(u.Name) > 255 {
		m.add("name", "is too long (maximum is 255 characters)")
	}
	userTaken := false
	if usernameChanged {
		validatePath(m, "username", u.Username, true)
		if u.Username != "" {
			if other := s.userByUsernameLocked(u.Username); other != nil && other.ID != u.ID {
				m.add("username", "has already been taken")
				userTaken = true
			}
		}
		if endsWithFileExtension(u.Username) {
			m.add("username", fileExtensionMessage)
		}
	}
	validateEmail(m, "email", u.Email)
	if u.Email != "" && s.emailTakenLocked(u.Email, u.ID, false) {
		m.add("email", "has already been taken")
	}
	if checkPassword {
		switch {
		case len(newPassword) < 8:
			m.add("password", "is too short (minimum is 8 characters)")
		case len(newPassword) > 128:
			m.add("password", "is too long (maximum is 128 characters)")
		}
	}
	// after_validation: the user's namespace route clashes with a top-level
	// group's while no other user has the name.
	if usernameChanged && u.Username != "" && !userTaken && s.topGroupPathTakenLocked(u.Username) {
		m.add("base", usernameNamespaceTaken)
	}
}

const identityTakenMessage = "has already been taken. Please contact your administrator to generate a unique extern_uid / NameID"

func (s *Server) createUser(c *reqCtx) {
	p := c.p
	var g grapeErrs
	g.missing(p, "email")
	g.atLeastOne(p, "password", "reset_password", "force_random_password")
	g.missing(p, "name", "username")
	g.bools(p, userBoolParams...)
	if _, _, err := p.integer("projects_limit"); err != nil {
		g.add(err)
	}
	g.allOrNone(p, "extern_uid", "provider")
	if g.write(c.w) {
		return
	}
	// authenticated_as_admin! runs in the endpoint, after Grape validation.
	if !s.lockAsAdmin(c) {
		return
	}
	defer s.mu.Unlock()

	now := s.now()
	u := &UserState{ID: -1, CanCreateGroup: true, ProjectsLimit: 100000}
	u.Email, _ = p.str("email")
	applyAttrs(u, p)
	password, hasPassword := p.str("password")
	if !hasPassword {
		u.PasswordAutomaticallySet = true
	}
	if v, _, _ := p.boolean("skip_confirmation"); v {
		u.ConfirmedAt = &now
	}
	var m modelErrs
	s.validateUserLocked(u, &m, password, hasPassword, true)
	extUID, hasUID := p.str("extern_uid")
	provider, _ := p.str("provider")
	if hasUID && s.identityOwnerLocked(provider, extUID) != nil {
		m.add("identities.extern_uid", identityTakenMessage)
	}
	if m.any() {
		// lib/api/users.rb: after a failed save, 409 for a taken e-mail
		// (by_any_email), then for a taken username, else the model errors.
		if s.emailTakenLocked(u.Email, -1, true) {
			apiError(c.w, 409, "Email has already been taken")
			return
		}
		if s.userByUsernameLocked(u.Username) != nil {
			apiError(c.w, 409, "Username has already been taken")
			return
		}
		m.write(c.w)
		return
	}
	if hasUID {
		u.Identities = []Identity{{Provider: provider, ExternUID: extUID}}
	}
	u.CreatedAt, u.UpdatedAt = now, now
	nu := s.insertUserLocked(*u)
	writeJSON(c.w, 201, s.userEntity(c, nu, false))
}

// ---------------------------------------------------------------- PUT /users/:id

func (s *Server) updateUser(c *reqCtx) {
	p := c.p
	var g grapeErrs
	g.bools(p, userBoolParams...)
	if _, _, err := p.integer("projects_limit"); err != nil {
		g.add(err)
	}
	g.allOrNone(p, "extern_uid", "provider")
	if g.write(c.w) {
		return
	}
	if !s.lockAsAdmin(c) {
		return
	}
	defer s.mu.Unlock()
	u := s.lookupUser(c)
	if u == nil {
		notFound(c.w, "User")
		return
	}
	newEmail, hasEmail := p.str("email")
	if hasEmail && s.emailTakenLocked(newEmail, u.ID, true) {
		apiError(c.w, 409, "Email has already been taken")
		return
	}
	if un, ok := p.str("username"); ok {
		if other := s.userByUsernameLocked(un); other != nil && other.ID != u.ID {
			apiError(c.w, 409, "Username has already been taken")
			return
		}
	}

	now := s.now()
	cand := u.clone()
	applyAttrs(&cand, p)
	password, hasPassword := p.str("password")
	if hasPassword {
		cand.PasswordAutomaticallySet = false
	}
	// Primary e-mail change (see the package doc): an existing confirmed
	// secondary address, or any address with skip_reconfirmation, becomes
	// primary at once and the old primary is kept as a secondary; any other
	// address only becomes unconfirmed_email (Devise reconfirmable).
	promote := false
	if hasEmail && !strings.EqualFold(newEmail, u.Email) {
		skip, _, _ := p.boolean("skip_reconfirmation")
		isSecondary := false
		for _, e := range u.Emails {
			if strings.EqualFold(e.Email, newEmail) && e.ConfirmedAt != nil {
				isSecondary = true
			}
		}
		if isSecondary || skip {
			cand.Email = newEmail
			promote = true
		} else {
			cand.UnconfirmedEmail = newEmail
		}
	}
	var m modelErrs
	s.validateUserLocked(&cand, &m, password, hasPassword, cand.Username != u.Username)
	if cand.UnconfirmedEmail != u.UnconfirmedEmail {
		validateEmail(&m, "email", cand.UnconfirmedEmail)
		if s.emailTakenLocked(cand.UnconfirmedEmail, u.ID, false) {
			m.add("email", "has already been taken")
		}
	}
	// The user's own secondary addresses are not a conflict for promotion.
	if promote && m.has("email", "has already been taken") && !s.emailTakenLocked(cand.Email, u.ID, false) {
		delete(m.msgs, "email")
		m.keys = removeKey(m.keys, "email")
	}
	if m.any() {
		m.write(c.w)
		return
	}
	if promote {
		old := u.Email
		var emails []Email
		for _, e := range cand.Emails {
			if !strings.EqualFold(e.Email, cand.Email) {
				emails = append(emails, e)
			}
		}
		conf := cand.ConfirmedAt
		if conf == nil {
			conf = &now
		}
		emails = append(emails, Email{ID: s.nextEmailID, Email: old, ConfirmedAt: conf})
		s.nextEmailID++
		cand.Emails = emails
		cand.ConfirmedAt = &now
		cand.UnconfirmedEmail = ""
	}
	// Identity of that provider: find_or_create_by(provider), then an update of
	// its extern_uid whose uniqueness failure is ignored (app/services/users/
	// update_service.rb, assign_identity): a user without an identity of the
	// provider keeps a new one with a NULL extern_uid.
	if extUID, ok := p.str("extern_uid"); ok {
		provider, _ := p.str("provider")
		idx := -1
		for i := range cand.Identities {
			if cand.Identities[i].Provider == provider {
				idx = i
			}
		}
		if idx < 0 {
			cand.Identities = append(cand.Identities, Identity{Provider: provider})
			idx = len(cand.Identities) - 1
		}
		if owner := s.identityOwnerLocked(provider, extUID); owner == nil || owner.ID == u.ID {
			cand.Identities[idx].ExternUID = extUID
		}
	}
	cand.UpdatedAt = now
	*u = cand
	s.indexUserLocked(u)
	writeJSON(c.w, 200, s.userEntity(c, u, false))
}

func removeKey(keys []string, k string) []string {
	out := keys[:0]
	for _, x := range keys {
		if x != k {
			out = append(out, x)
		}
	}
	return out
}

// ---------------------------------------------------------------- DELETE /users/:id

func (s *Server) deleteUser(c *reqCtx) {
	var g grapeErrs
	g.bools(c.p, "hard_delete")
	if g.write(c.w) {
		return
	}
	if !s.lockAsAdmin(c) {
		return
	}
	defer s.mu.Unlock()
	u := s.lookupUser(c)
	if u == nil {
		notFound(c.w, "User")
		return
	}
	hard, _, _ := c.p.boolean("hard_delete")
	if !hard && s.soleOwnerLocked(u.ID) {
		apiError(c.w, 409, "User cannot be removed while is the sole-owner of a group")
		return
	}
	// User#delete_async: blocks first only with hard_delete, then leaves the
	// removal to DeleteUserWorker (app/models/user.rb).
	if hard && !isBlocked(u.State) {
		s.setState(u, StateBlocked)
	}
	s.scheduleUserDeletionLocked(u.ID)
	noContent(c.w)
}

func (s *Server) soleOwnerLocked(userID int) bool {
	for _, g := range s.groups {
		owners, mine := 0, false
		for _, m := range g.Members {
			if m.AccessLevel == 50 {
				owners++
				if m.UserID == userID {
					mine = true
				}
			}
		}
		if mine && owners == 1 {
			return true
		}
	}
	return false
}

func removeMember(ms []Member, userID int) []Member {
	out := ms[:0]
	for _, m := range ms {
		if m.UserID != userID {
			out = append(out, m)
		}
	}
	return out
}

// ---------------------------------------------------------------- state transitions

// stateAction wraps the common prologue of the moderation endpoints.
func (s *Server) stateAction(c *reqCtx, fn func(u *UserState)) {
	if !s.lockAsAdmin(c) {
		return
	}
	defer s.mu.Unlock()
	u := s.lookupUser(c)
	if u == nil {
		notFound(c.w, "User")
		return
	}
	fn(u)
}

func created(w http.ResponseWriter, v any) { writeJSON(w, 201, v) }

func (s *Server) setState(u *UserState, st string) {
	u.State = st
	u.UpdatedAt = s.now()
}

func (s *Server) blockUser(c *reqCtx) {
	s.stateAction(c, func(u *UserState) {
		switch {
		case u.State == StateLDAPBlocked:
			forbidden(c.w, "LDAP blocked users cannot be modified by the API")
		case u.ID == c.caller.ID:
			forbidden(c.w, "The API initiating user cannot be blocked by the API")
		case isBlocked(u.State):
			created(c.w, nil) // `break` in the endpoint: 201 null
		default:
			s.setState(u, StateBlocked)
			created(c.w, true)
		}
	})
}

func (s *Server) unblockUser(c *reqCtx) {
	s.stateAction(c, func(u *UserState) {
		switch u.State {
		case StateLDAPBlocked:
			forbidden(c.w, "LDAP blocked users cannot be unblocked by the API")
		case StateDeactivated:
			forbidden(c.w, "Deactivated users cannot be unblocked by the API")
		case StateActive:
			created(c.w, false) // no transition: UnblockService fails
		default:
			// User#activate transitions blocked, blocked_pending_approval
			// and banned to active.
			s.setState(u, StateActive)
			created(c.w, true)
		}
	})
}

func (s *Server) deactivateUser(c *reqCtx) {
	s.stateAction(c, func(u *UserState) {
		// User#last_active_at: the later of last_activity_on and
		// current_sign_in_at; neither reads as the epoch, dormant.
		var last time.Time
		for _, t := range []*time.Time{u.LastActivityOn, u.CurrentSignInAt} {
			if t != nil && t.After(last) {
				last = *t
			}
		}
		dormant := !last.After(s.now().AddDate(0, 0, -MinimumInactiveDays))
		switch {
		case u.State == StateDeactivated:
			created(c.w, nil)
		case isBlocked(u.State):
			apiError(c.w, 403, "Error occurred. A blocked user cannot be deactivated")
		case u.Internal:
			apiError(c.w, 403, "Internal users cannot be deactivated")
		case u.State != StateActive || !dormant:
			apiError(c.w, 403, "The user you are trying to deactivate has been active in the past "+
				strconv.Itoa(MinimumInactiveDays)+" days and cannot be deactivated")
		default:
			s.setState(u, StateDeactivated)
			created(c.w, true)
		}
	})
}

func (s *Server) activateUser(c *reqCtx) {
	s.stateAction(c, func(u *UserState) {
		switch {
		case isBlocked(u.State):
			apiError(c.w, 403, "Error occurred. A blocked user must be unblocked to be activated")
		default:
			s.setState(u, StateActive)
			created(c.w, true)
		}
	})
}

func (s *Server) banUser(c *reqCtx) {
	s.stateAction(c, func(u *UserState) {
		if u.State != StateActive {
			apiError(c.w, 403, "You cannot ban "+u.State+" users.")
			return
		}
		s.setState(u, StateBanned)
		created(c.w, true)
	})
}

func (s *Server) unbanUser(c *reqCtx) {
	s.stateAction(c, func(u *UserState) {
		if u.State != StateBanned {
			apiError(c.w, 403, "You cannot unban "+u.State+" users.")
			return
		}
		s.setState(u, StateActive)
		created(c.w, true)
	})
}

// ---------------------------------------------------------------- identities and e-mails

func (s *Server) deleteIdentity(c *reqCtx) {
	if !s.lockAsAdmin(c) {
		return
	}
	defer s.mu.Unlock()
	u := s.lookupUser(c)
	if u == nil {
		notFound(c.w, "User")
		return
	}
	for i, id := range u.Identities {
		if id.Provider == c.vars["provider"] {
			u.Identities = append(u.Identities[:i], u.Identities[i+1:]...)
			noContent(c.w)
			return
		}
	}
	notFound(c.w, "Identity")
}

func emailEntity(e Email) map[string]any {
	return map[string]any{"id": e.ID, "email": e.Email, "confirmed_at": fmtTimePtr(e.ConfirmedAt)}
}

func (s *Server) listEmails(c *reqCtx) {
	var g grapeErrs
	page, perPage := s.pageParams(c, &g)
	if g.write(c.w) {
		return
	}
	if !s.lockAsAdmin(c) {
		return
	}
	defer s.mu.Unlock()
	u := s.lookupUser(c)
	if u == nil {
		notFound(c.w, "User")
		return
	}
	lo, hi := s.offsetPage(c, len(u.Emails), page, perPage)
	out := []map[string]any{}
	for _, e := range u.Emails[lo:hi] {
		out = append(out, emailEntity(e))
	}
	writeJSON(c.w, 200, out)
}

func (s *Server) addEmail(c *reqCtx) {
	var g grapeErrs
	g.missing(c.p, "email")
	g.bools(c.p, "skip_confirmation")
	if g.write(c.w) {
		return
	}
	if !s.lockAsAdmin(c) {
		return
	}
	defer s.mu.Unlock()
	u := s.lookupUser(c)
	if u == nil {
		notFound(c.w, "User")
		return
	}
	addr, _ := c.p.str("email")
	var m modelErrs
	validateEmail(&m, "email", addr)
	// Email validates uniqueness against all secondary addresses and every
	// user's primary, including this user's own.
	if addr != "" && s.emailTakenLocked(addr, 0, false) {
		m.add("email", "has already been taken")
	}
	if m.any() {
		m.write(c.w)
		return
	}
	e := Email{ID: s.nextEmailID, Email: addr}
	s.nextEmailID++
	if skip, _, _ := c.p.boolean("skip_confirmation"); skip {
		t := s.now()
		e.ConfirmedAt = &t
	}
	u.Emails = append(u.Emails, e)
	s.indexUserLocked(u)
	created(c.w, emailEntity(e))
}

func (s *Server) deleteEmail(c *reqCtx) {
	if !s.lockAsAdmin(c) {
		return
	}
	defer s.mu.Unlock()
	u := s.lookupUser(c)
	if u == nil {
		notFound(c.w, "User")
		return
	}
	id, _ := strconv.Atoi(c.vars["email_id"])
	for i, e := range u.Emails {
		if e.ID == id {
			u.Emails = append(u.Emails[:i], u.Emails[i+1:]...)
			noContent(c.w)
			return
		}
	}
	notFound(c.w, "Email")
}

// ---------------------------------------------------------------- memberships

// listMemberships is GET /users/:user_id/memberships (lib/api/users.rb, admins
// only): the user's direct memberships as Entities::Membership, type
// Namespace (groups) or Project; the emulator's projects have no members.
func (s *Server) listMemberships(c *reqCtx) {
	var g grapeErrs
	g.values(c.p, "type", "Project", "Namespace")
	page, perPage := s.pageParams(c, &g)
	if g.write(c.w) {
		return
	}
	if !s.lockAsAdmin(c) {
		return
	}
	defer s.mu.Unlock()
	id, _ := strconv.Atoi(c.vars["user_id"])
	if s.users[id] == nil {
		notFound(c.w, "User")
		return
	}
	rows := []map[string]any{}
	if kind, _ := c.p.str("type"); kind != "Project" {
		for _, gr := range s.sortedGroupsLocked() {
			for _, m := range gr.Members {
				if m.UserID == id {
					rows = append(rows, map[string]any{"source_id": gr.ID, "source_name": gr.Name, "source_type": "Namespace", "access_level": m.AccessLevel})
				}
			}
		}
	}
	lo, hi := s.offsetPage(c, len(rows), page, perPage)
	writeJSON(c.w, 200, rows[lo:hi])
}
