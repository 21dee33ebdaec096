package gitlabemu

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// User states (upstreams.md §1.8).
const (
	StateActive                 = "active"
	StateBlocked                = "blocked"
	StateLDAPBlocked            = "ldap_blocked"
	StateBlockedPendingApproval = "blocked_pending_approval"
	StateBanned                 = "banned"
	StateDeactivated            = "deactivated"
)

var validStates = map[string]bool{
	StateActive: true, StateBlocked: true, StateLDAPBlocked: true,
	StateBlockedPendingApproval: true, StateBanned: true, StateDeactivated: true,
}

// isBlocked is User#blocked?: true for blocked, ldap_blocked,
// blocked_pending_approval and banned (app/models/user.rb: the state machine's
// `state :blocked, :ldap_blocked, :blocked_pending_approval, :banned` block).
func isBlocked(state string) bool {
	return state == StateBlocked || state == StateLDAPBlocked || state == StateBlockedPendingApproval || state == StateBanned
}

// MinimumInactiveDays is the dormancy period required by deactivate
// (application setting deactivate_dormant_users_period, default 90).
const MinimumInactiveDays = 90

// Identity is a row of GitLab's identities table.
type Identity struct {
	Provider  string
	ExternUID string
}

// Email is a secondary e-mail address (emails table).
type Email struct {
	ID          int
	Email       string
	ConfirmedAt *time.Time
}

// UserState is the emulator's record of a user. Values handed out are copies.
type UserState struct {
	ID       int
	Username string
	Name     string
	Email    string
	State    string
	Admin    bool
	External bool
	// Internal marks bot/ghost users (cannot be deactivated).
	Internal       bool
	CanCreateGroup bool
	ProjectsLimit  int
	PrivateProfile bool
	Note           string
	Organization   string
	PublicEmail    string
	CommitEmail    string
	Bio            string
	Location       string
	JobTitle       string
	Pronouns       string
	WebsiteURL     string
	// PasswordAutomaticallySet is true after force_random_password/reset_password.
	PasswordAutomaticallySet bool
	ConfirmedAt              *time.Time
	// UnconfirmedEmail holds a requested primary e-mail awaiting
	// reconfirmation (PUT without skip_reconfirmation).
	UnconfirmedEmail string
	Identities       []Identity
	Emails           []Email
	CustomAttributes map[string]string
	CreatedAt        time.Time
	UpdatedAt        time.Time
	// LastActivityOn and CurrentSignInAt drive the dormancy rule of
	// deactivate: the later of the two is User#last_active_at, and an account
	// with neither counts as dormant (app/models/user.rb, no_recent_activity?).
	LastActivityOn  *time.Time
	CurrentSignInAt *time.Time
}

func (u *UserState) clone() UserState {
	c := *u
	c.Identities = append([]Identity(nil), u.Identities...)
	c.Emails = append([]Email(nil), u.Emails...)
	if u.CustomAttributes != nil {
		c.CustomAttributes = make(map[string]string, len(u.CustomAttributes))
		for k, v := range u.CustomAttributes {
			c.CustomAttributes[k] = v
		}
	}
	return c
}

// Member is a direct group membership.
type Member struct {
	UserID      int
	AccessLevel int
	CreatedAt   time.Time
	ExpiresAt   string
}

// GroupState is the emulator's record of a group.
type GroupState struct {
	ID               int
	Name             string
	Path             string
	ParentID         int
	Visibility       string
	Description      string
	CustomAttributes map[string]string
	Members          []Member
	CreatedAt        time.Time
	// MarkedForDeletionOn is set while a delayed deletion is pending
	// (Options.DelayedGroupDeletion).
	MarkedForDeletionOn *time.Time
}

// ProjectState is a project, only as far as its path occupies its namespace:
// a subgroup cannot take the path of a project of the same parent (both are
// routes, unique case-insensitively: app/models/route.rb, and
// app/models/concerns/routable.rb set_path_errors reports the clash on path).
type ProjectState struct {
	ID          int
	Name        string
	Path        string
	NamespaceID int
}

func (g *GroupState) clone() GroupState {
	c := *g
	c.Members = append([]Member(nil), g.Members...)
	if g.CustomAttributes != nil {
		c.CustomAttributes = make(map[string]string, len(g.CustomAttributes))
		for k, v := range g.CustomAttributes {
			c.CustomAttributes[k] = v
		}
	}
	return c
}

