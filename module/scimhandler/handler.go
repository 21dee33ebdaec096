// Package scimhandler is the Caddy HTTP handler http.handlers.scim: it answers SCIM 2.0
// requests under base_path and passes every other request to the next handler. The
// SCIM rules live in module/provision and module/scim; this package routes, decodes,
// answers, and wires the adapter, the link store, authentication, the audit trail and
// metrics. What an operator sees of the handlers (the activity page, the admin API) is
// module/scimops, which reads them only through views.go (Live and the Handler's methods).
package scimhandler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/audit"
	"github.com/caddy-scim/caddy-scim/module/auth"
	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/provision"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler serves a SCIM 2.0 endpoint (RFC 7643, RFC 7644) for the application behind
// Caddy. Each SCIM operation is translated by an adapter (namespace scim.adapters)
// into calls on the application's admin API. Requests outside base_path go to the
// next handler untouched.
//
// After authentication the placeholder {http.auth.user.id} is set to the client's
// identity ("token#N" for the N-th static token, or the JWT subject), so Caddy's
// access log records who provisioned what.
type Handler struct {
	// BasePath is the URL path prefix of the SCIM endpoint. Default: /scim/v2.
	BasePath string `json:"base_path,omitempty"`

	// Tokens are static bearer tokens accepted from the identity provider. Use
	// {env.NAME} or {file./path} placeholders; they are resolved when the config
	// loads and an unset variable or unreadable file fails the load. Each token must
	// be at least 16 characters.
	Tokens []string `json:"tokens,omitempty"`

	// JWT accepts signed JWT bearer tokens besides (or instead of) static tokens.
	JWT *JWTConfig `json:"jwt,omitempty"`

	// AdapterRaw is the upstream adapter, e.g. {"driver":"gitea","url":…}.
	AdapterRaw json.RawMessage `json:"adapter,omitempty" caddy:"namespace=scim.adapters inline_key=driver"`

	// Deprovision decides what DELETE /Users/{id} does: "block" (default) blocks the
	// upstream user and keeps its identity link, so the IdP can bring it back;
	// "delete" deletes the upstream user. PATCH active=false always blocks.
	Deprovision string `json:"deprovision,omitempty"`

	// LinkExisting lets a POST adopt an upstream user that SCIM does not manage yet
	// when its "email" or "username" matches. Default "off": such a POST is 409.
	// Upstream administrators are never adopted.
	LinkExisting string `json:"link_existing,omitempty"`

	// Tenant names the identity provider this handler serves when several handlers
	// provision one application: each marks the accounts and groups it creates
	// with its tenant (in the application where the adapter has room, and in the
	// link store), and sees, changes and adopts only its own. Letters, digits,
	// '-', '_' and '.', at most 32. Default: "" (the default tenant, which
	// accounts provisioned before tenants existed belong to).
	Tenant string `json:"tenant,omitempty"`

	// MaxBodySize caps request bodies in bytes. Default: 1 MiB.
	MaxBodySize int64 `json:"max_body_size,omitempty"`

	// MaxResults caps the page size of list answers (SPC filter.maxResults).
	// Default: 200.
	MaxResults int `json:"max_results,omitempty"`

	// MaxScan bounds the managed users that a query the upstream cannot answer
	// (a filter other than an equality on userName, externalId, id or
	// emails.value, or a sortBy) is evaluated over; a larger one is refused with
	// 400 tooMany rather than left to run past the IdP's timeout. A plain listing
	// is answered from the Redis link index at any size, and only without one is
	// it bounded too. Default: 10000.
	MaxScan int `json:"max_scan,omitempty"`

	// PublicURL is the externally visible URL of the SCIM root used in meta.location
	// and Location headers, e.g. https://app.example.com/scim/v2. Default: built
	// from the request's scheme and the Host that Caddy matched.
	PublicURL string `json:"public_url,omitempty"`

	// Timeout bounds the work of one SCIM request, upstream calls included.
	// IdPs give up after 60s. Default: 50s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// LinksFile is the embedded link store used without redis: a file in Caddy's
	// data directory by default (<data dir>/scim/links.db), shared by every scim
	// handler of this Caddy, each in its own namespace (base path and tenant). It
	// is the record of the identities SCIM provisioned: back it up (caddy scim
	// links export). Several Caddy instances must share redis instead.
	LinksFile string `json:"links_file,omitempty"`

	// LinkTTL is no longer used: links are durable. Accepted (and logged) so that
	// older configs still load.
	LinkTTL caddy.Duration `json:"link_ttl,omitempty"`

	// Protect names upstream accounts — by SCIM userName, upstream login or id — that
	// SCIM never modifies, blocks, deletes, adopts or reactivates (requests answer 403
	// and are logged). Upstream administrators are always protected.
	Protect []string `json:"protect,omitempty"`

	// UnknownMembers decides what a group write does with member ids that are no SCIM
	// user (a user the IdP failed to provision, or has not yet): "skip" (default)
	// applies the known members, skips the others, counts them in
	// caddy_scim_unknown_members_total and logs their ids; "reject" answers 400
	// and applies nothing.
	UnknownMembers string `json:"unknown_members,omitempty"`

	// UnknownAttributes decides what a POST, PUT or PATCH does with attributes and
	// extension schemas this server does not know (IdPs send custom ones): "ignore"
	// (default) drops them, counts them in caddy_scim_unknown_attributes_total and
	// logs each name once; "reject" answers 400.
	UnknownAttributes string `json:"unknown_attributes,omitempty"`

	// Redis, when set, keeps the identity links in Redis, shared by every Caddy
	// instance that uses the same Redis and prefix. Absent: an in-process store.
	Redis *RedisConfig `json:"redis,omitempty"`

	// BulkMaxOperations is /Bulk's maxOperations (its maxPayloadSize is
	// max_body_size). Default: 100; -1 turns /Bulk off (501).
	BulkMaxOperations int `json:"bulk_max_operations,omitempty"`

	// Audit configures the audit trail (on by default; see AuditConfig).
	Audit *AuditConfig `json:"audit,omitempty"`

	adapter  adapters.UserAdapter
	groups   adapters.GroupAdapter
	auth     *auth.Authenticator
	svc      *provision.Service
	logger   *zap.Logger
	features scim.Features
	cancel   context.CancelFunc
	redisKey string // set only after a successful redisPool.LoadOrNew
	boltKey  string // set only after a successful boltPool.LoadOrNew
	// indexed is the store's completeness index, when it has one (Redis with
	// index on, Bolt): a goroutine keeps it honest.
	indexed links.Index
	// boltStore is the embedded store, for its transaction counter.
	boltStore *links.Bolt
	store     links.Store
	// redisStore is the unguarded Redis store, for its round-trip counter.
	redisStore *links.Redis
	metrics    *handlerMetrics
	kindSet    *kinds
	lenient    scim.Lenient // nil with unknown_attributes reject
	auditLog   *zap.Logger
	stream     *audit.Stream // nil without redis or with the stream off
	unauth     *audit.Gate   // the budget of unauthenticated requests audited one by one
	ring       *audit.Ring   // this process's newest events
	redisConn  redis.UniversalClient
	prefix     string                  // the Redis key prefix
	lastHealth *atomic.Pointer[Health] // set in Provision
	rebuild    *atomic.Pointer[RebuildProgress]
	drift      *driftCache
}

