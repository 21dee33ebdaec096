package scimhandler

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"
	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/module/audit"
	"github.com/caddy-scim/caddy-scim/module/auth"
)

// AuditConfig configures the audit trail. Every SCIM write and every refused or
// failed request is one event on the logger http.handlers.scim.audit (route it with
// Caddy's log config) and, with redis, in a capped Redis stream (<prefix>audit)
// shared by every instance, which the activity page and `caddy scim report` read.
// Events hold the caller's identity ("token#N" or the JWT subject), never a token
// or a password, and every field a client chooses is clipped (audit.Bound), so one
// event takes at most 2 KiB (audit.MaxEventBytes). Unauthenticated requests, which
// anyone can send, are events of their own only 10 a second (20 at once) per
// handler; the others are counted in one event every 10 s.
type AuditConfig struct {
	// StreamMaxLen caps the Redis stream, approximately (Redis trims whole nodes).
	// Default: 100000.
	StreamMaxLen int64 `json:"stream_max_len,omitempty"`
	// StreamMaxBytes caps the stream's size too: it keeps at most
	// min(stream_max_len, stream_max_bytes / 2 KiB) events, counting each at the
	// most an event takes, so no client can grow Redis past it. Default: 64 MiB
	// (32768 events).
	StreamMaxBytes int64 `json:"stream_max_bytes,omitempty"`
	// StreamMaxAge also drops events older than this. Default: none (only the cap).
	StreamMaxAge caddy.Duration `json:"stream_max_age,omitempty"`
	// DisableStream keeps events out of Redis: the log only.
	DisableStream bool `json:"disable_stream,omitempty"`
}

// check refuses a stream_max_bytes that holds no event.
func (ac *AuditConfig) check() error {
	if ac.StreamMaxBytes != 0 && ac.StreamMaxBytes < audit.MaxEventBytes {
		return fmt.Errorf("audit stream_max_bytes must hold at least one event (%d bytes), not %d", audit.MaxEventBytes, ac.StreamMaxBytes)
	}
	if ac.StreamMaxBytes < 0 || ac.StreamMaxLen < 0 {
		return fmt.Errorf("audit stream_max_len and stream_max_bytes must not be negative")
	}
	return nil
}

// streamLen is the stream's effective cap: the smaller of its length and its size.
func (ac *AuditConfig) streamLen() int64 {
	n, size := ac.StreamMaxLen, ac.StreamMaxBytes
	if n <= 0 {
		n = defaultAuditStreamMaxLen
	}
	if size <= 0 {
		size = defaultAuditStreamBytes
	}
	return audit.StreamLen(n, size)
}

const (
	defaultAuditStreamMaxLen = 100_000 // stream_max_len's default
	defaultAuditStreamBytes  = 64 << 20
	// defaultAuditStreamLen is the cap without an audit block: both defaults.
	defaultAuditStreamLen = min(defaultAuditStreamMaxLen, defaultAuditStreamBytes/audit.MaxEventBytes)
)

// The budget of unauthenticated requests audited one by one, per handler, and how
// often the others are summed up in one event.
const (
	unauthPerSecond    = 10
	unauthBurst        = 20
	unauthSummaryEvery = 10 * time.Second
)

// ringSize is how many events each handler keeps in memory (for the admin API
// without Redis).
const ringSize = 1000

// audited reports whether a request makes an audit event: writes, and anything
// refused or failed.
func audited(method string, status int) bool {
	return status >= 400 || (method != http.MethodGet && method != http.MethodHead)
}

// audit writes the event of one request.
func (h *Handler) audit(r *http.Request, op string, p *auth.Principal, sw *statusWriter, note *audit.Note, calls int64, start time.Time) {
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	if !audited(r.Method, status) || (p == nil && note.CountedOnly()) {
		return // the latter is in the next summary of unauthenticated requests
	}
	e := audit.Event{Time: start.UTC(), Site: r.Host, BasePath: h.BasePath, Tenant: h.Tenant, Client: r.UserAgent(), Op: op,
		Method: r.Method, Path: r.URL.Path, Status: status, ScimType: sw.scimType, Detail: sw.detail,
		UpstreamCalls: calls, DurationMS: float64(time.Since(start).Microseconds()) / 1000, RemoteIP: clientIP(r)}
	if p != nil {
		e.Caller, e.Auth, e.ClientID = p.ID, p.Method, p.ClientID
	}
	note.Fill(&e)
	h.sink().record("", e)
}