// ---------------------------------------------------------------- inspection / control

// User returns a copy of user id.
func (s *Server) User(id int) (UserState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleLocked()
	u, ok := s.users[id]
	if !ok {
		return UserState{}, false
	}
	return u.clone(), true
}

// FindByUsername looks a user up case-insensitively.
func (s *Server) FindByUsername(username string) (UserState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleLocked()
	if u := s.userByUsernameLocked(username); u != nil {
		return u.clone(), true
	}
	return UserState{}, false
}

// Users returns copies of all users ordered by id.
func (s *Server) Users() []UserState {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleLocked()
	out := make([]UserState, 0, len(s.users))
	for _, u := range s.sortedUsersLocked() {
		out = append(out, u.clone())
	}
	return out
}

// SetState forces a user's state, e.g. ldap_blocked as GitLab's own SCIM
// deprovisioning or LDAP sync would leave it.
func (s *Server) SetState(id int, state string) error {
	if !validStates[state] {
		return fmt.Errorf("gitlabemu: unknown state %q", state)
	}
	return s.ModifyUser(id, func(u *UserState) { u.State = state })
}

// ModifyUser edits a user in place under the lock (for setting
// LastActivityOn, Internal, CreatedAt...). ID changes are ignored.
func (s *Server) ModifyUser(id int, fn func(*UserState)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return fmt.Errorf("gitlabemu: no user %d", id)
	}
	fn(u)
	u.ID = id
	s.indexUserLocked(u)
	return nil
}

// CreateUserDirect adds a user "by hand" (an admin, an unmanaged account),
// bypassing the API's validation except username/e-mail uniqueness.
// Zero fields get defaults: state active, confirmed, created now.
func (s *Server) CreateUserDirect(u UserState) (UserState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := direct(&u, s.userByUsernameLocked(u.Username) != nil, s.emailTakenLocked(u.Email, 0, false)); err != nil {
		return UserState{}, err
	}
	return s.insertUserLocked(u).clone(), nil
}

// CreateUsersDirect is CreateUserDirect for many users at once, to seed a large
// directory: uniqueness is checked against sets built once, not by a scan per user.
// It stops at the first refused user.
func (s *Server) CreateUsersDirect(us []UserState) ([]UserState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names, emails := map[string]bool{}, map[string]bool{}
	for _, u := range s.users {
		names[strings.ToLower(u.Username)] = true
		emails[strings.ToLower(u.Email)] = true
		for _, e := range u.Emails {
			emails[strings.ToLower(e.Email)] = true
		}
	}
	out := make([]UserState, 0, len(us))
	for _, u := range us {
		name, email := strings.ToLower(u.Username), strings.ToLower(u.Email)
		if err := direct(&u, names[name], emails[email]); err != nil {
			return out, err
		}
		names[name], emails[email] = true, true
		out = append(out, s.insertUserLocked(u).clone())
	}
	return out, nil
}

// direct checks and completes a user added by hand.
func direct(u *UserState, nameTaken, emailTaken bool) error {
	switch {
	case u.Username == "" || u.Email == "":
		return fmt.Errorf("gitlabemu: username and email are required")
	case nameTaken:
		return fmt.Errorf("gitlabemu: username %q taken", u.Username)
	case emailTaken:
		return fmt.Errorf("gitlabemu: email %q taken", u.Email)
	case u.State != "" && !validStates[u.State]:
		return fmt.Errorf("gitlabemu: unknown state %q", u.State)
	}
	if u.ConfirmedAt == nil {
		t := time.Now().UTC()
		u.ConfirmedAt = &t
	}
	return nil
}

// Group returns a copy of group id.
func (s *Server) Group(id int) (GroupState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleLocked()
	g, ok := s.groups[id]
	if !ok {
		return GroupState{}, false
	}
	return g.clone(), true
}

// Groups returns copies of all groups ordered by id.
func (s *Server) Groups() []GroupState {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleLocked()
	var out []GroupState
	for _, g := range s.sortedGroupsLocked() {
		out = append(out, g.clone())
	}
	return out
}

