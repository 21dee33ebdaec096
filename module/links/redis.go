package links

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	json "github.com/segmentio/encoding/json"
)

// DefaultRedisTTL is the lifetime of every key the Redis store writes when NewRedis is
// given no TTL. Links are a cache rebuilt from the upstream, so expiry only costs a
// lookup, and it bounds what a stale entry can cost.
const DefaultRedisTTL = 24 * time.Hour

// Redis is the link store shared by several Caddy instances. It works over any
// redis.UniversalClient: a single node, a Cluster or a Sentinel-managed master.
//
// Keys (every one with the store's TTL, except the links and the mark when the
// completeness index is on; see EnableIndex):
//
//	<prefix>ext:<externalId>       → compact JSON of Link
//	<prefix>un:<lower(userName)>   → compact JSON of Link
//	<prefix>id:<id>                → compact JSON of Link
//	<prefix>lock:<key>             → random token of the lock holder
//	<prefix>fence:<key>            → fencing counter (LockFenced only)
//	<prefix>index                  → "complete:<run_ids>" or "building:<token>"
//	<prefix>order                  → sorted set of the visible ids (index on; order.go)
//
// No command touches two keys, so nothing needs the keys in one Cluster slot.
// Index entries are written blindly by Put and never checked against the link on read:
// a stale one resolves to an id whose upstream record the caller re-verifies anyway,
// and it expires. That keeps every warm lookup to one round trip. Swap compares the
// id key atomically (a script) and writes the index entries after it (swapBatch).
type Redis struct {
	c      redis.UniversalClient
	prefix string
	ttl    time.Duration
	// persist: links never expire (the store is the record), index or not
	persist bool
	rt      atomic.Int64
	ix      *indexState // nil unless EnableIndex
}

// NewRedis returns a store over c. Keys start with prefix (used as given; the Caddyfile
// default is "scim:"); ttl <= 0 means DefaultRedisTTL. The store does not own c:
// closing the client is the caller's business, because it is shared across reloads.
func NewRedis(c redis.UniversalClient, prefix string, ttl time.Duration) *Redis {
	if ttl <= 0 {
		ttl = DefaultRedisTTL
	}
	return &Redis{c: c, prefix: prefix, ttl: ttl}
}

// Persist makes links never expire, with the index off too: the store is then the
// record of the identities, not a cache. Locks and intents keep their TTLs.
func (r *Redis) Persist() { r.persist = true }

// RoundTrips reports how many commands or pipelines this store has sent, for
// benchmarks and metrics. A pipeline counts once: on a Cluster go-redis sends its
// parts to their nodes in parallel, so it still costs one round trip of latency.
func (r *Redis) RoundTrips() int64 { return r.rt.Load() }

func (r *Redis) extKey(ext string) string { return r.prefix + "ext:" + ext }
func (r *Redis) unKey(un string) string   { return r.prefix + "un:" + strings.ToLower(un) }
func (r *Redis) idKey(id string) string   { return r.prefix + "id:" + id }

// getLink answers one index key: redis.Nil is a miss, not an error. Index entries hold
// the link's JSON (older entries hold just the id).
func (r *Redis) getLink(ctx context.Context, key string) (Link, bool, error) {
	r.rt.Add(1)
	v, err := r.c.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return Link{}, false, nil
	}
	if err != nil {
		return Link{}, false, redisErr("get", err)
	}
	if strings.HasPrefix(v, "{") {
		var l Link
		if json.Unmarshal([]byte(v), &l) != nil || l.ID == "" {
			return Link{}, false, nil // unreadable: a miss, the upstream has the truth
		}
		return l, true, nil
	}
	return Link{ID: v}, v != "", nil
}

// ByExternalID implements Store in one round trip.
func (r *Redis) ByExternalID(ctx context.Context, externalID string) (string, bool, error) {
	l, ok, err := r.LinkByExternalID(ctx, externalID)
	return l.ID, ok, err
}

// ByUserName implements Store in one round trip.
func (r *Redis) ByUserName(ctx context.Context, userName string) (string, bool, error) {
	l, ok, err := r.LinkByUserName(ctx, userName)
	return l.ID, ok, err
}

// LinkByExternalID implements Resolver in one round trip.
func (r *Redis) LinkByExternalID(ctx context.Context, externalID string) (Link, bool, error) {
	if externalID == "" {
		return Link{}, false, nil
	}
	return r.getLink(ctx, r.extKey(externalID))
}

