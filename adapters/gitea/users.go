package gitea

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// listPageSize is the page size asked of GET /admin/users. Gitea silently caps it at
// [api] MAX_RESPONSE_ITEMS (default 50); paging follows X-Total-Count, so the cap only
// costs extra calls.
const listPageSize = 100

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
		Name: "gitea",
		UserAttributes: []string{
			"userName",
			"name.formatted", "name.givenName", "name.familyName",
			"displayName",
			"emails",
			"active",
			"externalId",
		},
		GroupAttributes: a.groupAttributes(),
		MaxPageSize:     listPageSize,
	}
}

// record maps a Gitea user to what the provisioning service sees.
func (a *Adapter) record(g *giteaUser) adapters.Record {
	st := decodeLoginName(g.LoginName)
	if g.SourceID != a.SourceID {
		// login_name of another source (LDAP, OIDC auto-registration) is not ours.
		st = loginState{}
	}
	u := &scim.User{
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
		u.Name = &scim.Name{Formatted: g.FullName, GivenName: given, FamilyName: strings.TrimSpace(family)}
		u.DisplayName = g.FullName
	}
	if g.Email != "" {
		u.Emails = []scim.MultiValue{{Value: g.Email, Type: "work", Primary: true}}
	}
	u.Meta.Created = g.Created
	// Gitea has no update timestamp or version; hash the mapped fields so the ETag
	// changes whenever one of them does.
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00%s\x00%s\x00%d\x00%s\x00%s\x00%t\x00%t\x00%t",
		g.ID, g.Login, g.LoginName, g.SourceID, g.FullName, g.Email, g.Active, g.ProhibitLogin, g.IsAdmin)
	u.Meta.Version = hex.EncodeToString(h.Sum(nil)[:12])
	return adapters.Record{User: u, Managed: st.managed, Deleted: st.managed && st.deleted, Admin: g.IsAdmin}
}

// parseID accepts only positive decimal ids (Gitea's ghost and actions users are < 0).
func parseID(id string) (int64, bool) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 || strconv.FormatInt(n, 10) != id {
		return 0, false
	}
	return n, true
}