// CreateGroupDirect adds a group without going through the API.
func (s *Server) CreateGroupDirect(g GroupState) (GroupState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g.Path == "" {
		return GroupState{}, fmt.Errorf("gitlabemu: path is required")
	}
	if g.ParentID != 0 && s.groups[g.ParentID] == nil {
		return GroupState{}, fmt.Errorf("gitlabemu: no parent group %d", g.ParentID)
	}
	if s.groupPathTakenLocked(g.Path, g.ParentID, 0) {
		return GroupState{}, fmt.Errorf("gitlabemu: path %q taken", g.Path)
	}
	return s.insertGroupLocked(g).clone(), nil
}

// CreateProjectDirect adds a project in group namespaceID, by hand: only its
// path matters to the emulator (subgroup paths must not clash with it).
func (s *Server) CreateProjectDirect(p ProjectState) (ProjectState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Path == "" || s.groups[p.NamespaceID] == nil {
		return ProjectState{}, fmt.Errorf("gitlabemu: a project needs a path and an existing group")
	}
	if s.groupPathTakenLocked(p.Path, p.NamespaceID, 0) {
		return ProjectState{}, fmt.Errorf("gitlabemu: path %q taken", p.Path)
	}
	p.ID = s.nextProjectID
	s.nextProjectID++
	if p.Name == "" {
		p.Name = p.Path
	}
	c := p
	s.projects[p.ID] = &c
	return c, nil
}

// ---------------------------------------------------------------- internal helpers

func (s *Server) insertUserLocked(u UserState) *UserState {
	now := s.now()
	u.ID = s.nextUserID
	s.nextUserID++
	if u.State == "" {
		u.State = StateActive
	}
	if u.Name == "" {
		u.Name = u.Username
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.CreatedAt
	}
	if u.ProjectsLimit == 0 {
		u.ProjectsLimit = 100000
	}
	for i := range u.Emails {
		if u.Emails[i].ID == 0 {
			u.Emails[i].ID = s.nextEmailID
			s.nextEmailID++
		}
	}
	p := &u
	c := p.clone()
	s.users[u.ID] = &c
	s.sorted = nil
	s.indexUserLocked(&c)
	return &c
}

func (s *Server) insertGroupLocked(g GroupState) *GroupState {
	g.ID = s.nextGroupID
	s.nextGroupID++
	if g.Name == "" {
		g.Name = g.Path
	}
	if g.Visibility == "" {
		g.Visibility = "private"
	}
	if g.CreatedAt.IsZero() {
		g.CreatedAt = s.now()
	}
	c := g.clone()
	s.groups[g.ID] = &c
	return &c
}

// sortedUsersLocked is every user in id order (the primary key's order), kept
// until a user is added or removed. Callers must not change the slice.
func (s *Server) sortedUsersLocked() []*UserState {
	if s.sorted == nil {
		s.sorted = make([]*UserState, 0, len(s.users))
		for _, u := range s.users {
			s.sorted = append(s.sorted, u)
		}
		sort.Slice(s.sorted, func(i, j int) bool { return s.sorted[i].ID < s.sorted[j].ID })
	}
	return s.sorted
}

