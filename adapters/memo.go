package adapters

import (
	"context"
	"sync"
)

// Memo remembers upstream reads for the length of one SCIM operation, so that an
// operation that reads the same thing twice (PATCH: the service's read, then the
// adapter's read before its write; POST: a userName lookup and an e-mail lookup that
// are the same upstream query) pays for it once. Adapters use it for reads only and
// must call Reset before every write: a read after a write always goes upstream.
//
// Reusing a read made milliseconds earlier in the same operation is as correct as
// repeating it: neither is atomic with the write that follows (upstream admin APIs
// have no compare-and-set), and the service checks If-Match on the first read.
type Memo struct {
	mu sync.Mutex
	m  map[string]*memoEntry
}

type memoEntry struct {
	done chan struct{}
	val  any
	err  error
}

type memoKey struct{}

// WithMemo returns ctx carrying a new, empty Memo.
func WithMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, memoKey{}, &Memo{})
}

// MemoFrom returns the Memo of ctx, or nil. A nil *Memo is valid and remembers nothing.
func MemoFrom(ctx context.Context) *Memo {
	m, _ := ctx.Value(memoKey{}).(*Memo)
	return m
}

// Do returns the remembered result for key, or runs f once and remembers its result.
// Concurrent calls with one key wait for the first. Callers must not modify what a
// shared result points to.
func (m *Memo) Do(key string, f func() (any, error)) (any, error) {
	if m == nil {
		return f()
	}
	m.mu.Lock()
	if e, ok := m.m[key]; ok {
		m.mu.Unlock()
		<-e.done
		return e.val, e.err
	}
	if m.m == nil {
		m.m = map[string]*memoEntry{}
	}
	e := &memoEntry{done: make(chan struct{})}
	m.m[key] = e
	m.mu.Unlock()
	defer close(e.done)
	e.val, e.err = f()
	if e.err != nil {
		// a failed read is not remembered: a retry by the caller goes upstream
		m.mu.Lock()
		if m.m[key] == e {
			delete(m.m, key)
		}
		m.mu.Unlock()
	}
	return e.val, e.err
}

// Put remembers val under key (for a read that also answers another key).
func (m *Memo) Put(key string, val any) {
	if m == nil {
		return
	}
	e := &memoEntry{done: make(chan struct{}), val: val}
	close(e.done)
	m.mu.Lock()
	if m.m == nil {
		m.m = map[string]*memoEntry{}
	}
	m.m[key] = e
	m.mu.Unlock()
}

// Reset forgets everything; adapters call it before each write.
func (m *Memo) Reset() {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.m = nil
	m.mu.Unlock()
}
