package scimhandler

import (
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/module/audit"
	"github.com/caddy-scim/caddy-scim/module/auth"
)

// AuditConfig configures the audit trail. Every SCIM write and every refused or
// failed request is one event on the logger http.handlers.scim.audit (route it with
// Caddy's log config) and, with redis, in a capped Redis stream (<prefix>audit)
// shared by every instance, which the activity page and `caddy scim report` read.
// Events hold the caller's identity ("token#N" or the JWT subject), never a token
// or a password.
type AuditConfig struct {
	// StreamMaxLen caps the Redis stream, approximately (Redis trims whole nodes).
	// Default: 100000.
	StreamMaxLen int64 `json:"stream_max_len,omitempty"`
	// StreamMaxAge also drops events older than this. Default: none (only the cap).
	StreamMaxAge caddy.Duration `json:"stream_max_age,omitempty"`
	// DisableStream keeps events out of Redis: the log only.
	DisableStream bool `json:"disable_stream,omitempty"`
}

const defaultAuditStreamLen = 100_000

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
	if !audited(r.Method, status) {
		return
	}
	e := audit.Event{Time: start.UTC(), Site: r.Host, BasePath: h.BasePath, Client: r.UserAgent(), Op: op,
		Method: r.Method, Path: r.URL.Path, Status: status, ScimType: sw.scimType, Detail: sw.detail,
		UpstreamCalls: calls, DurationMS: float64(time.Since(start).Microseconds()) / 1000, RemoteIP: clientIP(r)}
	if p != nil {
		e.Caller, e.Auth, e.ClientID = p.ID, p.Method, p.ClientID
	}
	note.Fill(&e)
	if h.stream != nil {
		h.stream.Add(e)
	}
	if h.ring != nil {
		h.ring.Add(e)
	}
	if h.auditLog == nil { // a handler built without Provision (unit tests)
		return
	}
	msg := "scim write"
	if e.Refused() {
		msg = "scim request refused"
	}
	h.auditLog.Info(msg, zap.String("site", e.Site), zap.String("base_path", e.BasePath), zap.String("caller", e.Caller),
		zap.String("auth", e.Auth), zap.String("client_id", e.ClientID), zap.String("client", e.Client), zap.String("op", e.Op), zap.String("method", e.Method),
		zap.String("path", e.Path), zap.String("id", e.ID), zap.String("external_id", e.ExternalID), zap.String("name", e.Name),
		zap.Int("status", e.Status), zap.String("scim_type", e.ScimType), zap.String("detail", e.Detail),
		zap.Int64("upstream_calls", e.UpstreamCalls), zap.Float64("duration_ms", e.DurationMS), zap.String("remote_ip", e.RemoteIP))
}

func (ac *AuditConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		var v string
		if err := oneArg(d, &v); err != nil {
			return err
		}
		switch opt {
		case "stream_max_len":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return d.Errf("stream_max_len must be a positive integer, not %q", v)
			}
			ac.StreamMaxLen = n
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