func (s *Server) sortedGroupsLocked() []*GroupState {
	out := make([]*GroupState, 0, len(s.groups))
	for _, g := range s.groups {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// GitLab finds a user by username, e-mail or identity through unique indexes, so
// that a create costs the same at 1,000 users as at 100,000; the emulator, the
// benchmarks' upstream, must too. keys maps "u:<username>", "e:<address>" and
// "i:<provider>\x00<extern_uid>" (lowercased) to the ids of users that held the
// value at some point: indexUserLocked adds a user's values wherever they are
// written, and every lookup checks each candidate's current state, so a stale
// entry (a rename, a removed address, a deleted user) costs nothing but a check.
func (s *Server) indexUserLocked(u *UserState) {
	add := func(k string) {
		k = strings.ToLower(k)
		if !slices.Contains(s.keys[k], u.ID) {
			s.keys[k] = append(s.keys[k], u.ID)
		}
	}
	add("u:" + u.Username)
	add("e:" + u.Email)
	if u.UnconfirmedEmail != "" {
		add("e:" + u.UnconfirmedEmail)
	}
	for _, e := range u.Emails {
		add("e:" + e.Email)
	}
	for _, id := range u.Identities {
		add("i:" + id.Provider + "\x00" + id.ExternUID)
	}
}

// candidatesLocked are the live users that may hold key (see indexUserLocked),
// in ascending id order.
func (s *Server) candidatesLocked(key string) []*UserState {
	var out []*UserState
	for _, id := range s.keys[strings.ToLower(key)] {
		if u := s.users[id]; u != nil {
			out = append(out, u)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (s *Server) userByUsernameLocked(name string) *UserState {
	for _, u := range s.candidatesLocked("u:" + name) {
		if strings.EqualFold(u.Username, name) {
			return u
		}
	}
	return nil
}

// emailTakenLocked: with conflictOnly it is User.by_any_email (primary or
// confirmed secondary, case-insensitive) used for the 409 answers; without,
// it is the model's uniqueness validation, which also sees unconfirmed
// secondary addresses (upstreams.md §2.3).
func (s *Server) emailTakenLocked(email string, exceptUser int, conflictOnly bool) bool {
	for _, u := range s.candidatesLocked("e:" + email) {
		if u.ID == exceptUser {
			continue
		}
		if strings.EqualFold(u.Email, email) {
			return true
		}
		for _, e := range u.Emails {
			if strings.EqualFold(e.Email, email) && (!conflictOnly || e.ConfirmedAt != nil) {
				return true
			}
		}
	}
	return false
}

// identityOwnerLocked finds the user holding extern_uid for provider
// (identities.extern_uid is unique per provider, case-insensitive).
func (s *Server) identityOwnerLocked(provider, externUID string) *UserState {
	for _, u := range s.candidatesLocked("i:" + provider + "\x00" + externUID) {
		for _, id := range u.Identities {
			if id.Provider == provider && strings.EqualFold(id.ExternUID, externUID) {
				return u
			}
		}
	}
	return nil
}

// groupPathTakenLocked: a path is a route, unique case-insensitively: among
// sibling groups and the parent's projects; at the top level, usernames too.
func (s *Server) groupPathTakenLocked(path string, parentID, exceptGroup int) bool {
	for _, g := range s.groups {
		if g.ID != exceptGroup && g.ParentID == parentID && strings.EqualFold(g.Path, path) {
			return true
		}
	}
	for _, p := range s.projects {
		if parentID != 0 && p.NamespaceID == parentID && strings.EqualFold(p.Path, path) {
			return true
		}
	}
	return parentID == 0 && s.userByUsernameLocked(path) != nil
}

// groupNameTakenLocked: subgroup names are unique within their parent
// (app/models/namespace.rb: uniqueness of name scoped to type and parent_id,
// when parent_id is present); top-level names are not.
func (s *Server) groupNameTakenLocked(name string, parentID, exceptGroup int) bool {
	if parentID == 0 {
		return false
	}
	for _, g := range s.groups {
		if g.ID != exceptGroup && g.ParentID == parentID && g.Name == name {
			return true
		}
	}
	return false
}

// topGroupPathTakenLocked: a username collides with a top-level group path.
func (s *Server) topGroupPathTakenLocked(path string) bool {
	for _, g := range s.groups {
		if g.ParentID == 0 && strings.EqualFold(g.Path, path) {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------- path rules

// pathRE is Gitlab::PathRegex.namespace_format_regex in essence: start with
// a letter, digit, '_' or '.', then letters, digits, '_', '-', '.'.
var pathRE = regexp.MustCompile(`^[a-zA-Z0-9_.][a-zA-Z0-9_\-.]*$`)

const pathFormatMessage = "can contain only letters, digits, '_', '-' and '.'. Cannot start with '-' or end in '.', '.git' or '.atom'."

// ociPathRE and ociPathMessage are Gitlab::Regex.oci_repository_path_regex and
// its message (lib/gitlab/regex.rb), which every namespace path must match when
// it changes (app/models/namespace.rb): no special character at either end, no
// two in a row.
var ociPathRE = regexp.MustCompile(`^[a-zA-Z0-9]+([._-][a-zA-Z0-9]+)*$`)

const ociPathMessage = "can only include non-accented letters, digits, '_', '-' and '.'. It must not start with '-', '_', or '.', nor end with '-', '_', '.', '.git', or '.atom'."

// tooShortMessage is the minimum path length of a namespace (app/models/
// namespace.rb, validates :path, length: { minimum: 2 }).
const tooShortMessage = "is too short (minimum is 2 characters)"

// reservedTopLevel is an excerpt of Gitlab::PathRegex::TOP_LEVEL_ROUTES.
var reservedTopLevel = map[string]bool{
	"-": true, ".well-known": true, "admin": true, "api": true, "assets": true,
	"dashboard": true, "explore": true, "files": true, "groups": true, "health_check": true,
	"help": true, "import": true, "jwt": true, "login": true, "oauth": true, "profile": true,
	"projects": true, "public": true, "robots.txt": true, "s": true, "search": true,
	"sitemap": true, "snippets": true, "unsubscribes": true, "uploads": true, "users": true, "v2": true,
}

// validatePath runs the namespace path validations on a new path, in GitLab's
// order: presence and length, the OCI format, the namespace format and
// reserved names, the minimum length.
func validatePath(m *modelErrs, attr, v string, topLevel bool) {
	if v == "" {
		m.add(attr, "can't be blank")
		return
	}
	if len(v) > 255 {
		m.add(attr, "is too long (maximum is 255 characters)")
	}
	lv := strings.ToLower(v)
	switch {
	case !pathRE.MatchString(v) || strings.HasSuffix(v, ".") || strings.HasSuffix(lv, ".git") || strings.HasSuffix(lv, ".atom"):
		m.add(attr, pathFormatMessage)
	case !ociPathRE.MatchString(v):
		m.add(attr, ociPathMessage)
	}
	if topLevel && reservedTopLevel[lv] {
		m.add(attr, v+" is a reserved name")
	}
	if len(v) < 2 {
		m.add(attr, tooShortMessage)
	}
}

// mimeExtensions is an excerpt of Rails' Mime::EXTENSION_LOOKUP keys: a
// username may not end with "." and one of them (app/models/user.rb,
// check_username_format, ends_with_reserved_file_extension?; case-sensitive).
var mimeExtensions = []string{"html", "htm", "xhtml", "text", "txt", "js", "mjs", "css", "ics", "csv", "vcf", "vtt",
	"png", "jpeg", "jpg", "jpe", "pjpeg", "gif", "bmp", "tiff", "tif", "svg", "webp", "mpeg", "mp3", "ogg", "oga",
	"m4a", "webm", "mp4", "otf", "ttf", "woff", "woff2", "xml", "rss", "atom", "yaml", "json", "pdf", "zip", "gzip", "gz"}

const fileExtensionMessage = "ending with a reserved file extension is not allowed."

func endsWithFileExtension(username string) bool {
	for _, ext := range mimeExtensions {
		if strings.HasSuffix(username, "."+ext) {
			return true
		}
	}
	return false
}

// humanAccess is Gitlab::Access's name of a level.
var humanAccess = map[int]string{0: "No access", 5: "Minimal Access", 10: "Guest", 15: "Planner", 20: "Reporter",
	30: "Developer", 40: "Maintainer", 50: "Owner"}

// emailRE is Devise.email_regexp.
var emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+$`)

func validateEmail(m *modelErrs, attr, v string) {
	if v == "" {
		m.add(attr, "can't be blank")
		return
	}
	if !emailRE.MatchString(v) {
		m.add(attr, "is invalid")
	}
}

// Clones returns n copies of proto for CreateUsersDirect, the i-th named by name(i):
// its username, e-mail and the extern_uid of its first identity. A custom attribute
// that held proto's e-mail holds the copy's. Seeding copies of a user that SCIM
// created gives a large directory of users carrying exactly SCIM's durable marks.
func Clones(proto UserState, n int, name func(i int) (username, email, externUID string)) []UserState {
	out := make([]UserState, n)
	for i := range out {
		u := proto.clone()
		u.ID = 0
		var ext string
		u.Username, u.Email, ext = name(i)
		u.Emails = nil
		if len(u.Identities) > 0 {
			u.Identities[0].ExternUID = ext
		}
		for k, v := range u.CustomAttributes {
			if strings.EqualFold(v, proto.Email) {
				u.CustomAttributes[k] = u.Email
			}
		}
		out[i] = u
	}
	return out
}
