package integration_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// bulkOps is a BulkRequest body.
func bulkOps(failOnErrors int, ops ...string) string {
	return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"failOnErrors":%d,"Operations":[%s]}`, failOnErrors, strings.Join(ops, ","))
}

func bulkUserOp(bulkID, login string) string {
	return fmt.Sprintf(`{"method":"POST","path":"/Users","bulkId":%q,"data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"externalId":"ext-%s","emails":[{"value":%q,"primary":true,"type":"work"}],"name":{"givenName":"Bulk","familyName":"User"},"active":true}}`,
		bulkID, login, login, login)
}

// bulkStatuses returns the operations' statuses and locations' ids, in order.
func bulkStatuses(t *testing.T, r resp) (statuses, ids []string) {
	t.Helper()
	ops, _ := r.JSON["Operations"].([]any)
	for _, o := range ops {
		m := o.(map[string]any)
		statuses = append(statuses, str(m, "status"))
		loc := str(m, "location")
		ids = append(ids, loc[strings.LastIndex(loc, "/")+1:])
	}
	return statuses, ids
}

// TestBulkThroughCaddy (#16): /Bulk through a real Caddy, on Gitea (teams) and on the
// GitLab emulator (groups): a group POSTed before the users it lists (bulkId), in one
// request, lands with exactly those members; failOnErrors stops at the first error
// and nothing after it is done; maxOperations and maxPayloadSize are advertised and
// enforced (413).
func TestBulkThroughCaddy(t *testing.T) {
	const limits = "bulk_max_operations 5\nmax_body_size 64KiB"
	type target struct {
		e       *env
		members func(t *testing.T, gid string) []string
	}
	targets := map[string]func(t *testing.T) target{
		"gitea": func(t *testing.T) target {
			ge := startGroups(t, limits)
			return target{ge.env, ge.members}
		},
		"gitlab": func(t *testing.T) target {
			b := newGitLab(t)
			return target{start(t, b, limits, ""), func(t *testing.T, gid string) []string { return gitlabMembers(t, b, gid) }}
		},
	}
	for _, name := range []string{"gitea", "gitlab"} {
		t.Run(name, func(t *testing.T) {
			tg := targets[name](t)
			e := tg.e
			spc := e.c.do("GET", "/ServiceProviderConfig", nil).want(t, 200).JSON["bulk"].(map[string]any)
			if spc["supported"] != true || spc["maxOperations"] != float64(5) || spc["maxPayloadSize"] != float64(64<<10) {
				t.Fatalf("bulk in /ServiceProviderConfig: %v", spc)
			}
			run := testenv.UniqueName("bulk")
			u1, u2 := run+"-1@example.com", run+"-2@example.com"
			r := e.c.do("POST", "/Bulk", bulkOps(0,
				`{"method":"POST","path":"/Groups","bulkId":"g","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Bulk `+run+`","members":[{"value":"bulkId:u1"},{"value":"bulkId:u2"}]}}`,
				bulkUserOp("u1", u1), bulkUserOp("u2", u2))).want(t, 200)
			st, ids := bulkStatuses(t, r)
			if strings.Join(st, " ") != "201 201 201" {
				t.Fatalf("statuses %v: %s", st, r.Body)
			}
			gid := ids[0]
			want := []string{ids[1], ids[2]}
			sortIDs(want)
			if got := tg.members(t, gid); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("the group's members upstream: %v, want %v", got, want)
			}
			if got := resources(t, e.c.do("GET", "/Users?"+filterQuery(`userName eq "`+u1+`"`), nil).want(t, 200)); len(got) != 1 || str(got[0], "id") != ids[1] {
				t.Fatalf("user 1: %v", got)
			}

			// failOnErrors 1: a duplicate userName (409) stops the bulk; the user after it
			// is not created
			u3 := run + "-3@example.com"
			before := e.up.count(t)
			r = e.c.do("POST", "/Bulk", bulkOps(1, bulkUserOp("again", u1), bulkUserOp("u3", u3))).want(t, 200)
			if st, _ := bulkStatuses(t, r); strings.Join(st, " ") != "409" {
				t.Fatalf("failOnErrors 1 answered %v: %s", st, r.Body)
			}
			if n := e.up.count(t); n != before {
				t.Fatalf("the upstream has %d new users after a stopped bulk", n-before)
			}
			// without failOnErrors the rest runs
			r = e.c.do("POST", "/Bulk", bulkOps(0, bulkUserOp("again", u1), bulkUserOp("u3", u3),
				`{"method":"PATCH","path":"/Groups/`+gid+`","data":{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"`+ids[1]+`\"]"}]}}`)).want(t, 200)
			if st, _ := bulkStatuses(t, r); strings.Join(st, " ") != "409 201 204" && strings.Join(st, " ") != "409 201 200" {
				t.Fatalf("without failOnErrors: %v: %s", st, r.Body)
			}
			if got := tg.members(t, gid); strings.Join(got, ",") != ids[2] {
				t.Fatalf("members after the PATCH: %v, want [%s]", got, ids[2])
			}

			// the limits
			var six []string
			for i := range 6 {
				six = append(six, bulkUserOp(fmt.Sprint("s", i), fmt.Sprintf("%s-s%d@example.com", run, i)))
			}
			e.c.do("POST", "/Bulk", bulkOps(0, six...)).wantError(t, 413, "")
			e.c.do("POST", "/Bulk", bulkOps(0, bulkUserOp("big", strings.Repeat("x", 70<<10)+"@example.com"))).wantError(t, 413, "")
			if n := e.up.count(t); n != before+1 {
				t.Fatalf("the upstream has %d new users, want 1 (u3): refused bulks did something", n-before)
			}
		})
	}
}
