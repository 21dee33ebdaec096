package links

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Index is implemented by stores that can vouch for their own completeness: after a
// rebuild has written a link for every managed upstream user and marked the index
// complete, a miss proves that an identity is new, so a POST can skip the upstream
// lookups that would otherwise prove it (on Gitea, five calls that each scan the
// user table).
//
// The mark is only as good as the store's memory, so it is dropped whenever that
// memory may have lost a link: the Redis server restarted or failed over (its run_id
// changed), a write of this process was dropped during an outage, or the data was
// flushed (the mark goes with it). Without the mark, every lookup goes to the
// upstream as before: the index saves calls, the upstream stays the truth.
type Index interface {
	// ProveNew reports, in one round trip, whether the index is complete (as
	// verified by this process for the current server epoch) and holds no link
	// for externalID (when not empty) nor for userName.
	ProveNew(ctx context.Context, externalID, userName string) (bool, error)
	// IndexState reads the mark ("" when absent or not complete), the current
	// epoch of the servers, and the connection generation read before both.
	IndexState(ctx context.Context) (IndexState, error)
	// Verified tells the store that the mark of st matched its epoch, so that
	// ProveNew may trust it until the generation or the mark changes.
	Verified(st IndexState)
	// Unverify makes ProveNew answer false until the next Verified.
	Unverify()
	// BeginRebuild replaces the mark with a "building" token and returns it;
	// Invalidate (from anywhere) during the rebuild makes CompleteRebuild fail.
	BeginRebuild(ctx context.Context) (token string, err error)
	// PutAll writes links in pipelined batches.
	PutAll(ctx context.Context, ls []Link) error
	// SwapAll is Swap for many links at once (pipelined / one transaction per batch):
	// olds[i] is what the caller read for ls[i] (zero Link: none). It returns how many
	// were written; the others were changed meanwhile and are left as they are.
	SwapAll(ctx context.Context, olds, ls []Link) (written int, err error)
	// CompleteRebuild marks the index complete for epoch if the mark still holds
	// token; ok=false when it was invalidated meanwhile.
	CompleteRebuild(ctx context.Context, token, epoch string) (ok bool, err error)
	// Invalidate drops the mark.
	Invalidate(ctx context.Context) error
	// Changed is signalled when ProveNew cannot trust the mark (a server not seen
	// before, a mark that changed), so that the maintainer re-checks at once.
	Changed() <-chan struct{}
	// PageLinks returns the links at [offset, offset+limit) of the visible users
	// (managed, not DELETEd) in ascending upstream id order, and how many there
	// are; ok=false when the index cannot be trusted now. A returned link may be
	// stale: the caller re-reads each user upstream.
	PageLinks(ctx context.Context, offset, limit int) (ls []Link, total int, ok bool, err error)
	// Visible reports which of ids the index holds as visible users; ok=false
	// when the index cannot be trusted now.
	Visible(ctx context.Context, ids []string) (known map[string]bool, ok bool, err error)
	// Intend records, for ttl, that a user with externalID and userName is being
	// created, before the upstream create: if the process dies after the upstream
	// committed it and before its link is written, ProveNew no longer answers that
	// the identity is new, so lookups ask the upstream, find it, and write its link.
	// A link written meanwhile replaces the intent.
	Intend(ctx context.Context, externalID, userName string, ttl time.Duration) error
}

// IndexState is a snapshot of the completeness mark.
type IndexState struct {
	Mark       string // the epoch the index was completed for; "" when not complete
	Epoch      string // the servers' current epoch
	Generation int64  // ConnWatcher generation, read before Mark and Epoch
	// Evicting is set when the server may evict keys without a TTL
	// (maxmemory-policy allkeys-*): the index must then never be trusted.
	Evicting bool
}

const (
	markComplete = "complete:"
	markBuilding = "building:"
)

// indexState is the part of Redis that serves Index.
type indexState struct {
	gen      func() int64 // connection generation of the client; nil: none counted
	verified atomic.Pointer[verification]
	changed  chan struct{}
}

type verification struct {
	mark string
	gen  int64
}

// EnableIndex turns on the completeness index: from now on links are written without
// a TTL (an expiring link would make the index incomplete), and Index is served.
// connGen is a counter that grows when the client connects to a server it has not
// seen before (ConnWatcher.Generation): a restart or failover shows up that way, and
// ProveNew then answers false until the maintainer has compared the servers' run_ids
// with the mark again.
func (r *Redis) EnableIndex(connGen func() int64) {
	r.ix = &indexState{gen: connGen, changed: make(chan struct{}, 1)}
}

// Indexed reports whether EnableIndex was called.
func (r *Redis) Indexed() bool { return r.ix != nil }

func (r *Redis) markKey() string { return r.prefix + "index" }

func (r *Redis) generation() int64 {
	if r.ix == nil || r.ix.gen == nil {
		return 0
	}
	return r.ix.gen()
}

