package integration_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// redisTopology is one way of running Redis: its Caddyfile block and a client for
// fault injection.
type redisTopology struct {
	name   string
	block  func(prefix string) string
	client func() redis.UniversalClient
}

func topologies(t *testing.T) []redisTopology {
	return []redisTopology{
		{"standalone", func(p string) string {
			return fmt.Sprintf("redis %s {\n\tprefix %s\n}", testenv.Redis(t).Addr, p)
		}, func() redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: testenv.Redis(t).Addr}) }},
		{"cluster", func(p string) string {
			return fmt.Sprintf("redis {\n\taddress %s\n\tprefix %s\n}", strings.Join(testenv.RedisCluster(t).Addrs, " "), p)
		}, func() redis.UniversalClient {
			return redis.NewClusterClient(&redis.ClusterOptions{Addrs: testenv.RedisCluster(t).Addrs})
		}},
		{"sentinel", func(p string) string {
			s := testenv.RedisSentinel(t)
			return fmt.Sprintf("redis {\n\taddress %s\n\tmaster_name %s\n\tprefix %s\n}", strings.Join(s.SentinelAddrs, " "), s.MasterName, p)
		}, func() redis.UniversalClient {
			s := testenv.RedisSentinel(t)
			return redis.NewFailoverClient(&redis.FailoverOptions{SentinelAddrs: s.SentinelAddrs, MasterName: s.MasterName})
		}},
	}
}

