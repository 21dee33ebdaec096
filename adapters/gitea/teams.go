package gitea

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
)

// Groups (see teamdesc.go for the mapping): SCIM group id = Gitea team id; members
// are the team's members that SCIM manages (users added by hand stay untouched by
// every SCIM change, since SCIM never sees them).

// teamPaging reads Gitea's list endpoints; Gitea silently caps limit at
// MAX_RESPONSE_ITEMS (50 by default) and paging follows X-Total-Count.
var teamPaging = upstream.Paging{Page: "page", Size: "limit", PerPage: 50, Total: "X-Total-Count"}

// teamHint tells operators what a 401/403 to a team call means.
const teamHint = "groups need an admin token with the scope write:organization"

// defaultTeamUnits are the repository units a new team gets unless team_units is set.
var defaultTeamUnits = []string{"repo.code", "repo.issues", "repo.pulls", "repo.releases",
	"repo.wiki", "repo.projects", "repo.packages", "repo.actions", "repo.ext_issues", "repo.ext_wiki"}

type giteaTeam struct {
	ID           int64  `json:"id"`
	Name         string `json:"name"`
	Description  string `json:"description"`
	Permission   string `json:"permission"`
	Organization *struct {
		UserName string `json:"username"`
		Name     string `json:"name"`
	} `json:"organization"`
}

// GroupsEnabled reports whether groups are configured: they need an organization.
func (a *Adapter) GroupsEnabled() bool { return a.Organization != "" }

func (a *Adapter) groupAttributes() []string {
	if !a.GroupsEnabled() {
		return nil
	}
	return []string{"displayName", "members"}
}

// group maps a team of the organization to a SCIM group; ok is false for teams SCIM
// does not manage or of another organization. The Owners team is never managed,
// whatever its description says: SCIM must not decide who owns the organization.
func (a *Adapter) group(t *giteaTeam) (*adapters.Group, bool) {
	if t.Permission == "owner" || strings.EqualFold(t.Name, "Owners") {
		return nil, false
	}
	if t.Organization != nil && !strings.EqualFold(t.Organization.UserName, a.Organization) && !strings.EqualFold(t.Organization.Name, a.Organization) {
		return nil, false
	}
	name, ext, tenant, ok := decodeTeamDescription(t.Description)
	if !ok || tenant != a.TenantName() {
		return nil, false
	}
	g := &adapters.Group{ID: strconv.FormatInt(t.ID, 10), DisplayName: name, ExternalID: ext}
	g.Meta.Version = adapters.Version(t.ID, t.Name, t.Description)
	return g, true
}

// teamFail maps an answer of a team call that no rule claimed; 401/403 name the scope.
func (a *Adapter) teamFail(r *upstream.Response) error {
	return a.api.StatusFact(r, teamHint)
}

// orgMissing is the answer when the configured organization does not exist.
func (a *Adapter) orgMissing() error {
	return adapters.MisconfiguredBecause("the gitea organization %q (adapter option organization) does not exist; create it in Gitea first", a.api.Scrub(a.Organization))
}

func (a *Adapter) orgPath(segs ...string) string {
	return path(append([]string{"orgs", url.PathEscape(a.Organization)}, segs...)...)
}

// walkTeams reads a JSON list of teams page by page.
func (a *Adapter) walkTeams(ctx context.Context, r upstream.Request, each func([]giteaTeam) bool) error {
	return upstream.EachPage(ctx, teamPaging, upstream.JSONArray[giteaTeam](a.api, r), each)
}

// managedTeams lists the managed teams of the organization as groups, in ascending
// id order.
func (a *Adapter) managedTeams(ctx context.Context) ([]*adapters.Group, error) {
	var out []*adapters.Group
	err := a.walkTeams(ctx, upstream.Request{Path: a.orgPath("teams")}, func(ts []giteaTeam) bool {
		for i := range ts {
			if g, ok := a.group(&ts[i]); ok {
				out = append(out, g)
			}
		}
		return true
	})
	if adapters.Is(err, adapters.NotFound) {
		return nil, a.orgMissing()
	}
	slices.SortFunc(out, func(x, y *adapters.Group) int { return adapters.CompareIDs(x.ID, y.ID) })
	return out, a.teamErr(err)
}

