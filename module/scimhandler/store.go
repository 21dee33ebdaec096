package scimhandler

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/module/links"
)

// boltPool shares one open link store file per path across handlers and config
// reloads (bbolt locks the file for one opener).
var boltPool = caddy.NewUsagePool()

type boltHandle struct{ db *links.BoltDB }

func (h boltHandle) Destruct() error { return h.db.Close() }

// defaultLinksFile is the embedded store's file in Caddy's data directory.
func defaultLinksFile() string { return filepath.Join(caddy.AppDataDir(), "scim", "links.db") }

// namespace is where this handler's links live in the embedded store (a Redis
// store has its prefix): one per base path and tenant.
func (h *Handler) namespace() string { return h.Tenant + "@" + h.BasePath }

// linkStore builds the link store: Redis behind a guard that turns an outage into
// upstream lookups (and refused writes, see links.Guard) and logs it once per
// outage; else the embedded store on disk.
func (h *Handler) linkStore(ctx caddy.Context) (links.Store, error) {
	if h.LinkTTL != 0 {
		h.logger.Warn("link_ttl is no longer used: identity links are durable (the embedded store, or redis)")
	}
	if h.Redis == nil {
		return h.boltStoreOf(ctx)
	}
	rc, err := h.Redis.resolved()
	if err != nil {
		return nil, err
	}
	key := rc.poolKey()
	val, _, err := redisPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		watch := new(links.ConnWatcher)
		return redisHandle{c: rc.client(watch), watch: watch}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("setting up redis: %v", err)
	}
	h.redisKey = key
	if err := h.claimNamespace(ctx, "redis "+strings.Join(rc.Addresses, ",")+" "+rc.Prefix); err != nil {
		return nil, err
	}
	handle := val.(redisHandle)
	h.redisConn, h.prefix = handle.c, rc.Prefix
	rs := links.NewRedis(handle.c, rc.Prefix, time.Duration(rc.TTL))
	rs.Persist()
	if h.Redis.TTL != 0 {
		h.logger.Warn("redis ttl is no longer used for links: they are the record of each identity and never expire")
	}
	if !rc.DisableIndex {
		rs.EnableIndex(handle.watch.Generation)
		h.indexed = rs
	}
	h.redisStore = rs
	h.logger.Info("identity links in redis", zap.Strings("addresses", rc.Addresses), zap.String("prefix", rc.Prefix), zap.Bool("index", !rc.DisableIndex))
	return links.Guard(rs,
		func(err error) {
			h.logger.Warn("link store unavailable; reads are served from the upstream and writes refused (503) until it recovers", zap.Error(err))
		},
		func() { h.logger.Info("link store recovered") },
	), nil
}

// boltStoreOf opens (or shares) the embedded store and takes this handler's
// namespace in it, refusing a namespace another handler of this config provisions a
// different application from.
func (h *Handler) boltStoreOf(ctx caddy.Context) (links.Store, error) {
	path := h.LinksFile
	if path == "" {
		path = defaultLinksFile()
	}
	path, err := caddy.NewReplacer().ReplaceOrErr(path, true, true)
	if err != nil {
		return nil, fmt.Errorf("links_file: %v", err)
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if err := h.claimNamespace(ctx, path+" "+h.namespace()); err != nil {
		return nil, err
	}
	val, _, err := boltPool.LoadOrNew(path, func() (caddy.Destructor, error) {
		db, err := links.OpenBolt(path)
		if err != nil {
			return nil, err
		}
		return boltHandle{db: db}, nil
	})
	if err != nil {
		return nil, err
	}
	h.boltKey = path
	bs := val.(boltHandle).db.Store(h.namespace())
	h.boltStore, h.indexed = bs, bs
	h.logger.Info("identity links in the embedded store", zap.String("file", path), zap.String("namespace", h.namespace()))
	return bs, nil
}

// namespaces records, per config load, which application each handler provisions
// as which tenant, and where its links live (a reload provisions the new config
// while the old one still runs: only handlers of one load are compared).
var namespaces = struct {
	sync.Mutex
	m map[*Handler]nsClaim
}{m: map[*Handler]nsClaim{}}

type nsClaim struct {
	config context.Context // the config load: every module of one config shares it
	app    string          // the adapter's driver and URL
	tenant string
	store  string // the store and namespace of its links
}

// appIdentity names the application of the adapter config: its driver and URL.
func (h *Handler) appIdentity() string {
	var a struct {
		Driver string `json:"driver"`
		URL    string `json:"url"`
	}
	_ = json.Unmarshal(h.AdapterRaw, &a)
	return a.Driver + " " + strings.TrimSuffix(a.URL, "/")
}

// claimNamespace refuses two handlers of one config that would keep the links of two
// applications or tenants in one namespace (ids would collide, and one's listing
// would drop the other's links), or provision one application
// as one tenant from two namespaces (each would take the other's accounts for its
// own, with links the other never sees): two IdPs need two tenants.
func (h *Handler) claimNamespace(ctx caddy.Context, store string) error {
	me := nsClaim{config: ctx.Context, app: h.appIdentity(), tenant: h.Tenant, store: store}
	namespaces.Lock()
	defer namespaces.Unlock()
	for _, c := range namespaces.m {
		switch {
		case c.config != me.config:
		case c.store == me.store && (c.app != me.app || c.tenant != me.tenant):
			return fmt.Errorf("two scim handlers keep their links in one namespace (%s) but provision different applications or tenants (%s %q, %s %q): give each its own redis prefix (or base_path)", store, c.app, c.tenant, me.app, me.tenant)
		case c.store != me.store && c.app == me.app && c.tenant == me.tenant:
			return fmt.Errorf("two scim handlers provision %s as tenant %q with separate links: each would take the other's accounts for its own; give each IdP its own tenant", me.app, me.tenant)
		}
	}
	namespaces.m[h] = me
	return nil
}

// releaseNamespace drops this handler's claim (Cleanup).
func (h *Handler) releaseNamespace() {
	namespaces.Lock()
	delete(namespaces.m, h)
	namespaces.Unlock()
}
