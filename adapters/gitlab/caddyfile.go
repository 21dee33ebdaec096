package gitlab

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// UnmarshalCaddyfile sets up the adapter from Caddyfile tokens. The dispenser is
// positioned on the adapter name (after the handler's "adapter" keyword):
//
//	gitlab [<url>] {
//		url               https://gitlab.example.com
//		token             {env.GITLAB_TOKEN}
//		identity_provider saml              # default caddy_scim
//		link_existing     off|email|username
//		timeout           30s
//		parent_group      acme/teams        # id or full path; default: top level
//		group_access_level developer        # guest|planner|reporter|developer|maintainer|owner or a number
//	}
func (a *Adapter) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the adapter name
	if d.NextArg() {
		a.URL = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		if seen[opt] {
			return d.Errf("duplicate gitlab option '%s'", opt)
		}
		seen[opt] = true
		var val string
		if !d.Args(&val) {
			return d.ArgErr()
		}
		if d.NextArg() {
			return d.ArgErr()
		}
		switch opt {
		case "url":
			if a.URL != "" {
				return d.Err("gitlab url given twice")
			}
			a.URL = val
		case "token":
			a.Token = val
		case "identity_provider":
			if val == "scim" {
				return d.Errf("identity_provider 'scim' is reserved by GitLab EE; use the SAML provider name or caddy_scim")
			}
			a.IdentityProvider = val
		case "link_existing":
			switch val {
			case "off", "email", "username":
			default:
				return d.Errf("link_existing must be off, email or username, not '%s'", val)
			}
			a.LinkExisting = val
		case "timeout":
			dur, err := caddy.ParseDuration(val)
			if err != nil {
				return d.Errf("bad timeout '%s': %v", val, err)
			}
			if dur <= 0 {
				return d.Errf("timeout must be positive")
			}
			a.Timeout = caddy.Duration(dur)
		case "parent_group":
			if err := checkParentGroup(val); err != nil {
				return d.Errf("%v", err)
			}
			a.ParentGroup = val
		case "group_access_level":
			lvl, err := ParseAccessLevel(val)
			if err != nil {
				return d.Errf("%v", err)
			}
			a.GroupAccessLevel = lvl
		default:
			return d.Errf("unrecognized gitlab option '%s'", opt)
		}
	}
	return nil
}
