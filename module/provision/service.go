// Package provision implements the provisioning semantics of caddy-scim on top of an
// adapter and a link store: scope (only managed users are visible), create with
// reactivation, deprovision by blocking, DELETE that hides but keeps the link,
// adoption of existing users, uniqueness, name merging, optimistic concurrency, and
// the SCIM answer to every adapter fact (errors.go). It has no Caddy imports; the
// HTTP handler translates requests into calls on a Service.
package provision

import (
	"context"
	"sync"
	"time"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// Deprovision modes.
const (
	DeprovisionBlock  = "block"
	DeprovisionDelete = "delete"
)

// LinkExisting modes: whether a POST may adopt an unmanaged upstream user.
const (
	LinkOff      = adapters.LinkOff
	LinkEmail    = adapters.LinkEmail
	LinkUserName = adapters.LinkUserName
)

// Service is the provisioning logic for one handler.
type Service struct {
	Adapter adapters.UserAdapter
	Links   links.Store
	// Tenant is this handler's tenant: only accounts marked for it are managed here
	// (the adapter marks them where it has room, see adapters.Tenancy).
	Tenant string
	// Groups serves /Groups; nil when the adapter has no (enabled) group support.
	Groups       adapters.GroupAdapter
	Deprovision  string // DeprovisionBlock (default) or DeprovisionDelete
	LinkExisting string // LinkOff (default), LinkEmail or LinkUserName
	// MaxResults caps a page (SPC filter.maxResults).
	MaxResults int
	// MaxScan bounds the managed users a query the upstream cannot answer is
	// evaluated over (DefaultMaxScan when 0).
	MaxScan int
	// OnStoreError is told when the link store fails (the request goes on without it).
	OnStoreError func(error)
	// Protect names accounts (by userName, upstream login or id) that SCIM never
	// modifies, blocks, deletes, adopts or reactivates; upstream administrators are
	// always protected.
	Protect []string
	// OnRefused is told when a safety rule refuses a request: the operation, the
	// account and why.
	OnRefused func(op, id, userName, why string)
	// UnknownMembers is UnknownMembersSkip (default) or UnknownMembersReject.
	UnknownMembers string
	// OnUnknownMembers is told of the member ids a group write skipped.
	OnUnknownMembers func(group string, ids []string)
	// OnDrift is told when an account answers upstream to another userName than the
	// one SCIM wrote (renamed in the application); SCIM keeps the IdP's.
	OnDrift func(id, userNameOfRecord, upstreamUserName string)
	// OnAdopted is told when a POST adopted an existing account: its id, the name it
	// had upstream, and the identity it now belongs to.
	OnAdopted func(id, upstreamUserName, userName, externalID, by string)
	// OnBatchFailed is told when a list page's batch read failed (the page then
	// reads each user alone: slower, never wrong).
	OnBatchFailed func(error)

	locks keyedMutex
}

func (s *Service) storeErr(err error) {
	if err != nil && s.OnStoreError != nil {
		s.OnStoreError(err)
	}
}

// visible reports whether a record is part of the SCIM view.
func visible(r adapters.Record) bool { return r.Managed && !r.Deleted }

// lockAll takes the link store locks for keys, waiting briefly if another request
// holds one. The store keeps each lock while the request runs (Redis renews it). A
// store that cannot lock (Redis unreachable) fails the request with 503: a write
// must not run unserialised against other instances.
func (s *Service) lockAll(ctx context.Context, keys []string) (func(), error) {
	var releases []func()
	releaseAll := func() {
		for _, r := range releases {
			r()
		}
	}
	for _, k := range keys {
		unlock := s.locks.lock(k)
		releases = append(releases, unlock)
		deadline := time.Now().Add(10 * time.Second)
		for {
			rel, ok, err := s.Links.Lock(ctx, k, lockTTL)
			if err != nil {
				s.storeErr(err)
				releaseAll()
				return nil, scim.Unavailable(5, "the link store cannot serialise this write across instances now (it is unreachable); retry shortly")
			}
			if ok {
				releases = append(releases, rel)
				break
			}
			if time.Now().After(deadline) {
				releaseAll()
				return nil, scim.Unavailable(5, "another request is provisioning the same resource; retry shortly")
			}
			select {
			case <-ctx.Done():
				releaseAll()
				return nil, ctx.Err()
			case <-time.After(25 * time.Millisecond):
			}
		}
	}
	return releaseAll, nil
}

// lockTTL bounds a lock whose holder died; a live holder's lock is renewed.
const lockTTL = 15 * time.Second

// keyedMutex serialises work on one key within this process.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
