package adapters

import (
	"context"
	"sync/atomic"
)

type callsKey struct{}

// WithCallCount returns ctx counting the upstream requests made under it (retries
// included), and a function reading the count: the audit trail reports what each
// SCIM operation cost the application.
func WithCallCount(ctx context.Context) (context.Context, func() int64) {
	n := new(atomic.Int64)
	return context.WithValue(ctx, callsKey{}, n), n.Load
}

// CountCall counts one upstream request against ctx's count, if it has one.
func CountCall(ctx context.Context) {
	if n, ok := ctx.Value(callsKey{}).(*atomic.Int64); ok {
		n.Add(1)
	}
}
