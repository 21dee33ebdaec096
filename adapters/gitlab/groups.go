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
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// Custom attribute keys of a managed group (attrManaged is shared with users).
const (
	attrGroupExternalID  = "scim_external_id"
	attrGroupDisplayName = "scim_display_name"
)

const (
	// pathTries bounds the suffix retries when a group path is taken.
	pathTries = 6
	// maxGroupName and maxGroupPath are GitLab's length limits.
	maxGroupName = 255
	maxGroupPath = 255
	// searchPages bounds the pages a point lookup reads.
	searchPages = 10
)

var _ adapters.GroupAdapter = (*Adapter)(nil)

// glGroup is GitLab's Group entity, reduced to what the mapping needs.
type glGroup struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	Path      string `json:"path"`
	FullPath  string `json:"full_path"`
	ParentID  *int64 `json:"parent_id"`
	CreatedAt string `json:"created_at"`
	// MarkedForDeletionOn is set while a delayed deletion is pending.
	MarkedForDeletionOn *string `json:"marked_for_deletion_on"`
	// CustomAttributes is nil when the answer did not carry them.
	CustomAttributes *[]glAttr `json:"custom_attributes"`
}

func (g *glGroup) attr(key string) (string, bool) {
	if g.CustomAttributes == nil {
		return "", false
	}
	for _, a := range *g.CustomAttributes {
		if a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}

func (g *glGroup) setAttr(key, value string) {
	u := glUser{CustomAttributes: g.CustomAttributes}
	u.setAttr(key, value)
	g.CustomAttributes = u.CustomAttributes
}

func (g *glGroup) delAttr(key string) {
	u := glUser{CustomAttributes: g.CustomAttributes}
	u.delAttr(key)
}

// managed: marked by us and not on its way out (GitLab's delayed deletion keeps
// a deleted group readable for days).
func (g *glGroup) managed() bool {
	v, _ := g.attr(attrManaged)
	return v == "true" && (g.MarkedForDeletionOn == nil || *g.MarkedForDeletionOn == "")
}

// displayName is the SCIM displayName: as sent when stored and still matching
// the GitLab name, else the GitLab name (a rename in GitLab's UI wins).
func (g *glGroup) displayName() string {
	if v, ok := g.attr(attrGroupDisplayName); ok && v != "" && groupName(v) == g.Name {
		return v
	}
	return g.Name
}

func (g *glGroup) toSCIM(members []scim.Member) *scim.Group {
	ext, _ := g.attr(attrGroupExternalID)
	sg := &scim.Group{
		ID:          strconv.FormatInt(g.ID, 10),
		ExternalID:  ext,
		DisplayName: g.displayName(),
		Members:     members,
	}
	if t, err := time.Parse(time.RFC3339, g.CreatedAt); err == nil {
		sg.Meta.Created = t
	}
	h := sha256.Sum256([]byte(strings.Join([]string{sg.ID, g.Name, g.Path, sg.DisplayName, ext}, "\x00")))
	sg.Meta.Version = hex.EncodeToString(h[:8])
	return sg
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
		case r == '_' || r == '.':
			// Kept only between word characters, like '-'.
			if b.Len() > 0 && !sep {
				b.WriteRune(r)
				sep = false
				continue
			}
			sep = true
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

// slugCandidate is base, then base-2 … ; the last try takes a time-based suffix
// so that a crowd of namesakes cannot exhaust the tries.
func slugCandidate(base string, try int) string {
	switch {
	case try == 0:
		return base
	case try < pathTries-1:
		return base + "-" + strconv.Itoa(try+1)
	default:
		return base + "-" + strconv.Itoa(int(time.Now().UnixNano()%90000)+10000)
	}
}

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

// pathTaken: the slug collides with a sibling group, a user (top level) or a
// reserved route; a suffix fixes that.
func pathTaken(errs map[string][]string) bool {
	for k, ms := range errs {
		if k != "path" && !strings.Contains(k, "route") {
			continue
		}
		for _, m := range ms {
			if strings.Contains(m, "has already been taken") || strings.Contains(m, "is a reserved name") {
				return true
			}
		}
	}
	return false
}

// groupWriteError maps a failed POST or PUT of a group.
func (a *Adapter) groupWriteError(resp *response, displayName string) error {
	switch resp.status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		errs := groupSaveErrors(resp.body)
		for _, m := range errs["name"] {
			if strings.Contains(m, "has already been taken") {
				return scim.Conflict("displayName %q is already used by another GitLab group under the same parent", displayName)
			}
		}
		if pathTaken(errs) {
			return scim.Conflict("no free GitLab group path for displayName %q: %s", displayName, a.message(resp))
		}
		return scim.BadRequest(scim.ErrInvalidValue, "GitLab refused the group: %s", a.message(resp))
	case http.StatusConflict:
		return scim.Conflict("GitLab: %s", a.message(resp))
	case http.StatusNotFound:
		return adapters.ErrNotFound
	}
	return a.statusError(resp)
}

// getGroup reads one group with its custom attributes.
func (a *Adapter) getGroup(ctx context.Context, id int64) (*glGroup, error) {
	var g glGroup
	q := url.Values{"with_custom_attributes": {"true"}, "with_projects": {"false"}}
	if _, err := a.getJSON(ctx, groupPath(id), q, &g); err != nil {
		return nil, err
	}
	if err := a.ensureGroupAttrs(ctx, &g); err != nil {
		return nil, err
	}
	return &g, nil
}

// managedGroup reads group id; an unmanaged or missing group is ErrNotFound,
// so that SCIM can never change a group it does not own.
func (a *Adapter) managedGroup(ctx context.Context, id string) (*glGroup, error) {
	gid, ok := parseID(id)
	if !ok {
		return nil, adapters.ErrNotFound
	}
	g, err := a.getGroup(ctx, gid)
	if err != nil {
		return nil, err
	}
	if !g.managed() {
		return nil, adapters.ErrNotFound
	}
	return g, nil
}

// ensureGroupAttrs fetches the custom attributes when an answer lacked them.
func (a *Adapter) ensureGroupAttrs(ctx context.Context, g *glGroup) error {
	if g.CustomAttributes != nil {
		return nil
	}
	var list []glAttr
	if _, err := a.getJSON(ctx, groupPath(g.ID)+"/custom_attributes", nil, &list); err != nil {
		return err
	}
	g.CustomAttributes = &list
	return nil
}

// managedGroupQuery selects managed groups in ascending id order.
func managedGroupQuery() url.Values {
	return url.Values{
		"custom_attributes[" + attrManaged + "]": {"true"},
		"with_custom_attributes":                 {"true"},
		"order_by":                               {"id"},
		"sort":                                   {"asc"},
	}
}

// searchGroups reads managed groups matching q, at most maxPages pages of 100.
func (a *Adapter) searchGroups(ctx context.Context, q url.Values, maxPages int) ([]glGroup, error) {
	for k, v := range managedGroupQuery() {
		q[k] = v
	}
	q.Set("per_page", strconv.Itoa(maxPerPage))
	var all []glGroup
	for page := 1; page <= maxPages; page++ {
		q.Set("page", strconv.Itoa(page))
		var list []glGroup
		resp, err := a.getJSON(ctx, "/groups", q, &list)
		if err != nil {
			return nil, err
		}
		all = append(all, list...)
		if len(list) < maxPerPage || resp.header.Get("X-Next-Page") == "" {
			break
		}
	}
	for i := range all {
		if err := a.ensureGroupAttrs(ctx, &all[i]); err != nil {
			return nil, err
		}
	}
	return all, nil
}

// FindGroups answers ByID, ByExternalID (exact) and ByDisplayName
// (case-insensitive) among managed groups.
func (a *Adapter) FindGroups(ctx context.Context, q adapters.Lookup, withMembers bool) ([]*scim.Group, error) {
	if q.Value == "" {
		return []*scim.Group{}, nil
	}
	var found []glGroup
	switch q.Kind {
	case adapters.ByID:
		g, err := a.managedGroup(ctx, q.Value)
		if errors.Is(err, adapters.ErrNotFound) {
			return []*scim.Group{}, nil
		}
		if err != nil {
			return nil, err
		}
		found = []glGroup{*g}

	case adapters.ByExternalID:
		list, err := a.searchGroups(ctx, url.Values{"custom_attributes[" + attrGroupExternalID + "]": {q.Value}}, searchPages)
		if err != nil {
			return nil, err
		}
		for _, g := range list {
			// Exact: the database comparison may ignore case.
			if v, _ := g.attr(attrGroupExternalID); v == q.Value && g.managed() {
				found = append(found, g)
			}
		}

	case adapters.ByDisplayName:
		// GitLab's search is a case-insensitive match on name and path; the
		// stored name is groupName(displayName), so searching for that finds
		// altered names too. The exact comparison is ours.
		list, err := a.searchGroups(ctx, url.Values{"search": {groupName(q.Value)}}, searchPages)
		if err != nil {
			return nil, err
		}
		for _, g := range list {
			if strings.EqualFold(g.displayName(), q.Value) && g.managed() {
				found = append(found, g)
			}
		}

	default:
		return nil, fmt.Errorf("gitlab: lookup kind %d is not supported for groups", q.Kind)
	}
	return a.scimGroups(ctx, found, withMembers)
}

// scimGroups maps groups, reading their members concurrently when asked.
func (a *Adapter) scimGroups(ctx context.Context, gs []glGroup, withMembers bool) ([]*scim.Group, error) {
	out := make([]*scim.Group, len(gs))
	if !withMembers {
		for i := range gs {
			out[i] = gs[i].toSCIM(nil)
		}
		return out, nil
	}
	members := make([][]scim.Member, len(gs))
	errs := parallel(ctx, len(gs), func(ctx context.Context, i int) error {
		m, err := a.members(ctx, gs[i].ID)
		members[i] = m
		return err
	})
	for i := range gs {
		if errs[i] != nil {
			return nil, errs[i]
		}
		out[i] = gs[i].toSCIM(members[i])
	}
	return out, nil
}

// ListGroups returns managed groups in ascending id order and their total.
func (a *Adapter) ListGroups(ctx context.Context, p adapters.Page, withMembers bool) ([]*scim.Group, int, error) {
	if p.Offset < 0 {
		p.Offset = 0
	}
	if p.Limit < 0 {
		p.Limit = 0
	}
	per := p.Limit
	if per < 1 {
		per = 1 // Limit 0 asks only for the total
	}
	if per > maxPerPage {
		per = maxPerPage
	}
	page, skip := p.Offset/per+1, p.Offset%per
	var rows []glGroup
	total := -1
	for {
		q := managedGroupQuery()
		q.Set("page", strconv.Itoa(page))
		q.Set("per_page", strconv.Itoa(per))
		var list []glGroup
		resp, err := a.getJSON(ctx, "/groups", q, &list)
		if err != nil {
			return nil, 0, err
		}
		if total < 0 {
			t, err := strconv.Atoi(resp.header.Get("X-Total"))
			if err != nil {
				// GitLab stops counting above 10 000 rows.
				return a.listGroupsWalk(ctx, p, withMembers)
			}
			total = t
		}
		if p.Limit == 0 {
			return []*scim.Group{}, total, nil
		}
		if skip < len(list) {
			rows = append(rows, list[skip:]...)
		}
		skip = 0
		if len(rows) >= p.Limit || len(list) < per || resp.header.Get("X-Next-Page") == "" {
			break
		}
		page++
	}
	if len(rows) > p.Limit {
		rows = rows[:p.Limit]
	}
	for i := range rows {
		if err := a.ensureGroupAttrs(ctx, &rows[i]); err != nil {
			return nil, 0, err
		}
	}
	gs, err := a.scimGroups(ctx, rows, withMembers)
	return gs, total, err
}

// listGroupsWalk pages through every managed group to count them; only reached
// past 10 000 managed groups.
func (a *Adapter) listGroupsWalk(ctx context.Context, p adapters.Page, withMembers bool) ([]*scim.Group, int, error) {
	q := managedGroupQuery()
	q.Set("per_page", strconv.Itoa(maxPerPage))
	var rows []glGroup
	n := 0
	for page := 1; ; page++ {
		q.Set("page", strconv.Itoa(page))
		var list []glGroup
		resp, err := a.getJSON(ctx, "/groups", q, &list)
		if err != nil {
			return nil, 0, err
		}
		for _, g := range list {
			if n >= p.Offset && n < p.Offset+p.Limit {
				rows = append(rows, g)
			}
			n++
		}
		if len(list) < maxPerPage || resp.header.Get("X-Next-Page") == "" {
			break
		}
	}
	for i := range rows {
		if err := a.ensureGroupAttrs(ctx, &rows[i]); err != nil {
			return nil, 0, err
		}
	}
	gs, err := a.scimGroups(ctx, rows, withMembers)
	return gs, n, err
}

// displayNameFree refuses a displayName that another managed group has
// (case-insensitively): Entra and the SCIM validator require uniqueness, and
// GitLab only enforces it for names of siblings.
func (a *Adapter) displayNameFree(ctx context.Context, displayName string, self int64) error {
	gs, err := a.FindGroups(ctx, adapters.Lookup{Kind: adapters.ByDisplayName, Value: displayName}, false)
	if err != nil {
		return err
	}
	for _, g := range gs {
		if g.ID != strconv.FormatInt(self, 10) {
			return scim.Conflict("displayName %q is already used by group %s", displayName, g.ID)
		}
	}
	return nil
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
	if errors.Is(err, adapters.ErrNotFound) {
		return 0, scim.Errorf(http.StatusBadGateway, "", "the adapter's parent_group %q does not exist in GitLab or the token cannot see it", ref)
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
		if errors.Is(err, adapters.ErrNotFound) {
			return 0, adapters.UpstreamMisconfigured(tokenHint)
		}
		return 0, err
	}
	a.groups.self = u.ID
	return u.ID, nil
}

// putGroupAttr writes a custom attribute of a group (idempotent, retried).
func (a *Adapter) putGroupAttr(ctx context.Context, id int64, key, value string) error {
	return a.putCustomAttr(ctx, groupPath(id), key, value)
}

// deleteGroupAttr removes a custom attribute of a group; an absent one is fine.
func (a *Adapter) deleteGroupAttr(ctx context.Context, id int64, key string) error {
	return a.deleteCustomAttr(ctx, groupPath(id), key)
}

// CreateGroup creates a private GitLab group (a subgroup of parent_group when
// set) and marks it managed. Members are added by the service.
func (a *Adapter) CreateGroup(ctx context.Context, g *scim.Group) (*scim.Group, error) {
	if strings.TrimSpace(g.DisplayName) == "" {
		return nil, scim.BadRequest(scim.ErrInvalidValue, "displayName is required")
	}
	parent, err := a.parentID(ctx)
	if err != nil {
		return nil, err
	}
	if err := a.displayNameFree(ctx, g.DisplayName, 0); err != nil {
		return nil, err
	}
	name := groupName(g.DisplayName)
	// private: the safe default whatever the instance's default visibility, and
	// a subgroup may not be more visible than its parent.
	body := map[string]any{"name": name, "visibility": "private"}
	if parent != 0 {
		body["parent_id"] = parent
	}
	base := groupSlug(g.DisplayName)
	var created glGroup
	for try := 0; ; try++ {
		body["path"] = slugCandidate(base, try)
		// Never retried: a lost answer may hide a created group.
		resp, err := a.send(ctx, request{method: http.MethodPost, path: "/groups", body: body})
		if err != nil {
			return nil, err
		}
		if resp.status == http.StatusCreated || resp.status == http.StatusOK {
			if err := jsonBody(resp, &created); err != nil {
				return nil, err
			}
			break
		}
		if resp.status == http.StatusBadRequest && pathTaken(groupSaveErrors(resp.body)) && try+1 < pathTries {
			continue
		}
		if resp.status == http.StatusNotFound {
			// POST /groups exists; a 404 is about parent_id.
			return nil, scim.Errorf(http.StatusBadGateway, "", "GitLab cannot find the adapter's parent_group: %s", a.message(resp))
		}
		return nil, a.groupWriteError(resp, g.DisplayName)
	}

	// The ids first, the managed mark last: a group whose mark is written is
	// complete.
	created.CustomAttributes = &[]glAttr{}
	var attrs []glAttr
	if g.ExternalID != "" {
		attrs = append(attrs, glAttr{attrGroupExternalID, g.ExternalID})
	}
	if name != g.DisplayName {
		attrs = append(attrs, glAttr{attrGroupDisplayName, g.DisplayName})
	}
	attrs = append(attrs, glAttr{attrManaged, "true"})
	for _, at := range attrs {
		if err := a.putGroupAttr(ctx, created.ID, at.Key, at.Value); err != nil {
			// Nothing else marks this group as ours: remove it so that the
			// IdP's retry starts clean instead of meeting a namesake.
			if _, derr := a.send(ctx, request{method: http.MethodDelete, path: groupPath(created.ID), retry: true}); derr != nil {
				a.logger.Warn("could not remove a half-created GitLab group", zap.Int64("id", created.ID), zap.Error(derr))
			}
			return nil, err
		}
		created.setAttr(at.Key, at.Value)
	}
	return created.toSCIM(nil), nil
}

// UpdateGroup writes displayName and externalId. The path stays as created.
func (a *Adapter) UpdateGroup(ctx context.Context, id string, g *scim.Group) (*scim.Group, error) {
	if strings.TrimSpace(g.DisplayName) == "" {
		return nil, scim.BadRequest(scim.ErrInvalidValue, "displayName is required")
	}
	cur, err := a.managedGroup(ctx, id)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(g.DisplayName, cur.displayName()) {
		if err := a.displayNameFree(ctx, g.DisplayName, cur.ID); err != nil {
			return nil, err
		}
	}
	name := groupName(g.DisplayName)
	if name != cur.Name {
		// Idempotent (same body, same result): retried.
		resp, err := a.send(ctx, request{method: http.MethodPut, path: groupPath(cur.ID), body: map[string]any{"name": name}, retry: true})
		if err != nil {
			return nil, err
		}
		if resp.status != http.StatusOK {
			return nil, a.groupWriteError(resp, g.DisplayName)
		}
		cur.Name = name
	}

	want := map[string]string{attrGroupExternalID: g.ExternalID, attrGroupDisplayName: ""}
	if name != g.DisplayName {
		want[attrGroupDisplayName] = g.DisplayName
	}
	for _, key := range []string{attrGroupExternalID, attrGroupDisplayName} {
		have, ok := cur.attr(key)
		switch v := want[key]; {
		case v != "" && v != have:
			if err := a.putGroupAttr(ctx, cur.ID, key, v); err != nil {
				return nil, err
			}
			cur.setAttr(key, v)
		case v == "" && ok:
			if err := a.deleteGroupAttr(ctx, cur.ID, key); err != nil {
				return nil, err
			}
			cur.delAttr(key)
		}
	}
	return cur.toSCIM(nil), nil
}

// DeleteGroup deletes the GitLab group, subgroups and projects included.
func (a *Adapter) DeleteGroup(ctx context.Context, id string) error {
	cur, err := a.managedGroup(ctx, id)
	if err != nil {
		return err
	}
	resp, err := a.send(ctx, request{method: http.MethodDelete, path: groupPath(cur.ID), retry: true})
	if err != nil {
		return err
	}
	if resp.status/100 != 2 {
		return a.statusError(resp)
	}
	// With delayed deletion (GitLab Premium; newer releases in every tier) the
	// group lingers for days: unmark it so that SCIM sees it gone at once and
	// lists stay counted right. An immediate deletion makes this a 404.
	if err := a.deleteGroupAttr(ctx, cur.ID, attrManaged); err != nil && !errors.Is(err, adapters.ErrNotFound) {
		a.logger.Warn("could not unmark a deleted GitLab group", zap.Int64("id", cur.ID), zap.Error(err))
	}
	return nil
}

// sortGroupRefs orders refs by numeric id.
func sortGroupRefs(refs []scim.GroupRef) {
	sort.Slice(refs, func(i, j int) bool {
		x, _ := strconv.ParseInt(refs[i].Value, 10, 64)
		y, _ := strconv.ParseInt(refs[j].Value, 10, 64)
		return x < y
	})
}
