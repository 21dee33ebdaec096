package links

import (
	"context"
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The order: with the index on, the Redis store also keeps the ids of the visible
// users (managed and not DELETEd; never groups) in one sorted set, <prefix>order, so that a list
// page costs a page. Members sort as upstream ids do (adapters.CompareIDs): numeric
// ids by length, then as strings (the score is the length), other ids as strings.
// Every Put adds or removes its id, Forget removes it, and a rebuild starts it
// afresh. An id whose user has gone or changed is corrected by the reader, which
// re-reads every id of a page upstream anyway.

func (r *Redis) orderKey() string { return r.prefix + "order" }

// orderScore is the score that makes the set's order the upstream id order.
func orderScore(id string) float64 {
	if strings.Trim(id, "0123456789") == "" {
		return float64(len(id))
	}
	return 0
}

// queueOrder adds the order change of one link to a pipeline.
func (r *Redis) queueOrder(ctx context.Context, p redis.Pipeliner, l Link) {
	if r.ix == nil {
		return
	}
	if l.Deleted || l.Group {
		p.ZRem(ctx, r.orderKey(), l.ID)
		return
	}
	p.ZAdd(ctx, r.orderKey(), redis.Z{Score: orderScore(l.ID), Member: l.ID})
}

// PageLinks implements Index in two round trips: the mark, the count and the ids of
// the page; then their links.
func (r *Redis) PageLinks(ctx context.Context, offset, limit int) ([]Link, int, bool, error) {
	v := r.trustedOrKick()
	if v == nil {
		return nil, 0, false, nil
	}
	r.rt.Add(1)
	var mark *redis.StringCmd
	var card *redis.IntCmd
	var ids *redis.StringSliceCmd
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		mark = p.Get(ctx, r.markKey())
		card = p.ZCard(ctx, r.orderKey())
		if limit > 0 {
			ids = p.ZRange(ctx, r.orderKey(), int64(offset), int64(offset+limit-1))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, false, redisErr("page", err)
	}
	if !r.stillComplete(v, mark) {
		return nil, 0, false, nil
	}
	total := int(card.Val())
	if ids == nil || len(ids.Val()) == 0 {
		return []Link{}, total, true, nil
	}
	ls, err := r.GetMany(ctx, ids.Val())
	for i, id := range ids.Val() {
		ls[i].ID = id // a missing link: the caller reads the user upstream anyway
	}
	return ls, total, err == nil, err
}

// Visible implements Index in one round trip.
func (r *Redis) Visible(ctx context.Context, ids []string) (map[string]bool, bool, error) {
	v := r.trustedOrKick()
	if v == nil {
		return nil, false, nil
	}
	if len(ids) == 0 {
		return map[string]bool{}, true, nil
	}
	r.rt.Add(1)
	var mark *redis.StringCmd
	scores := make([]*redis.FloatCmd, len(ids))
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		mark = p.Get(ctx, r.markKey())
		for i, id := range ids {
			scores[i] = p.ZScore(ctx, r.orderKey(), id)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, false, redisErr("visible", err)
	}
	if !r.stillComplete(v, mark) {
		return nil, false, nil
	}
	known := make(map[string]bool, len(ids))
	for i, c := range scores {
		known[ids[i]] = c.Err() == nil
	}
	return known, true, nil
}
