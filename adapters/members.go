package adapters

import (
	"context"
	"errors"
	"fmt"
)

// ErrGroupGone is what a member change returns when the group itself vanished
// while its members were being changed.
var ErrGroupGone = fmt.Errorf("group: %w", ErrNotFound)

// EachMember applies fn to each distinct user id, MemberConcurrency at a time. A
// failure about one member (no such user, a value refused, Taken, Invalid, Refused)
// is collected into a *MemberError; a failure that is not about a member (the
// upstream unavailable or misconfigured, an unreadable answer, the group gone, the
// request ended) is returned as is, since retrying the whole, idempotent change
// fixes it.
func EachMember(ctx context.Context, userIDs []string, fn func(ctx context.Context, id string) error) error {
	seen := make(map[string]bool, len(userIDs))
	var ids []string
	for _, u := range userIDs {
		if !seen[u] {
			seen[u] = true
			ids = append(ids, u)
		}
	}
	errs := Parallel(ctx, len(ids), MemberConcurrency, func(ctx context.Context, i int) error { return fn(ctx, ids[i]) })
	failed := map[string]error{}
	for i, err := range errs {
		switch {
		case err == nil:
		case aboutMember(err):
			failed[ids[i]] = err
		default:
			return err
		}
	}
	if len(failed) > 0 {
		return &MemberError{Failed: failed}
	}
	return nil
}

func aboutMember(err error) bool {
	if errors.Is(err, ErrGroupGone) {
		return false
	}
	if errors.Is(err, ErrNotFound) {
		return true
	}
	e, ok := FactOf(err)
	if !ok {
		return false
	}
	switch e.Fact {
	case Taken, Invalid, Refused:
		return true
	}
	return false
}