// teamErr maps an answer a shared helper did not expect as a team call's.
func (a *Adapter) teamErr(err error) error {
	var se *upstream.StatusError
	if errors.As(err, &se) {
		return a.teamFail(se.Response)
	}
	return err
}

// getTeam reads one managed team of the organization; nil when there is none.
func (a *Adapter) getTeam(ctx context.Context, id string) (*giteaTeam, *adapters.Group, error) {
	n, ok := adapters.NumericID(id)
	if !ok {
		return nil, nil, nil
	}
	r, err := a.get(ctx, path("teams", strconv.FormatInt(n, 10)), nil)
	if err != nil {
		return nil, nil, err
	}
	if r.Status == http.StatusNotFound {
		return nil, nil, nil
	}
	if r.Status != http.StatusOK {
		return nil, nil, a.teamFail(r)
	}
	var t giteaTeam
	if err := a.api.Decode(r, &t); err != nil {
		return nil, nil, err
	}
	if t.Organization == nil {
		return nil, nil, nil
	}
	g, ok := a.group(&t)
	if !ok {
		return nil, nil, nil
	}
	return &t, g, nil
}

// managedTeam is getTeam where a missing team is ErrNotFound.
func (a *Adapter) managedTeam(ctx context.Context, id string) (*giteaTeam, error) {
	t, _, err := a.getTeam(ctx, id)
	if err == nil && t == nil {
		err = adapters.ErrNotFound
	}
	return t, err
}

// teamMembers returns the managed, not SCIM-deleted members of a team.
func (a *Adapter) teamMembers(ctx context.Context, teamID string) ([]adapters.Member, error) {
	var out []adapters.Member
	err := a.EachMember(ctx, teamID, func(rec adapters.Record) bool {
		if rec.Managed && rec.Tenant == a.TenantName() && !rec.Deleted {
			out = append(out, adapters.Member{Value: rec.User.ID, Display: rec.User.UserName, Type: "User"})
		}
		return true
	})
	slices.SortFunc(out, func(x, y adapters.Member) int { return adapters.CompareIDs(x.Value, y.Value) })
	return out, err
}

var _ adapters.AllMembers = (*Adapter)(nil)

// EachMember walks every member of team teamID, managed or not (the drift report).
func (a *Adapter) EachMember(ctx context.Context, teamID string, each func(adapters.Record) bool) error {
	members := upstream.JSONArray[giteaUser](a.api, upstream.Request{Path: path("teams", teamID, "members")})
	err := upstream.EachPage(ctx, teamPaging, members, func(us []giteaUser) bool {
		for i := range us {
			if !each(a.record(&us[i])) {
				return false
			}
		}
		return true
	})
	return a.teamErr(err)
}

// withMembers loads the members of gs concurrently.
func (a *Adapter) withMembers(ctx context.Context, gs []*adapters.Group) error {
	errs := adapters.Parallel(ctx, len(gs), adapters.MemberConcurrency, func(ctx context.Context, i int) error {
		ms, err := a.teamMembers(ctx, gs[i].ID)
		gs[i].Members = ms
		return err
	})
	return errors.Join(errs...)
}