// LinkByUserName implements Resolver in one round trip.
func (r *Redis) LinkByUserName(ctx context.Context, userName string) (Link, bool, error) {
	if userName == "" {
		return Link{}, false, nil
	}
	return r.getLink(ctx, r.unKey(userName))
}

// Get implements Store in one round trip.
func (r *Redis) Get(ctx context.Context, id string) (Link, bool, error) {
	if id == "" {
		return Link{}, false, nil
	}
	r.rt.Add(1)
	b, err := r.c.Get(ctx, r.idKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Link{}, false, nil
	}
	if err != nil {
		return Link{}, false, redisErr("get", err)
	}
	var l Link
	// A value we cannot read (another version wrote it, or someone edited it by hand)
	// is a miss: the upstream has the truth, and the next Put overwrites it.
	if json.Unmarshal(b, &l) != nil || l.ID != id {
		return Link{}, false, nil
	}
	return l, true, nil
}

// GetMany implements Store in one pipelined round trip (500 ids a pipeline).
func (r *Redis) GetMany(ctx context.Context, ids []string) ([]Link, error) {
	out := make([]Link, 0, len(ids))
	for batch := range slices.Chunk(ids, 500) {
		r.rt.Add(1)
		cmds := make([]*redis.StringCmd, len(batch))
		_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range batch {
				cmds[i] = p.Get(ctx, r.idKey(id))
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, redisErr("get many", err)
		}
		for i, id := range batch {
			var l Link
			if b, err := cmds[i].Bytes(); err != nil || json.Unmarshal(b, &l) != nil || l.ID != id {
				l = Link{} // a miss, or unreadable: the upstream has the truth
			}
			out = append(out, l)
		}
	}
	return out, nil
}

// Put implements Store in one pipelined round trip. It does not read the previous link
// to delete its index entries (that would cost a round trip and a race); those entries
// become stale, which costs a re-verification at most, and they expire.
func (r *Redis) Put(ctx context.Context, l Link) error {
	if l.ID == "" {
		return nil // nothing to key it by; a cache may drop what it cannot store
	}
	r.rt.Add(1)
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error { return r.queuePut(ctx, p, l) })
	return redisErr("put", err)
}

// queuePut adds the writes of one link to a pipeline.
func (r *Redis) queuePut(ctx context.Context, p redis.Pipeliner, l Link) error {
	if l.ID == "" {
		return nil
	}
	b, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("links: encoding link: %w", err)
	}
	ttl := r.linkTTL()
	p.Set(ctx, r.idKey(l.ID), b, ttl)
	// the index entries carry the whole link: a warm filter hit is one round trip
	if l.ExternalID != "" {
		p.Set(ctx, r.extKey(l.ExternalID), b, ttl)
	}
	if l.UserName != "" {
		p.Set(ctx, r.unKey(l.UserName), b, ttl)
	}
	r.queueOrder(ctx, p, l)
	return nil
}

// linkTTL is the lifetime of a link and its index entries (0: none).
func (r *Redis) linkTTL() time.Duration {
	if r.ix != nil || r.persist {
		return 0 // an expiring link would leave a hole in a complete index, or in the record
	}
	return r.ttl
}

// Swap implements Store in two round trips (the second only when it wins); see
// swapBatch.
func (r *Redis) Swap(ctx context.Context, old, l Link) (bool, error) {
	if l.ID == "" {
		return false, nil
	}
	won, err := r.swapBatch(ctx, []Link{old}, []Link{l})
	if err != nil {
		return false, redisErr("swap", err)
	}
	return won == 1, nil
}

// swapScript sets KEYS[1] to ARGV[2] (deletes it when ARGV[2] is "") only if it
// holds ARGV[1] (is absent when ARGV[1] is ""); ARGV[3] is the TTL in ms, 0 for none.
// One key: Cluster-safe.
var swapScript = redis.NewScript(`local cur = redis.call("GET", KEYS[1])
if ARGV[1] == "" then
	if cur then return 0 end
elseif cur ~= ARGV[1] then
	return 0
end
if ARGV[2] == "" then
	redis.call("DEL", KEYS[1])
elseif ARGV[3] == "0" then
	redis.call("SET", KEYS[1], ARGV[2])
else
	redis.call("SET", KEYS[1], ARGV[2], "PX", ARGV[3])
end
return 1`)

