package links

import (
	"context"
	"strings"
	"sync"
	"time"
)

// Memory is the in-process link store, the default for a single Caddy instance.
// Entries expire after TTL so that changes made directly in the upstream are picked
// up again; it is bounded to MaxEntries links (oldest evicted first).
type Memory struct {
	TTL        time.Duration
	MaxEntries int

	mu    sync.Mutex
	byID  map[string]memEntry
	byExt map[string]string
	byUN  map[string]string
	order []string // insertion order of ids, for eviction
	locks map[string]time.Time
	now   func() time.Time
}

type memEntry struct {
	link    Link
	expires time.Time
}

// NewMemory returns an empty in-process store.
func NewMemory(ttl time.Duration, maxEntries int) *Memory {
	if ttl <= 0 {
		ttl = 10 * time.Minute
	}
	if maxEntries <= 0 {
		maxEntries = 100_000
	}
	return &Memory{TTL: ttl, MaxEntries: maxEntries,
		byID: map[string]memEntry{}, byExt: map[string]string{}, byUN: map[string]string{},
		locks: map[string]time.Time{}, now: time.Now}
}

func (m *Memory) live(id string) (Link, bool) {
	e, ok := m.byID[id]
	if !ok {
		return Link{}, false
	}
	if m.now().After(e.expires) {
		m.drop(id)
		return Link{}, false
	}
	return e.link, true
}

// ByExternalID implements Store.
func (m *Memory) ByExternalID(_ context.Context, ext string) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.byExt[ext]
	if !ok {
		return "", false, nil
	}
	if l, ok := m.live(id); !ok || l.ExternalID != ext {
		return "", false, nil
	}
	return id, true, nil
}

// ByUserName implements Store.
func (m *Memory) ByUserName(_ context.Context, userName string) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := strings.ToLower(userName)
	id, ok := m.byUN[key]
	if !ok {
		return "", false, nil
	}
	if l, ok := m.live(id); !ok || strings.ToLower(l.UserName) != key {
		return "", false, nil
	}
	return id, true, nil
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, id string) (Link, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.live(id)
	return l, ok, nil
}

// GetMany implements Store.
func (m *Memory) GetMany(_ context.Context, ids []string) ([]Link, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Link, len(ids))
	for i, id := range ids {
		out[i], _ = m.live(id)
	}
	return out, nil
}

// Put implements Store.
func (m *Memory) Put(_ context.Context, l Link) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.put(l)
	return nil
}

// Swap implements Store under the store's lock; an expired link counts as none.
func (m *Memory) Swap(_ context.Context, old, l Link) (bool, error) {
	if l.ID == "" {
		return false, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, ok := m.live(l.ID); !holds(cur, ok, old) {
		return false, nil
	}
	m.put(l)
	return true, nil
}

// holds reports whether a store whose link of an id is cur (ok=false: none) holds
// what a Swap expects there: old, or none when old.ID is "".
func holds(cur Link, ok bool, old Link) bool {
	if old.ID == "" {
		return !ok
	}
	return ok && cur == old
}

// put stores l; m.mu is held.
func (m *Memory) put(l Link) {
	if _, exists := m.byID[l.ID]; exists {
		m.drop(l.ID)
	}
	for len(m.byID) >= m.MaxEntries && len(m.order) > 0 {
		oldest := m.order[0]
		m.order = m.order[1:]
		m.drop(oldest)
	}
	m.byID[l.ID] = memEntry{link: l, expires: m.now().Add(m.TTL)}
	m.order = append(m.order, l.ID)
	if l.ExternalID != "" {
		m.byExt[l.ExternalID] = l.ID
	}
	if l.UserName != "" {
		m.byUN[strings.ToLower(l.UserName)] = l.ID
	}
}

// Forget implements Store.
func (m *Memory) Forget(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.drop(id)
	return nil
}

// drop removes id and the index entries that still point at it. The order slice is
// compacted lazily by Put.
func (m *Memory) drop(id string) {
	e, ok := m.byID[id]
	if !ok {
		return
	}
	delete(m.byID, id)
	if m.byExt[e.link.ExternalID] == id {
		delete(m.byExt, e.link.ExternalID)
	}
	if k := strings.ToLower(e.link.UserName); m.byUN[k] == id {
		delete(m.byUN, k)
	}
	if len(m.order) > 2*m.MaxEntries {
		kept := m.order[:0]
		for _, x := range m.order {
			if _, ok := m.byID[x]; ok {
				kept = append(kept, x)
			}
		}
		m.order = kept
	}
}

// Lock implements Store with an in-process lock that expires after ttl.
func (m *Memory) Lock(_ context.Context, key string, ttl time.Duration) (func(), bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if exp, held := m.locks[key]; held && now.Before(exp) {
		return nil, false, nil
	}
	exp := now.Add(ttl)
	m.locks[key] = exp
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.locks[key] == exp {
			delete(m.locks, key)
		}
	}, true, nil
}

// LinkByExternalID implements Resolver.
func (m *Memory) LinkByExternalID(ctx context.Context, ext string) (Link, bool, error) {
	id, ok, _ := m.ByExternalID(ctx, ext)
	if !ok {
		return Link{}, false, nil
	}
	return m.Get(ctx, id)
}

// LinkByUserName implements Resolver.
func (m *Memory) LinkByUserName(ctx context.Context, userName string) (Link, bool, error) {
	id, ok, _ := m.ByUserName(ctx, userName)
	if !ok {
		return Link{}, false, nil
	}
	return m.Get(ctx, id)
}

// Each implements Exporter over a copy of the live links taken at the call, so that f
// runs without the store's lock.
func (m *Memory) Each(ctx context.Context, f func(Link) error) error {
	m.mu.Lock()
	now := m.now()
	ls := make([]Link, 0, len(m.byID))
	for _, e := range m.byID {
		if !now.After(e.expires) {
			ls = append(ls, e.link)
		}
	}
	m.mu.Unlock()
	for _, l := range ls {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := f(l); err != nil {
			return err
		}
	}
	return nil
}

var (
	_ Store    = (*Memory)(nil)
	_ Resolver = (*Memory)(nil)
	_ Exporter = (*Memory)(nil)
)
