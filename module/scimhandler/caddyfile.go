package scimhandler

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/caddy-scim/caddy-scim/adapters"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("scim", parseCaddyfile)
	// Before handle (and so before route, respond and reverse_proxy): the SCIM
	// endpoint must see /scim/v2/* before any proxy does, without an order line.
	httpcaddyfile.RegisterDirectiveOrder("scim", httpcaddyfile.Before, "handle")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var s Handler
	err := s.UnmarshalCaddyfile(h.Dispenser)
	return &s, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	scim [<matcher>] {
//		base_path     /scim/v2
//		token         <token>            # repeatable; {env.NAME} or {file./path}
//		jwt {
//			issuer     <iss>
//			audience   <aud...>
//			jwks_url   <url> | key_file <pem> | secret <hmac secret>
//			algorithms <alg...>
//			leeway     <duration>
//			require_scope     <scope...>      # all required (scp, scope or roles)
//			require_client_id <client id...>  # one of them (azp, appid or client_id)
//			require_typ       <typ...>        # one of them (e.g. at+jwt)
//		}
//		adapter <driver> { ... }           # gitea, gitlab
//		deprovision   block | delete
//		link_existing off | email | username
//		max_body_size <size>               # e.g. 1MiB
//		max_results   <n>
//		max_scan      <n>                # users a filter or sortBy may scan (10000)
//		bulk_max_operations <n> | off    # /Bulk's maxOperations (100)
//		public_url    <url>
//		timeout       <duration>
//		tenant        <name>             # one per IdP when several provision one application
//		links_file    <path>             # the embedded link store (no redis)
//		link_ttl      <duration>         # no longer used: links are durable
//		protect       <userName|login|id...> # repeatable; administrators are always protected
//		unknown_members skip | reject
//		unknown_attributes ignore | reject
//		redis [<address...>] {
//			address      <host:port...>   # several: cluster, or sentinels with master_name
//			master_name  <name>
//			username     <user>
//			password     <password>       # {env.…} or {file.…}
//			db           <n>
//			tls
//			prefix       <prefix>          # default scim:
//			dial_timeout <duration>
//			read_timeout <duration>
//			write_timeout <duration>
//			ttl          <duration>       # no longer used: links never expire
//			index        on | off
//		}
//		audit {                          # events on the logger http.handlers.scim.audit
//			stream_max_len <n>            # Redis stream cap (100000)
//			stream_max_age <duration>     # also drop older events
//			stream         on | off       # off: the log only
//		}
//	}
func (s *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	words := s.wordOptions()
	for d.NextBlock(0) {
		opt := d.Val()
		if opt != "token" && opt != "protect" && seen[opt] {
			return d.Errf("duplicate option %q", opt)
		}
		seen[opt] = true
		if dst, ok := words[opt]; ok {
			if err := OneArg(d, dst); err != nil {
				return err
			}
			continue
		}
		if err := s.parseOption(d, opt); err != nil {
			return err
		}
	}
	return nil
}

// wordOptions are the options that take one word as it is (checked by Provision).
func (s *Handler) wordOptions() map[string]*string {
	return map[string]*string{
		"base_path": &s.BasePath, "deprovision": &s.Deprovision, "link_existing": &s.LinkExisting,
		"tenant": &s.Tenant, "links_file": &s.LinksFile, "unknown_attributes": &s.UnknownAttributes,
		"unknown_members": &s.UnknownMembers, "public_url": &s.PublicURL,
	}
}

// parseOption parses one option that is not a plain word.
func (s *Handler) parseOption(d *caddyfile.Dispenser, opt string) error {
	switch opt {
	case "token":
		var t string
		if err := OneArg(d, &t); err != nil {
			return err
		}
		s.Tokens = append(s.Tokens, t)
	case "jwt":
		return s.parseJWT(d)
	case "adapter":
		return s.parseAdapter(d)
	case "redis":
		s.Redis = &RedisConfig{}
		return s.Redis.unmarshalCaddyfile(d)
	case "audit":
		s.Audit = &AuditConfig{}
		return s.Audit.unmarshalCaddyfile(d)
	case "protect":
		vals := d.RemainingArgs()
		if len(vals) == 0 {
			return d.ArgErr()
		}
		s.Protect = append(s.Protect, vals...)
	case "max_body_size", "bulk_max_operations", "max_results", "max_scan", "timeout", "link_ttl":
		var v string
		if err := OneArg(d, &v); err != nil {
			return err
		}
		return s.parseQuantity(d, opt, v)
	default:
		return d.Errf("unrecognized scim option %q", opt)
	}
	return nil
}

// parseAdapter reads `adapter <driver> { … }` through the driver module's own
// Caddyfile parsing.
func (s *Handler) parseAdapter(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	driver := d.Val()
	unm, err := caddyfile.UnmarshalModule(d, "scim.adapters."+driver)
	if err != nil {
		return err
	}
	if _, ok := unm.(adapters.UserAdapter); !ok {
		return d.Errf("module scim.adapters.%s (%T) is not a SCIM adapter", driver, unm)
	}
	s.AdapterRaw = caddyconfig.JSONModuleObject(unm, "driver", driver, nil)
	return nil
}

// parseQuantity reads the options that take a size, a count or a duration.
func (s *Handler) parseQuantity(d *caddyfile.Dispenser, opt, v string) error {
	switch opt {
	case "max_body_size":
		n, err := humanize.ParseBytes(v)
		if err != nil {
			return d.Errf("max_body_size: %v", err)
		}
		s.MaxBodySize = int64(n)
	case "bulk_max_operations":
		if v == "off" {
			s.BulkMaxOperations = -1
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return d.Errf("bulk_max_operations must be a positive integer or off, not %q", v)
		}
		s.BulkMaxOperations = n
	case "max_results", "max_scan":
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return d.Errf("%s must be a positive integer", opt)
		}
		if opt == "max_scan" {
			s.MaxScan = n
		} else {
			s.MaxResults = n
		}
	default: // timeout, link_ttl
		dur, err := caddy.ParseDuration(v)
		if err != nil {
			return d.Errf("%s: %v", opt, err)
		}
		if opt == "timeout" {
			s.Timeout = caddy.Duration(dur)
		} else {
			s.LinkTTL = caddy.Duration(dur)
		}
	}
	return nil
}