// entryScript writes the index entry KEYS[1] of a link that a Swap has just written
// (ARGV[2], id ARGV[3]; ARGV[1] is the link it replaced, "" for none; ARGV[4] the TTL
// in ms, 0 for none) as Put does, except over another link of the same id: that one
// was written since the Swap (by a Put under a write lock), and is newer. An intent or
// another id's link is replaced, as by Put. One key: Cluster-safe.
var entryScript = redis.NewScript(`local cur = redis.call("GET", KEYS[1])
if cur and cur ~= ARGV[1] and cur ~= ARGV[2] then
	local ok, v = pcall(cjson.decode, cur)
	if ok and type(v) == "table" and v.id == ARGV[3] then return 0 end
end
if ARGV[4] == "0" then
	redis.call("SET", KEYS[1], ARGV[2])
else
	redis.call("SET", KEYS[1], ARGV[2], "PX", ARGV[4])
end
return 1`)

// swapBatch is Swap for a batch of links: one pipeline compares and sets each id key
// (swapScript), then one pipeline writes the index entries and the order of those it
// won, and deletes the previous link's entries that still hold exactly that link.
// Only the id key is compared atomically (on a Cluster the other keys live in other
// slots): a Put that lands between the two pipelines keeps its index entries
// (entryScript) but may lose its order change, which readers re-verify anyway.
//
// The comparison is of the stored string with json.Marshal(old): links are always
// written by json.Marshal of Link, so equal links give equal strings; a link another
// version wrote in another encoding compares unequal, and the Swap fails (the caller
// skips it, and the next Put rewrites it).
func (r *Redis) swapBatch(ctx context.Context, olds, ls []Link) (int, error) {
	type swap struct {
		old, l           Link
		oldJSON, newJSON string
	}
	ttl := r.linkTTL().Milliseconds()
	var swaps []swap
	var calls []scriptCall
	for i, l := range ls {
		if l.ID == "" {
			continue
		}
		sw := swap{old: olds[i], l: l}
		b, err := json.Marshal(l)
		if err != nil {
			return 0, fmt.Errorf("links: encoding link: %w", err)
		}
		sw.newJSON = string(b)
		if sw.old.ID != "" {
			if b, err = json.Marshal(sw.old); err != nil {
				return 0, fmt.Errorf("links: encoding link: %w", err)
			}
			sw.oldJSON = string(b)
		}
		swaps = append(swaps, sw)
		calls = append(calls, scriptCall{swapScript, r.idKey(l.ID), []any{sw.oldJSON, sw.newJSON, ttl}})
	}
	if len(calls) == 0 {
		return 0, nil
	}
	cmds, err := r.evalPipelined(ctx, calls, nil)
	if err != nil {
		return 0, err
	}
	var won []swap
	for i, c := range cmds {
		if c.Val() == int64(1) {
			won = append(won, swaps[i])
		}
	}
	if len(won) == 0 {
		return 0, nil
	}
	calls = nil
	for _, sw := range won {
		l, old := sw.l, sw.old
		entry := []any{sw.oldJSON, sw.newJSON, l.ID, ttl}
		if l.ExternalID != "" {
			calls = append(calls, scriptCall{entryScript, r.extKey(l.ExternalID), entry})
		}
		if l.UserName != "" {
			calls = append(calls, scriptCall{entryScript, r.unKey(l.UserName), entry})
		}
		// the previous link's entries go, unless something else took them since
		drop := []any{sw.oldJSON, "", 0}
		if old.ID != "" && old.ExternalID != "" && old.ExternalID != l.ExternalID {
			calls = append(calls, scriptCall{swapScript, r.extKey(old.ExternalID), drop})
		}
		if old.ID != "" && old.UserName != "" && !strings.EqualFold(old.UserName, l.UserName) {
			calls = append(calls, scriptCall{swapScript, r.unKey(old.UserName), drop})
		}
	}
	_, err = r.evalPipelined(ctx, calls, func(p redis.Pipeliner) {
		for _, sw := range won {
			r.queueOrder(ctx, p, sw.l)
		}
	})
	return len(won), err
}

// scriptCall is one run of a one-key script.
type scriptCall struct {
	s    *redis.Script
	key  string
	args []any
}

