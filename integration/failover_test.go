package integration_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// identity is one user the IdP provisioned, and the state it last set.
type identity struct {
	login, ext, id string
	active         bool
}

// idpWriter plays an IdP that keeps provisioning: it creates users one after the
// other and deactivates every second one, retrying what failed as IdPs do (a 5xx or
// 429 is retried, up to 8 times, 250 ms apart).
type idpWriter struct {
	e    *env
	stop chan struct{}
	done chan struct{}

	mu       sync.Mutex
	users    []*identity
	answers  map[int]int // status → count, retries included
	failures []string    // an operation that still failed after its retries
}

func startWriter(e *env, tag string) *idpWriter {
	w := &idpWriter{e: e, stop: make(chan struct{}), done: make(chan struct{}), answers: map[int]int{}}
	go func() {
		defer close(w.done)
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			u := &identity{login: fmt.Sprintf("%s-%d@example.com", tag, i), ext: fmt.Sprintf("ext-%s-%d", tag, i), active: true}
			r, ok := w.call("POST", "/Users", oktaUser(u.login, u.ext), 201)
			if !ok {
				continue
			}
			u.id = str(r.JSON, "id")
			w.mu.Lock()
			w.users = append(w.users, u)
			w.mu.Unlock()
			if i%2 == 1 {
				if _, ok := w.call("PATCH", "/Users/"+u.id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`, 200); ok {
					w.mu.Lock()
					u.active = false
					w.mu.Unlock()
				}
			}
		}
	}()
	return w
}

// call sends one operation with the IdP's retries (for a minute, waiting what
// Retry-After asks, at most 5 s: writes answer 503 while Redis fails over); ok when
// it got want.
func (w *idpWriter) call(method, path string, body any, want int) (resp, bool) {
	var r resp
	for deadline := time.Now().Add(time.Minute); ; {
		r = w.e.c.do(method, path, body)
		w.mu.Lock()
		w.answers[r.Status]++
		w.mu.Unlock()
		if r.Status == want {
			return r, true
		}
		if (r.Status < 500 && r.Status != 429) || time.Now().After(deadline) {
			break
		}
		wait := 250 * time.Millisecond
		if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err == nil && ra > 0 {
			wait = time.Duration(min(ra, 5)) * time.Second
		}
		time.Sleep(wait)
	}
	w.mu.Lock()
	w.failures = append(w.failures, fmt.Sprintf("%s %s: %d %s", method, path, r.Status, r.Body))
	w.mu.Unlock()
	return r, false
}

func (w *idpWriter) snapshot() []identity {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]identity, len(w.users))
	for i, u := range w.users {
		out[i] = *u
	}
	return out
}

func (w *idpWriter) created() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.users)
}

// finish stops the writer and returns what it provisioned.
func (w *idpWriter) finish(t *testing.T) []*identity {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	t.Logf("the IdP provisioned %d users; answers by status (retries included): %v", len(w.users), w.answers)
	for _, f := range w.failures {
		t.Errorf("failed after the IdP's retries: %s", f)
	}
	return w.users
}

// checkProvisioned is the invariant check after faults: one Gitea account per
// identity, each found by its externalId with the state the IdP last set and its
// link in Redis, and the IdP's replayed POSTs making no second account.
func checkProvisioned(t *testing.T, e *env, g giteaBackend, rc redis.UniversalClient, prefix string, users []*identity) {
	t.Helper()
	accounts := map[string]int{}
	for _, u := range g.g.AdminListUsers(t, nil) {
		accounts[u["email"].(string)]++
	}
	ctx := context.Background()
	// the links first: a lookup below would write a missing one again
	for _, u := range users {
		if rc == nil {
			break
		}
		for _, k := range []string{prefix + "ext:" + u.ext, prefix + "id:" + u.id} {
			if n, err := rc.Exists(ctx, k).Result(); err != nil || n != 1 {
				t.Errorf("%s: link key %s lost (exists=%d, %v)", u.login, k, n, err)
			}
		}
	}
	for _, u := range users {
		if n := accounts[u.login]; n != 1 {
			t.Errorf("%s: gitea has %d accounts, want 1", u.login, n)
		}
		got := resources(t, e.c.do("GET", "/Users?"+filterQuery(`externalId eq "`+u.ext+`"`), nil).want(t, 200))
		if len(got) != 1 || str(got[0], "id") != u.id || got[0]["active"] != u.active {
			t.Errorf("%s: externalId lookup found %v, want id %s active %v", u.login, got, u.id, u.active)
		}
	}
	// The IdP replays every create: an active user is a conflict, a deactivated one
	// is reactivated in place; nothing is created twice.
	before := g.count(t)
	for _, u := range users {
		r := e.c.do("POST", "/Users", oktaUser(u.login, u.ext))
		switch {
		case u.active && r.Status != 409:
			t.Errorf("%s: replayed POST of an active user answered %d, want 409: %s", u.login, r.Status, r.Body)
		case !u.active && (r.Status != 201 || str(r.JSON, "id") != u.id):
			t.Errorf("%s: replayed POST of a deactivated user answered %d %s, want 201 with id %s", u.login, r.Status, r.Body, u.id)
		}
	}
	if after := g.count(t); after != before {
		t.Errorf("the replayed POSTs created %d accounts", after-before)
	}
}

// TestRedisFailoverDuringWrites (#14): while an IdP keeps creating and deactivating
// users, the Redis master is SIGKILLed — a Sentinel failover to its replica, and a
// Cluster master lost to its replica. Writes acknowledged by the dead master may be
// missing on the replica (replication is asynchronous); the new server's run_id makes
// the plugin distrust its index and rebuild it from Gitea, so no link is lost and no
// identity gets a second account.
func TestRedisFailoverDuringWrites(t *testing.T) {
	g := giteaBackend{testenv.Gitea(t)}
	type topology struct {
		name   string
		block  func(prefix string) string
		client func() redis.UniversalClient
		kill   func(testing.TB, time.Duration) time.Duration
	}
	sentinel := func(t *testing.T) topology {
		s := testenv.RedisSentinelHA(t)
		return topology{"sentinel", func(p string) string {
			return fmt.Sprintf("redis {\n\taddress %s\n\tmaster_name %s\n\tprefix %s\n\tread_timeout 300ms\n\tdial_timeout 300ms\n}", strings.Join(s.SentinelAddrs, " "), s.MasterName, p)
		}, func() redis.UniversalClient {
			return redis.NewFailoverClient(&redis.FailoverOptions{SentinelAddrs: s.SentinelAddrs, MasterName: s.MasterName})
		}, s.KillMaster}
	}
	cluster := func(t *testing.T) topology {
		c := testenv.RedisClusterHA(t)
		addrs := append([]string(nil), c.Addrs...)
		return topology{"cluster", func(p string) string {
			return fmt.Sprintf("redis {\n\taddress %s\n\tprefix %s\n\tread_timeout 300ms\n\tdial_timeout 300ms\n}", strings.Join(addrs, " "), p)
		}, func() redis.UniversalClient {
			return redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs[1:]})
		}, c.KillMaster}
	}
	for _, mk := range []func(*testing.T) topology{sentinel, cluster} {
		topo := mk(t)
		t.Run(topo.name, func(t *testing.T) {
			prefix := testenv.UniqueName("fo") + ":"
			e := start(t, g, topo.block(prefix), "")
			waitFor(t, "the index to be complete", func() bool { return indexGauge(t, e) == 1 })
			if n := strings.Count(e.caddy.Logs(), "link index rebuilt from the upstream"); n != 1 {
				t.Fatalf("%d rebuilds logged before the failover, want 1", n)
			}
			w := startWriter(e, testenv.UniqueName(topo.name))
			waitFor(t, "the IdP's first creates", func() bool { return w.created() >= 5 })
			before := w.created()
			killed := time.Now()
			took := topo.kill(t, 2*time.Second)
			rc := topo.client()
			defer rc.Close()
			lost := 0 // links the promoted replica lacks (before the plugin rebuilds them)
			for _, u := range w.snapshot() {
				if n, _ := rc.Exists(context.Background(), prefix+"ext:"+u.ext).Result(); n == 0 {
					lost++
				}
			}
			waitFor(t, "creates after the failover", func() bool { return w.created() >= before+10 })
			users := w.finish(t)
			t.Logf("%s: the master was killed after %d creates, its replica stalled for 2 s before; failover took %s; the new master lacked %d links", topo.name, before, took.Round(time.Millisecond), lost)
			// the new server's run_id must have made the index be rebuilt, not trusted
			rebuilt := func() int { return strings.Count(e.caddy.Logs(), "link index rebuilt from the upstream") }
			for deadline := time.Now().Add(time.Minute); rebuilt() < 2 || indexGauge(t, e) != 1; time.Sleep(100 * time.Millisecond) {
				if time.Now().After(deadline) {
					var lines []string
					for _, l := range strings.Split(e.caddy.Logs(), "\n") {
						if strings.Contains(l, "link index") || strings.Contains(l, "link store") {
							lines = append(lines, l)
						}
					}
					t.Fatalf("the index was not rebuilt within a minute of the failover; what Caddy logged of it:\n%s", strings.Join(lines, "\n"))
				}
			}
			t.Logf("%s: links trusted again %s after the kill", topo.name, time.Since(killed).Round(100*time.Millisecond))
			checkProvisioned(t, e, g, rc, prefix, users)
		})
	}
}