func (s *Handler) parseJWT(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	j := &JWTConfig{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch opt := d.Val(); opt {
		case "issuer":
			if err := OneArg(d, &j.Issuer); err != nil {
				return err
			}
		case "audience":
			j.Audiences = append(j.Audiences, d.RemainingArgs()...)
			if len(j.Audiences) == 0 {
				return d.ArgErr()
			}
		case "jwks_url":
			if err := OneArg(d, &j.JWKSURL); err != nil {
				return err
			}
		case "key_file":
			if err := OneArg(d, &j.KeyFile); err != nil {
				return err
			}
		case "secret":
			if err := OneArg(d, &j.Secret); err != nil {
				return err
			}
		case "algorithms":
			j.Algorithms = d.RemainingArgs()
			if len(j.Algorithms) == 0 {
				return d.ArgErr()
			}
		case "require_scope", "require_client_id", "require_typ":
			vals := d.RemainingArgs()
			if len(vals) == 0 {
				return d.ArgErr()
			}
			dst := map[string]*[]string{"require_scope": &j.RequireScopes, "require_client_id": &j.RequireClientIDs, "require_typ": &j.RequireTypes}[opt]
			*dst = append(*dst, vals...)
		case "leeway":
			var v string
			if err := OneArg(d, &v); err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil {
				return d.Errf("leeway: %v", err)
			}
			j.Leeway = caddy.Duration(dur)
		default:
			return d.Errf("unrecognized jwt option %q", opt)
		}
	}
	s.JWT = j
	return nil
}

// oneArg reads exactly one argument into dst.
func OneArg(d *caddyfile.Dispenser, dst *string) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
