package links

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Guard back-off bounds: the first probe comes 1s after a failure, then the wait
// doubles up to 30s, so a dead store costs one failed call per back-off, not one per
// request.
const (
	guardMinBackoff = time.Second
	guardMaxBackoff = 30 * time.Second
)

// Guard wraps s so that a failing store never slows every request, and so that its
// failures are reported once per outage instead of once per request.
//
// While s answers, calls pass through. The first call that fails opens the circuit:
// onDown(err) is called once for this outage, and for the back-off (1s, doubling on
// each failed probe up to 30s) calls do not reach s at all:
//
//   - ByExternalID, ByUserName, Get answer a miss with a nil error (the caller then
//     looks the user up at the upstream, which is the source of truth);
//   - Put and Forget do nothing and return nil, Swap returns false (a cache may drop
//     writes; entries written before the outage may be stale afterwards, and the
//     service re-verifies every link it reads);
//   - Lock fails closed: it returns an error wrapping ErrUnavailable (the service
//     answers 503 with Retry-After). A lock is what keeps two creates of one identity
//     apart, and now that the store is the record of the identity, a process-local
//     stand-in would let another instance create the same identity meanwhile.
//
// The call that fails and trips the circuit gets the same answer. When the back-off
// has passed, exactly one call (the probe) goes to s while the others keep getting the
// fallback; if it succeeds the circuit closes and onUp() is called, if it fails the
// back-off doubles. A guarded store therefore never returns an error, except from
// Lock. A call whose own context was cancelled does not count as a store failure.
// onDown and onUp may be nil; they are called without locks held, in the order of the
// transitions.
//
// How long the one failing call takes is bounded by the client's own timeouts (for
// Redis: DialTimeout, ReadTimeout, WriteTimeout and MaxRetries).
func Guard(s Store, onDown func(error), onUp func()) Store {
	return &guard{s: s, onDown: onDown, onUp: onUp, now: time.Now}
}

type guard struct {
	s      Store
	onDown func(error)
	onUp   func()
	now    func() time.Time

	mu        sync.Mutex
	dirty     bool // a Put was dropped: a complete index would have a hole
	down      bool
	probing   bool
	backoff   time.Duration
	openUntil time.Time

	cbMu sync.Mutex // keeps onDown/onUp in transition order
}

// ticket says whether a call may go to the store, and whether it is the probe.
type ticket struct {
	pass, probe bool
}

func (g *guard) enter() ticket {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.down {
		return ticket{pass: true}
	}
	if g.probing || g.now().Before(g.openUntil) {
		return ticket{}
	}
	g.probing = true
	return ticket{pass: true, probe: true}
}

// leave records the outcome of a call that went to the store and reports whether the
// caller should use the fallback answer.
func (g *guard) leave(ctx context.Context, t ticket, err error) (fallback bool) {
	if err != nil && ctx.Err() != nil {
		// The caller gave up; that says nothing about the store. A probe cut short
		// lets the next call probe.
		if t.probe {
			g.mu.Lock()
			g.probing = false
			g.mu.Unlock()
		}
		return true
	}
	var down, up bool
	g.mu.Lock()
	switch {
	case t.probe && err == nil:
		g.down, g.probing, g.backoff = false, false, 0
		up = true
	case t.probe:
		g.probing = false
		g.backoff = min(2*g.backoff, guardMaxBackoff)
		g.openUntil = g.now().Add(g.backoff)
	case err != nil && !g.down:
		g.down, g.backoff = true, guardMinBackoff
		g.openUntil = g.now().Add(g.backoff)
		down = true
	}
	// A non-probe call that started before the circuit opened changes nothing:
	// only the probe decides when the outage is over.
	g.mu.Unlock()
	if down || up {
		g.cbMu.Lock()
		if down && g.onDown != nil {
			g.onDown(err)
		}
		if up && g.onUp != nil {
			g.onUp()
		}
		g.cbMu.Unlock()
	}
	return err != nil
}