// auditSink is where a handler's events go. A Gate's summary holds one of its own,
// taken while the handler served, as its timer may fire after Cleanup.
type auditSink struct {
	stream *audit.Stream
	ring   *audit.Ring
	log    *zap.Logger
}

func (h *Handler) sink() auditSink { return auditSink{h.stream, h.ring, h.auditLog} }

// record bounds e and writes it to the stream, the ring and the log (with msg, or
// by the outcome).
func (s auditSink) record(msg string, e audit.Event) {
	e = audit.Bound(e)
	if s.stream != nil {
		s.stream.Add(e)
	}
	if s.ring != nil {
		s.ring.Add(e)
	}
	if s.log == nil { // a handler built without Provision (unit tests)
		return
	}
	switch {
	case msg != "":
	case e.Refused():
		msg = "scim request refused"
	default:
		msg = "scim write"
	}
	s.log.Info(msg, zap.String("site", e.Site), zap.String("base_path", e.BasePath), zap.String("tenant", e.Tenant), zap.String("caller", e.Caller),
		zap.String("auth", e.Auth), zap.String("client_id", e.ClientID), zap.String("client", e.Client), zap.String("op", e.Op), zap.String("method", e.Method),
		zap.String("path", e.Path), zap.String("id", e.ID), zap.String("external_id", e.ExternalID), zap.String("name", e.Name),
		zap.Int("status", e.Status), zap.String("scim_type", e.ScimType), zap.String("detail", e.Detail),
		zap.Int64("upstream_calls", e.UpstreamCalls), zap.Float64("duration_ms", e.DurationMS), zap.String("remote_ip", e.RemoteIP))
}

// newUnauthGate makes the handler's budget of unauthenticated requests audited one
// by one (Provision); the others are summed up in one event per interval.
func (h *Handler) newUnauthGate() *audit.Gate {
	sink, base, tenant := h.sink(), h.BasePath, h.Tenant
	return audit.NewGate(unauthPerSecond, unauthBurst, unauthSummaryEvery, func(s audit.Summary) {
		detail := fmt.Sprintf("%d unauthenticated requests refused, not recorded one by one, in %s",
			s.Refused, s.Until.Sub(s.Since).Round(time.Second))
		if s.TopAddr != "" {
			detail += fmt.Sprintf("; %d from %s", s.TopCount, s.TopAddr)
		}
		sink.record("scim unauthenticated requests refused (summary)", audit.Event{Time: s.Until.UTC(), BasePath: base,
			Tenant: tenant, Op: opUnauthenticated, Path: base, Status: http.StatusUnauthorized, Detail: detail, RemoteIP: s.TopAddr})
	})
}

// unauthGate is the handler's budget; nil for a handler built without Provision.
func (h *Handler) unauthGate() *audit.Gate { return h.unauth }

// opUnauthenticated is the op of the events that sum up unauthenticated requests.
const opUnauthenticated = "unauthenticated"

func (ac *AuditConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		var v string
		if err := OneArg(d, &v); err != nil {
			return err
		}
		switch opt {
		case "stream_max_len":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return d.Errf("stream_max_len must be a positive integer, not %q", v)
			}
			ac.StreamMaxLen = n
		case "stream_max_bytes":
			n, err := humanize.ParseBytes(v)
			if err != nil || n < audit.MaxEventBytes || n > 1<<62 {
				return d.Errf("stream_max_bytes must be a size of at least %d bytes (e.g. 64MiB), not %q", audit.MaxEventBytes, v)
			}
			ac.StreamMaxBytes = int64(n)
		case "stream_max_age":
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur <= 0 {
				return d.Errf("stream_max_age: invalid duration %q", v)
			}
			ac.StreamMaxAge = caddy.Duration(dur)
		case "stream":
			switch v {
			case "on", "off":
				ac.DisableStream = v == "off"
			default:
				return d.Errf("stream must be on or off, not %q", v)
			}
		default:
			return d.Errf("unknown audit option %q", opt)
		}
	}
	return nil
}
