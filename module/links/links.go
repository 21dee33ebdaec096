// Package links is the identity link store: what SCIM knows of each identity it
// provisioned (SCIM id ↔ externalId ↔ userName of record, its e-mail of record, who
// blocked it, whether it was DELETEd, its tenant). It is the durable record of the
// identity: the embedded store (Bolt) on one instance, Redis for several. Where the
// application has room, adapters keep a copy of the same facts there, so a lost
// store is rebuilt from the application; where it has none, the store is the only
// record, and a link it lost is never guessed back from the application's names.
package links

import (
	"context"
	"time"
)

// Block owners recorded in Link.Block.
const (
	// BlockNone: the account was last seen not blocked.
	BlockNone = "none"
	// BlockSCIM: SCIM blocked it (deprovisioned or DELETEd); SCIM may lift it.
	BlockSCIM = "scim"
	// BlockApp: someone else blocked it in the application; SCIM never lifts it.
	BlockApp = "app"
)

// Link is what the store keeps for one user (or, with Group set, one group).
type Link struct {
	ID         string `json:"id"`
	ExternalID string `json:"ext,omitempty"`
	// UserName is the userName of record: the one the IdP set through SCIM, which
	// the account keeps answering to when it is renamed in the application. ""
	// when SCIM cannot prove it (an application without room for a copy whose
	// link was lost): the account then answers to no userName lookup.
	UserName string `json:"un,omitempty"`
	// Email is the primary e-mail SCIM last wrote or saw.
	Email   string `json:"em,omitempty"`
	Active  bool   `json:"a,omitempty"`
	Deleted bool   `json:"d,omitempty"`
	// Block says who blocked the account as SCIM last knew it (BlockNone,
	// BlockSCIM, BlockApp); "" in a link written before it was recorded.
	Block string `json:"b,omitempty"`
	// Tenant is the tenant (the handler's tenant option) the identity belongs to.
	Tenant  string `json:"t,omitempty"`
	Version string `json:"v,omitempty"`
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
	// Swap stores l only if the store still holds old as the link of l.ID (old.ID == "":
	// it holds none), comparing every field; ok=false and nothing written when it holds
	// another. Reads and rebuilds write with Swap, so a link written meanwhile (under a
	// write lock, with Put) is never overwritten by what they saw before it.
	Swap(ctx context.Context, old, l Link) (ok bool, err error)
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