func (g *guard) lookup(ctx context.Context, f func(context.Context, string) (string, bool, error), v string) (string, bool, error) {
	t := g.enter()
	if !t.pass {
		return "", false, nil
	}
	id, ok, err := f(ctx, v)
	if g.leave(ctx, t, err) {
		return "", false, nil
	}
	return id, ok, nil
}

// ByExternalID implements Store; see Guard.
func (g *guard) ByExternalID(ctx context.Context, externalID string) (string, bool, error) {
	return g.lookup(ctx, g.s.ByExternalID, externalID)
}

// ByUserName implements Store; see Guard.
func (g *guard) ByUserName(ctx context.Context, userName string) (string, bool, error) {
	return g.lookup(ctx, g.s.ByUserName, userName)
}

// LinkByExternalID implements Resolver when the guarded store does; see Guard.
func (g *guard) LinkByExternalID(ctx context.Context, externalID string) (Link, bool, error) {
	return g.linkLookup(ctx, externalID, true)
}

// LinkByUserName implements Resolver when the guarded store does; see Guard.
func (g *guard) LinkByUserName(ctx context.Context, userName string) (Link, bool, error) {
	return g.linkLookup(ctx, userName, false)
}

func (g *guard) linkLookup(ctx context.Context, v string, ext bool) (Link, bool, error) {
	r, ok := g.s.(Resolver)
	if !ok {
		// one index lookup, then the link: what a plain Store can do
		var id string
		var found bool
		var err error
		if ext {
			id, found, err = g.ByExternalID(ctx, v)
		} else {
			id, found, err = g.ByUserName(ctx, v)
		}
		if !found || err != nil {
			return Link{}, false, err
		}
		return g.Get(ctx, id)
	}
	t := g.enter()
	if !t.pass {
		return Link{}, false, nil
	}
	var l Link
	var err error
	if ext {
		l, ok, err = r.LinkByExternalID(ctx, v)
	} else {
		l, ok, err = r.LinkByUserName(ctx, v)
	}
	if g.leave(ctx, t, err) {
		return Link{}, false, nil
	}
	return l, ok, nil
}

// Get implements Store; see Guard.
func (g *guard) Get(ctx context.Context, id string) (Link, bool, error) {
	t := g.enter()
	if !t.pass {
		return Link{}, false, nil
	}
	l, ok, err := g.s.Get(ctx, id)
	if g.leave(ctx, t, err) {
		return Link{}, false, nil
	}
	return l, ok, nil
}

// GetMany implements Store; see Guard (all misses while the circuit is open).
func (g *guard) GetMany(ctx context.Context, ids []string) ([]Link, error) {
	t := g.enter()
	if !t.pass {
		return make([]Link, len(ids)), nil
	}
	ls, err := g.s.GetMany(ctx, ids)
	if g.leave(ctx, t, err) {
		return make([]Link, len(ids)), nil
	}
	return ls, nil
}

// Put implements Store; see Guard. A dropped write is remembered: the store's
// completeness index, if any, is invalidated as soon as the store answers again.
func (g *guard) Put(ctx context.Context, l Link) error {
	if t := g.enter(); t.pass {
		if !g.leave(ctx, t, g.s.Put(ctx, l)) {
			return nil
		}
	}
	g.dropped()
	return nil
}

// Swap implements Store; see Guard. While the store is down it answers false, as for
// a write that lost the race, and remembers the dropped write as Put does.
func (g *guard) Swap(ctx context.Context, old, l Link) (bool, error) {
	if t := g.enter(); t.pass {
		ok, err := g.s.Swap(ctx, old, l)
		if !g.leave(ctx, t, err) {
			return ok, nil
		}
	}
	g.dropped()
	return false, nil
}

func (g *guard) dropped() {
	g.mu.Lock()
	g.dirty = true
	g.mu.Unlock()
	if ix, ok := g.s.(Index); ok {
		ix.Unverify()
	}
}

