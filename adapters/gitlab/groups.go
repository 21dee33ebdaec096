package gitlab

// SCIM groups are GitLab groups. Durable layout, all in GitLab:
//
//   - SCIM id = GitLab numeric group id;
//   - name = displayName, reduced to GitLab's group name characters
//     (groupName); path = a slug of displayName (groupSlug), deduplicated with
//     "-2", "-3", … and never changed afterwards, so that URLs and clones
//     survive a rename;
//   - a subgroup of parent_group when that is set, else a top-level group;
//     always created private;
//   - custom attribute scim_managed=true marks groups this plugin created; only
//     those exist for SCIM. It is written last, so a half-created group stays
//     invisible (and is deleted again when its attributes cannot be written);
//   - custom attribute scim_external_id holds the externalId (absent when none);
//   - custom attribute scim_display_name holds the displayName as sent when
//     GitLab's name rules altered it (absent otherwise);
//   - members are the group's direct members except the token's own user, who
//     becomes owner of every group it creates and is never removed.

import (
	"context"

	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
)

// Custom attribute keys of a managed group (attrManaged is shared with users).
const (
	attrGroupExternalID  = "scim_external_id"
	attrGroupDisplayName = "scim_display_name"
)

const (
	// maxGroupName and maxGroupPath are GitLab's length limits.
	maxGroupName = 255
	maxGroupPath = 255
	// searchPages bounds the pages a point lookup reads.
	searchPages = 10
)

// glGroup is GitLab's Group entity, reduced to what the mapping needs.
type glGroup struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	Path      string `json:"path"`
	CreatedAt string `json:"created_at"`
	// MarkedForDeletionOn is set while a delayed deletion is pending.
	MarkedForDeletionOn *string `json:"marked_for_deletion_on"`
	// CustomAttributes is nil when the answer did not carry them.
	CustomAttributes *attrs `json:"custom_attributes"`
}

// managed: marked by us for tenant and not on its way out (GitLab's delayed
// deletion keeps a deleted group readable for days).
func (g *glGroup) managed(tenant string) bool {
	v, _ := g.CustomAttributes.get(attrManaged)
	t, _ := g.CustomAttributes.get(attrTenant)
	return v == "true" && t == tenant && (g.MarkedForDeletionOn == nil || *g.MarkedForDeletionOn == "")
}

// displayName is the SCIM displayName: as sent when stored and still matching
// the GitLab name, else the GitLab name (a rename in GitLab's UI wins).
func (g *glGroup) displayName() string {
	if v, ok := g.CustomAttributes.get(attrGroupDisplayName); ok && v != "" && groupName(v) == g.Name {
		return v
	}
	return g.Name
}

func (g *glGroup) toSCIM(members []adapters.Member) *adapters.Group {
	ext, _ := g.CustomAttributes.get(attrGroupExternalID)
	sg := &adapters.Group{ID: strconv.FormatInt(g.ID, 10), ExternalID: ext, DisplayName: g.displayName(), Members: members}
	if t, err := time.Parse(time.RFC3339, g.CreatedAt); err == nil {
		sg.Meta.Created = t
	}
	sg.Meta.Version = adapters.Version(sg.ID, g.Name, g.Path, sg.DisplayName, ext)
	return sg
}

func (g *glGroup) ref() adapters.GroupRef {
	return adapters.GroupRef{Value: strconv.FormatInt(g.ID, 10), Display: g.displayName(), Type: "direct"}
}

func groupPath(id int64) string { return "/groups/" + strconv.FormatInt(id, 10) }

// groupName reduces s to GitLab's group name rules (Gitlab::Regex.group_name_regex):
// letters, digits, emoji, '_', '.', dashes, spaces and parentheses, starting
// with a letter, digit, emoji or '_'. Other characters become spaces; runs of
// spaces collapse. Nothing usable gives "group".
func groupName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if nameRune(r) {
			b.WriteRune(r)
		} else {
			b.WriteByte(' ')
		}
	}
	out := strings.Join(strings.Fields(b.String()), " ")
	out = strings.TrimLeftFunc(out, func(r rune) bool { return !nameStartRune(r) })
	if utf8.RuneCountInString(out) > maxGroupName {
		out = strings.TrimSpace(string([]rune(out)[:maxGroupName]))
	}
	if out == "" {
		return "group"
	}
	return out
}

func nameStartRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || (r >= 0xA9 && r <= 0x1F9FF && !unicode.IsSpace(r) && !unicode.Is(unicode.Pd, r))
}

func nameRune(r rune) bool {
	return nameStartRune(r) || unicode.Is(unicode.Pd, r) || r == '.' || r == ' ' || r == '(' || r == ')'
}

// groupSlug makes a GitLab path from a displayName: lowercase ASCII letters and
// digits, other runs become one '-', no separator at either end, no ".git" or
// ".atom" ending. Nothing usable gives "group".
func groupSlug(s string) string {
	var b strings.Builder
	sep := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			if sep && b.Len() > 0 {
				b.WriteByte('-')
			}
			sep = false
			b.WriteRune(r)
		case (r == '_' || r == '.') && b.Len() > 0 && !sep:
			b.WriteRune(r) // kept only between word characters, like '-'
		default:
			sep = true
		}
	}
	out := trimEdges(collapseSeparators(b.String()))
	if len(out) > maxGroupPath-4 { // room for a "-NNN" suffix
		out = trimEdges(out[:maxGroupPath-4])
	}
	if out == "" {
		return "group"
	}
	return out
}

// pathSuffix numbers a group path that is taken: base, base-2, base-3…
var pathSuffix = adapters.Suffix{Sep: "-", From: 2}

// saveErrRE matches one attribute of a Ruby-inspected errors hash:
// {:path=>["…"]} (Ruby < 3.4) or {path: ["…"]} (3.4+).
var (
	saveErrRE = regexp.MustCompile(`(?::"?([\w.]+)"?\s*=>\s*|"?([\w.]+)"?:\s+)\[([^\]]*)\]`)
	quotedRE  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
)

// groupSaveErrors reads a failed group save into attribute → messages: PUT
// answers the model errors hash, POST {"message":"Failed to save group
// {:path=>[\"has already been taken\"]}"}.
func groupSaveErrors(body []byte) map[string][]string {
	if errs := errorsOf(body); len(errs) > 0 {
		return errs
	}
	out := map[string][]string{}
	for _, m := range saveErrRE.FindAllStringSubmatch(extractMessage(body), -1) {
		key := m[1] + m[2]
		for _, q := range quotedRE.FindAllString(m[3], -1) {
			if s, err := strconv.Unquote(q); err == nil {
				out[key] = append(out[key], s)
			}
		}
	}
	return out
}

// pathTaken: the slug collides with a sibling group or project, a user (top
// level) or a reserved route, or is too short; a suffix fixes that.
func pathTaken(errs map[string][]string) bool {
	return taken(errs, true, func(k string) bool { return k == "path" || strings.Contains(k, "route") }) || pathRule(errs["path"])
}

// groupWriteError maps a failed POST or PUT of a group.
func (a *Adapter) groupWriteError(resp *upstream.Response, displayName string) error {
	switch resp.Status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		errs := groupSaveErrors(resp.Body)
		if taken(errs, false, func(k string) bool { return k == "name" }) {
			return adapters.TakenBy("displayName", "displayName %q is already used by another GitLab group under the same parent", displayName)
		}
		if pathTaken(errs) {
			return adapters.TakenBy("displayName", "no free GitLab group path for displayName %q: %s", displayName, a.message(resp))
		}
		return adapters.InvalidValue("displayName", "GitLab refused the group: %s", a.message(resp))
	}
	return a.fail(resp)
}

// getGroup reads one group with its custom attributes.
func (a *Adapter) getGroup(ctx context.Context, id int64) (*glGroup, error) {
	var g glGroup
	q := url.Values{"with_custom_attributes": {"true"}, "with_projects": {"false"}}
	if _, err := a.getJSON(ctx, groupPath(id), q, &g); err != nil {
		return nil, err
	}
	return &g, a.ensureAttrs(ctx, groupPath(id), &g.CustomAttributes)
}

// managedGroup reads group id; an unmanaged or missing group is ErrNotFound,
// so that SCIM can never change a group it does not own.
func (a *Adapter) managedGroup(ctx context.Context, id string) (*glGroup, error) {
	gid, ok := adapters.NumericID(id)
	if !ok {
		return nil, adapters.ErrNotFound
	}
	g, err := a.getGroup(ctx, gid)
	if err == nil && !g.managed(a.TenantName()) {
		err = adapters.ErrNotFound
	}
	return g, err
}