// FindGroups answers ByID (one call), ByExternalID and ByDisplayName (one list of the
// organization's teams), plus one member list per group when withMembers is set.
func (a *Adapter) FindGroups(ctx context.Context, q adapters.Lookup, withMembers bool) ([]*adapters.Group, error) {
	if !a.GroupsEnabled() {
		return nil, adapters.ErrNotFound
	}
	var out []*adapters.Group
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
			if q.MatchesGroup(g) {
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
func (a *Adapter) ListGroups(ctx context.Context, p adapters.Page, withMembers bool) ([]*adapters.Group, int, error) {
	gs, err := a.managedTeams(ctx)
	if err != nil {
		return nil, 0, err
	}
	gs, total := adapters.Window(gs, p)
	if withMembers {
		if err := a.withMembers(ctx, gs); err != nil {
			return nil, 0, err
		}
	}
	return gs, total, nil
}

// CreateGroup creates a team named after the displayName (slug, "-2", "-3"… when
// taken, see teamSuffix) with the configured permission and units.
func (a *Adapter) CreateGroup(ctx context.Context, g *adapters.Group) (*adapters.Group, error) {
	desc, err := encodeTeamDescription(g.DisplayName, g.ExternalID, a.TenantName())
	if err != nil {
		return nil, adapters.InvalidValue("displayName", "%v", err)
	}
	for name := range teamSuffix.Names(teamSlug(g.DisplayName)) {
		body := map[string]any{
			"name":                      name,
			"description":               desc,
			"permission":                a.teamPermission(),
			"units":                     a.teamUnits(),
			"includes_all_repositories": false,
			"can_create_org_repo":       false,
		}
		r, err := a.send(ctx, http.MethodPost, a.orgPath("teams"), body)
		if err != nil {
			return nil, err
		}
		switch {
		case r.Status == http.StatusCreated:
			return a.savedTeam(r)
		case r.Status == http.StatusNotFound:
			return nil, a.orgMissing()
		case a.nameTaken(r):
			continue // the name is taken (case-insensitively): next suffix
		default:
			return nil, a.teamFail(r)
		}
	}
	return nil, adapters.TakenBy("displayName", "no free Gitea team name for %q", g.DisplayName)
}

func (a *Adapter) nameTaken(r *upstream.Response) bool {
	return r.Status == http.StatusUnprocessableEntity && strings.Contains(a.message(r), "already exists")
}

// savedTeam reads the team a create or edit answered.
func (a *Adapter) savedTeam(r *upstream.Response) (*adapters.Group, error) {
	var t giteaTeam
	if err := a.api.Decode(r, &t); err != nil {
		return nil, err
	}
	out, ok := a.group(&t)
	if !ok {
		return nil, adapters.BadAnswerf("gitea did not keep the team description")
	}
	return out, nil
}

// UpdateGroup writes displayName and externalId; a displayName whose slug differs
// (beyond case) from the team name renames the team too.
func (a *Adapter) UpdateGroup(ctx context.Context, id string, g *adapters.Group) (*adapters.Group, error) {
	t, err := a.managedTeam(ctx, id)
	if err != nil {
		return nil, err
	}
	desc, err := encodeTeamDescription(g.DisplayName, g.ExternalID, a.TenantName())
	if err != nil {
		return nil, adapters.InvalidValue("displayName", "%v", err)
	}
	slug := teamSlug(g.DisplayName)
	keep := teamSuffix.Numbered(t.Name, slug)
	for name := range teamSuffix.Names(slug) {
		if keep {
			name = t.Name
		}
		// Gitea requires name on every edit; permission and units are left as the
		// operator may have changed them in Gitea.
		r, err := a.send(ctx, http.MethodPatch, path("teams", strconv.FormatInt(t.ID, 10)),
			map[string]any{"name": name, "description": desc})
		if err != nil {
			return nil, err
		}
		switch {
		case r.Status == http.StatusOK:
			return a.savedTeam(r)
		case r.Status == http.StatusNotFound:
			return nil, adapters.ErrNotFound
		case !keep && a.nameTaken(r):
			continue
		default:
			return nil, a.teamFail(r)
		}
	}
	return nil, adapters.TakenBy("displayName", "no free Gitea team name for %q", g.DisplayName)
}

// DeleteGroup deletes the team (members leave it; repositories stay in the org).
func (a *Adapter) DeleteGroup(ctx context.Context, id string) error {
	t, err := a.managedTeam(ctx, id)
	if err != nil {
		return err
	}
	r, err := a.send(ctx, http.MethodDelete, path("teams", strconv.FormatInt(t.ID, 10)), nil)
	if err != nil {
		return err
	}
	if !r.OK() {
		return a.teamFail(r)
	}
	return nil
}

// AddMembers puts users into the team: one PUT per user, at most
// adapters.MemberConcurrency at a time, after resolving SCIM ids to usernames.
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
	t, err := a.managedTeam(ctx, id)
	if err != nil {
		return err
	}
	logins, err := a.logins(ctx, userIDs)
	if err != nil {
		return err
	}
	team := strconv.FormatInt(t.ID, 10)
	return adapters.EachMember(ctx, userIDs, func(ctx context.Context, uid string) error {
		login, ok := logins[uid]
		if !ok {
			if method == http.MethodPut {
				return adapters.NotFoundf("user %s does not exist in gitea", uid)
			}
			return nil
		}
		r, err := a.send(ctx, method, path("teams", team, "members", userPath(login)), nil)
		switch {
		case err != nil:
			return err
		case r.OK():
			return nil
		case r.Status == http.StatusNotFound && method == http.MethodDelete:
			return nil // not a member, or the user is gone: removed either way
		case r.Status == http.StatusNotFound:
			return adapters.NotFoundf("user %s no longer exists in gitea", uid)
		case r.Status == http.StatusForbidden:
			msg := a.message(r)
			if msg == "" {
				msg = "forbidden"
			}
			return adapters.RefusedBecause("gitea refused the membership of user %s: %s", uid, msg)
		}
		return a.teamFail(r)
	})
}

// logins resolves SCIM ids to Gitea usernames. Few ids cost one lookup each; many ids
// are resolved from one pass over /admin/users when that takes fewer calls (the first
// page tells the total). Unknown ids are absent from the map.
func (a *Adapter) logins(ctx context.Context, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	want := map[int64]string{}
	for _, id := range ids {
		if n, ok := adapters.NumericID(id); ok {
			want[n] = id
		}
	}
	if len(want) >= 20 {
		r, err := a.get(ctx, path("admin", "users"), url.Values{"page": {"1"}, "limit": {strconv.Itoa(listPageSize)}})
		if err != nil {
			return nil, err
		}
		var first []giteaUser
		if r.Status == http.StatusOK && a.api.Decode(r, &first) == nil {
			total, _ := strconv.Atoi(r.Header.Get("X-Total-Count"))
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
	errs := adapters.Parallel(ctx, len(keys), adapters.MemberConcurrency, func(ctx context.Context, i int) error {
		g, err := a.getByID(ctx, keys[i])
		if err != nil || g == nil {
			return err
		}
		mu.Lock()
		out[want[keys[i]]] = g.Login
		mu.Unlock()
		return nil
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// UserGroups returns the managed teams of the organization the user belongs to:
// GET /user/teams on the user's behalf (the admin token's Sudo header), one call per
// 50 teams of the user. Should Sudo be refused, it checks the user's membership in
// each managed team.
func (a *Adapter) UserGroups(ctx context.Context, userID string) ([]adapters.GroupRef, error) {
	if !a.GroupsEnabled() {
		return nil, nil
	}
	u, err := a.userByID(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []adapters.GroupRef
	err = a.walkTeams(ctx, upstream.Request{Path: path("user", "teams"), Header: http.Header{"Sudo": {u.Login}}}, func(ts []giteaTeam) bool {
		for i := range ts {
			if g, ok := a.group(&ts[i]); ok && ts[i].Organization != nil {
				out = append(out, adapters.GroupRef{Value: g.ID, Display: g.DisplayName, Type: "direct"})
			}
		}
		return true
	})
	if err != nil && !adapters.Is(err, adapters.Unavailable) {
		return a.userGroupsByScan(ctx, u.Login)
	}
	return out, err
}

// userGroupsByScan checks the user's membership in every managed team.
func (a *Adapter) userGroupsByScan(ctx context.Context, login string) ([]adapters.GroupRef, error) {
	gs, err := a.managedTeams(ctx)
	if err != nil {
		return nil, err
	}
	member := make([]bool, len(gs))
	errs := adapters.Parallel(ctx, len(gs), adapters.MemberConcurrency, func(ctx context.Context, i int) error {
		r, err := a.get(ctx, path("teams", gs[i].ID, "members", userPath(login)), nil)
		switch {
		case err != nil:
			return err
		case r.Status == http.StatusOK:
			member[i] = true
		case r.Status != http.StatusNotFound:
			return a.teamFail(r)
		}
		return nil
	})
	var out []adapters.GroupRef
	for i, g := range gs {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if member[i] {
			out = append(out, adapters.GroupRef{Value: g.ID, Display: g.DisplayName, Type: "direct"})
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