// Forget implements Store; see Guard.
func (g *guard) Forget(ctx context.Context, id string) error {
	if t := g.enter(); t.pass {
		g.leave(ctx, t, g.s.Forget(ctx, id))
	}
	return nil
}

// Lock implements Store; see Guard. While the circuit is open, and when the store's
// Lock fails, it returns an error wrapping ErrUnavailable (and the store's error).
func (g *guard) Lock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	t := g.enter()
	if !t.pass {
		return nil, false, fmt.Errorf("%w: lock %q not taken while the store is down", ErrUnavailable, key)
	}
	release, ok, err := g.s.Lock(ctx, key, ttl)
	if g.leave(ctx, t, err) {
		return nil, false, fmt.Errorf("%w: lock %q: %w", ErrUnavailable, key, err)
	}
	return release, ok, nil
}

// Each implements Exporter when the guarded store does. It bypasses the circuit: an
// export is an operator's one-off whose errors may be the writer's, not the store's.
func (g *guard) Each(ctx context.Context, f func(Link) error) error {
	e, ok := g.s.(Exporter)
	if !ok {
		return fmt.Errorf("links: the store %T cannot be exported", g.s)
	}
	return e.Each(ctx, f)
}

var (
	_ Store    = (*guard)(nil)
	_ Index    = (*guard)(nil)
	_ Exporter = (*guard)(nil)
)

// The Index methods pass through to the guarded store when it is an Index; while the
// circuit is open, or while a dropped write has not yet been followed by a successful
// Invalidate, the index is not trusted.

func (g *guard) index() (Index, bool) {
	ix, ok := g.s.(Index)
	return ix, ok
}

// repair invalidates the index after a dropped write; it reports whether the index
// may be trusted again.
func (g *guard) repair(ctx context.Context, ix Index) bool {
	g.mu.Lock()
	dirty := g.dirty
	g.mu.Unlock()
	if !dirty {
		return true
	}
	t := g.enter()
	if !t.pass || g.leave(ctx, t, ix.Invalidate(ctx)) {
		return false
	}
	g.mu.Lock()
	g.dirty = false
	g.mu.Unlock()
	return true
}

// ProveNew implements Index; see Guard.
func (g *guard) ProveNew(ctx context.Context, externalID, userName string) (bool, error) {
	ix, ok := g.index()
	if !ok || !g.repair(ctx, ix) {
		return false, nil
	}
	t := g.enter()
	if !t.pass {
		return false, nil
	}
	isNew, err := ix.ProveNew(ctx, externalID, userName)
	if g.leave(ctx, t, err) {
		return false, nil
	}
	return isNew, nil
}

// IndexState implements Index; unlike the lookups it returns the store's error, so
// that the maintainer can tell "not complete" from "cannot tell".
func (g *guard) IndexState(ctx context.Context) (IndexState, error) {
	ix, ok := g.index()
	if !ok {
		return IndexState{}, errNoIndex
	}
	if !g.repair(ctx, ix) {
		return IndexState{}, errors.New("links: index repair pending: the store is unavailable")
	}
	return guardedCall(g, ctx, func() (IndexState, error) { return ix.IndexState(ctx) })
}

// guardedCall runs f through the circuit, returning f's error (or ErrUnavailable while
// the circuit is open).
func guardedCall[T any](g *guard, ctx context.Context, f func() (T, error)) (T, error) {
	var zero T
	t := g.enter()
	if !t.pass {
		return zero, ErrUnavailable
	}
	v, err := f()
	g.leave(ctx, t, err)
	return v, err
}

// ErrUnavailable is returned (wrapped; test with errors.Is) by a guarded store's Lock
// while the store is down or when its Lock fails, and by the guarded index operations
// while the circuit is open.
var ErrUnavailable = errors.New("links: store unavailable")

// errNoIndex is returned by the guarded index operations of a store without an index.
var errNoIndex = errors.New("links: the store has no index")