// searchGroups reads managed groups matching q, at most maxPages pages.
func (a *Adapter) searchGroups(ctx context.Context, q url.Values, maxPages int) ([]glGroup, error) {
	for k, v := range managedQuery(a.TenantName()) {
		q[k] = v
	}
	var all []glGroup
	if err := walk(ctx, a, "/groups", q, maxPages, func(l []glGroup) bool { all = append(all, l...); return true }); err != nil {
		return nil, err
	}
	for i := range all {
		if err := a.ensureAttrs(ctx, groupPath(all[i].ID), &all[i].CustomAttributes); err != nil {
			return nil, err
		}
	}
	return all, nil
}

// FindGroups answers ByID, ByExternalID (exact) and ByDisplayName
// (case-insensitive) among managed groups.
func (a *Adapter) FindGroups(ctx context.Context, q adapters.Lookup, withMembers bool) ([]*adapters.Group, error) {
	if q.Value == "" {
		return []*adapters.Group{}, nil
	}
	var list []glGroup
	var err error
	switch q.Kind {
	case adapters.ByID:
		g, err := a.managedGroup(ctx, q.Value)
		if adapters.Is(err, adapters.NotFound) {
			return []*adapters.Group{}, nil
		}
		if err != nil {
			return nil, err
		}
		list = []glGroup{*g}
	case adapters.ByExternalID:
		// Exact, by MatchesGroup below: the database comparison may ignore case.
		list, err = a.searchGroups(ctx, url.Values{"custom_attributes[" + attrGroupExternalID + "]": {q.Value}}, searchPages)
	case adapters.ByDisplayName:
		// GitLab's search is a case-insensitive match on name and path; the
		// stored name is groupName(displayName), so searching for that finds
		// altered names too. The exact comparison is ours.
		list, err = a.searchGroups(ctx, url.Values{"search": {groupName(q.Value)}}, searchPages)
	default:
		return nil, adapters.InvalidValue("", "gitlab: lookup kind %d is not supported for groups", q.Kind)
	}
	if err != nil {
		return nil, err
	}
	var found []glGroup
	for i := range list {
		if list[i].managed(a.TenantName()) && q.MatchesGroup(list[i].toSCIM(nil)) {
			found = append(found, list[i])
		}
	}
	return a.scimGroups(ctx, found, withMembers)
}

// scimGroups maps groups, reading their members concurrently when asked.
func (a *Adapter) scimGroups(ctx context.Context, gs []glGroup, withMembers bool) ([]*adapters.Group, error) {
	members := make([][]adapters.Member, len(gs))
	if withMembers {
		errs := adapters.Parallel(ctx, len(gs), adapters.MemberConcurrency, func(ctx context.Context, i int) error {
			m, err := a.members(ctx, gs[i].ID)
			members[i] = m
			return err
		})
		for _, err := range errs {
			if err != nil {
				return nil, err
			}
		}
	}
	out := make([]*adapters.Group, len(gs))
	for i := range gs {
		out[i] = gs[i].toSCIM(members[i])
	}
	return out, nil
}

// ListGroups returns managed groups in ascending id order and their total; past
// 10 000 managed groups (GitLab stops counting) it pages through all of them.
func (a *Adapter) ListGroups(ctx context.Context, p adapters.Page, withMembers bool) ([]*adapters.Group, int, error) {
	rows, total, err := window(ctx, a, "/groups", p, func(ctx context.Context, each func([]glGroup) bool) error {
		return walk(ctx, a, "/groups", managedQuery(a.TenantName()), 0, each)
	})
	if err != nil {
		return nil, 0, err
	}
	for i := range rows {
		if err := a.ensureAttrs(ctx, groupPath(rows[i].ID), &rows[i].CustomAttributes); err != nil {
			return nil, 0, err
		}
	}
	gs, err := a.scimGroups(ctx, rows, withMembers)
	return gs, total, err
}

