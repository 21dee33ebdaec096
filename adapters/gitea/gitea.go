// Package gitea is the Gitea / Forgejo adapter of caddy-scim: the Caddy guest module
// scim.adapters.gitea, which provisions SCIM users through Gitea's admin REST API
// (/api/v1). It needs a site administrator's access token with the scopes write:admin
// and write:user (write:organization for groups).
//
// Mapping (see Info for the attribute list):
//
//   - SCIM id = Gitea's numeric user id; userName = username (renames use
//     POST /admin/users/{name}/rename); emails = the one primary e-mail, rendered as
//     {type: work, primary: true}.
//   - the name is Gitea's one full_name (Info.OneName: the service merges the SCIM
//     name parts into it); it is read back as formatted = displayName = full_name,
//     and givenName / familyName = full_name split at its first space.
//   - active = active && !prohibit_login; deprovisioning sets prohibit_login
//     (Gitea's "Disable sign-in", which neither LDAP sync nor SSO sign-in undo).
//   - externalId, managed and SCIM-deleted are kept in login_name (see loginname.go)
//     under the configured source_id, so a flushed link store loses nothing.
//
// With source_id set to an OAuth2/OIDC authentication source, a provisioned user whose
// externalId equals the IdP's subject signs in by SSO straight into the provisioned
// account. The same rule makes every user that source auto-registered on first SSO
// sign-in (login_name = subject, same source_id) look managed: SCIM lists them, with
// their subject as externalId, and may update or deprovision them. Disable
// ENABLE_AUTO_REGISTRATION in Gitea's [oauth2_client] section if only SCIM may create
// accounts.
package gitea

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
)

func init() {
	caddy.RegisterModule(Adapter{})
}

// Adapter provisions SCIM users into Gitea or Forgejo through the admin REST API.
// The token must belong to a Gitea site administrator and have the scopes
// write:admin and write:user (and write:organization for groups).
type Adapter struct {
	upstream.Config

	// ID of the Gitea authentication source provisioned users belong to. Default 0:
	// local login (users never need their random password; sign-in is by SSO or not at
	// all). Set it to the id of an OAuth2/OIDC source (Site Administration →
	// Authentication Sources) when the IdP's subject is what the IdP sends as
	// externalId: SSO sign-in then binds to the provisioned account. Users of other
	// sources are never managed.
	SourceID int64 `json:"source_id,omitempty"`

	// Organization whose teams are the SCIM groups. It must exist in Gitea. Unset:
	// no groups (/Groups answers 501 and discovery leaves Groups out). The token then
	// also needs the scope write:organization.
	Organization string `json:"organization,omitempty"`

	// Permission of teams created for SCIM groups: read (default), write or admin.
	TeamPermission string `json:"team_permission,omitempty"`

	// Repository units of teams created for SCIM groups. Default: repo.code,
	// repo.issues, repo.pulls, repo.releases, repo.wiki, repo.projects, repo.packages,
	// repo.actions, repo.ext_issues, repo.ext_wiki.
	TeamUnits []string `json:"team_units,omitempty"`

	// Purge, with the scim handler's deprovision delete, also deletes what the
	// user owns in Gitea (repositories, packages, organization memberships) when
	// SCIM deletes the user. Without it Gitea refuses to delete a user who still
	// owns repositories, and the DELETE answers 409 naming them: nothing people
	// built is destroyed unless asked for.
	Purge bool `json:"purge,omitempty"`

	// Tenant (adapters.Tenancy) is kept in login_name and the team description.
	adapters.Tenant `json:"-"`

	api   *upstream.Client
	token string
}

var _ adapters.Tenancy = (*Adapter)(nil)

// CaddyModule returns the Caddy module information.
func (Adapter) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "scim.adapters.gitea",
		New: func() caddy.Module { return new(Adapter) },
	}
}

