package provision

import (
	"context"
	"errors"
	"math"
	"slices"
	"time"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/links"
)

// IndexEvents reports what the index maintainer does, for logs and metrics; every
// field may be nil.
type IndexEvents struct {
	Complete    func(links int, took time.Duration) // a rebuild marked the index complete
	Refreshed   func(links int, took time.Duration) // a refresh re-wrote every link
	Invalidated func(reason string)                 // a mark was dropped
	Trusted     func(ok bool)                       // whether this instance now trusts the index
	Failed      func(err error)                     // a check or rebuild failed
	// Progress reports a rebuild's phase ("reading" the application's users,
	// "writing" their links) and, while writing, how many of total are written.
	Progress func(phase string, done, total int)
}

// rebuildBatch is how many links a rebuild writes between two progress reports.
const rebuildBatch = 5000

// indexRebuildLockTTL bounds a rebuild: another instance may start one after it.
const indexRebuildLockTTL = 10 * time.Minute

// intentTTL is how long a create's intent outlives a process that died mid-create:
// past the next refresh, which writes the link from the upstream anyway.
var intentTTL = 2 * indexRefreshEvery

// indexRefreshEvery is how often one instance (whichever takes the store lock first)
// re-writes every link from the upstream while the index is trusted. It bounds the one
// loss no mark can record: an instance that created a user during a Redis outage and
// died before Redis came back.
var indexRefreshEvery = time.Hour

