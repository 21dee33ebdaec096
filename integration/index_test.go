package integration_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// indexGauge reads caddy_scim_link_index_complete from Caddy's /metrics (-1: absent).
func indexGauge(t *testing.T, e *env) int {
	t.Helper()
	if v, ok := metricValue(t, e, "caddy_scim_link_index_complete"); ok {
		return v
	}
	return -1
}

// waitFor polls cond for up to a minute (the first rebuild scans the shared upstream).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dropKeys deletes every key of the prefix: Redis lost the links (and the mark).
func dropKeys(t *testing.T, c redis.UniversalClient, prefix string) {
	t.Helper()
	ctx := context.Background()
	keys, err := c.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		c.Del(ctx, k)
	}
}

// TestLinkIndex: with the Redis link index complete, a POST of a new identity costs
// the upstream only its create; losing the links (and the mark with them) never
// costs correctness: a deleted user is still reactivated by externalId under a new
// userName and e-mail, and the index is rebuilt from the upstream; a mark of a past
// Redis epoch is dropped and rebuilt too. Runs on both upstreams.
func TestLinkIndex(t *testing.T) {
	rc := redis.NewClient(&redis.Options{Addr: testenv.Redis(t).Addr})
	defer rc.Close()
	for _, b := range backends(t) {
		t.Run(b.name(), func(t *testing.T) {
			if !keepsOf(b).record {
				t.Skipf("%s keeps no record of SCIM's: the link store is the record, not an index rebuilt from it (TestTinyAppStoreIsTheRecord)", b.name())
			}
			prefix := testenv.UniqueName("ix") + ":"
			e := start(t, b, fmt.Sprintf("redis %s {\n\tprefix %s\n}", testenv.Redis(t).Addr, prefix), "")
			off := start(t, b, fmt.Sprintf("redis %s {\n\tprefix %s\n\tindex off\n}", testenv.Redis(t).Addr, testenv.UniqueName("noix")+":"), "")
			if g := indexGauge(t, off); g != -1 {
				t.Fatalf("index off still exports the gauge (%d)", g)
			}
			waitFor(t, "the index to be complete", func() bool { return indexGauge(t, e) == 1 })
			if !strings.Contains(e.caddy.Logs(), "link index rebuilt from the upstream") {
				t.Fatal("no rebuild logged")
			}

			// the cost of a new identity, with and without the index
			cost := func(e *env, login string) (int, string) {
				before := upstreamCalls(t, e)
				id := str(e.c.do("POST", "/Users", oktaUser(login, "00u"+testenv.UniqueName(""))).want(t, 201).JSON, "id")
				return upstreamCalls(t, e) - before, id
			}
			withIndex, _ := cost(e, testenv.UniqueName("fast")+"@example.com")
			without, _ := cost(off, testenv.UniqueName("slow")+"@example.com")
			t.Logf("upstream calls for a new identity: %d with the index, %d without", withIndex, without)
			if withIndex >= without {
				t.Fatalf("the index saved nothing: %d calls with it, %d without", withIndex, without)
			}
			if b.name() == "gitea" && withIndex != 1 {
				t.Fatalf("a new identity cost Gitea %d calls with the index, want 1 (the create)", withIndex)
			}

			// Entra's GET before the POST, when externalId is its matching attribute:
			// the index answers a miss without the upstream.
			missCost := func(e *env) int {
				before := upstreamCalls(t, e)
				r := e.c.do("GET", "/Users?"+filterQuery(`externalId eq "`+testenv.UniqueName("nobody")+`"`), nil).want(t, 200)
				if n := len(resources(t, r)); n != 0 {
					t.Fatalf("an unknown externalId found %d users", n)
				}
				return upstreamCalls(t, e) - before
			}
			if with, without := missCost(e), missCost(off); with != 0 || without == 0 {
				t.Fatalf("upstream calls for an unknown externalId: %d with the index (want 0), %d without (want > 0)", with, without)
			}

			// A user the index knows, then SCIM-deleted; Redis loses everything.
			login := testenv.UniqueName("ix") + "@example.com"
			ext := "00u" + testenv.UniqueName("")
			id := str(e.c.do("POST", "/Users", oktaUser(login, ext)).want(t, 201).JSON, "id")
			e.c.do("DELETE", "/Users/"+id, nil).want(t, 204)
			dropKeys(t, rc, prefix)
			login2 := testenv.UniqueName("ix2") + "@example.com"
			if r := e.c.do("POST", "/Users", oktaUser(login2, ext)).want(t, 201); str(r.JSON, "id") != id {
				t.Fatalf("after Redis lost the index, a POST of the deleted user's externalId made id %s, want the same account %s", str(r.JSON, "id"), id)
			}
			waitFor(t, "a second rebuild", func() bool {
				return strings.Count(e.caddy.Logs(), "link index rebuilt from the upstream") >= 2 && indexGauge(t, e) == 1
			})
			ctx := context.Background()
			if n, _ := rc.Exists(ctx, prefix+"ext:"+ext).Result(); n != 1 {
				t.Fatal("the rebuild did not restore the link of the reactivated user")
			}
			e.c.do("DELETE", "/Users/"+id, nil).want(t, 204)
			login3 := testenv.UniqueName("ix3") + "@example.com"
			if r := e.c.do("POST", "/Users", oktaUser(login3, ext)).want(t, 201); str(r.JSON, "id") != id {
				t.Fatalf("through the rebuilt index, a POST of the deleted user's externalId made id %s, want %s", str(r.JSON, "id"), id)
			}

			// A mark from another Redis epoch (a restart from an old dump) is dropped.
			rc.Set(ctx, prefix+"index", "complete:some-old-run-id", 0)
			e.c.do("POST", "/Users", oktaUser(testenv.UniqueName("ix4")+"@example.com", "00u"+testenv.UniqueName(""))).want(t, 201)
			waitFor(t, "the stale mark to be dropped and rebuilt", func() bool {
				return strings.Contains(e.caddy.Logs(), "link index dropped") && indexGauge(t, e) == 1 &&
					strings.HasPrefix(rc.Get(ctx, prefix+"index").Val(), "complete:") && rc.Get(ctx, prefix+"index").Val() != "complete:some-old-run-id"
			})
		})
	}
}
