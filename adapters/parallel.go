package adapters

import (
	"context"
	"sync"
)

// MemberConcurrency bounds the upstream calls one membership change has in flight:
// enough to apply a large PATCH quickly, few enough not to trip upstream rate limits.
const MemberConcurrency = 8

// Parallel runs fn(0..n-1) with at most limit calls in flight and returns each call's
// error; calls not started because ctx ended get ctx.Err().
func Parallel(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) []error {
	errs := make([]error, n)
	sem := make(chan struct{}, max(limit, 1))
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			for j := i; j < n; j++ {
				errs[j] = ctx.Err()
			}
			wg.Wait()
			return errs
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = fn(ctx, i)
		}()
	}
	wg.Wait()
	return errs
}
