package gitlab

import (
	"strconv"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapters/adaptertest"
	"github.com/caddy-scim/caddy-scim/adapters/adaptertest/roundtrip"
	"github.com/caddy-scim/caddy-scim/integration/gitlabemu"
)

func TestConformance(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	adaptertest.Run(t, adaptertest.Harness{
		Adapter: e.a,
		MakeUnmanaged: func(t *testing.T, username, email string) string {
			u, err := e.emu.CreateUserDirect(gitlabemu.UserState{Username: username, Email: email, Name: username})
			if err != nil {
				t.Fatalf("CreateUserDirect: %v", err)
			}
			return strconv.Itoa(u.ID)
		},
		Admin: func(t *testing.T) (string, string) {
			u, _ := e.emu.CreateUserDirect(gitlabemu.UserState{Username: "ctadmin", Email: "ctadmin@example.com", Admin: true})
			return strconv.Itoa(u.ID), u.Username
		},
		BlockByHand: func(t *testing.T, id string) {
			if code, b := e.api(t, "POST", "/users/"+id+"/block", nil); code != 201 {
				t.Fatalf("blocking by hand: %d %s", code, b)
			}
		},
		Upstream: adaptertest.Upstream{
			UserExists: func(t *testing.T, id string) bool {
				_, ok := e.emu.User(atoi(t, id))
				return ok
			},
		},
	})
}

// TestRoundTrip: every attribute /Schemas advertises for GitLab round-trips exactly
// through POST, PUT and the PATCH forms of Okta and Entra.
func TestRoundTrip(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	roundtrip.Run(t, e.a)
}