// JWTConfig configures JWT bearer tokens.
type JWTConfig struct {
	// Issuer is the required "iss" claim.
	Issuer string `json:"issuer,omitempty"`
	// Audiences are the accepted "aud" values; one must match.
	Audiences []string `json:"audiences,omitempty"`
	// Secret is an HMAC secret (HS256/384/512); use {env.…} or {file.…}.
	Secret string `json:"secret,omitempty"`
	// KeyFile is a PEM public key or certificate (RSA, ECDSA, Ed25519).
	KeyFile string `json:"key_file,omitempty"`
	// JWKSURL is a JWKS endpoint (https, or http on loopback), cached and refreshed
	// on key rotation.
	JWKSURL string `json:"jwks_url,omitempty"`
	// Algorithms is the allow-list of signing algorithms. Default: derived from the
	// key. "none" is never accepted.
	Algorithms []string `json:"algorithms,omitempty"`
	// Leeway is the allowed clock skew for exp and nbf. Default: 60s.
	Leeway caddy.Duration `json:"leeway,omitempty"`
	// RequireScopes are scopes every token must carry (in scp, scope, or Entra's
	// roles of app-only tokens). Without a requirement, any token of the issuer
	// for the audience is accepted — with audience set to an OIDC client id, a
	// user's own ID token too.
	RequireScopes []string `json:"require_scopes,omitempty"`
	// RequireClientIDs are the clients allowed to call (azp, appid or client_id).
	RequireClientIDs []string `json:"require_client_ids,omitempty"`
	// RequireTypes are the accepted typ header values (e.g. at+jwt).
	RequireTypes []string `json:"require_types,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.scim",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets defaults, resolves secrets, loads the adapter and builds the
// authenticator, the link store, the audit trail and the provisioning service.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	h.auditLog = h.logger.Named("audit")
	h.ring = audit.NewRing(ringSize)
	h.setDefaults()
	if err := h.validateModes(); err != nil {
		return err
	}
	actx, cancel := context.WithCancel(ctx)
	h.cancel = cancel
	if err := h.buildAuth(actx); err != nil {
		return err
	}
	if err := h.loadAdapter(ctx); err != nil {
		return err
	}
	h.buildFeatures()
	store, err := h.linkStore(ctx)
	if err != nil {
		return err
	}
	h.store = store
	if err := h.buildAudit(); err != nil {
		return err
	}
	h.svc = h.newService(store)
	if err := h.registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		h.logger.Warn("scim metrics disabled", zap.Error(err))
	}
	h.rebuild = new(atomic.Pointer[RebuildProgress])
	h.drift = &driftCache{}
	h.lenient = h.lenientDecoding()
	h.kinds()
	if h.indexed != nil {
		go h.svc.MaintainIndex(actx, indexCheckInterval, h.indexEvents())
	}
	h.lastHealth = new(atomic.Pointer[Health])
	go h.watchHealth(actx)
	register(h)
	return nil
}

// setDefaults fills the options left unset.
func (h *Handler) setDefaults() {
	if h.BasePath == "" {
		h.BasePath = "/scim/v2"
	}
	h.BasePath = "/" + strings.Trim(h.BasePath, "/")
	if h.Deprovision == "" {
		h.Deprovision = provision.DeprovisionBlock
	}
	if h.MaxBodySize <= 0 {
		h.MaxBodySize = 1 << 20
	}
	if h.MaxResults <= 0 {
		h.MaxResults = 200
	}
	if h.Timeout <= 0 {
		h.Timeout = caddy.Duration(50 * time.Second)
	}
}

// buildAuth resolves the credentials' placeholders (an unset variable fails the
// load) and builds the authenticator; its key fetching ends with ctx.
func (h *Handler) buildAuth(ctx context.Context) error {
	repl := caddy.NewReplacer()
	acfg := auth.Config{}
	for i, t := range h.Tokens {
		v, err := repl.ReplaceOrErr(t, true, true)
		if err != nil {
			return fmt.Errorf("resolving token #%d: %v", i+1, err)
		}
		acfg.Tokens = append(acfg.Tokens, v)
	}
	if h.JWT != nil {
		jc, err := h.JWT.resolved(repl)
		if err != nil {
			return err
		}
		acfg.JWT = jc
	}
	if len(acfg.Tokens) == 0 && acfg.JWT == nil {
		return fmt.Errorf("no credentials configured: set at least one token or a jwt block")
	}
	a, err := auth.New(ctx, acfg)
	if err != nil {
		return fmt.Errorf("setting up authentication: %v", err)
	}
	h.auth = a
	return nil
}

// resolved is the authenticator's JWT config: the operator's, its placeholders
// resolved and its durations Go's (the config keeps Caddy's JSON forms).
func (c *JWTConfig) resolved(repl *caddy.Replacer) (*auth.JWTConfig, error) {
	secret := c.Secret
	if secret != "" {
		v, err := repl.ReplaceOrErr(secret, true, true)
		if err != nil {
			return nil, fmt.Errorf("resolving jwt secret: %v", err)
		}
		secret = v
	}
	return &auth.JWTConfig{
		Issuer:     repl.ReplaceKnown(c.Issuer, ""),
		Audiences:  c.Audiences,
		Secret:     secret,
		KeyFile:    repl.ReplaceKnown(c.KeyFile, ""),
		JWKSURL:    repl.ReplaceKnown(c.JWKSURL, ""),
		Algorithms: c.Algorithms,
		Leeway:     time.Duration(c.Leeway),

		RequireScopes:    c.RequireScopes,
		RequireClientIDs: c.RequireClientIDs,
		RequireTypes:     c.RequireTypes,
	}, nil
}

// loadAdapter loads the adapter module, gives it the tenant and takes its groups
// and its link_existing default.
func (h *Handler) loadAdapter(ctx caddy.Context) error {
	if h.AdapterRaw == nil {
		return fmt.Errorf("no adapter configured")
	}
	mod, err := ctx.LoadModule(h, "AdapterRaw")
	if err != nil {
		return fmt.Errorf("loading adapter: %v", err)
	}
	ua, ok := mod.(adapters.UserAdapter)
	if !ok {
		return fmt.Errorf("adapter %T does not implement adapters.UserAdapter", mod)
	}
	h.adapter = ua
	if err := adapters.CheckTenant(h.Tenant); err != nil {
		return err
	}
	if tn, ok := mod.(adapters.Tenancy); ok {
		if err := tn.SetTenant(h.Tenant); err != nil {
			return fmt.Errorf("tenant: %v", err)
		}
	} else if h.Tenant != "" {
		return fmt.Errorf("tenant %q: the %s adapter cannot keep tenants apart in the application", h.Tenant, ua.Info().Name)
	}
	h.groups = adapters.Groups(mod) // nil when absent or switched off (gitea without organization)
	// link_existing may also be written inside the adapter block; the handler's own
	// option, when given (off included), wins
	if lm, ok := mod.(adapters.LinkExistingDefault); ok && h.LinkExisting == "" {
		h.LinkExisting = lm.LinkExistingMode()
	}
	if h.LinkExisting == "" {
		h.LinkExisting = provision.LinkOff
	}
	return h.validateModes()
}

// buildFeatures is what discovery advertises.
func (h *Handler) buildFeatures() {
	info := h.adapter.Info()
	h.features = scim.Features{
		MaxResults:      h.MaxResults,
		Groups:          h.groups != nil,
		Sort:            true,
		ETag:            true,
		JWT:             h.JWT != nil,
		UserAttributes:  info.UserAttributes,
		GroupAttributes: info.GroupAttributes,
		BulkMaxPayload:  h.MaxBodySize,
	}
	switch {
	case h.BulkMaxOperations == 0:
		h.features.BulkMaxOperations = defaultBulkOperations
	case h.BulkMaxOperations > 0:
		h.features.BulkMaxOperations = h.BulkMaxOperations
	}
}

// buildAudit checks the audit options and starts the shared stream (with redis).
func (h *Handler) buildAudit() error {
	if h.Audit == nil {
		h.Audit = &AuditConfig{}
	}
	if err := h.Audit.check(); err != nil {
		return err
	}
	if h.redisConn != nil && !h.Audit.DisableStream {
		h.stream = audit.NewStream(h.redisConn, h.prefix+"audit", h.Audit.streamLen(), time.Duration(h.Audit.StreamMaxAge))
	}
	h.unauth = h.newUnauthGate()
	return nil
}

// newService builds the provisioning service over the adapter and store, its
// events logged.
func (h *Handler) newService(store links.Store) *provision.Service {
	var batchLogged atomic.Int64 // unix time of the last "batch read failed" line
	return &provision.Service{
		Adapter:        h.adapter,
		Links:          store,
		Tenant:         h.Tenant,
		Groups:         h.groups,
		Deprovision:    h.Deprovision,
		LinkExisting:   h.LinkExisting,
		MaxResults:     h.MaxResults,
		MaxScan:        h.MaxScan,
		Protect:        h.Protect,
		UnknownMembers: h.UnknownMembers,
		OnUnknownMembers: func(group string, ids []string) {
			if h.metrics != nil {
				h.metrics.unknownMembers.Add(float64(len(ids)))
			}
			h.logger.Warn("scim group members skipped: no such SCIM user", zap.String("group", group),
				zap.Int("count", len(ids)), zap.Strings("ids", ids[:min(len(ids), 20)]))
		},
		OnDrift: func(id, ofRecord, upstream string) {
			h.logger.Warn("scim user renamed in the application: SCIM keeps the IdP's userName until the IdP's next write renames it back",
				zap.String("id", id), zap.String("user_name", ofRecord), zap.String("upstream_user_name", upstream))
		},
		OnAdopted: func(id, upstreamUserName, userName, externalID, by string) {
			h.logger.Warn("scim adopted an existing upstream account", zap.String("id", id), zap.String("upstream_user_name", upstreamUserName),
				zap.String("user_name", userName), zap.String("external_id", externalID), zap.String("matched_by", by))
		},
		OnBatchFailed: func(err error) {
			// at most once a minute: an application that refuses every batch would
			// otherwise log each list page
			if now := time.Now().Unix(); batchLogged.Swap(now) < now-60 {
				h.logger.Warn("scim list page read its users one by one: the batch read failed", zap.Error(err))
			}
		},
		OnRefused: func(op, id, userName, why string) {
			h.logger.Warn("scim request refused by a safety rule", zap.String("op", op), zap.String("id", id),
				zap.String("user_name", userName), zap.String("why", why))
		},
	}
}

// maxLoggedUnknown bounds the distinct unknown attribute names logged (once each).
const maxLoggedUnknown = 256

// lenientDecoding drops unknown attributes (unknown_attributes ignore), counting
// each and logging each name the first time it is seen.
func (h *Handler) lenientDecoding() scim.Lenient {
	if h.UnknownAttributes == "reject" {
		return nil
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	return func(name string) {
		if h.metrics != nil {
			h.metrics.unknownAttributes.Inc()
		}
		mu.Lock()
		first := !seen[name] && len(seen) < maxLoggedUnknown
		if first {
			seen[name] = true
		}
		mu.Unlock()
		if first {
			h.logger.Info("scim attribute unknown to this server ignored (logged once per name)", zap.String("attribute", name))
		}
	}
}

// indexCheckInterval is how often an instance compares the link index's mark with
// the Redis servers' run_id (new connections trigger a check at once).
const indexCheckInterval = 10 * time.Second

// indexEvents logs what the link index maintainer does.
func (h *Handler) indexEvents() provision.IndexEvents {
	log := h.logger.Named("index")
	var lastLog time.Time
	return provision.IndexEvents{
		Progress: func(phase string, done, total int) {
			prev := h.rebuild.Load()
			p := &RebuildProgress{Phase: phase, Done: done, Total: total, Started: time.Now().UTC()}
			if prev != nil && prev.Phase != "" {
				p.Started = prev.Started
			}
			h.rebuild.Store(p)
			// at each phase and at most every 5 s: a rebuild of 50k users takes ~20 s
			if prev == nil || prev.Phase != phase || time.Since(lastLog) >= 5*time.Second {
				lastLog = time.Now()
				log.Info("link index rebuild progress", zap.String("phase", phase), zap.Int("done", done), zap.Int("total", total))
			}
		},
		Complete: func(n int, took time.Duration) {
			h.rebuild.Store(&RebuildProgress{})
			log.Info("link index rebuilt from the upstream", zap.Int("links", n), zap.Duration("took", took))
		},
		Refreshed: func(n int, took time.Duration) {
			log.Info("link index refreshed from the upstream", zap.Int("links", n), zap.Duration("took", took))
		},
		Invalidated: func(reason string) { log.Warn("link index dropped", zap.String("reason", reason)) },
		Trusted: func(ok bool) {
			if ok {
				log.Info("link index complete: POSTs of new identities skip the upstream lookups")
			} else {
				log.Info("link index not complete: POSTs look identities up in the upstream")
			}
		},
		Failed: func(err error) {
			h.rebuild.Store(&RebuildProgress{})
			log.Warn("link index check failed; POSTs look identities up in the upstream", zap.Error(err))
		},
	}
}

func (h *Handler) validateModes() error {
	switch h.Deprovision {
	case "", provision.DeprovisionBlock, provision.DeprovisionDelete:
	default:
		return fmt.Errorf("deprovision must be block or delete, not %q", h.Deprovision)
	}
	switch h.UnknownAttributes {
	case "", "ignore", "reject":
	default:
		return fmt.Errorf("unknown_attributes must be ignore or reject, not %q", h.UnknownAttributes)
	}
	switch h.UnknownMembers {
	case "", provision.UnknownMembersSkip, provision.UnknownMembersReject:
	default:
		return fmt.Errorf("unknown_members must be skip or reject, not %q", h.UnknownMembers)
	}
	return adapters.CheckLinkExisting(h.LinkExisting)
}

// Validate checks the provisioned configuration.
func (h *Handler) Validate() error {
	if err := h.validateModes(); err != nil {
		return err
	}
	if h.PublicURL != "" && !strings.HasPrefix(h.PublicURL, "https://") && !strings.HasPrefix(h.PublicURL, "http://") {
		return fmt.Errorf("public_url must be an absolute http(s) URL")
	}
	if h.adapter == nil {
		return fmt.Errorf("no adapter configured")
	}
	return nil
}

// Cleanup stops background work. It is safe on a half-provisioned handler.
func (h *Handler) Cleanup() error {
	unregister(h)
	if h.cancel != nil {
		h.cancel()
	}
	if h.auth != nil {
		h.auth.Close()
	}
	if h.unauth != nil {
		h.unauth.Flush() // a pending summary is written before the stream closes
	}
	if h.stream != nil {
		h.stream.Close()
		h.stream = nil
	}
	h.releaseNamespace()
	if h.boltKey != "" {
		_, _ = boltPool.Delete(h.boltKey)
		h.boltKey = ""
	}
	if h.redisKey != "" {
		_, err := redisPool.Delete(h.redisKey)
		h.redisKey = ""
		return err
	}
	return nil
}

// ServeHTTP answers requests under base_path and passes the others on.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	rest, ok := h.underBase(r.URL.Path)
	if !ok {
		return next.ServeHTTP(w, r)
	}
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	w = sw
	op := opLabel(r.Method, rest)
	actx, note := audit.WithNote(r.Context())
	actx, calls := adapters.WithCallCount(actx)
	r = r.WithContext(actx)
	var who *auth.Principal // nil until authenticated
	defer func() {
		h.observe(op, sw.status, start)
		h.audit(r, op, who, sw, note, calls(), start)
	}()
	p, err := h.auth.Authenticate(r)
	if err != nil {
		h.unauthorized(w, r, err)
		return nil
	}
	who = &p
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set("http.auth.user.id", p.ID)
	}
	deadline := start.Add(time.Duration(h.Timeout))
	// the principal rides along for /Bulk, whose operations are audited one by one
	ctx, cancel := context.WithDeadline(context.WithValue(r.Context(), principalKey{}, who), deadline)
	defer cancel()
	r = r.WithContext(ctx)
	// A client that sends its body slowly holds a goroutine and a buffer: the body
	// gets the request's time too (net/http resets the deadline for the next request
	// on the connection). Not every transport supports it; those keep Caddy's timeouts.
	_ = http.NewResponseController(w).SetReadDeadline(deadline)
	r.Body = http.MaxBytesReader(w, r.Body, h.MaxBodySize)
	h.route(w, r, rest)
	return nil
}

// unauthorized answers 401 with a SCIM body and logs why, never the credential.
// Anyone can send such requests: past the handler's budget (unauthGate) one is
// neither logged nor audited on its own, only counted in the next summary event.
func (h *Handler) unauthorized(w http.ResponseWriter, r *http.Request, err error) {
	if g := h.unauthGate(); g != nil && !g.Allow(clientIP(r)) {
		audit.CountOnly(r.Context())
	} else {
		fields := []zap.Field{zap.String("reason", audit.Clip(err.Error(), 512)), zap.String("remote_ip", clientIP(r)),
			zap.String("method", audit.Clip(r.Method, 32)), zap.String("path", audit.Clip(r.URL.Path, 512))}
		var ae *auth.AuthError
		if errors.As(err, &ae) && ae.Detail() != "" {
			fields = append(fields, zap.String("detail", audit.Clip(ae.Detail(), 512)))
		}
		if errors.Is(err, auth.ErrKeysUnavailable) {
			h.logger.Warn("scim request rejected: the JWT signing keys cannot be fetched", fields...)
		} else {
			h.logger.Info("scim request rejected", fields...)
		}
	}
	challenge := `Bearer realm="scim"`
	if !errors.Is(err, auth.ErrMissingToken) {
		challenge += `, error="invalid_token"` // RFC 6750 §3
	}
	w.Header().Set("WWW-Authenticate", challenge)
	if r.ContentLength != 0 {
		// The body is never read: without this, Caddy keeps the connection and waits
		// for the unread body before the client sees the 401 (a client trickling its
		// body held it until the read_header timeout, 1 min by default).
		w.Header().Set("Connection", "close")
	}
	writeError(w, &scim.Error{Status: http.StatusUnauthorized, Detail: "authentication failed: " + err.Error()})
}

// underBase reports whether path is under base_path, and the remainder ("" or "/…").
func (h *Handler) underBase(path string) (string, bool) {
	if !strings.HasPrefix(path, h.BasePath) {
		return "", false
	}
	rest := path[len(h.BasePath):]
	if rest != "" && rest[0] != '/' {
		return "", false
	}
	return strings.TrimSuffix(rest, "/"), true
}

func clientIP(r *http.Request) string {
	if addr := r.RemoteAddr; addr != "" {
		if i := strings.LastIndexByte(addr, ':'); i > 0 {
			return addr[:i]
		}
		return addr
	}
	return ""
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