// evalPipelined runs calls, and the commands also queues, in one pipeline, the
// scripts by their hashes; those a node did not know (first use, a restart, SCRIPT
// FLUSH) run again with EVAL in a second pipeline. It returns the scripts' commands
// in the order of calls, and the first error of any command.
func (r *Redis) evalPipelined(ctx context.Context, calls []scriptCall, also func(redis.Pipeliner)) ([]*redis.Cmd, error) {
	cmds := make([]*redis.Cmd, len(calls))
	r.rt.Add(1)
	all, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range calls {
			cmds[i] = c.s.EvalSha(ctx, p, []string{c.key}, c.args...)
		}
		if also != nil {
			also(p)
		}
		return nil
	})
	var again []int
	for i, c := range cmds {
		if noScript(c.Err()) {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		r.rt.Add(1)
		_, _ = r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, i := range again {
				c := calls[i]
				cmds[i] = c.s.Eval(ctx, p, []string{c.key}, c.args...)
			}
			return nil
		})
	}
	if len(all) < len(cmds) {
		return cmds, cmp.Or(err, errors.New("links: redis: a pipeline was not sent"))
	}
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return cmds, err
		}
	}
	for _, c := range all[len(cmds):] {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return cmds, err
		}
	}
	return cmds, nil
}

func noScript(err error) bool {
	return errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT")
}

// Forget implements Store: one GET to learn the index entries, then one pipeline of
// single-key DELs (a multi-key DEL fails with CROSSSLOT on a Cluster). An index entry
// re-pointed to another id in between may be deleted too; that only costs a lookup.
func (r *Redis) Forget(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	l, ok, err := r.Get(ctx, id)
	if err != nil {
		return err
	}
	r.rt.Add(1)
	_, err = r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, r.idKey(id))
		if ok && l.ExternalID != "" {
			p.Del(ctx, r.extKey(l.ExternalID))
		}
		if ok && l.UserName != "" {
			p.Del(ctx, r.unKey(l.UserName))
		}
		r.queueOrder(ctx, p, Link{ID: id, Deleted: true})
		return nil
	})
	return redisErr("forget", err)
}

// unlockScript deletes the lock only if it still holds our token, so a holder whose
// lock expired cannot release the next holder's lock. One key: Cluster-safe.
var unlockScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// renewScript extends the lock's TTL only if it still holds our token: a lock that
// expired or was taken by someone else is left alone. One key: Cluster-safe.
var renewScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)

// Lock implements Store with SET <prefix>lock:<key> <token> NX PX ttl: one round trip.
// A lock of less than renewBelow (a request's) is kept until released: a goroutine
// extends its TTL every ttl/3 (one round trip each), so a holder that runs longer
// than ttl does not lose it, and one that dies (its process gone) loses it within
// ttl. The extensions stop at release, or when one finds the lock no longer ours.
// Longer locks bound background work (an index rebuild, the hourly refresh, which
// drops its lock on purpose to let it expire): they are not renewed.
//
// It does not take a fencing token. The service re-checks the upstream after taking
// the lock, and that re-check is what makes creation correct; the lock only makes
// races rare. The upstream admin APIs cannot check a fencing token, so paying a second
// round trip for one would buy nothing there. LockFenced is for callers that can.
func (r *Redis) Lock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	tok, err := lockToken()
	if err != nil {
		return nil, false, err
	}
	if ttl <= 0 {
		ttl = r.ttl
	}
	lk := r.prefix + "lock:" + key
	r.rt.Add(1)
	ok, err := r.c.SetNX(ctx, lk, tok, ttl).Result()
	if err != nil {
		return nil, false, redisErr("lock", err)
	}
	if !ok {
		return nil, false, nil
	}
	return r.hold(ctx, lk, tok, ttl), true, nil
}

// LockFenced is Lock plus a fencing token: INCR <prefix>fence:<key>, taken only after
// the lock is won so that tokens grow in the order locks were granted. It costs a
// second round trip. A holder passes the token to whatever it writes; a writer that
// has seen a larger token rejects the smaller one, which protects against a holder
// that paused past its TTL. The fence key gets the store TTL, refreshed on each lock,
// so it only lives as long as the key is in use.
func (r *Redis) LockFenced(ctx context.Context, key string, ttl time.Duration) (release func(), fence int64, ok bool, err error) {
	release, ok, err = r.Lock(ctx, key, ttl)
	if err != nil || !ok {
		return nil, 0, ok, err
	}
	fk := r.prefix + "fence:" + key
	r.rt.Add(1)
	var incr *redis.IntCmd
	_, err = r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.Incr(ctx, fk)
		p.PExpire(ctx, fk, r.ttl)
		return nil
	})
	if err != nil {
		release()
		return nil, 0, false, redisErr("fence", err)
	}
	return release, incr.Val(), true, nil
}

// renewal stops the extensions of one lock.
type renewal struct {
	once sync.Once
	done chan struct{}
}

