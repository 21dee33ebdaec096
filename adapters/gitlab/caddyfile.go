package gitlab

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-scim/caddy-scim/adapters"
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
	return adapters.ParseBlock(d, "gitlab", &a.URL, nil, func(opt string, vals []string) error {
		val := vals[0]
		switch opt {
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
		return nil
	})
}