// ProveNew implements Index.
func (r *Redis) ProveNew(ctx context.Context, externalID, userName string) (bool, error) {
	if r.ix == nil {
		return false, nil
	}
	v := r.trustedOrKick()
	if v == nil {
		return false, nil
	}
	r.rt.Add(1)
	var mark, ext, un *redis.StringCmd
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		mark = p.Get(ctx, r.markKey())
		if externalID != "" {
			ext = p.Get(ctx, r.extKey(externalID))
		}
		if userName != "" {
			un = p.Get(ctx, r.unKey(userName))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, redisErr("prove new", err)
	}
	if !r.stillComplete(v, mark) {
		return false, nil
	}
	for _, c := range []*redis.StringCmd{ext, un} {
		if c != nil && !errors.Is(c.Err(), redis.Nil) {
			return false, nil // a link (or an error on that key): not provably new
		}
	}
	return true, nil
}

// IndexState implements Index.
func (r *Redis) IndexState(ctx context.Context) (IndexState, error) {
	st := IndexState{Generation: r.generation()}
	r.rt.Add(1)
	m, err := r.c.Get(ctx, r.markKey()).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return st, redisErr("index mark", err)
	}
	if v, ok := strings.CutPrefix(m, markComplete); ok {
		st.Mark = v
	}
	var ids []string
	var mu sync.Mutex
	info := func(ctx context.Context, c *redis.Client) error {
		r.rt.Add(1)
		s, err := c.Info(ctx, "server", "memory").Result()
		if err != nil {
			return err
		}
		id, policy := infoField(s, "run_id"), infoField(s, "maxmemory_policy")
		if id == "" {
			return fmt.Errorf("no run_id in INFO")
		}
		mu.Lock()
		ids = append(ids, id)
		if strings.HasPrefix(policy, "allkeys-") && infoField(s, "maxmemory") != "0" {
			st.Evicting = true
		}
		mu.Unlock()
		return nil
	}
	switch c := r.c.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, info)
	case *redis.Client:
		err = info(ctx, c)
	default:
		err = fmt.Errorf("unsupported client %T", r.c)
	}
	if err != nil {
		return st, redisErr("index epoch", err)
	}
	slices.Sort(ids)
	st.Epoch = strings.Join(ids, ",")
	return st, nil
}

// infoField reads "name:value" from an INFO answer.
func infoField(info, name string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// trusted returns the verification ProveNew may rely on: nil when there is none, or
// when the client has since reached a server it had not seen.
func (r *Redis) trusted() *verification {
	if r.ix == nil {
		return nil
	}
	v := r.ix.verified.Load()
	if v == nil || v.gen != r.generation() {
		return nil
	}
	return v
}

// trustedOrKick is trusted that, when there is no verification to rely on, asks the
// maintainer to check at once.
func (r *Redis) trustedOrKick() *verification {
	v := r.trusted()
	if v == nil {
		r.kick()
	}
	return v
}

// stillComplete reports whether the mark read in the same pipeline as an index
// answer is still the one v verified; if not, it drops the verification and asks
// the maintainer to check at once (the answer must not be used).
func (r *Redis) stillComplete(v *verification, mark *redis.StringCmd) bool {
	if mark.Val() == markComplete+v.mark {
		return true
	}
	r.Unverify()
	r.kick()
	return false
}

// Trusted reports whether ProveNew would consult the index now (for a gauge).
func (r *Redis) Trusted() bool { return r.trusted() != nil }

// Verified implements Index.
func (r *Redis) Verified(st IndexState) {
	if r.ix == nil || st.Mark == "" || st.Mark != st.Epoch || st.Evicting {
		return
	}
	r.ix.verified.Store(&verification{mark: st.Mark, gen: st.Generation})
}

// Unverify implements Index.
func (r *Redis) Unverify() {
	if r.ix != nil {
		r.ix.verified.Store(nil)
	}
}

func (r *Redis) kick() {
	if r.ix == nil {
		return
	}
	select {
	case r.ix.changed <- struct{}{}:
	default:
	}
}

// Changed implements Index.
func (r *Redis) Changed() <-chan struct{} {
	if r.ix == nil {
		return nil
	}
	return r.ix.changed
}

// BeginRebuild implements Index.
func (r *Redis) BeginRebuild(ctx context.Context) (string, error) {
	tok, err := lockToken()
	if err != nil {
		return "", err
	}
	r.Unverify()
	r.rt.Add(1)
	// the order starts afresh: the rebuild re-adds every visible id, and writes
	// that run meanwhile add their own
	_, err = r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, r.markKey(), markBuilding+tok, 0)
		p.Del(ctx, r.orderKey())
		return nil
	})
	return tok, redisErr("index begin", err)
}

// PutAll implements Index: batches of 500 links, one pipeline each.
func (r *Redis) PutAll(ctx context.Context, ls []Link) error {
	for batch := range slices.Chunk(ls, 500) {
		r.rt.Add(1)
		_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, l := range batch {
				if err := r.queuePut(ctx, p, l); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return redisErr("put all", err)
		}
	}
	return nil
}

