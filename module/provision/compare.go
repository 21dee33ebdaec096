package provision

import (
	"encoding/json"

	"github.com/caddy-scim/caddy-scim/module/scim"
)

// sameUser reports whether two users render identically (password aside), so that a
// PATCH that changes nothing costs no upstream write.
func sameUser(a, b *scim.User) bool {
	if b.Password != "" {
		return false
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