// parentID resolves parent_group once; 0 when unset.
func (a *Adapter) parentID(ctx context.Context) (int64, error) {
	ref := a.groups.parent
	if ref == "" {
		return 0, nil
	}
	a.groups.mu.Lock()
	defer a.groups.mu.Unlock()
	if a.groups.parentID != 0 {
		return a.groups.parentID, nil
	}
	var g glGroup
	// A full path is one escaped segment ("acme%2Fteams"), as GitLab expects.
	_, err := a.getJSON(ctx, "/groups/"+url.PathEscape(ref), url.Values{"with_projects": {"false"}}, &g)
	if adapters.Is(err, adapters.NotFound) {
		return 0, adapters.MisconfiguredBecause("the adapter's parent_group %q does not exist in GitLab or the token cannot see it", ref)
	}
	if err != nil {
		return 0, err
	}
	a.groups.parentID = g.ID
	return g.ID, nil
}

// selfID is the token's own user id (GET /user, once).
func (a *Adapter) selfID(ctx context.Context) (int64, error) {
	a.groups.mu.Lock()
	defer a.groups.mu.Unlock()
	if a.groups.self != 0 {
		return a.groups.self, nil
	}
	var u glUser
	if _, err := a.getJSON(ctx, "/user", nil, &u); err != nil {
		if adapters.Is(err, adapters.NotFound) {
			return 0, adapters.MisconfiguredBecause("GitLab has no user for the adapter's token: %s", tokenHint)
		}
		return 0, err
	}
	a.groups.self = u.ID
	return u.ID, nil
}

// CreateGroup creates a private GitLab group (a subgroup of parent_group when
// set) and marks it managed. Members are added by the service.
func (a *Adapter) CreateGroup(ctx context.Context, g *adapters.Group) (*adapters.Group, error) {
	parent, err := a.parentID(ctx)
	if err != nil {
		return nil, err
	}
	name := groupName(g.DisplayName)
	// private: the safe default whatever the instance's default visibility, and
	// a subgroup may not be more visible than its parent.
	body := map[string]any{"name": name, "visibility": "private"}
	if parent != 0 {
		body["parent_id"] = parent
	}
	created, err := a.postGroup(ctx, body, g.DisplayName)
	if err != nil {
		return nil, err
	}
	created.CustomAttributes = &attrs{}

	// The ids first, the managed mark last: a group whose mark is written is
	// complete.
	stored := ""
	if name != g.DisplayName {
		stored = g.DisplayName
	}
	owner := groupPath(created.ID)
	for _, kv := range [][2]string{{attrGroupExternalID, g.ExternalID}, {attrGroupDisplayName, stored}, {attrTenant, a.TenantName()}, {attrManaged, "true"}} {
		if err := a.syncAttr(ctx, owner, created.CustomAttributes, kv[0], kv[1]); err != nil {
			// Nothing else marks this group as ours: remove it so that the
			// IdP's retry starts clean instead of meeting a namesake.
			if derr := a.remove(ctx, owner); derr != nil {
				a.logger.Warn("could not remove a half-created GitLab group", zap.Int64("id", created.ID), zap.Error(derr))
			}
			return nil, err
		}
	}
	return created.toSCIM(nil), nil
}

// postGroup creates the group body describes, at the slug of displayName or, when
// that path is taken, a suffixed one (pathSuffix).
func (a *Adapter) postGroup(ctx context.Context, body map[string]any, displayName string) (*glGroup, error) {
	var resp *upstream.Response
	for path := range pathSuffix.Names(groupSlug(displayName)) {
		body["path"] = path
		// Never retried: a lost answer may hide a created group.
		var err error
		if resp, err = a.send(ctx, upstream.Request{Method: http.MethodPost, Path: "/groups", Body: body}); err != nil {
			return nil, err
		}
		if resp.OK() {
			var created glGroup
			if err := a.api.Decode(resp, &created); err != nil {
				return nil, err
			}
			return &created, nil
		}
		if resp.Status != http.StatusBadRequest || !pathTaken(groupSaveErrors(resp.Body)) {
			break
		}
	}
	if resp.Status == http.StatusNotFound {
		// POST /groups exists; a 404 is about parent_id.
		return nil, adapters.MisconfiguredBecause("GitLab cannot find the adapter's parent_group: %s", a.message(resp))
	}
	return nil, a.groupWriteError(resp, displayName)
}

