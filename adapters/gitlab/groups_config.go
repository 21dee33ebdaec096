package gitlab

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
)

// DefaultGroupAccessLevel is the access level of members added through SCIM:
// developer.
const DefaultGroupAccessLevel AccessLevel = 30

// AccessLevel is a GitLab member access level (upstreams.md §2.5). In JSON it is
// a number or one of the names accepted by ParseAccessLevel; it is written back
// as a number.
type AccessLevel int

// accessLevelNames are the levels a SCIM member may get. 0 (no access) adds
// nothing and 5 (minimal access) exists only on top-level groups of paid tiers.
var accessLevelNames = map[string]AccessLevel{
	"guest": 10, "planner": 15, "reporter": 20, "developer": 30, "maintainer": 40, "owner": 50,
}

// ParseAccessLevel reads a level name (guest, planner, reporter, developer,
// maintainer, owner; any case) or its number.
func ParseAccessLevel(s string) (AccessLevel, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	if l, ok := accessLevelNames[v]; ok {
		return l, nil
	}
	if n, err := strconv.Atoi(v); err == nil && AccessLevel(n).valid() {
		return AccessLevel(n), nil
	}
	return 0, fmt.Errorf("group_access_level must be guest, planner, reporter, developer, maintainer, owner or 10, 15, 20, 30, 40, 50; not '%s'", s)
}

func (l AccessLevel) valid() bool {
	for _, v := range accessLevelNames {
		if v == l {
			return true
		}
	}
	return false
}

// UnmarshalJSON accepts a number or a name.
func (l *AccessLevel) UnmarshalJSON(b []byte) error {
	var n int
	if err := json.Unmarshal(b, &n); err == nil {
		*l = AccessLevel(n) // checked by Validate, like the other options
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("group_access_level must be a number or a name")
	}
	v, err := ParseAccessLevel(s)
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// groupState is what group operations learn from GitLab once per adapter
// instance. It sits behind a pointer because Caddy copies the Adapter value.
type groupState struct {
	mu     sync.Mutex
	parent string // resolved parent_group reference (placeholders replaced)
	// parentID and self are 0 until looked up; a failed lookup is retried on
	// the next call.
	parentID int64
	self     int64 // the token's own user: the creator and owner of every group
	// noMemberships is set once GET /users/:id/memberships answered as an
	// unknown route (a stripped-down or proxied API); UserGroups then scans.
	noMemberships atomic.Bool
}

func (a *Adapter) provisionGroups() {
	if a.groups == nil {
		a.groups = &groupState{}
	}
	a.groups.parent = strings.TrimSpace(caddy.NewReplacer().ReplaceAll(a.ParentGroup, ""))
}

func (a *Adapter) validateGroups() error {
	if a.ParentGroup != "" {
		if err := checkParentGroup(a.groups.parent); err != nil {
			return fmt.Errorf("gitlab: %v", err)
		}
	}
	if a.GroupAccessLevel != 0 && !a.GroupAccessLevel.valid() {
		return fmt.Errorf("gitlab: group_access_level %d is not one of 10, 15, 20, 30, 40, 50", a.GroupAccessLevel)
	}
	return nil
}

// memberLevel is the access level new members get.
func (a *Adapter) memberLevel() AccessLevel {
	if a.GroupAccessLevel == 0 {
		return DefaultGroupAccessLevel
	}
	return a.GroupAccessLevel
}

// parentRefRE is a numeric id or a full path of namespace path segments.
var parentRefRE = regexp.MustCompile(`^(?:[0-9]+|[A-Za-z0-9_.][A-Za-z0-9_.\-]*(?:/[A-Za-z0-9_.][A-Za-z0-9_.\-]*)*)$`)

// checkParentGroup validates a parent_group value; placeholders are checked
// after they are resolved at provisioning.
func checkParentGroup(v string) error {
	if strings.Contains(v, "{") {
		return nil
	}
	if !parentRefRE.MatchString(v) || v == "0" {
		return fmt.Errorf("parent_group must be a GitLab group id or full path like 'acme/teams', not '%s'", v)
	}
	return nil
}
