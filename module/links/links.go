// Package links is the identity link store: a cache of SCIM id ↔ externalId ↔
// userName ↔ upstream user. It is never the only copy of anything: every link can be
// rebuilt from the upstream, so a miss or a failure only costs an upstream lookup.
package links

import (
	"context"
	"time"
)

// Link is what the store keeps for one user.
type Link struct {
	ID         string `json:"id"`
	ExternalID string `json:"ext,omitempty"`
	UserName   string `json:"un,omitempty"`
	Active     bool   `json:"a,omitempty"`
	Deleted    bool   `json:"d,omitempty"`
	Version    string `json:"v,omitempty"`
	// Group marks a group's link (groups share the store under their own
	// namespace): never one of the users an index lists.
	Group bool `json:"g,omitempty"`
}

// Store is implemented by the in-process store and the Redis store. Lookups report
// ok=false on a miss; an error means the store could not answer (callers then go to
// the upstream and never fail the request because of the store).
type Store interface {
	// ByExternalID and ByUserName resolve to an id. userName is compared
	// case-insensitively; externalId exactly.
	ByExternalID(ctx context.Context, externalID string) (id string, ok bool, err error)
	ByUserName(ctx context.Context, userName string) (id string, ok bool, err error)
	Get(ctx context.Context, id string) (Link, bool, error)
	// GetMany is Get for many ids at once (one round trip for Redis): the links
	// in the order of ids, a zero Link for each miss.
	GetMany(ctx context.Context, ids []string) ([]Link, error)
	// Put stores l and drops the index entries of the previous link of the same id.
	Put(ctx context.Context, l Link) error
	// Forget drops a link and its index entries.
	Forget(ctx context.Context, id string) error
	// Lock takes a short exclusive lock on key (for example a userName being
	// created). It returns a release function; ok=false when someone else holds it.
	Lock(ctx context.Context, key string, ttl time.Duration) (release func(), ok bool, err error)
}

// Resolver is implemented by stores whose index lookups can return the whole link in
// the same round trip, so a warm filter hit costs one store round trip instead of
// two (index, then link).
type Resolver interface {
	LinkByExternalID(ctx context.Context, externalID string) (Link, bool, error)
	LinkByUserName(ctx context.Context, userName string) (Link, bool, error)
}