// Verified implements Index.
func (g *guard) Verified(st IndexState) {
	if ix, ok := g.index(); ok {
		ix.Verified(st)
	}
}

// Unverify implements Index.
func (g *guard) Unverify() {
	if ix, ok := g.index(); ok {
		ix.Unverify()
	}
}

// BeginRebuild implements Index.
func (g *guard) BeginRebuild(ctx context.Context) (string, error) {
	ix, ok := g.index()
	if !ok {
		return "", errNoIndex
	}
	return guardedCall(g, ctx, func() (string, error) { return ix.BeginRebuild(ctx) })
}

// PutAll implements Index.
func (g *guard) PutAll(ctx context.Context, ls []Link) error {
	ix, ok := g.index()
	if !ok {
		return errNoIndex
	}
	_, err := guardedCall(g, ctx, func() (struct{}, error) { return struct{}{}, ix.PutAll(ctx, ls) })
	return err
}

// SwapAll implements Index. Unlike Swap it returns the error (ErrUnavailable while
// the circuit is open), as PutAll does, so that a rebuild never completes over writes
// it lost; what it did not write is also remembered as a dropped write.
func (g *guard) SwapAll(ctx context.Context, olds, ls []Link) (int, error) {
	ix, ok := g.index()
	if !ok {
		return 0, errNoIndex
	}
	if err := checkSwapAll(olds, ls); err != nil {
		return 0, err // the caller's mistake: no outage, no dropped write
	}
	n, err := guardedCall(g, ctx, func() (int, error) { return ix.SwapAll(ctx, olds, ls) })
	if err != nil {
		g.dropped()
	}
	return n, err
}

// CompleteRebuild implements Index.
func (g *guard) CompleteRebuild(ctx context.Context, token, epoch string) (bool, error) {
	ix, ok := g.index()
	if !ok {
		return false, errNoIndex
	}
	return guardedCall(g, ctx, func() (bool, error) { return ix.CompleteRebuild(ctx, token, epoch) })
}

// Invalidate implements Index.
func (g *guard) Invalidate(ctx context.Context) error {
	ix, ok := g.index()
	if !ok {
		return nil
	}
	_, err := guardedCall(g, ctx, func() (struct{}, error) { return struct{}{}, ix.Invalidate(ctx) })
	return err
}

// Changed implements Index.
func (g *guard) Changed() <-chan struct{} {
	if ix, ok := g.index(); ok {
		return ix.Changed()
	}
	return nil
}

// PageLinks implements Index; see Guard.
func (g *guard) PageLinks(ctx context.Context, offset, limit int) ([]Link, int, bool, error) {
	ix, ok := g.index()
	if !ok || !g.repair(ctx, ix) {
		return nil, 0, false, nil
	}
	t := g.enter()
	if !t.pass {
		return nil, 0, false, nil
	}
	ls, total, ok, err := ix.PageLinks(ctx, offset, limit)
	if g.leave(ctx, t, err) {
		return nil, 0, false, nil
	}
	return ls, total, ok, nil
}

// Visible implements Index; see Guard.
func (g *guard) Visible(ctx context.Context, ids []string) (map[string]bool, bool, error) {
	ix, ok := g.index()
	if !ok || !g.repair(ctx, ix) {
		return nil, false, nil
	}
	t := g.enter()
	if !t.pass {
		return nil, false, nil
	}
	known, ok, err := ix.Visible(ctx, ids)
	if g.leave(ctx, t, err) {
		return nil, false, nil
	}
	return known, ok, nil
}

// Intend implements Index; see Guard. A dropped intent is a dropped write: the index
// is invalidated as soon as the store answers again.
func (g *guard) Intend(ctx context.Context, externalID, userName string, ttl time.Duration) error {
	ix, ok := g.index()
	if !ok {
		return nil
	}
	if t := g.enter(); t.pass {
		if !g.leave(ctx, t, ix.Intend(ctx, externalID, userName, ttl)) {
			return nil
		}
	}
	g.dropped()
	return nil
}
