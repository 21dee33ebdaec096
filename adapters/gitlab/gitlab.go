// Package gitlab is the caddy-scim adapter for GitLab (module scim.adapters.gitlab).
// It maps SCIM users onto GitLab users through the REST API v4 with an admin
// personal access token.
//
// Durable state lives in GitLab only, so that a flushed link store changes nothing:
//
//   - SCIM id = GitLab numeric user id;
//   - externalId = extern_uid of the user's identity with provider identity_provider;
//   - custom attribute scim_managed=true marks users this plugin created or adopted
//     (a user with an identity of that provider but no attribute, left by a crash
//     between create and attribute write, also counts as managed and is healed on
//     the next write);
//   - custom attribute scim_deleted=true marks users DELETEd through SCIM (absent
//     otherwise);
//   - custom attribute scim_user_name holds the SCIM userName as sent, because
//     GitLab usernames are sanitised (an e-mail-shaped userName loses its domain);
//   - custom attribute scim_deleting marks a user SCIM deleted that GitLab's
//     deletion worker has not removed yet (deletion.go): such a user is no one's.
//
// SCIM groups are GitLab groups; their layout is described in groups.go.
package gitlab

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
)

func init() {
	caddy.RegisterModule(Adapter{})
}

// Default values of the configuration.
const (
	DefaultIdentityProvider = "caddy_scim"
	DefaultTimeout          = 30 * time.Second
)

// Adapter provisions SCIM users into GitLab (self-managed or Dedicated) through the
// REST API v4. The token is an administrator's personal access token with the api
// scope, sent as PRIVATE-TOKEN.
type Adapter struct {
	upstream.Config

	// IdentityProvider is the GitLab identity provider under which the SCIM
	// externalId is stored as extern_uid. Set it to the SAML (or OIDC) provider's
	// name, e.g. "saml", when the IdP sends the SAML NameID as externalId: the
	// user's first SSO sign-in then binds to the provisioned account. "scim" is
	// refused because GitLab EE reserves it. Default: caddy_scim.
	IdentityProvider string `json:"identity_provider,omitempty"`

	// LinkExisting is accepted here for compatibility and read by the scim handler
	// when its own link_existing option is unset: off, email or username.
	LinkExisting string `json:"link_existing,omitempty"`

	// ParentGroup, when set, makes every SCIM group a subgroup of this GitLab
	// group, given by numeric id or full path (e.g. "acme/teams"). The token's
	// user must be able to create subgroups in it. Default: SCIM groups are
	// top-level groups.
	ParentGroup string `json:"parent_group,omitempty"`

	// GroupAccessLevel is the access level SCIM adds group members with: a
	// number (10, 15, 20, 30, 40, 50) or a name (guest, planner, reporter,
	// developer, maintainer, owner). Existing members keep their level.
	// Default: 30 (developer).
	GroupAccessLevel AccessLevel `json:"group_access_level,omitempty"`

	// GroupDelete decides what DELETE /Groups/{id} does: "unlink" (default) removes
	// the members SCIM manages and SCIM's marks, leaving the group, its projects,
	// its subgroups and the people added by hand; "delete" deletes the GitLab group
	// with its subgroups and projects (with GitLab's delayed deletion it is only
	// marked for deletion: SCIM's members and marks are then removed at once).
	GroupDelete string `json:"group_delete,omitempty"`

	api      *upstream.Client
	token    string // resolved secret; never logged
	provider string
	// Tenant (adapters.Tenancy) is the custom attribute scim_tenant of users and groups.
	adapters.Tenant `json:"-"`
	logger          *zap.Logger
	groups          *groupState    // lazily resolved group context; a pointer: Caddy copies the Adapter
	retry           upstream.Retry // tests shorten it; zero: upstream.DefaultRetry
	deletionWait    time.Duration  // tests shorten it; zero: defaultDeletionWait
	noCursor        *atomic.Bool   // GitLab refused a keyset cursor of ReadUsers: read one by one
}

// CaddyModule returns the Caddy module information.
func (Adapter) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "scim.adapters.gitlab",
		New: func() caddy.Module { return new(Adapter) },
	}
}

// Provision resolves secrets and placeholders, applies defaults and builds the
// upstream client.
func (a *Adapter) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	a.noCursor = new(atomic.Bool)
	var err error
	opt := upstream.Options{Name: upstreamName, Message: extractMessage, Hint: tokenHint, Retry: a.retry, RateLimitWait: appLimitRetry, Timeout: DefaultTimeout, Logger: a.logger}
	a.api, a.token, err = a.Config.Connect("gitlab", "/api/v4", opt, func(r *http.Request, token string) {
		r.Header.Set("PRIVATE-TOKEN", token)
	})
	if err != nil {
		return err
	}
	a.provider = a.IdentityProvider
	if a.provider == "" {
		a.provider = DefaultIdentityProvider
	}
	a.provisionGroups()
	return nil
}