func (s *renewal) stop() { s.once.Do(func() { close(s.done) }) }

// lockHold is a lock this process holds; its release method is what Lock returns.
type lockHold struct {
	r       *Redis
	ctx     context.Context
	lk, tok string
	renewal *renewal
	once    sync.Once
}

// renewBelow: locks shorter than this are renewed while held (see Lock).
const renewBelow = time.Minute

// hold starts extending a lock just taken (when short) and returns its release.
func (r *Redis) hold(ctx context.Context, lk, tok string, ttl time.Duration) func() {
	s := &renewal{done: make(chan struct{})}
	h := &lockHold{r: r, ctx: ctx, lk: lk, tok: tok, renewal: s}
	if ttl < renewBelow {
		go r.renew(context.WithoutCancel(ctx), lk, tok, ttl, s)
	}
	return h.release
}

// renew extends the lock every ttl/3 until s stops or the lock is no longer ours. A
// failed extension (Redis unreachable) is tried again at the next tick: the lock may
// still be there, and if it expired meanwhile the token check finds it gone.
func (r *Redis) renew(ctx context.Context, lk, tok string, ttl time.Duration, s *renewal) {
	every := max(ttl/3, time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, every)
		n, err := r.eval(cctx, renewScript, lk, tok, ttl.Milliseconds()).Int()
		cancel()
		if err == nil && n == 0 {
			return // expired or taken by another holder: nothing left to keep
		}
	}
}

// release is idempotent. It runs after the request may have ended, so it keeps ctx's
// values but not its cancellation, with its own short deadline; a failed release is
// harmless because the lock expires.
func (h *lockHold) release() {
	h.once.Do(func() {
		h.renewal.stop()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(h.ctx), 5*time.Second)
		defer cancel()
		_ = h.r.eval(rctx, unlockScript, h.lk, h.tok).Err()
	})
}

// eval runs a one-key script by its hash, loading it (EVAL) on first use on a node
// (or after a restart or SCRIPT FLUSH); each attempt is one round trip.
func (r *Redis) eval(ctx context.Context, s *redis.Script, key string, args ...any) *redis.Cmd {
	r.rt.Add(1)
	c := s.EvalSha(ctx, r.c, []string{key}, args...)
	if noScript(c.Err()) {
		r.rt.Add(1)
		c = s.Eval(ctx, r.c, []string{key}, args...)
	}
	return c
}

func lockToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("links: lock token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// redisErr names the operation. go-redis errors carry addresses and server messages
// but never the password, so they are safe to log.
func redisErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("links: redis %s: %w", op, err)
}

// Each implements Exporter: SCAN over <prefix>id:* (on every master of a Cluster),
// 500 keys a step, and the links of each step in one pipeline (GetMany). SCAN may
// return a key twice; each link is passed once.
func (r *Redis) Each(ctx context.Context, f func(Link) error) error {
	idPrefix := r.idKey("")
	pattern := globEscaper.Replace(idPrefix) + "*"
	var (
		mu      sync.Mutex // f runs on one goroutine at a time (a Cluster's masters are scanned at once)
		seen    = map[string]bool{}
		stopped error
	)
	scan := func(ctx context.Context, c *redis.Client) error {
		var cursor uint64
		for {
			r.rt.Add(1)
			keys, next, err := c.Scan(ctx, cursor, pattern, 500).Result()
			if err != nil {
				return redisErr("export scan", err)
			}
			ids := make([]string, 0, len(keys))
			for _, k := range keys {
				ids = append(ids, strings.TrimPrefix(k, idPrefix))
			}
			ls, err := r.GetMany(ctx, ids)
			if err != nil {
				return err
			}
			mu.Lock()
			for _, l := range ls {
				if stopped != nil {
					break
				}
				if l.ID == "" || seen[l.ID] {
					continue // not a link (or gone since the scan), or seen already
				}
				seen[l.ID] = true
				stopped = f(l)
			}
			err = stopped
			mu.Unlock()
			if err != nil {
				return err
			}
			if next == 0 {
				return nil
			}
			cursor = next
		}
	}
	switch c := r.c.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, scan)
	case *redis.Client:
		return scan(ctx, c)
	}
	return fmt.Errorf("links: redis export: unsupported client %T", r.c)
}

// globEscaper quotes the characters SCAN MATCH treats as a pattern.
var globEscaper = strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`)

var (
	_ Store    = (*Redis)(nil)
	_ Resolver = (*Redis)(nil)
	_ Exporter = (*Redis)(nil)
)
