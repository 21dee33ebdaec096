package gitea

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// Groups (see teamdesc.go for the mapping): SCIM group id = Gitea team id; members
// are the team's members that SCIM manages (users added by hand stay untouched by
// every SCIM change, since SCIM never sees them).

// memberConcurrency bounds concurrent membership calls of one request.
const memberConcurrency = 8

// teamPageSize is asked of Gitea's list endpoints; it silently caps it at
// MAX_RESPONSE_ITEMS (50 by default) and paging follows X-Total-Count.
const teamPageSize = 50

// defaultTeamUnits are the repository units a new team gets unless team_units is set.
var defaultTeamUnits = []string{"repo.code", "repo.issues", "repo.pulls", "repo.releases",
	"repo.wiki", "repo.projects", "repo.packages", "repo.actions", "repo.ext_issues", "repo.ext_wiki"}

type giteaTeam struct {
	ID           int64  `json:"id"`
	Name         string `json:"name"`
	Description  string `json:"description"`
	Organization *struct {
		UserName string `json:"username"`
		Name     string `json:"name"`
	} `json:"organization"`
}

// GroupsEnabled reports whether groups are configured: they need an organization.
func (a *Adapter) GroupsEnabled() bool { return a.Organization != "" }

// group maps a team of the organization to a SCIM group; ok is false for teams SCIM
// does not manage.
func (a *Adapter) group(t *giteaTeam) (*scim.Group, bool) {
	name, ext, ok := decodeTeamDescription(t.Description)
	if !ok {
		return nil, false
	}
	g := &scim.Group{ID: strconv.FormatInt(t.ID, 10), DisplayName: name, ExternalID: ext}
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00%s\x00%s", t.ID, t.Name, t.Description)
	g.Meta.Version = hex.EncodeToString(h.Sum(nil)[:12])
	return g, true
}

// teamError maps an unexpected answer of a team call; 401/403 name the scope.
func (a *Adapter) teamError(op string, r *response) error {
	if r.status == http.StatusUnauthorized || r.status == http.StatusForbidden {
		return adapters.UpstreamMisconfigured(fmt.Sprintf(
			"gitea answered %d to %s: groups need an admin token with the scope write:organization", r.status, op))
	}
	return a.statusError(op, r)
}

// orgMissing is the answer when the configured organization does not exist.
func (a *Adapter) orgMissing() error {
	return scim.Errorf(http.StatusBadGateway, "",
		"the gitea organization %q (adapter option organization) does not exist; create it in Gitea first", a.sanitize(a.Organization))
}