// UpdateGroup writes displayName and externalId. The path stays as created.
func (a *Adapter) UpdateGroup(ctx context.Context, id string, g *adapters.Group) (*adapters.Group, error) {
	cur, err := a.managedGroup(ctx, id)
	if err != nil {
		return nil, err
	}
	name := groupName(g.DisplayName)
	if name != cur.Name {
		// Idempotent (same body, same result): retried.
		resp, err := a.send(ctx, upstream.Request{Method: http.MethodPut, Path: groupPath(cur.ID), Body: map[string]any{"name": name}, Idempotent: true})
		if err != nil {
			return nil, err
		}
		if resp.Status != http.StatusOK {
			return nil, a.groupWriteError(resp, g.DisplayName)
		}
		cur.Name = name
	}
	stored := ""
	if name != g.DisplayName {
		stored = g.DisplayName
	}
	owner := groupPath(cur.ID)
	for _, kv := range [][2]string{{attrGroupExternalID, g.ExternalID}, {attrGroupDisplayName, stored}} {
		if err := a.syncAttr(ctx, owner, cur.CustomAttributes, kv[0], kv[1]); err != nil {
			return nil, err
		}
	}
	return cur.toSCIM(nil), nil
}

// DeleteGroup unlinks the group by default: the members SCIM manages leave it and
// its SCIM marks are removed, so SCIM sees it gone while the projects, subgroups and
// people added by hand stay. With group_delete delete it deletes the GitLab group,
// subgroups and projects included.
func (a *Adapter) DeleteGroup(ctx context.Context, id string) error {
	cur, err := a.managedGroup(ctx, id)
	if err != nil {
		return err
	}
	owner := groupPath(cur.ID)
	if a.GroupDelete != "delete" {
		ms, err := a.members(ctx, cur.ID)
		if err != nil {
			return err
		}
		ids := make([]string, len(ms))
		for i, m := range ms {
			ids[i] = m.Value
		}
		if err := a.RemoveMembers(ctx, id, ids); err != nil {
			return err
		}
		// the mark first: once it is gone SCIM sees no group, whatever else remains
		for _, key := range []string{attrManaged, attrGroupExternalID, attrGroupDisplayName, attrTenant} {
			if err := a.syncAttr(ctx, owner, cur.CustomAttributes, key, ""); err != nil {
				return err
			}
		}
		return nil
	}
	resp, err := a.send(ctx, upstream.Request{Method: http.MethodDelete, Path: owner, Idempotent: true})
	if err != nil {
		return err
	}
	if !resp.OK() {
		return a.fail(resp)
	}
	a.afterGroupDelete(ctx, cur.ID)
	return nil
}

// afterGroupDelete learns what GitLab did with an accepted DELETE and logs it.
// The group may be gone, or still there: being destroyed by GitLab's worker, or
// marked for deletion (delayed deletion, Premium and every tier from 18.0), which
// keeps it renamed, with its subgroups, projects and members, until the end of the
// retention period. A group still there leaves SCIM's view at once (its mark
// removed); a marked one also loses the members SCIM manages, whose access through
// it ends now. Best effort: the deletion itself was accepted.
func (a *Adapter) afterGroupDelete(ctx context.Context, id int64) {
	g, err := a.getGroup(ctx, id)
	switch {
	case adapters.Is(err, adapters.NotFound):
		a.logger.Info("GitLab deleted the group", zap.Int64("id", id))
		return
	case err != nil:
		a.logger.Warn("could not read a GitLab group after its deletion", zap.Int64("id", id), zap.Error(err))
		return
	}
	if g.MarkedForDeletionOn == nil || *g.MarkedForDeletionOn == "" {
		a.logger.Info("GitLab is deleting the group (its worker has not run yet)", zap.Int64("id", id))
	} else {
		removed, err := a.dropManagedMembers(ctx, id)
		a.logger.Info("GitLab marked the group for deletion: it keeps the group, its subgroups and projects until the retention period ends; SCIM removed its members",
			zap.Int64("id", id), zap.String("marked_for_deletion_on", *g.MarkedForDeletionOn), zap.Int("members_removed", removed), zap.Error(err))
	}
	if err := a.syncAttr(ctx, groupPath(id), g.CustomAttributes, attrManaged, ""); err != nil && !adapters.Is(err, adapters.NotFound) {
		a.logger.Warn("could not unmark a deleted GitLab group", zap.Int64("id", id), zap.Error(err))
	}
}

// dropManagedMembers removes the members SCIM manages from group id.
func (a *Adapter) dropManagedMembers(ctx context.Context, id int64) (int, error) {
	ms, err := a.members(ctx, id)
	if err != nil {
		return 0, err
	}
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.Value
	}
	return len(ids), a.removeMembers(ctx, id, ids)
}