// Validate checks the provisioned configuration.
func (a *Adapter) Validate() error {
	if err := a.Config.Check("gitlab", a.api, a.token, "an admin personal access token with the api scope"); err != nil {
		return err
	}
	if strings.EqualFold(strings.TrimSpace(a.provider), "scim") {
		return fmt.Errorf("gitlab: identity_provider %q is reserved by GitLab EE for its own SCIM identities; use the SAML provider name or %q", a.provider, DefaultIdentityProvider)
	}
	if strings.TrimSpace(a.provider) != a.provider {
		return fmt.Errorf("gitlab: identity_provider must not have surrounding spaces")
	}
	if a.GroupDelete != "" && a.GroupDelete != "unlink" && a.GroupDelete != "delete" {
		return fmt.Errorf("gitlab: group_delete must be unlink or delete, not %q", a.GroupDelete)
	}
	if err := adapters.CheckLinkExisting(a.LinkExisting); err != nil {
		return fmt.Errorf("gitlab: %v", err)
	}
	return a.validateGroups()
}

// Cleanup releases idle connections. It is safe on a half-provisioned adapter.
func (a *Adapter) Cleanup() error {
	a.api.Close()
	return nil
}

// Info describes what the adapter persists.
func (a *Adapter) Info() adapters.Info {
	return adapters.Info{
		Name:            "gitlab",
		UserAttributes:  adapters.OneNameUserAttributes,
		GroupAttributes: []string{"displayName", "members"}, // externalId is common, always supported
		MaxPageSize:     maxPerPage,
		OneName:         true,
	}
}

// LinkExistingMode is the link_existing value given in the adapter block ("" when
// unset); the handler uses it when its own option is unset.
func (a *Adapter) LinkExistingMode() string { return a.LinkExisting }

// UpstreamCalls is the number of HTTP requests sent to GitLab so far, retries
// included.
func (a *Adapter) UpstreamCalls() int64 { return a.api.Calls() }

// UnmarshalCaddyfile sets up the adapter from Caddyfile tokens. The dispenser is
// positioned on the adapter name (after the handler's "adapter" keyword):
//
//	gitlab [<url>] {
//		url               https://gitlab.example.com
//		token             {env.GITLAB_TOKEN}
//		identity_provider saml              # default caddy_scim
//		link_existing     off|email|username
//		timeout           30s
//		max_conns         <n>
//		parent_group      acme/teams        # id or full path; default: top level
//		group_access_level developer        # guest|planner|reporter|developer|maintainer|owner or a number
//		group_delete      unlink            # unlink (default) | delete: what DELETE /Groups does
//	}
func (a *Adapter) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return a.Config.ParseBlock(d, "gitlab", nil, func(opt string, vals []string) error {
		val := vals[0]
		switch opt {
		case "identity_provider":
			if val == "scim" {
				return d.Errf("identity_provider 'scim' is reserved by GitLab EE; use the SAML provider name or caddy_scim")
			}
			a.IdentityProvider = val
		case "link_existing":
			if err := adapters.CheckLinkExisting(val); err != nil {
				return d.Errf("%v", err)
			}
			a.LinkExisting = val
		case "parent_group":
			if err := checkParentGroup(val); err != nil {
				return d.Errf("%v", err)
			}
			a.ParentGroup = val
		case "group_delete":
			if val != "unlink" && val != "delete" {
				return d.Errf("group_delete must be unlink or delete, not '%s'", val)
			}
			a.GroupDelete = val
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

// Interface guards
var (
	_ caddy.Module                 = (*Adapter)(nil)
	_ caddy.Provisioner            = (*Adapter)(nil)
	_ caddy.Validator              = (*Adapter)(nil)
	_ caddy.CleanerUpper           = (*Adapter)(nil)
	_ caddyfile.Unmarshaler        = (*Adapter)(nil)
	_ adapters.UserAdapter         = (*Adapter)(nil)
	_ adapters.GroupAdapter        = (*Adapter)(nil)
	_ adapters.CallCounter         = (*Adapter)(nil)
	_ adapters.LinkExistingDefault = (*Adapter)(nil)
)

var _ adapters.Tenancy = (*Adapter)(nil)