// listTeams reads every team of the organization, in ascending id order.
func (a *Adapter) listTeams(ctx context.Context) ([]giteaTeam, error) {
	var all []giteaTeam
	for page := 1; ; page++ {
		q := url.Values{"page": {strconv.Itoa(page)}, "limit": {strconv.Itoa(teamPageSize)}}
		r, err := a.call(ctx, http.MethodGet, a.endpoint(q, "orgs", url.PathEscape(a.Organization), "teams"), nil)
		if err != nil {
			return nil, err
		}
		if r.status == http.StatusNotFound {
			return nil, a.orgMissing()
		}
		if r.status != http.StatusOK {
			return nil, a.teamError("team list", r)
		}
		var ts []giteaTeam
		if err := decode(r, &ts); err != nil {
			return nil, err
		}
		all = append(all, ts...)
		total, err := strconv.Atoi(r.header.Get("X-Total-Count"))
		if len(ts) == 0 || err != nil || len(all) >= total {
			break
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	return all, nil
}

// getTeam reads one team; nil when it does not exist, belongs to another
// organization or is not managed.
func (a *Adapter) getTeam(ctx context.Context, id string) (*giteaTeam, *scim.Group, error) {
	n, ok := parseID(id)
	if !ok {
		return nil, nil, nil
	}
	r, err := a.call(ctx, http.MethodGet, a.endpoint(nil, "teams", strconv.FormatInt(n, 10)), nil)
	if err != nil {
		return nil, nil, err
	}
	if r.status == http.StatusNotFound {
		return nil, nil, nil
	}
	if r.status != http.StatusOK {
		return nil, nil, a.teamError("team lookup", r)
	}
	var t giteaTeam
	if err := decode(r, &t); err != nil {
		return nil, nil, err
	}
	if t.Organization == nil || !strings.EqualFold(t.Organization.UserName, a.Organization) && !strings.EqualFold(t.Organization.Name, a.Organization) {
		return nil, nil, nil
	}
	g, ok := a.group(&t)
	if !ok {
		return nil, nil, nil
	}
	return &t, g, nil
}

// teamMembers returns the managed, not SCIM-deleted members of a team.
func (a *Adapter) teamMembers(ctx context.Context, teamID string) ([]scim.Member, error) {
	var out []scim.Member
	seen := 0
	for page := 1; ; page++ {
		q := url.Values{"page": {strconv.Itoa(page)}, "limit": {strconv.Itoa(teamPageSize)}}
		r, err := a.call(ctx, http.MethodGet, a.endpoint(q, "teams", teamID, "members"), nil)
		if err != nil {
			return nil, err
		}
		if r.status != http.StatusOK {
			return nil, a.teamError("team member list", r)
		}
		var us []giteaUser
		if err := decode(r, &us); err != nil {
			return nil, err
		}
		for i := range us {
			if rec := a.record(&us[i]); rec.Managed && !rec.Deleted {
				out = append(out, scim.Member{Value: rec.User.ID, Display: rec.User.UserName, Type: "User"})
			}
		}
		seen += len(us)
		total, err := strconv.Atoi(r.header.Get("X-Total-Count"))
		if len(us) == 0 || err != nil || seen >= total {
			break
		}
	}
	sort.Slice(out, func(i, j int) bool {
		x, _ := strconv.ParseInt(out[i].Value, 10, 64)
		y, _ := strconv.ParseInt(out[j].Value, 10, 64)
		return x < y
	})
	return out, nil
}

// withMembers loads the members of gs concurrently.
func (a *Adapter) withMembers(ctx context.Context, gs []*scim.Group) error {
	return forEach(ctx, len(gs), func(i int) error {
		ms, err := a.teamMembers(ctx, gs[i].ID)
		gs[i].Members = ms
		return err
	})
}

// forEach runs f(0..n-1) with bounded concurrency and returns the first error.
func forEach(ctx context.Context, n int, f func(i int) error) error {
	for _, err := range adapters.Parallel(ctx, n, memberConcurrency, func(_ context.Context, i int) error { return f(i) }) {
		if err == context.Canceled || err == context.DeadlineExceeded {
			return adapters.UpstreamUnavailable(0, "request cancelled")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// managedTeams lists the managed teams of the organization as groups.
func (a *Adapter) managedTeams(ctx context.Context) ([]*scim.Group, error) {
	ts, err := a.listTeams(ctx)
	if err != nil {
		return nil, err
	}
	var out []*scim.Group
	for i := range ts {
		if g, ok := a.group(&ts[i]); ok {
			out = append(out, g)
		}
	}
	return out, nil
}

// FindGroups answers ByID (one call), ByExternalID and ByDisplayName (one list of the
// organization's teams), plus one member list per group when withMembers is set.
func (a *Adapter) FindGroups(ctx context.Context, q adapters.Lookup, withMembers bool) ([]*scim.Group, error) {
	if !a.GroupsEnabled() {
		return nil, adapters.ErrNotFound
	}
	var out []*scim.Group
	switch q.Kind {
	case adapters.ByID:
		_, g, err := a.getTeam(ctx, q.Value)
		if err != nil {
			return nil, err
		}
		if g != nil {
			out = append(out, g)
		}
	case adapters.ByExternalID, adapters.ByDisplayName:
		gs, err := a.managedTeams(ctx)
		if err != nil {
			return nil, err
		}
		for _, g := range gs {
			if q.Kind == adapters.ByExternalID && g.ExternalID == q.Value ||
				q.Kind == adapters.ByDisplayName && strings.EqualFold(g.DisplayName, q.Value) {
				out = append(out, g)
			}
		}
	default:
		return nil, nil
	}
	if withMembers {
		if err := a.withMembers(ctx, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ListGroups returns a window of the managed teams in ascending id order.
func (a *Adapter) ListGroups(ctx context.Context, p adapters.Page, withMembers bool) ([]*scim.Group, int, error) {
	gs, err := a.managedTeams(ctx)
	if err != nil {
		return nil, 0, err
	}
	total := len(gs)
	if p.Offset < 0 {
		p.Offset = 0
	}
	if p.Limit <= 0 || p.Offset >= total {
		return []*scim.Group{}, total, nil
	}
	gs = gs[p.Offset:min(p.Offset+p.Limit, total)]
	if withMembers {
		if err := a.withMembers(ctx, gs); err != nil {
			return nil, 0, err
		}
	}
	return gs, total, nil
}

// CreateGroup creates a team named after the displayName (slug, "-2", "-3"… when
// taken) with the configured permission and units.
func (a *Adapter) CreateGroup(ctx context.Context, g *scim.Group) (*scim.Group, error) {
	desc, err := encodeTeamDescription(g.DisplayName, g.ExternalID)
	if err != nil {
		return nil, scim.BadRequest(scim.ErrInvalidValue, "%v", err)
	}
	if err := a.checkDisplayName(ctx, "", g.DisplayName); err != nil {
		return nil, err
	}
	slug := teamSlug(g.DisplayName)
	for n := 1; n <= 50; n++ {
		body := map[string]any{
			"name":                      teamNameCandidate(slug, n),
			"description":               desc,
			"permission":                a.teamPermission(),
			"units":                     a.teamUnits(),
			"includes_all_repositories": false,
			"can_create_org_repo":       false,
		}
		r, err := a.call(ctx, http.MethodPost, a.endpoint(nil, "orgs", url.PathEscape(a.Organization), "teams"), body)
		if err != nil {
			return nil, err
		}
		switch {
		case r.status == http.StatusCreated:
			var t giteaTeam
			if err := decode(r, &t); err != nil {
				return nil, err
			}
			out, _ := a.group(&t)
			if out == nil {
				return nil, scim.Errorf(http.StatusBadGateway, "", "gitea did not keep the team description")
			}
			return out, nil
		case r.status == http.StatusNotFound:
			return nil, a.orgMissing()
		case r.status == http.StatusUnprocessableEntity && strings.Contains(a.message(r), "already exists"):
			continue // the name is taken (case-insensitively): next suffix
		default:
			return nil, a.teamError("team creation", r)
		}
	}
	return nil, scim.Conflict("no free Gitea team name for %q", g.DisplayName)
}

// UpdateGroup writes displayName and externalId; a displayName whose slug differs
// (beyond case) from the team name renames the team too.
func (a *Adapter) UpdateGroup(ctx context.Context, id string, g *scim.Group) (*scim.Group, error) {
	t, _, err := a.getTeam(ctx, id)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, adapters.ErrNotFound
	}
	desc, err := encodeTeamDescription(g.DisplayName, g.ExternalID)
	if err != nil {
		return nil, scim.BadRequest(scim.ErrInvalidValue, "%v", err)
	}
	if cur, _, _ := decodeTeamDescription(t.Description); !strings.EqualFold(cur, g.DisplayName) {
		if err := a.checkDisplayName(ctx, id, g.DisplayName); err != nil {
			return nil, err
		}
	}
	slug := teamSlug(g.DisplayName)
	keep := strings.EqualFold(t.Name, slug) || strings.HasPrefix(strings.ToLower(t.Name), strings.ToLower(slug)+"-") && isDigits(t.Name[len(slug)+1:])
	for n := 1; n <= 50; n++ {
		name := t.Name
		if !keep {
			name = teamNameCandidate(slug, n)
		}
		// Gitea requires name on every edit; permission and units are left as the
		// operator may have changed them in Gitea.
		r, err := a.call(ctx, http.MethodPatch, a.endpoint(nil, "teams", strconv.FormatInt(t.ID, 10)),
			map[string]any{"name": name, "description": desc})
		if err != nil {
			return nil, err
		}
		switch {
		case r.status == http.StatusOK:
			var nt giteaTeam
			if err := decode(r, &nt); err != nil {
				return nil, err
			}
			out, _ := a.group(&nt)
			if out == nil {
				return nil, scim.Errorf(http.StatusBadGateway, "", "gitea did not keep the team description")
			}
			return out, nil
		case r.status == http.StatusNotFound:
			return nil, adapters.ErrNotFound
		case r.status == http.StatusUnprocessableEntity && !keep && strings.Contains(a.message(r), "already exists"):
			continue
		default:
			return nil, a.teamError("team update", r)
		}
	}
	return nil, scim.Conflict("no free Gitea team name for %q", g.DisplayName)
}

// checkDisplayName answers 409 when another managed team has displayName
// (case-insensitively). The service checks first; this keeps the adapter's own
// contract when it is used alone (one team list call).
func (a *Adapter) checkDisplayName(ctx context.Context, selfID, displayName string) error {
	gs, err := a.managedTeams(ctx)
	if err != nil {
		return err
	}
	for _, g := range gs {
		if g.ID != selfID && strings.EqualFold(g.DisplayName, displayName) {
			return scim.Conflict("a group with displayName %q already exists (id %s)", g.DisplayName, g.ID)
		}
	}
	return nil
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// DeleteGroup deletes the team (members leave it; repositories stay in the org).
func (a *Adapter) DeleteGroup(ctx context.Context, id string) error {
	t, _, err := a.getTeam(ctx, id)
	if err != nil {
		return err
	}
	if t == nil {
		return adapters.ErrNotFound
	}
	r, err := a.call(ctx, http.MethodDelete, a.endpoint(nil, "teams", strconv.FormatInt(t.ID, 10)), nil)
	if err != nil {
		return err
	}
	switch r.status {
	case http.StatusNoContent, http.StatusOK:
		return nil
	case http.StatusNotFound:
		return adapters.ErrNotFound
	}
	return a.teamError("team deletion", r)
}

// AddMembers puts users into the team: one PUT per user, at most memberConcurrency
// at a time, after resolving SCIM ids to usernames (see logins).
func (a *Adapter) AddMembers(ctx context.Context, id string, userIDs []string) error {
	return a.changeMembers(ctx, id, userIDs, http.MethodPut)
}

// RemoveMembers takes users out of the team; a non-member or a user that no longer
// exists counts as removed.
func (a *Adapter) RemoveMembers(ctx context.Context, id string, userIDs []string) error {
	return a.changeMembers(ctx, id, userIDs, http.MethodDelete)
}

func (a *Adapter) changeMembers(ctx context.Context, id string, userIDs []string, method string) error {
	if len(userIDs) == 0 {
		return nil
	}
	// Only managed teams of the organization may be changed (never Owners).
	t, _, err := a.getTeam(ctx, id)
	if err != nil {
		return err
	}
	if t == nil {
		return adapters.ErrNotFound
	}
	logins, err := a.logins(ctx, userIDs)
	if err != nil {
		return err
	}
	failed := map[string]error{}
	var mu sync.Mutex
	fail := func(uid string, err error) {
		mu.Lock()
		failed[uid] = err
		mu.Unlock()
	}
	team := strconv.FormatInt(t.ID, 10)
	err = forEach(ctx, len(userIDs), func(i int) error {
		uid := userIDs[i]
		login, ok := logins[uid]
		if !ok {
			if method == http.MethodPut {
				fail(uid, scim.Errorf(http.StatusNotFound, "", "user %s does not exist in gitea", uid))
			}
			return nil
		}
		r, err := a.call(ctx, method, a.endpoint(nil, "teams", team, "members", userPath(login)), nil)
		if err != nil {
			fail(uid, err)
			return nil
		}
		switch {
		case r.status == http.StatusNoContent || r.status == http.StatusOK:
		case r.status == http.StatusNotFound && method == http.MethodDelete:
			// not a member, or the user is gone: removed either way
		case r.status == http.StatusNotFound:
			fail(uid, scim.Errorf(http.StatusNotFound, "", "user %s no longer exists in gitea", uid))
		case r.status == http.StatusForbidden:
			msg := a.message(r)
			if msg == "" {
				msg = "forbidden"
			}
			fail(uid, scim.Errorf(http.StatusForbidden, "", "gitea refused the membership of user %s: %s", uid, msg))
		default:
			fail(uid, a.teamError("team membership change", r))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(failed) > 0 {
		return &adapters.MemberError{Failed: failed}
	}
	return nil
}

// logins resolves SCIM user ids to Gitea usernames. Few ids cost one lookup each;
// many ids are resolved from one pass over /admin/users when that takes fewer calls
// (the first page tells the total). Unknown ids are absent from the map.
func (a *Adapter) logins(ctx context.Context, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	want := map[int64]string{}
	for _, id := range ids {
		if n, ok := parseID(id); ok {
			want[n] = id
		}
	}
	if len(want) >= 20 {
		q := url.Values{"page": {"1"}, "limit": {strconv.Itoa(listPageSize)}}
		r, err := a.call(ctx, http.MethodGet, a.endpoint(q, "admin", "users"), nil)
		if err != nil {
			return nil, err
		}
		if r.status == http.StatusOK {
			total, _ := strconv.Atoi(r.header.Get("X-Total-Count"))
			var first []giteaUser
			if err := decode(r, &first); err != nil {
				return nil, err
			}
			if per := max(len(first), 1); (total+per-1)/per <= len(want)/2 {
				err := a.scan(ctx, nil, func(g *giteaUser) bool {
					if id, ok := want[g.ID]; ok {
						out[id] = g.Login
					}
					return len(out) < len(want)
				})
				return out, err
			}
		}
	}
	var mu sync.Mutex
	keys := make([]int64, 0, len(want))
	for n := range want {
		keys = append(keys, n)
	}
	err := forEach(ctx, len(keys), func(i int) error {
		g, err := a.getByID(ctx, keys[i])
		if err != nil || g == nil {
			return err
		}
		mu.Lock()
		out[want[keys[i]]] = g.Login
		mu.Unlock()
		return nil
	})
	return out, err
}

type sudoKey struct{}

// UserGroups returns the managed teams of the organization the user belongs to.
// One call per 50 teams of the user: GET /user/teams on the user's behalf (the admin
// token's Sudo header). Should Sudo be refused, it falls back to one membership
// check per managed team.
func (a *Adapter) UserGroups(ctx context.Context, userID string) ([]scim.GroupRef, error) {
	if !a.GroupsEnabled() {
		return nil, nil
	}
	n, ok := parseID(userID)
	if !ok {
		return nil, adapters.ErrNotFound
	}
	u, err := a.getByID(ctx, n)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, adapters.ErrNotFound
	}
	var out []scim.GroupRef
	sctx := context.WithValue(ctx, sudoKey{}, u.Login)
	for page := 1; ; page++ {
		q := url.Values{"page": {strconv.Itoa(page)}, "limit": {strconv.Itoa(teamPageSize)}}
		r, err := a.call(sctx, http.MethodGet, a.endpoint(q, "user", "teams"), nil)
		if err != nil {
			return nil, err
		}
		if r.status != http.StatusOK {
			return a.userGroupsByScan(ctx, u.Login)
		}
		var ts []giteaTeam
		if err := decode(r, &ts); err != nil {
			return nil, err
		}
		for i := range ts {
			t := &ts[i]
			if t.Organization == nil || !strings.EqualFold(t.Organization.UserName, a.Organization) && !strings.EqualFold(t.Organization.Name, a.Organization) {
				continue
			}
			if g, ok := a.group(t); ok {
				out = append(out, scim.GroupRef{Value: g.ID, Display: g.DisplayName, Type: "direct"})
			}
		}
		if len(ts) < teamPageSize {
			break
		}
	}
	return out, nil
}

// userGroupsByScan checks the user's membership in every managed team.
func (a *Adapter) userGroupsByScan(ctx context.Context, login string) ([]scim.GroupRef, error) {
	gs, err := a.managedTeams(ctx)
	if err != nil {
		return nil, err
	}
	member := make([]bool, len(gs))
	err = forEach(ctx, len(gs), func(i int) error {
		r, err := a.call(ctx, http.MethodGet, a.endpoint(nil, "teams", gs[i].ID, "members", userPath(login)), nil)
		if err != nil {
			return err
		}
		switch r.status {
		case http.StatusOK:
			member[i] = true
		case http.StatusNotFound:
		default:
			return a.teamError("team membership check", r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []scim.GroupRef
	for i, g := range gs {
		if member[i] {
			out = append(out, scim.GroupRef{Value: g.ID, Display: g.DisplayName, Type: "direct"})
		}
	}
	return out, nil
}

func (a *Adapter) teamPermission() string {
	if a.TeamPermission == "" {
		return "read"
	}
	return a.TeamPermission
}

func (a *Adapter) teamUnits() []string {
	if len(a.TeamUnits) == 0 {
		return defaultTeamUnits
	}
	return a.TeamUnits
}

func (a *Adapter) groupAttributes() []string {
	if !a.GroupsEnabled() {
		return nil
	}
	return []string{"displayName", "members"}
}