// Provision resolves placeholders and builds the upstream client.
func (a *Adapter) Provision(ctx caddy.Context) error {
	var err error
	opt := upstream.Options{Name: "Gitea", Message: messageOf, Hint: tokenHint, Logger: ctx.Logger()}
	a.api, a.token, err = a.Config.Connect("gitea", "/api/v1", opt, func(r *http.Request, token string) {
		r.Header.Set("Authorization", "token "+token)
	})
	if err != nil {
		return err
	}
	org, err := caddy.NewReplacer().ReplaceOrErr(a.Organization, true, true)
	if err != nil {
		return fmt.Errorf("gitea organization: %v", err)
	}
	a.Organization = strings.TrimSpace(org)
	return nil
}

// Validate checks the provisioned configuration.
func (a *Adapter) Validate() error {
	if err := a.Config.Check("gitea", a.api, a.token, "a site administrator's token with the scopes write:admin and write:user"); err != nil {
		return err
	}
	if a.SourceID < 0 {
		return fmt.Errorf("gitea: source_id must not be negative")
	}
	return a.checkGroupOptions()
}

// checkGroupOptions validates organization, team_permission and team_units.
func (a *Adapter) checkGroupOptions() error {
	switch a.TeamPermission {
	case "", "read", "write", "admin":
	default:
		return fmt.Errorf("gitea: team_permission must be read, write or admin, not %q", a.TeamPermission)
	}
	if (a.TeamPermission != "" || len(a.TeamUnits) > 0) && a.Organization == "" {
		return fmt.Errorf("gitea: team_permission and team_units need organization")
	}
	for _, u := range a.TeamUnits {
		if !strings.HasPrefix(u, "repo.") {
			return fmt.Errorf("gitea: team unit %q is not a repository unit (repo.code, repo.issues, …)", u)
		}
	}
	return nil
}

// Cleanup closes idle connections. It is safe on a half-provisioned adapter.
func (a *Adapter) Cleanup() error {
	a.api.Close()
	return nil
}

// UnmarshalCaddyfile sets up the adapter from Caddyfile tokens. Syntax:
//
//	gitea [<url>] {
//		url       <base url>
//		token     <admin access token>
//		source_id <authentication source id>
//		timeout   <duration>
//		max_conns <n>
//		organization    <org>          # enables groups: SCIM groups are its teams
//		team_permission read|write|admin
//		team_units      <unit>...      # e.g. repo.code repo.issues
//		purge           on|off         # deprovision delete also deletes what the user owns
//	}
//
// It is parsed after the word `adapter` of the scim directive.
func (a *Adapter) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return a.Config.ParseBlock(d, "gitea", []string{"team_units"}, func(opt string, vals []string) error {
		switch opt {
		case "source_id":
			n, err := strconv.ParseInt(vals[0], 10, 64)
			if err != nil || n < 0 {
				return d.Errf("source_id must be a non-negative integer: %s", vals[0])
			}
			a.SourceID = n
		case "organization":
			a.Organization = vals[0]
		case "team_permission":
			a.TeamPermission = vals[0]
		case "team_units":
			a.TeamUnits = vals
		case "purge":
			switch vals[0] {
			case "on":
				a.Purge = true
			case "off":
				a.Purge = false
			default:
				return d.Errf("purge must be on or off, not %q", vals[0])
			}
		default:
			return d.Errf("unrecognized gitea option '%s'", opt)
		}
		return nil
	})
}

// UpstreamCalls is the number of HTTP requests sent to Gitea so far, retries
// included.
func (a *Adapter) UpstreamCalls() int64 { return a.api.Calls() }

// Interface guards
var (
	_ caddy.Provisioner     = (*Adapter)(nil)
	_ caddy.Validator       = (*Adapter)(nil)
	_ caddy.CleanerUpper    = (*Adapter)(nil)
	_ caddyfile.Unmarshaler = (*Adapter)(nil)
	_ adapters.UserAdapter  = (*Adapter)(nil)
	_ adapters.GroupAdapter = (*Adapter)(nil)
	_ adapters.GroupSwitch  = (*Adapter)(nil)
	_ adapters.CallCounter  = (*Adapter)(nil)
)