// MaintainIndex keeps the link store's completeness index honest until ctx ends: it
// compares the mark with the servers' epoch every interval (and at once when the
// store asks), drops a mark whose epoch is stale, and rebuilds a missing index from
// the upstream (one instance at a time, under a store lock). It does nothing when the
// store has no index.
func (s *Service) MaintainIndex(ctx context.Context, every time.Duration, ev IndexEvents) {
	ix, ok := s.Links.(links.Index)
	if !ok {
		return
	}
	if every <= 0 {
		every = 10 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	trusted := false
	for {
		ok := s.checkIndex(ctx, ix, ev)
		if ok != trusted && ev.Trusted != nil {
			ev.Trusted(ok)
		}
		trusted = ok
		if trusted {
			s.refreshIndex(ctx, ix, ev)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-ix.Changed():
			// a burst of new connections must not become a burst of checks
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// checkIndex runs one check (and rebuild when needed); it reports whether this
// instance now trusts the index.
func (s *Service) checkIndex(ctx context.Context, ix links.Index, ev IndexEvents) bool {
	fail := func(err error) bool {
		ix.Unverify()
		if ev.Failed != nil && ctx.Err() == nil {
			ev.Failed(err)
		}
		return false
	}
	st, err := ix.IndexState(ctx)
	if err != nil {
		return fail(err)
	}
	if st.Evicting {
		ix.Unverify()
		if st.Mark != "" {
			_ = ix.Invalidate(ctx)
		}
		return fail(errors.New("redis may evict links (maxmemory-policy allkeys-*): the link index is not used; set maxmemory-policy noeviction or volatile-*"))
	}
	if st.Mark != "" && st.Mark == st.Epoch {
		ix.Verified(st)
		return true
	}
	ix.Unverify()
	if st.Mark != "" {
		if err := ix.Invalidate(ctx); err != nil {
			return fail(err)
		}
		if ev.Invalidated != nil {
			ev.Invalidated("the redis server restarted or failed over since the index was built")
		}
	}
	return s.rebuildIndex(ctx, ix, st, ev)
}

// rebuildIndex writes a link for every managed upstream user (deleted ones included:
// a POST must find them to reactivate them) and marks the index complete. Creates that
// run meanwhile write their own links; an Invalidate meanwhile makes the mark fail.
func (s *Service) rebuildIndex(ctx context.Context, ix links.Index, st links.IndexState, ev IndexEvents) bool {
	release, ok, err := s.Links.Lock(ctx, "index-rebuild", indexRebuildLockTTL)
	if err != nil || !ok {
		return false // another instance rebuilds; the next check sees its mark
	}
	defer release()
	// another instance may have finished between our read and our lock
	if again, err := ix.IndexState(ctx); err == nil && again.Mark != "" && again.Mark == again.Epoch {
		ix.Verified(again)
		return true
	}
	start := time.Now()
	tok, err := ix.BeginRebuild(ctx)
	if err != nil {
		return s.indexFailed(ix, ev, err)
	}
	progress := func(phase string, done, total int) {
		if ev.Progress != nil {
			ev.Progress(phase, done, total)
		}
	}
	progress("reading", 0, 0)
	olds, ls, err := s.managedLinks(ctx)
	if err != nil {
		return s.indexFailed(ix, ev, err)
	}
	for done := 0; done < len(ls); done += rebuildBatch {
		progress("writing", done, len(ls))
		end := min(done+rebuildBatch, len(ls))
		if _, err := ix.SwapAll(ctx, olds[done:end], ls[done:end]); err != nil {
			return s.indexFailed(ix, ev, err)
		}
	}
	progress("writing", len(ls), len(ls))
	ok, err = ix.CompleteRebuild(ctx, tok, st.Epoch)
	if err != nil || !ok {
		if err == nil {
			err = errors.New("the index was invalidated during the rebuild; it will be rebuilt again")
		}
		return s.indexFailed(ix, ev, err)
	}
	if ev.Complete != nil {
		ev.Complete(len(ls), time.Since(start))
	}
	// every link was just written: the next refresh is due in indexRefreshEvery
	_, _, _ = s.Links.Lock(ctx, "index-refresh", indexRefreshEvery)
	// Trust it only once a fresh read confirms the epoch (a failover during the
	// rebuild changes it, and the next check then starts over).
	after, err := ix.IndexState(ctx)
	if err != nil || after.Mark == "" || after.Mark != after.Epoch {
		return false
	}
	ix.Verified(after)
	return true
}

// refreshIndex re-writes the link of every managed upstream user, without touching
// the mark, at most once per indexRefreshEvery across all instances: the lock is
// never released, it expires.
func (s *Service) refreshIndex(ctx context.Context, ix links.Index, ev IndexEvents) {
	_, ok, err := s.Links.Lock(ctx, "index-refresh", indexRefreshEvery)
	if err != nil || !ok {
		return
	}
	start := time.Now()
	olds, ls, err := s.managedLinks(ctx)
	if err == nil {
		if _, err = ix.SwapAll(ctx, olds, ls); err == nil && ev.Refreshed != nil {
			ev.Refreshed(len(ls), time.Since(start))
		}
	}
	if err != nil && ev.Failed != nil && ctx.Err() == nil {
		ev.Failed(err)
	}
}

// managedLinks lists every managed upstream user (deleted ones included: a POST must
// find them to reactivate them) as links, each paired with the link to swap from.
func (s *Service) managedLinks(ctx context.Context) (olds, ls []links.Link, err error) {
	recs, err := pageAll(ctx, math.MaxInt32, s.listUsers) // one walk: the adapter pages it
	if err != nil {
		return nil, nil, err
	}
	recs = slices.DeleteFunc(recs, func(r adapters.Record) bool { return !r.Managed || r.User == nil })
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.User.ID
	}
	// A link the store holds stays as it is (written again, so that the index and
	// the order hold it): a write or a read of this store wrote it, having seen the
	// account at least as late as this walk (reads swap), and it keeps the userName
	// of record the application may have no copy of. Only a missing link is made
	// from the walk. A link changed since GetMany is left to that change (the swap).
	olds, err = s.Links.GetMany(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	ls = make([]links.Link, len(recs))
	for i := range recs {
		if olds[i].ID == ids[i] {
			ls[i] = olds[i]
			continue
		}
		olds[i] = links.Link{}
		s.ofRecord(&recs[i], links.Link{})
		ls[i] = s.linkOf(recs[i])
	}
	return olds, ls, nil
}

func (s *Service) indexFailed(ix links.Index, ev IndexEvents, err error) bool {
	ix.Unverify()
	if ev.Failed != nil {
		ev.Failed(err)
	}
	return false
}

// proveNew reports whether the link store can prove that no user has this externalId
// or userName, so that CreateUser may skip the upstream lookups.
func (s *Service) proveNew(ctx context.Context, externalID, userName string) bool {
	ix, ok := s.Links.(links.Index)
	if !ok {
		return false
	}
	isNew, err := ix.ProveNew(ctx, externalID, userName)
	s.storeErr(err)
	return err == nil && isNew
}