// getByName is GET /users/{name}; a missing or renamed-away name is (nil, nil).
func (a *Adapter) getByName(ctx context.Context, name string) (*giteaUser, error) {
	if checkUsername(name) != nil {
		return nil, nil
	}
	r, err := a.call(ctx, http.MethodGet, a.endpoint(nil, "users", userPath(name)), nil)
	if err != nil {
		return nil, err
	}
	switch {
	case r.status == http.StatusOK:
	case r.status == http.StatusNotFound, r.status >= 300 && r.status < 400:
		return nil, nil
	default:
		return nil, a.statusError("user lookup", r)
	}
	var g giteaUser
	if err := decode(r, &g); err != nil {
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

// fetchByID resolves a numeric id with GET /users/search?uid=N, which only returns
// individual users; when the users page is disabled (404) it scans /admin/users.
func (a *Adapter) fetchByID(ctx context.Context, id int64) (*giteaUser, error) {
	q := url.Values{"uid": {strconv.FormatInt(id, 10)}, "limit": {"1"}}
	r, err := a.call(ctx, http.MethodGet, a.endpoint(q, "users", "search"), nil)
	if err != nil {
		return nil, err
	}
	switch r.status {
	case http.StatusOK:
		var res struct {
			Data []giteaUser `json:"data"`
		}
		if err := decode(r, &res); err != nil {
			return nil, err
		}
		for i := range res.Data {
			if res.Data[i].ID == id {
				return &res.Data[i], nil
			}
		}
		return nil, nil
	case http.StatusNotFound:
		var found *giteaUser
		err := a.scan(ctx, url.Values{"sort": {"id"}, "order": {"asc"}}, func(g *giteaUser) bool {
			if g.ID == id {
				found = g
			}
			return found == nil
		})
		return found, err
	default:
		return nil, a.statusError("user lookup", r)
	}
}

// isIndividual tells users from organizations, which GET /users/{name} also returns.
func (a *Adapter) isIndividual(ctx context.Context, g *giteaUser) (bool, error) {
	q := url.Values{"uid": {strconv.FormatInt(g.ID, 10)}, "limit": {"1"}}
	r, err := a.call(ctx, http.MethodGet, a.endpoint(q, "users", "search"), nil)
	if err != nil {
		return false, err
	}
	if r.status == http.StatusNotFound {
		return true, nil // users page disabled: cannot tell; orgs are rare name clashes
	}
	if r.status != http.StatusOK {
		return false, a.statusError("user lookup", r)
	}
	var res struct {
		Data []giteaUser `json:"data"`
	}
	if err := decode(r, &res); err != nil {
		return false, err
	}
	return len(res.Data) > 0, nil
}

// scanConcurrency bounds the pages of one scan fetched at once. A long scan (listing
// every user to rebuild the link index) is mostly Gitea's time; a few pages in flight
// let it use more than one core.
const scanConcurrency = 4

// scan pages through GET /admin/users with the given filters, calling f for each user,
// in Gitea's order, until f returns false or the users run out. The first page says
// how many there are; the others are fetched scanConcurrency at a time.
func (a *Adapter) scan(ctx context.Context, filter url.Values, f func(*giteaUser) bool) error {
	q := url.Values{}
	for k, v := range filter {
		q[k] = v
	}
	q.Set("limit", strconv.Itoa(listPageSize))
	first, total, err := a.scanPage(ctx, q, 1)
	if errors.Is(err, errSortUnknown) {
		// Forgejo knows other sort names; callers sort what they need themselves.
		q.Del("sort")
		q.Del("order")
		first, total, err = a.scanPage(ctx, q, 1)
	}
	if err != nil {
		return err
	}
	for i := range first {
		if !f(&first[i]) {
			return nil
		}
	}
	size := len(first) // what Gitea really gives a page (MAX_RESPONSE_ITEMS)
	if size == 0 || size >= total {
		return nil
	}
	pages := (total + size - 1) / size

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		users []giteaUser
		err   error
	}
	results := make([]chan result, pages+1)
	for p := 2; p <= pages; p++ {
		results[p] = make(chan result, 1)
	}
	go func() {
		sem := make(chan struct{}, scanConcurrency)
		for p := 2; p <= pages; p++ {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return // the reader has stopped
			}
			go func() {
				defer func() { <-sem }()
				us, _, err := a.scanPage(ctx, q, p)
				results[p] <- result{us, err}
			}()
		}
	}()
	for p := 2; p <= pages; p++ {
		var r result
		select {
		case r = <-results[p]:
		case <-ctx.Done():
			return ctx.Err()
		}
		if r.err != nil {
			return r.err
		}
		for i := range r.users {
			if !f(&r.users[i]) {
				return nil
			}
		}
	}
	return nil
}

// errSortUnknown is Forgejo's 422 to a sort name it does not know.
var errSortUnknown = errors.New("gitea: unknown sort")

// scanPage fetches one page of GET /admin/users and Gitea's total count.
func (a *Adapter) scanPage(ctx context.Context, q url.Values, page int) ([]giteaUser, int, error) {
	pq := url.Values{}
	for k, v := range q {
		pq[k] = v
	}
	pq.Set("page", strconv.Itoa(page))
	r, err := a.call(ctx, http.MethodGet, a.endpoint(pq, "admin", "users"), nil)
	if err != nil {
		return nil, 0, err
	}
	if r.status == http.StatusUnprocessableEntity && page == 1 && pq.Has("sort") {
		return nil, 0, errSortUnknown
	}
	if r.status != http.StatusOK {
		return nil, 0, a.statusError("user search", r)
	}
	var us []giteaUser
	if err := decode(r, &us); err != nil {
		return nil, 0, err
	}
	total, err := strconv.Atoi(r.header.Get("X-Total-Count"))
	if err != nil {
		total = len(us) // no count: what this page holds is all we know of
	}
	return us, total, nil
}