// Two Caddy instances sharing one Redis serve an interleaved Okta sequence
// consistently, and racing duplicate POSTs across both create one upstream user.
func TestRedisSharedByTwoInstances(t *testing.T) {
	g := giteaBackend{testenv.Gitea(t)}
	for _, topo := range topologies(t) {
		t.Run(topo.name, func(t *testing.T) {
			block := topo.block(testenv.UniqueName("scim") + ":")
			a := start(t, g, block, "")
			b := start(t, g, block, "")
			login := testenv.UniqueName("shared") + "@example.com"
			ext := "00u" + testenv.UniqueName("")
			id := str(a.c.do("POST", "/Users", oktaUser(login, ext)).want(t, 201).JSON, "id")
			found := resources(t, b.c.do("GET", "/Users?"+filterQuery(`userName eq "`+login+`"`), nil).want(t, 200))
			if len(found) != 1 || str(found[0], "id") != id {
				t.Fatalf("instance B does not see the user A created: %v", found)
			}
			deact := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`
			b.c.do("PATCH", "/Users/"+id, deact).want(t, 200)
			if r := a.c.do("GET", "/Users/"+id, nil).want(t, 200); r.JSON["active"] != false {
				t.Fatalf("A reads a stale active state: %s", r.Body)
			}
			if r := a.c.do("POST", "/Users", oktaUser(login, ext)).want(t, 201); str(r.JSON, "id") != id {
				t.Fatalf("reactivation through A gave id %s, want %s", str(r.JSON, "id"), id)
			}
			b.c.do("POST", "/Users", oktaUser(login, ext)).wantError(t, 409, "uniqueness")

			// racing duplicate POSTs, half through each instance
			race := testenv.UniqueName("race") + "@example.com"
			var wg sync.WaitGroup
			statuses := make([]int, 10)
			for i := range statuses {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := a.c
					if i%2 == 1 {
						c = b.c
					}
					statuses[i] = c.do("POST", "/Users", oktaUser(race, "ext-"+race)).Status
				}()
			}
			wg.Wait()
			created, conflicts := 0, 0
			for _, s := range statuses {
				switch s {
				case 201:
					created++
				case 409:
					conflicts++
				}
			}
			if created != 1 || conflicts != 9 {
				t.Fatalf("racing POSTs answered %v, want one 201 and nine 409", statuses)
			}
			local, _, _ := strings.Cut(race, "@")
			n := 0
			for _, u := range g.g.AdminListUsers(t, nil) {
				if strings.HasPrefix(u["login"].(string), local) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("gitea has %d users for the raced identity, want 1", n)
			}
		})
	}
}

// Redis faults: a FLUSHALL, a restart and a stall past the read timeout. Reads go on
// from the application throughout; writes answer 503 with Retry-After while Redis
// cannot serialise them (never unserialised), and work again once it answers; the
// upstream ends with exactly the users sent. Links lost with a FLUSHALL are not
// guessed back (Gitea keeps no copy of the userName): those accounts still read by
// id and by externalId.
func TestRedisFaults(t *testing.T) {
	g := giteaBackend{testenv.Gitea(t)}
	rs := testenv.RedisPrivate(t)
	e := start(t, g, fmt.Sprintf("redis %s {\n\tread_timeout 200ms\n\tdial_timeout 200ms\n}", rs.Addr), "")
	cli := redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() { cli.Close() })
	ctx := context.Background()

	type made struct{ id, login string }
	var users []made
	step := func(phase string) {
		t.Helper()
		login := testenv.UniqueName("fault") + "@example.com"
		ext := "ext-" + login
		var id string
		// the first write after an outage may still meet the guard's back-off: retry
		// as an IdP does
		waitFor(t, phase+": a create", func() bool {
			r := e.c.do("POST", "/Users", oktaUser(login, ext))
			if r.Status == 503 && r.Header.Get("Retry-After") != "" {
				return false
			}
			id = str(r.want(t, 201).JSON, "id")
			return true
		})
		users = append(users, made{id, login})
		for _, f := range []string{`userName eq "` + login + `"`, `externalId eq "` + ext + `"`} {
			if got := resources(t, e.c.do("GET", "/Users?"+filterQuery(f), nil).want(t, 200)); len(got) != 1 || str(got[0], "id") != id {
				t.Fatalf("%s: filter %s found %v", phase, f, got)
			}
		}
		e.c.do("GET", "/Users/"+id, nil).want(t, 200)
		e.c.do("PATCH", "/Users/"+id, deactivateOp).want(t, 200)
		e.c.do("POST", "/Users", oktaUser(login, ext)).want(t, 201) // reactivation
		e.c.do("POST", "/Users", oktaUser(login, ext)).wantError(t, 409, "uniqueness")
	}
	// down checks what an outage leaves: reads from the application, writes 503.
	down := func(phase string) {
		t.Helper()
		u := users[0]
		e.c.do("GET", "/Users/"+u.id, nil).want(t, 200)
		if got := resources(t, e.c.do("GET", "/Users?"+filterQuery(`externalId eq "ext-`+u.login+`"`), nil).want(t, 200)); len(got) != 1 {
			t.Fatalf("%s: a read by externalId: %v", phase, got)
		}
		for _, r := range []resp{
			e.c.do("PATCH", "/Users/"+u.id, deactivateOp),
			e.c.do("POST", "/Users", oktaUser(testenv.UniqueName("down")+"@example.com", "ext-down")),
		} {
			if r.Status != 503 || r.Header.Get("Retry-After") == "" {
				t.Fatalf("%s: a write answered %d %s (Retry-After %q), want 503", phase, r.Status, r.Body, r.Header.Get("Retry-After"))
			}
		}
	}
	step("warm")
	if err := cli.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	step("after FLUSHALL")
	for _, u := range users {
		e.c.do("GET", "/Users/"+u.id, nil).want(t, 200)
	}
	if got := resources(t, e.c.do("GET", "/Users?"+filterQuery(`userName eq "`+users[0].login+`"`), nil).want(t, 200)); len(got) != 0 {
		t.Fatalf("a link lost with FLUSHALL was guessed back from Gitea: %v", got)
	}
	rs.Stop(t)
	down("redis down")
	rs.Start(t)
	step("redis restarted")
	// a Redis slower than the read timeout: a stall of 2s from another client
	stalled := make(chan error, 1)
	go func() {
		stalled <- redis.NewClient(&redis.Options{Addr: rs.Addr, ReadTimeout: 5 * time.Second}).Do(ctx, "DEBUG", "SLEEP", "2").Err()
	}()
	time.Sleep(100 * time.Millisecond)
	e.c.do("GET", "/Users/"+users[0].id, nil).want(t, 200)
	<-stalled
	step("after the stall")

	managed := listAll(t, e.c)
	for _, u := range users {
		ok := false
		for _, m := range managed {
			ok = ok || str(m, "id") == u.id
		}
		if !ok {
			t.Fatalf("user %s missing from the list", u.id)
		}
	}
	if n := strings.Count(e.caddy.Logs(), "link store unavailable"); n < 1 || n > 3 {
		t.Fatalf("the outage warning was logged %d times, want once per outage", n)
	}
}

// Racing POSTs of one group name through two instances sharing Redis create one team.
func TestRedisRacingGroupCreates(t *testing.T) {
	g := testenv.Gitea(t)
	org := strings.ReplaceAll(testenv.UniqueName("org"), "_", "-")
	if st, _, b := g.Do(t, "POST", "/orgs", map[string]any{"username": org}); st != 201 {
		t.Fatalf("creating org %s: %d %s", org, st, b)
	}
	block := fmt.Sprintf("redis %s {\n\tprefix %s:\n}", testenv.Redis(t).Addr, testenv.UniqueName("scim"))
	a := start(t, giteaBackend{g}, block, "organization "+org+"\n")
	b := start(t, giteaBackend{g}, block, "organization "+org+"\n")
	name := "Race " + testenv.UniqueName("")
	statuses := make([]int, 8)
	var wg sync.WaitGroup
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := a.c
			if i%2 == 1 {
				c = b.c
			}
			statuses[i] = c.do("POST", "/Groups", map[string]any{"schemas": []string{groupSchema}, "displayName": name}).Status
		}()
	}
	wg.Wait()
	created := 0
	for _, s := range statuses {
		if s == 201 {
			created++
		} else if s != 409 {
			t.Fatalf("racing group POSTs answered %v", statuses)
		}
	}
	st, _, body := g.Do(t, "GET", "/orgs/"+org+"/teams?limit=50", nil)
	if st != 200 || created != 1 || strings.Count(string(body), `"description":"`+name) != 1 {
		t.Fatalf("racing group POSTs answered %v; teams: %s", statuses, body)
	}
}
