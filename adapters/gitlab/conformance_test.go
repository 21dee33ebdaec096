package gitlab

import (
	"strconv"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapters/adaptertest"
	"github.com/caddy-scim/caddy-scim/integration/gitlabemu"
)

func TestConformance(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	makeUser := func(admin bool) func(t *testing.T, username, email string) string {
		return func(t *testing.T, username, email string) string {
			u, err := e.emu.CreateUserDirect(gitlabemu.UserState{Username: username, Email: email, Name: username, Admin: admin})
			if err != nil {
				t.Fatalf("CreateUserDirect: %v", err)
			}
			return strconv.Itoa(u.ID)
		}
	}
	adaptertest.Run(t, adaptertest.Harness{
		Adapter:       e.a,
		MakeUnmanaged: makeUser(false),
		MakeAdmin:     makeUser(true),
		Upstream: adaptertest.Upstream{
			UserExists: func(t *testing.T, id string) bool {
				_, ok := e.emu.User(atoi(t, id))
				return ok
			},
		},
	})
}