// FindUsers answers a point lookup with every matching user, managed or not.
func (a *Adapter) FindUsers(ctx context.Context, q adapters.Lookup) ([]adapters.Record, error) {
	var found []*giteaUser
	switch q.Kind {
	case adapters.ByID:
		id, ok := parseID(q.Value)
		if !ok {
			return []adapters.Record{}, nil
		}
		if q.UserNameHint != "" {
			g, err := a.getByName(ctx, q.UserNameHint)
			if err != nil {
				return nil, err
			}
			if g != nil && g.ID == id {
				found = append(found, g)
				break
			}
		}
		g, err := a.getByID(ctx, id)
		if err != nil {
			return nil, err
		}
		if g != nil {
			found = append(found, g)
		}

	case adapters.ByUserName:
		if isEmailShaped(q.Value) {
			// an e-mail-shaped userName is stored as the e-mail of a flagged user
			err := a.scan(ctx, url.Values{"q": {q.Value}}, func(g *giteaUser) bool {
				if strings.EqualFold(g.Email, q.Value) {
					found = append(found, g)
				}
				return true
			})
			if err != nil {
				return nil, err
			}
			break
		}
		g, err := a.getByName(ctx, q.Value)
		if err != nil {
			return nil, err
		}
		if g != nil {
			// Orgs share the user namespace; a managed user is never one.
			if rec := a.record(g); !rec.Managed {
				ok, err := a.isIndividual(ctx, g)
				if err != nil {
					return nil, err
				}
				if !ok {
					break
				}
			}
			found = append(found, g)
		}

	case adapters.ByExternalID:
		if q.Value == "" || len(q.Value) > MaxExternalIDLength {
			return []adapters.Record{}, nil
		}
		// one exact query per encoded form, in parallel: a miss costs one round trip
		forms := loginNameForms(q.Value)
		results := make([][]*giteaUser, len(forms))
		errs := make([]error, len(forms))
		var wg sync.WaitGroup
		for i, form := range forms {
			wg.Add(1)
			go func() {
				defer wg.Done()
				filter := url.Values{"login_name": {form}}
				if a.SourceID > 0 {
					filter.Set("source_id", strconv.FormatInt(a.SourceID, 10))
				}
				errs[i] = a.scan(ctx, filter, func(g *giteaUser) bool {
					results[i] = append(results[i], g)
					return true
				})
			}()
		}
		wg.Wait()
		seen := map[int64]bool{}
		for i := range forms {
			if errs[i] != nil {
				return nil, errs[i]
			}
			for _, g := range results[i] {
				if !seen[g.ID] {
					seen[g.ID] = true
					found = append(found, g)
				}
			}
		}

	case adapters.ByEmail:
		if q.Value == "" || strings.ContainsAny(q.Value, "\x00\r\n") {
			return []adapters.Record{}, nil
		}
		// q is a LIKE search over name, full name and e-mail: keep exact e-mail matches.
		err := a.scan(ctx, url.Values{"q": {q.Value}}, func(g *giteaUser) bool {
			if strings.EqualFold(g.Email, q.Value) {
				found = append(found, g)
			}
			return true
		})
		if err != nil {
			return nil, err
		}

	default:
		return nil, fmt.Errorf("gitea: unsupported lookup kind %d", q.Kind)
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

// ListUsers returns a window of the managed users in ascending id order. It reads
// every page of /admin/users on each call (Gitea cannot filter on "managed"), a cost
// linear in the number of Gitea users.
func (a *Adapter) ListUsers(ctx context.Context, p adapters.Page) ([]adapters.Record, int, error) {
	filter := url.Values{"sort": {"id"}, "order": {"asc"}}
	if a.SourceID > 0 {
		filter.Set("source_id", strconv.FormatInt(a.SourceID, 10))
	}
	var managed []adapters.Record
	err := a.scan(ctx, filter, func(g *giteaUser) bool {
		if rec := a.record(g); rec.Managed {
			managed = append(managed, rec)
		}
		return true
	})
	if err != nil {
		return nil, 0, err
	}
	// Sorting again keeps the order right on servers that ignore sort=id (Forgejo).
	sort.SliceStable(managed, func(i, j int) bool {
		x, _ := strconv.ParseInt(managed[i].User.ID, 10, 64)
		y, _ := strconv.ParseInt(managed[j].User.ID, 10, 64)
		return x < y
	})
	total := len(managed)
	if p.Offset < 0 {
		p.Offset = 0
	}
	if p.Limit <= 0 || p.Offset >= total {
		return []adapters.Record{}, total, nil
	}
	end := min(p.Offset+p.Limit, total)
	return managed[p.Offset:end], total, nil
}

// randomPassword returns a password the user never needs: 32 random bytes, with a
// prefix that satisfies every PASSWORD_COMPLEXITY class Gitea knows.
func randomPassword() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "Aa1!" + base64.RawURLEncoding.EncodeToString(b[:]), nil
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
func checkUser(u *scim.User) (plan, error) {
	p := plan{email: u.PrimaryEmail(), username: u.UserName}
	if err := checkUsername(u.UserName); err != nil {
		if !isEmailShaped(u.UserName) {
			return p, scim.BadRequest(scim.ErrInvalidValue, "userName %q is not valid for Gitea (%v) and is not an e-mail address; map userName to a Gitea-compatible value or to the user's e-mail", truncate(u.UserName, 64), err)
		}
		if p.email == "" {
			p.email = u.UserName
		}
		if !strings.EqualFold(p.email, u.UserName) {
			return p, scim.BadRequest(scim.ErrInvalidValue, "userName %q is an e-mail address, which Gitea can only keep as the user's primary e-mail, but the primary e-mail is %q; send the same value for both, or map userName to a Gitea-compatible name", truncate(u.UserName, 64), truncate(p.email, 64))
		}
		p.email = u.UserName
		p.username = deriveUsername(u.UserName)
		p.emailName = true
	}
	if p.email == "" {
		return p, scim.BadRequest(scim.ErrInvalidValue, "emails: a primary or work email is required by Gitea")
	}
	if len(u.ExternalID) > MaxExternalIDLength {
		return p, scim.BadRequest(scim.ErrInvalidValue, "externalId is longer than %d characters, the most Gitea can store", MaxExternalIDLength)
	}
	if n := len([]rune(u.FullName())); n > 100 {
		return p, scim.BadRequest(scim.ErrInvalidValue, "name: Gitea stores at most 100 characters of full name, got %d", n)
	}
	return p, nil
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// conflictOrInvalid maps Gitea's answers to create, rename and e-mail changes: a taken
// name or e-mail is a SCIM uniqueness conflict, anything else a 400.
func (a *Adapter) conflictOrInvalid(op string, r *response) error {
	if r.status == http.StatusUnprocessableEntity || r.status == http.StatusBadRequest {
		msg := a.message(r)
		if strings.Contains(msg, "already exists") || strings.Contains(msg, "already in use") {
			return scim.Conflict("gitea: %s", msg)
		}
	}
	return a.statusError(op, r)
}

// CreateUser creates a managed Gitea user. A username derived from an e-mail-shaped
// userName that is already taken gets a numeric suffix, as GitLab's own SCIM does; a
// userName that is a valid Gitea username is used as is, and taken means 409.
func (a *Adapter) CreateUser(ctx context.Context, u *scim.User) (adapters.Record, error) {
	p, err := checkUser(u)
	if err != nil {
		return adapters.Record{}, err
	}
	pw, err := randomPassword()
	if err != nil {
		return adapters.Record{}, err
	}
	body := map[string]any{
		"username":             p.username,
		"email":                p.email,
		"full_name":            u.FullName(),
		"login_name":           encodeLoginName(loginState{externalID: u.ExternalID, emailName: p.emailName}),
		"source_id":            a.SourceID,
		"password":             pw,
		"must_change_password": false,
		"send_notify":          false,
	}
	var r *response
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			body["username"] = withSuffix(p.username, attempt)
		}
		r, err = a.call(ctx, http.MethodPost, a.endpoint(nil, "admin", "users"), body)
		if err != nil {
			return adapters.Record{}, err
		}
		if r.status == http.StatusCreated || !p.emailName || attempt == 5 || !strings.Contains(a.message(r), "user already exists") {
			break
		}
	}
	if r.status != http.StatusCreated {
		return adapters.Record{}, a.conflictOrInvalid("user creation", r)
	}
	var g giteaUser
	if err := decode(r, &g); err != nil {
		return adapters.Record{}, err
	}
	if strings.EqualFold(g.Email, p.email) {
		// Gitea stores the e-mail as sent but answers the create in lower case;
		// reads later return what it stored.
		g.Email = p.email
	}
	// Gitea creates users active; a SCIM user created inactive is deprovisioned at once.
	if !u.Active {
		return a.UpdateUser(ctx, strconv.FormatInt(g.ID, 10), u, adapters.State{Managed: true})
	}
	return a.record(&g), nil
}

// UpdateUser writes u and st to Gitea user id: a rename first when userName changed,
// then one PATCH that always carries login_name and source_id together (Gitea requires
// login_name; Forgejo requires the pair).
func (a *Adapter) UpdateUser(ctx context.Context, id string, u *scim.User, st adapters.State) (adapters.Record, error) {
	p, err := checkUser(u)
	if err != nil {
		return adapters.Record{}, err
	}
	n, ok := parseID(id)
	if !ok {
		return adapters.Record{}, adapters.ErrNotFound
	}
	g, err := a.getByID(ctx, n)
	if err != nil {
		return adapters.Record{}, err
	}
	if g == nil {
		return adapters.Record{}, adapters.ErrNotFound
	}

	loginName := g.LoginName
	if st.Managed {
		loginName = encodeLoginName(loginState{externalID: u.ExternalID, deleted: st.Deleted, emailName: p.emailName})
	} else if loginName == "" {
		// Gitea's PATCH rejects an empty login_name, and an empty one is what "not
		// managed" means: such a user can only be updated by adopting it.
		return adapters.Record{}, scim.Errorf(http.StatusConflict, "", "gitea user %s is not managed; it must be adopted before it can be updated", g.Login)
	}

	// Rename only when the SCIM userName changed: a suffixed, derived username stays.
	name := g.Login
	if cur := a.record(g).User.UserName; !strings.EqualFold(cur, u.UserName) && !strings.EqualFold(p.username, g.Login) {
		for attempt := 0; ; attempt++ {
			target := p.username
			if attempt > 0 {
				target = withSuffix(p.username, attempt)
			}
			r, err := a.call(ctx, http.MethodPost, a.endpoint(nil, "admin", "users", userPath(g.Login), "rename"),
				map[string]string{"new_username": target})
			if err != nil {
				return adapters.Record{}, err
			}
			if r.status == http.StatusNoContent || r.status == http.StatusOK {
				name = target
				break
			}
			if !p.emailName || attempt == 5 || !strings.Contains(a.message(r), "already exists") {
				return adapters.Record{}, a.conflictOrInvalid("rename", r)
			}
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
	r, err := a.call(ctx, http.MethodPatch, a.endpoint(nil, "admin", "users", userPath(name)), body)
	if err != nil {
		return adapters.Record{}, err
	}
	if r.status != http.StatusOK {
		return adapters.Record{}, a.conflictOrInvalid("user update", r)
	}
	var out giteaUser
	if err := decode(r, &out); err != nil {
		return adapters.Record{}, err
	}
	return a.record(&out), nil
}

// DeleteUser removes the Gitea user and everything it owns (purge).
func (a *Adapter) DeleteUser(ctx context.Context, id string) error {
	n, ok := parseID(id)
	if !ok {
		return adapters.ErrNotFound
	}
	g, err := a.getByID(ctx, n)
	if err != nil {
		return err
	}
	if g == nil {
		return adapters.ErrNotFound
	}
	q := url.Values{"purge": {"true"}}
	r, err := a.call(ctx, http.MethodDelete, a.endpoint(q, "admin", "users", userPath(g.Login)), nil)
	if err != nil {
		return err
	}
	if r.status != http.StatusNoContent {
		err := a.statusError("user deletion", r)
		if errors.Is(err, adapters.ErrNotFound) {
			return adapters.ErrNotFound
		}
		return err
	}
	return nil
}