// SwapAll implements Index: batches of 500 links, two pipelines each (see swapBatch).
func (r *Redis) SwapAll(ctx context.Context, olds, ls []Link) (int, error) {
	if err := checkSwapAll(olds, ls); err != nil {
		return 0, err
	}
	written := 0
	for start := 0; start < len(ls); start += 500 {
		end := min(start+500, len(ls))
		n, err := r.swapBatch(ctx, olds[start:end], ls[start:end])
		written += n
		if err != nil {
			return written, redisErr("swap all", err)
		}
	}
	return written, nil
}

// checkSwapAll refuses old links that do not pair with the links.
func checkSwapAll(olds, ls []Link) error {
	if len(olds) != len(ls) {
		return fmt.Errorf("links: swap all: %d old links for %d links", len(olds), len(ls))
	}
	return nil
}

// completeScript turns "building:<token>" into "complete:<epoch>", and nothing else:
// an Invalidate during the rebuild deleted the token. One key: Cluster-safe.
var completeScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then redis.call("SET", KEYS[1], ARGV[2]) return 1 end return 0`)

// CompleteRebuild implements Index.
func (r *Redis) CompleteRebuild(ctx context.Context, token, epoch string) (bool, error) {
	r.rt.Add(1)
	n, err := completeScript.Run(ctx, r.c, []string{r.markKey()}, markBuilding+token, markComplete+epoch).Int()
	if err != nil {
		return false, redisErr("index complete", err)
	}
	return n == 1, nil
}

// intentValue is what an intent keeps under the index keys: JSON without an id,
// which every reader takes for a miss and ProveNew for a holder.
const intentValue = `{"pending":true}`

// Intend implements Index in one round trip; an existing entry is left alone.
func (r *Redis) Intend(ctx context.Context, externalID, userName string, ttl time.Duration) error {
	if r.ix == nil {
		return nil
	}
	r.rt.Add(1)
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		if externalID != "" {
			p.SetNX(ctx, r.extKey(externalID), intentValue, ttl)
		}
		if userName != "" {
			p.SetNX(ctx, r.unKey(userName), intentValue, ttl)
		}
		return nil
	})
	return redisErr("intend", err)
}

// Invalidate implements Index.
func (r *Redis) Invalidate(ctx context.Context) error {
	r.Unverify()
	r.rt.Add(1)
	return redisErr("index invalidate", r.c.Del(ctx, r.markKey()).Err())
}

var _ Index = (*Redis)(nil)

// ConnWatcher tells the index when the client reaches a Redis server it has not seen
// before (a restarted or promoted one has a new run_id), without mistaking the pool's
// ordinary new connections for one: its OnConnect asks each new connection for the
// server's run_id (one round trip per connection, not per request).
type ConnWatcher struct {
	mu   sync.Mutex
	seen map[string]bool
	gen  atomic.Int64
}

// OnConnect is a go-redis Options.OnConnect hook. It never fails the connection.
func (w *ConnWatcher) OnConnect(ctx context.Context, cn *redis.Conn) error {
	info, err := cn.Info(ctx, "server").Result()
	id := infoField(info, "run_id")
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil || id == "" {
		w.gen.Add(1) // cannot tell: assume a new server
		return nil
	}
	if !w.seen[id] {
		if w.seen == nil {
			w.seen = map[string]bool{}
		}
		w.seen[id] = true
		w.gen.Add(1)
	}
	return nil
}

// Generation counts the servers seen (and connections that could not tell); pass it
// to EnableIndex.
func (w *ConnWatcher) Generation() int64 { return w.gen.Load() }

// Index phases reported by Phase.
const (
	PhaseOff        = "off"        // the index is disabled
	PhaseComplete   = "complete"   // trusted: POSTs of new identities skip the upstream lookups
	PhaseUnverified = "unverified" // marked complete, not yet checked against this server epoch
	PhaseRebuilding = "rebuilding" // an instance is rebuilding it from the upstream
	PhaseIncomplete = "incomplete" // no mark: a rebuild will follow
)

// Phase reads the index's mark in one round trip (which also proves Redis reachable)
// and tells where the index stands, for health checks and the activity page.
func (r *Redis) Phase(ctx context.Context) (string, error) {
	r.rt.Add(1)
	m, err := r.c.Get(ctx, r.markKey()).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", redisErr("index mark", err)
	}
	if r.ix == nil {
		return PhaseOff, nil
	}
	return phaseOf(m, r.Trusted()), nil
}

// phaseOf tells the phase of an index from its mark and whether this process
// trusts it.
func phaseOf(mark string, trusted bool) string {
	switch {
	case strings.HasPrefix(mark, markComplete) && trusted:
		return PhaseComplete
	case strings.HasPrefix(mark, markComplete):
		return PhaseUnverified
	case strings.HasPrefix(mark, markBuilding):
		return PhaseRebuilding
	}
	return PhaseIncomplete
}
