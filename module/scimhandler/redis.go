package scimhandler

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/redis/go-redis/v9"

	"github.com/caddy-scim/caddy-scim/module/links"
)

// RedisConfig configures the shared link store. Several Caddy instances that point at
// the same Redis (and prefix) serve one IdP consistently. Redis is a cache: losing it
// costs latency, never correctness, because every link can be rebuilt from the
// upstream.
type RedisConfig struct {
	// Addresses are host:port pairs: one for a single server, several for a Redis
	// Cluster, or the sentinels when MasterName is set.
	Addresses []string `json:"addresses,omitempty"`
	// MasterName selects Sentinel failover with this master name.
	MasterName string `json:"master_name,omitempty"`
	// Username and Password authenticate (ACL user or requirepass); use
	// {env.NAME} or {file./path}.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// SentinelPassword authenticates to the sentinels, when they require it.
	SentinelPassword string `json:"sentinel_password,omitempty"`
	// DB is the database number (single server and Sentinel only). Default: 0.
	DB int `json:"db,omitempty"`
	// TLS enables TLS to Redis; TLSServerName overrides the name checked in the
	// server's certificate.
	TLS           bool   `json:"tls,omitempty"`
	TLSServerName string `json:"tls_server_name,omitempty"`
	// Prefix is prepended to every key, so that several handlers or tenants can
	// share one Redis. Default: "scim:".
	Prefix string `json:"prefix,omitempty"`
	// DialTimeout, ReadTimeout and WriteTimeout bound each Redis call, so a slow
	// Redis costs little: a call that times out is a cache miss. Defaults: 1s,
	// 300ms, 300ms.
	DialTimeout  caddy.Duration `json:"dial_timeout,omitempty"`
	ReadTimeout  caddy.Duration `json:"read_timeout,omitempty"`
	WriteTimeout caddy.Duration `json:"write_timeout,omitempty"`
	// TTL is no longer used for links, which never expire (they are the record of
	// each identity); it bounds nothing else an operator sets. Accepted so that
	// older configs load.
	TTL caddy.Duration `json:"ttl,omitempty"`
	// DisableIndex turns off the completeness index. With the index on (the
	// default), links never expire, one instance rebuilds them from the upstream
	// whenever Redis restarts, fails over or is flushed, and while the index is
	// complete a POST of a new identity skips the upstream lookups that would
	// otherwise prove it new. Redis must then not evict keys without a TTL
	// (maxmemory-policy noeviction or volatile-*); with an allkeys-* policy the
	// index is not used.
	DisableIndex bool `json:"disable_index,omitempty"`
}

// redisPool shares one client per distinct configuration across config reloads.
var redisPool = caddy.NewUsagePool()

type redisHandle struct {
	c redis.UniversalClient
	// watch sees every new connection: one to a server not seen before (restarted,
	// promoted) tells the link index to check the servers again.
	watch *links.ConnWatcher
}

func (h redisHandle) Destruct() error { return h.c.Close() }

// resolved returns a copy with secrets resolved and defaults set.
func (rc RedisConfig) resolved() (RedisConfig, error) {
	repl := caddy.NewReplacer()
	for _, f := range []*string{&rc.Username, &rc.Password, &rc.SentinelPassword} {
		if *f == "" {
			continue
		}
		v, err := repl.ReplaceOrErr(*f, true, true)
		if err != nil {
			return rc, fmt.Errorf("resolving a redis credential: %v", err)
		}
		*f = v
	}
	for i, a := range rc.Addresses {
		rc.Addresses[i] = repl.ReplaceKnown(a, "")
	}
	if len(rc.Addresses) == 0 {
		rc.Addresses = []string{"127.0.0.1:6379"}
	}
	if rc.Prefix == "" {
		rc.Prefix = "scim:"
	}
	if rc.DialTimeout <= 0 {
		rc.DialTimeout = caddy.Duration(time.Second)
	}
	if rc.ReadTimeout <= 0 {
		rc.ReadTimeout = caddy.Duration(300 * time.Millisecond)
	}
	if rc.WriteTimeout <= 0 {
		rc.WriteTimeout = caddy.Duration(300 * time.Millisecond)
	}
	if rc.TTL <= 0 {
		rc.TTL = caddy.Duration(24 * time.Hour)
	}
	return rc, nil
}

