package gitlabemu

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// ---------------------------------------------------------------- custom attributes

type caFunc func(s *Server, c *reqCtx, ca *map[string]string)

// caPrologue: Grape validation, then authenticated_as_admin! (custom
// attributes are admin-only, upstreams.md §2.3).
func caPrologue(c *reqCtx) bool {
	if c.r.Method == http.MethodPut {
		var g grapeErrs
		g.missing(c.p, "value")
		if g.write(c.w) {
			return false
		}
	}
	if !c.admin() {
		forbidden(c.w, "")
		return false
	}
	return true
}

func userCA(fn caFunc) handler {
	return func(s *Server, c *reqCtx) {
		if !caPrologue(c) {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		u := s.lookupUser(c)
		if u == nil {
			notFound(c.w, "User")
			return
		}
		fn(s, c, &u.CustomAttributes)
	}
}

func groupCA(fn caFunc) handler {
	return func(s *Server, c *reqCtx) {
		if !caPrologue(c) {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		g := s.findGroupLocked(c.vars["gid"])
		if g == nil {
			notFound(c.w, "Group")
			return
		}
		fn(s, c, &g.CustomAttributes)
	}
}

func (s *Server) listCA(c *reqCtx, ca *map[string]string) {
	writeJSON(c.w, 200, caList(*ca))
}

func (s *Server) getCA(c *reqCtx, ca *map[string]string) {
	k := c.vars["key"]
	v, ok := (*ca)[k]
	if !ok {
		notFound(c.w, "Custom Attribute")
		return
	}
	writeJSON(c.w, 200, map[string]string{"key": k, "value": v})
}

func (s *Server) putCA(c *reqCtx, ca *map[string]string) {
	k := c.vars["key"]
	v, _ := c.p.str("value")
	if *ca == nil {
		*ca = map[string]string{}
	}
	(*ca)[k] = v
	writeJSON(c.w, 200, map[string]string{"key": k, "value": v})
}

func (s *Server) deleteCA(c *reqCtx, ca *map[string]string) {
	k := c.vars["key"]
	if _, ok := (*ca)[k]; !ok {
		notFound(c.w, "Custom Attribute")
		return
	}
	delete(*ca, k)
	noContent(c.w)
}

// ---------------------------------------------------------------- groups

// findGroupLocked accepts a numeric id or a full path (the URL-encoded
// "parent%2Fchild" form), as find_group! does.
func (s *Server) findGroupLocked(ref string) *GroupState {
	if isDigits(ref) {
		id, _ := strconv.Atoi(ref)
		return s.groups[id]
	}
	for _, g := range s.groups {
		if strings.EqualFold(s.fullPathLocked(g), ref) {
			return g
		}
	}
	return nil
}

func (s *Server) fullPathLocked(g *GroupState) string {
	parts := []string{g.Path}
	for p := s.groups[g.ParentID]; p != nil; p = s.groups[p.ParentID] {
		parts = append([]string{p.Path}, parts...)
	}
	return strings.Join(parts, "/")
}

func (s *Server) fullNameLocked(g *GroupState) string {
	parts := []string{g.Name}
	for p := s.groups[g.ParentID]; p != nil; p = s.groups[p.ParentID] {
		parts = append([]string{p.Name}, parts...)
	}
	return strings.Join(parts, " / ")
}

func (s *Server) groupEntity(c *reqCtx, g *GroupState, withCA, detail bool) map[string]any {
	var parent any
	if g.ParentID != 0 {
		parent = g.ParentID
	}
	fp := s.fullPathLocked(g)
	m := map[string]any{
		"id": g.ID, "name": g.Name, "path": g.Path, "description": g.Description,
		"visibility": g.Visibility, "full_name": s.fullNameLocked(g), "full_path": fp,
		"parent_id": parent, "created_at": fmtTime(g.CreatedAt), "web_url": s.baseURL(c) + "/groups/" + fp,
		"avatar_url": nil, "share_with_group_lock": false, "require_two_factor_authentication": false,
		"project_creation_level": "developer", "subgroup_creation_level": "maintainer",
		"lfs_enabled": true, "request_access_enabled": true, "organization_id": 1,
	}
	if s.opts.DelayedGroupDeletion {
		// Entities::Group (EE before 18.0): the date the deletion was scheduled.
		var on any
		if g.MarkedForDeletionOn != nil {
			on = g.MarkedForDeletionOn.Format("2006-01-02")
		}
		m["marked_for_deletion_on"] = on
	}
	if withCA && c.admin() {
		m["custom_attributes"] = caList(g.CustomAttributes)
	}
	if detail {
		m["projects"] = []any{}
		m["shared_projects"] = []any{}
		m["shared_with_groups"] = []any{}
	}
	return m
}

// canSeeGroup: admins see every group; others see public groups and groups
// they are a direct member of (private groups are 404 to outsiders).
func canSeeGroup(c *reqCtx, g *GroupState) bool {
	if c.admin() || g.Visibility == "public" || (g.Visibility == "internal" && c.caller != nil) {
		return true
	}
	for _, m := range g.Members {
		if m.UserID == c.caller.ID {
			return true
		}
	}
	return false
}

func canAdminGroup(c *reqCtx, g *GroupState) bool {
	if c.admin() {
		return true
	}
	for _, m := range g.Members {
		if m.UserID == c.caller.ID && m.AccessLevel == 50 {
			return true
		}
	}
	return false
}

func (s *Server) listGroups(c *reqCtx) {
	p := c.p
	var g grapeErrs
	g.bools(p, "with_custom_attributes", "all_available", "top_level_only", "owned")
	g.values(p, "order_by", "name", "path", "id", "similarity")
	g.values(p, "sort", "asc", "desc")
	page, perPage := s.pageParams(c, &g)
	if g.write(c.w) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	search, hasSearch := p.str("search")
	search = strings.ToLower(search)
	ca := p.strMap("custom_attributes")
	top, _, _ := p.boolean("top_level_only")
	var rows []*GroupState
	for _, gr := range s.sortedGroupsLocked() {
		if !canSeeGroup(c, gr) {
			continue
		}
		if hasSearch && !strings.Contains(strings.ToLower(gr.Name), search) && !strings.Contains(strings.ToLower(gr.Path), search) {
			continue
		}
		if top && gr.ParentID != 0 {
			continue
		}
		if c.admin() && len(ca) > 0 && !caMatch(gr.CustomAttributes, ca) {
			continue
		}
		rows = append(rows, gr)
	}
	orderBy, _ := p.str("order_by")
	desc := false
	if v, _ := p.str("sort"); v == "desc" {
		desc = true
	}
	// GitLab's default for /groups is order_by=name, sort=asc.
	sort.SliceStable(rows, func(i, j int) bool {
		var cmp int
		switch orderBy {
		case "id":
			cmp = rows[i].ID - rows[j].ID
		case "path":
			cmp = strings.Compare(rows[i].Path, rows[j].Path)
		default:
			cmp = strings.Compare(rows[i].Name, rows[j].Name)
		}
		if cmp == 0 {
			cmp = rows[i].ID - rows[j].ID
		}
		if desc {
			return cmp > 0
		}
		return cmp < 0
	})
	withCA, _, _ := p.boolean("with_custom_attributes")
	lo, hi := s.offsetPage(c, len(rows), page, perPage)
	out := []map[string]any{}
	for _, gr := range rows[lo:hi] {
		out = append(out, s.groupEntity(c, gr, withCA, false))
	}
	writeJSON(c.w, 200, out)
}

var visibilities = []string{"private", "internal", "public"}

// groupSaveError is the POST/PUT /groups failure body: GitLab renders the
// errors hash with Ruby's inspect ("Failed to save group {:path=>[...]}").
func groupSaveError(w http.ResponseWriter, m *modelErrs) {
	var parts []string
	for _, k := range m.keys {
		var q []string
		for _, msg := range m.msgs[k] {
			q = append(q, strconv.Quote(msg))
		}
		parts = append(parts, ":"+k+"=>["+strings.Join(q, ", ")+"]")
	}
	apiError(w, 400, "Failed to save group {"+strings.Join(parts, ", ")+"}")
}

// validateGroupLocked runs the Namespace validations of a new group, or of
// cand replacing cur: the name (present; unique among its siblings for a
// subgroup), then the path's, when it changes (app/models/namespace.rb), and
// the route's uniqueness, reported on path (routable.rb set_path_errors).
func (s *Server) validateGroupLocked(m *modelErrs, cand, cur *GroupState) {
	except := 0
	if cur != nil {
		except = cur.ID
	}
	if cand.Name == "" {
		m.add("name", "can't be blank")
	} else if (cur == nil || cand.Name != cur.Name) && s.groupNameTakenLocked(cand.Name, cand.ParentID, except) {
		m.add("name", "has already been taken")
	}
	if cur != nil && cand.Path == cur.Path {
		return
	}
	validatePath(m, "path", cand.Path, cand.ParentID == 0)
	if cand.Path != "" && (cur == nil || !strings.EqualFold(cand.Path, cur.Path)) && s.groupPathTakenLocked(cand.Path, cand.ParentID, except) {
		m.add("path", "has already been taken")
	}
}

func (s *Server) createGroup(c *reqCtx) {
	p := c.p
	var g grapeErrs
	g.missing(p, "name", "path")
	g.values(p, "visibility", visibilities...)
	parentID, _, err := p.integer("parent_id")
	g.add(err)
	if g.write(c.w) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if parentID != 0 {
		parent := s.groups[parentID]
		if parent == nil || !canSeeGroup(c, parent) {
			notFound(c.w, "Group")
			return
		}
		if !canAdminGroup(c, parent) {
			forbidden(c.w, "")
			return
		}
	} else if !c.admin() && !c.caller.CanCreateGroup {
		forbidden(c.w, "")
		return
	}
	gr := GroupState{ParentID: parentID}
	gr.Name, _ = p.str("name")
	gr.Path, _ = p.str("path")
	gr.Description, _ = p.str("description")
	gr.Visibility, _ = p.str("visibility")
	var m modelErrs
	s.validateGroupLocked(&m, &gr, nil)
	if m.any() {
		groupSaveError(c.w, &m)
		return
	}
	ng := s.insertGroupLocked(gr)
	// The creator becomes the group's owner.
	ng.Members = append(ng.Members, Member{UserID: c.caller.ID, AccessLevel: 50, CreatedAt: s.now()})
	writeJSON(c.w, 201, s.groupEntity(c, ng, false, true))
}

func (s *Server) getGroup(c *reqCtx) {
	var g grapeErrs
	g.bools(c.p, "with_custom_attributes", "with_projects")
	if g.write(c.w) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	gr := s.findGroupLocked(c.vars["gid"])
	if gr == nil || !canSeeGroup(c, gr) {
		notFound(c.w, "Group")
		return
	}
	withCA, _, _ := c.p.boolean("with_custom_attributes")
	writeJSON(c.w, 200, s.groupEntity(c, gr, withCA, true))
}

func (s *Server) updateGroup(c *reqCtx) {
	var g grapeErrs
	g.values(c.p, "visibility", visibilities...)
	if g.write(c.w) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	gr := s.findGroupLocked(c.vars["gid"])
	if gr == nil || !canSeeGroup(c, gr) {
		notFound(c.w, "Group")
		return
	}
	if !canAdminGroup(c, gr) {
		forbidden(c.w, "")
		return
	}
	cand := gr.clone()
	if v, ok := c.p.str("name"); ok {
		cand.Name = v
	}
	if v, ok := c.p.str("path"); ok {
		cand.Path = v
	}
	if v, ok := c.p.str("description"); ok {
		cand.Description = v
	}
	if v, ok := c.p.str("visibility"); ok {
		cand.Visibility = v
	}
	var m modelErrs
	s.validateGroupLocked(&m, &cand, gr)
	if m.any() {
		// PUT /groups/:id renders the model errors hash.
		m.write(c.w)
		return
	}
	*gr = cand
	writeJSON(c.w, 200, s.groupEntity(c, gr, false, true))
}

// deleteGroup answers 202 {"message":"202 Accepted"} (lib/api/groups.rb,
// delete_group). Without delayed deletion the group, its subgroups and
// projects are gone (GitLab's GroupDestroyWorker, here at once); with it the
// group is marked for deletion and renamed, and only a subgroup already marked
// can be removed at once with permanently_remove and its full_path
// (ee/lib/ee/api/groups.rb; messages from ee/spec/requests/api/groups_spec.rb
// and app/services/groups/mark_for_deletion_service.rb).
func (s *Server) deleteGroup(c *reqCtx) {
	var g grapeErrs
	g.bools(c.p, "permanently_remove")
	if g.write(c.w) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	gr := s.findGroupLocked(c.vars["gid"])
	if gr == nil || !canSeeGroup(c, gr) {
		notFound(c.w, "Group")
		return
	}
	if !canAdminGroup(c, gr) {
		forbidden(c.w, "")
		return
	}
	if !s.opts.DelayedGroupDeletion {
		s.dropGroupLocked(gr.ID)
		apiError(c.w, 202, "202 Accepted")
		return
	}
	permanent, _, _ := c.p.boolean("permanently_remove")
	fullPath, _ := c.p.str("full_path")
	switch {
	case permanent && gr.ParentID == 0:
		apiError(c.w, 400, "`permanently_remove` option is only available for subgroups.")
	case permanent && gr.MarkedForDeletionOn == nil:
		apiError(c.w, 400, "Group must be marked for deletion first.")
	case permanent && fullPath != s.fullPathLocked(gr):
		apiError(c.w, 400, "`full_path` is incorrect. You must enter the complete path for the subgroup.")
	case permanent:
		s.dropGroupLocked(gr.ID)
		apiError(c.w, 202, "202 Accepted")
	case gr.MarkedForDeletionOn != nil:
		apiError(c.w, 400, "Group has been already marked for deletion")
	default:
		s.markGroupForDeletionLocked(gr)
		apiError(c.w, 202, "202 Accepted")
	}
}

// ---------------------------------------------------------------- members

var accessLevels = map[int]bool{0: true, 5: true, 10: true, 15: true, 20: true, 30: true, 40: true, 50: true}

func (s *Server) memberEntity(c *reqCtx, m Member) map[string]any {
	u := s.users[m.UserID]
	e := map[string]any{
		"id": m.UserID, "access_level": m.AccessLevel, "created_at": fmtTime(m.CreatedAt),
		"expires_at": nullStr(m.ExpiresAt), "membership_state": "active", "created_by": nil,
		"group_saml_identity": nil,
	}
	if u != nil {
		for k, v := range s.userBasic(c, u) {
			e[k] = v
		}
	}
	return e
}

// belowInheritedLocked refuses a level below what the user holds in an
// ancestor group: 400 {"message":{"access_level":["should be greater than or
// equal to Developer inherited membership from group Parent"]}} (app/models/
// member.rb, higher_access_level_than_group; spec/requests/api/members_spec.rb).
func (s *Server) belowInheritedLocked(w http.ResponseWriter, gr *GroupState, userID, level int) bool {
	var from *GroupState
	best := -1
	for p := s.groups[gr.ParentID]; p != nil; p = s.groups[p.ParentID] {
		for _, m := range p.Members {
			if m.UserID == userID && m.AccessLevel > best {
				best, from = m.AccessLevel, p
			}
		}
	}
	if from == nil || best <= level {
		return false
	}
	var m modelErrs
	m.add("access_level", fmt.Sprintf("should be greater than or equal to %s inherited membership from group %s", humanAccess[best], from.Name))
	m.write(w)
	return true
}

// memberPrologue resolves the group for the member endpoints.
func (s *Server) memberGroupLocked(c *reqCtx) *GroupState {
	gr := s.findGroupLocked(c.vars["gid"])
	if gr == nil || !canSeeGroup(c, gr) {
		notFound(c.w, "Group")
		return nil
	}
	return gr
}

func (s *Server) listMembers(c *reqCtx) {
	var g grapeErrs
	page, perPage := s.pageParams(c, &g)
	ids, _, err := c.p.intList("user_ids")
	g.add(err)
	if g.write(c.w) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	gr := s.memberGroupLocked(c)
	if gr == nil {
		return
	}
	want := map[int]bool{}
	for _, id := range ids {
		want[id] = true
	}
	query, hasQuery := c.p.str("query")
	query = strings.ToLower(query)
	var rows []Member
	for _, m := range gr.Members {
		if len(want) > 0 && !want[m.UserID] {
			continue
		}
		if hasQuery && query != "" {
			u := s.users[m.UserID]
			if u == nil || (!strings.Contains(strings.ToLower(u.Name), query) && !strings.Contains(strings.ToLower(u.Username), query)) {
				continue
			}
		}
		rows = append(rows, m)
	}
	lo, hi := s.offsetPage(c, len(rows), page, perPage)
	out := []map[string]any{}
	for _, m := range rows[lo:hi] {
		out = append(out, s.memberEntity(c, m))
	}
	writeJSON(c.w, 200, out)
}

func (s *Server) getMember(c *reqCtx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gr := s.memberGroupLocked(c)
	if gr == nil {
		return
	}
	uid, _ := strconv.Atoi(c.vars["user_id"])
	for _, m := range gr.Members {
		if m.UserID == uid {
			writeJSON(c.w, 200, s.memberEntity(c, m))
			return
		}
	}
	notFound(c.w, "Member")
}

func (s *Server) addMember(c *reqCtx) {
	p := c.p
	var g grapeErrs
	g.missing(p, "access_level")
	level, _, err := p.integer("access_level")
	g.add(err)
	if err == nil && p.has("access_level") && !accessLevels[level] {
		g = append(g, "access_level does not have a valid value")
	}
	switch {
	case !p.has("user_id") && !p.has("username"):
		g = append(g, "user_id, username are missing, exactly one parameter must be provided")
	case p.has("user_id") && p.has("username"):
		g = append(g, "user_id, username are mutually exclusive")
	}
	if g.write(c.w) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	gr := s.memberGroupLocked(c)
	if gr == nil {
		return
	}
	if !canAdminGroup(c, gr) {
		forbidden(c.w, "")
		return
	}
	var u *UserState
	if un, ok := p.str("username"); ok {
		u = s.userByUsernameLocked(un)
	} else if id, _, err := p.integer("user_id"); err == nil {
		u = s.users[id]
	}
	if u == nil {
		notFound(c.w, "User")
		return
	}
	for _, m := range gr.Members {
		if m.UserID == u.ID {
			apiError(c.w, 409, "Member already exists")
			return
		}
	}
	if s.belowInheritedLocked(c.w, gr, u.ID, level) {
		return
	}
	m := Member{UserID: u.ID, AccessLevel: level, CreatedAt: s.now()}
	m.ExpiresAt, _ = p.str("expires_at")
	gr.Members = append(gr.Members, m)
	created(c.w, s.memberEntity(c, m))
}

func (s *Server) updateMember(c *reqCtx) {
	var g grapeErrs
	g.missing(c.p, "access_level")
	level, _, err := c.p.integer("access_level")
	g.add(err)
	if err == nil && c.p.has("access_level") && !accessLevels[level] {
		g = append(g, "access_level does not have a valid value")
	}
	if g.write(c.w) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	gr := s.memberGroupLocked(c)
	if gr == nil {
		return
	}
	if !canAdminGroup(c, gr) {
		forbidden(c.w, "")
		return
	}
	uid, _ := strconv.Atoi(c.vars["user_id"])
	for i := range gr.Members {
		if gr.Members[i].UserID == uid {
			if s.belowInheritedLocked(c.w, gr, uid, level) {
				return
			}
			gr.Members[i].AccessLevel = level
			if v, ok := c.p.str("expires_at"); ok {
				gr.Members[i].ExpiresAt = v
			}
			writeJSON(c.w, 200, s.memberEntity(c, gr.Members[i]))
			return
		}
	}
	// find_by! raises RecordNotFound, which the API renders this way.
	apiError(c.w, 404, "404 Not found")
}

func (s *Server) deleteMember(c *reqCtx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gr := s.memberGroupLocked(c)
	if gr == nil {
		return
	}
	if !canAdminGroup(c, gr) {
		forbidden(c.w, "")
		return
	}
	uid, _ := strconv.Atoi(c.vars["user_id"])
	for _, m := range gr.Members {
		if m.UserID == uid {
			gr.Members = removeMember(gr.Members, uid)
			noContent(c.w)
			return
		}
	}
	apiError(c.w, 404, "404 Not found")
}