// poolKey identifies the connection options (not the key prefix or TTL, which do not
// change the client); the secrets are hashed with the rest, never stored.
func (rc RedisConfig) poolKey() string {
	conn := rc
	conn.Prefix, conn.TTL, conn.DisableIndex = "", 0, false
	b, _ := json.Marshal(conn)
	sum := sha256.Sum256(b)
	return "scim-redis-" + hex.EncodeToString(sum[:])
}

func (rc RedisConfig) client(watch *links.ConnWatcher) redis.UniversalClient {
	opt := &redis.UniversalOptions{
		Addrs:            rc.Addresses,
		MasterName:       rc.MasterName,
		Username:         rc.Username,
		Password:         rc.Password,
		SentinelPassword: rc.SentinelPassword,
		DB:               rc.DB,
		DialTimeout:      time.Duration(rc.DialTimeout),
		ReadTimeout:      time.Duration(rc.ReadTimeout),
		WriteTimeout:     time.Duration(rc.WriteTimeout),
		// a cache must not retry into a slow Redis: a miss is cheaper
		MaxRetries:    1,
		DialerRetries: 1,
		OnConnect:     watch.OnConnect,
	}
	if rc.TLS {
		opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: rc.TLSServerName}
	}
	if rc.MasterName == "" && len(rc.Addresses) > 1 { // a Cluster, as NewUniversalClient decides
		co := opt.Cluster()
		// The client learns a failover from its slot map, which it reloads on MOVED
		// or when the map is older than this (go-redis: 60s); a refused connection
		// to the dead master reloads nothing, so with the default the store could
		// stay unavailable for a minute after the replica took over.
		co.ClusterStateReloadInterval = 5 * time.Second
		return redis.NewClusterClient(co)
	}
	return redis.NewUniversalClient(opt)
}

// String redacts the credentials, for any log line that prints the config.
func (rc RedisConfig) String() string {
	return fmt.Sprintf("redis{addresses=%v master=%q db=%d tls=%t prefix=%q}", rc.Addresses, rc.MasterName, rc.DB, rc.TLS, rc.Prefix)
}

func (rc *RedisConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		rc.Addresses = append(rc.Addresses, d.Val())
		rc.Addresses = append(rc.Addresses, d.RemainingArgs()...)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		switch opt {
		case "address", "addresses":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			rc.Addresses = append(rc.Addresses, args...)
		case "master_name":
			if err := OneArg(d, &rc.MasterName); err != nil {
				return err
			}
		case "username":
			if err := OneArg(d, &rc.Username); err != nil {
				return err
			}
		case "password":
			if err := OneArg(d, &rc.Password); err != nil {
				return err
			}
		case "sentinel_password":
			if err := OneArg(d, &rc.SentinelPassword); err != nil {
				return err
			}
		case "db":
			var v string
			if err := OneArg(d, &v); err != nil {
				return err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return d.Errf("db must be a non-negative integer")
			}
			rc.DB = n
		case "tls":
			if d.NextArg() {
				return d.ArgErr()
			}
			rc.TLS = true
		case "tls_server_name":
			if err := OneArg(d, &rc.TLSServerName); err != nil {
				return err
			}
		case "prefix":
			if err := OneArg(d, &rc.Prefix); err != nil {
				return err
			}
		case "index":
			var v string
			if err := OneArg(d, &v); err != nil {
				return err
			}
			switch v {
			case "on":
				rc.DisableIndex = false
			case "off":
				rc.DisableIndex = true
			default:
				return d.Errf("index must be on or off, not %q", v)
			}
		case "dial_timeout", "read_timeout", "write_timeout", "ttl":
			var v string
			if err := OneArg(d, &v); err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur <= 0 {
				return d.Errf("%s: invalid duration %q", opt, v)
			}
			switch opt {
			case "dial_timeout":
				rc.DialTimeout = caddy.Duration(dur)
			case "read_timeout":
				rc.ReadTimeout = caddy.Duration(dur)
			case "write_timeout":
				rc.WriteTimeout = caddy.Duration(dur)
			default:
				rc.TTL = caddy.Duration(dur)
			}
		default:
			return d.Errf("unrecognized redis option %q", opt)
		}
	}
	return nil
}
