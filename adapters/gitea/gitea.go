// Package gitea is the Gitea / Forgejo adapter of caddy-scim: the Caddy guest module
// scim.adapters.gitea, which provisions SCIM users through Gitea's admin REST API
// (/api/v1). It needs a site administrator's access token with the scopes write:admin
// and write:user (write:organization for groups, later).
//
// Mapping (see Info for the attribute list):
//
//   - SCIM id = Gitea's numeric user id; userName = username (renames use
//     POST /admin/users/{name}/rename); emails = the one primary e-mail, rendered as
//     {type: work, primary: true}.
//   - name.formatted, displayName, and givenName + " " + familyName are all stored as
//     full_name; they are read back as formatted = displayName = full_name, and
//     givenName / familyName = full_name split at its first space.
//   - active = active && !prohibit_login; deprovisioning sets prohibit_login
//     (Gitea's "Disable sign-in", which neither LDAP sync nor SSO sign-in undo).
//   - externalId, managed and SCIM-deleted are kept in login_name (see loginname.go)
//     under the configured source_id, so a flushed link store loses nothing.
//
// With source_id set to an OAuth2/OIDC authentication source, a provisioned user whose
// externalId equals the IdP's subject signs in by SSO straight into the provisioned
// account. The same rule makes every user that source auto-registered on first SSO
// sign-in (login_name = subject, same source_id) look managed: SCIM lists them, with
// their subject as externalId, and may update or deprovision them. That is usually what
// an operator wants (the IdP owns those accounts); disable ENABLE_AUTO_REGISTRATION in
// Gitea's [oauth2_client] section if only SCIM may create accounts.
package gitea

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapters"
)

func init() {
	caddy.RegisterModule(Adapter{})
}

// Adapter provisions SCIM users into Gitea or Forgejo through the admin REST API.
type Adapter struct {
	// Base URL of Gitea, e.g. http://127.0.0.1:3000 (a trailing /api/v1 is accepted).
	// Placeholders such as {env.GITEA_URL} are resolved at load time. Required.
	URL string `json:"url,omitempty"`

	// Access token of a Gitea site administrator, with the scopes write:admin and
	// write:user. Use {env.GITEA_TOKEN} or {file./run/secrets/gitea_token}, never
	// {$GITEA_TOKEN}: the latter is written into the adapted JSON config. An unset
	// variable or unreadable file fails the config load. Required.
	Token string `json:"token,omitempty"`

	// ID of the Gitea authentication source provisioned users belong to. Default 0:
	// local login (users never need their random password; sign-in is by SSO or not at
	// all). Set it to the id of an OAuth2/OIDC source (Site Administration →
	// Authentication Sources) when the IdP's subject is what the IdP sends as
	// externalId: SSO sign-in then binds to the provisioned account. Users of other
	// sources are never managed.
	SourceID int64 `json:"source_id,omitempty"`

	// Timeout of one call to Gitea, including reading the answer. Default: 30s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// Maximum number of concurrent connections to Gitea. Default 0: unlimited.
	MaxConns int `json:"max_conns,omitempty"`

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

	base   *url.URL // ends in /api/v1
	token  string
	client *http.Client
	calls  *atomic.Int64 // a pointer: CaddyModule copies the struct
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Adapter) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "scim.adapters.gitea",
		New: func() caddy.Module { return new(Adapter) },
	}
}

// Provision resolves placeholders and builds the HTTP client.
func (a *Adapter) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	if a.calls == nil {
		a.calls = new(atomic.Int64)
	}
	repl := caddy.NewReplacer()

	rawURL, err := repl.ReplaceOrErr(a.URL, true, true)
	if err != nil {
		return fmt.Errorf("gitea url: %v", err)
	}
	base, err := parseBaseURL(rawURL)
	if err != nil {
		return fmt.Errorf("gitea url: %v", err)
	}
	a.base = base

	// The error of ReplaceOrErr names the placeholder, never the value.
	tok, err := repl.ReplaceOrErr(a.Token, true, true)
	if err != nil {
		return fmt.Errorf("gitea token: %v", err)
	}
	a.token = strings.TrimSpace(tok)

	org, err := repl.ReplaceOrErr(a.Organization, true, true)
	if err != nil {
		return fmt.Errorf("gitea organization: %v", err)
	}
	a.Organization = strings.TrimSpace(org)

	timeout := time.Duration(a.Timeout)
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxConnsPerHost = a.MaxConns
	tr.MaxIdleConnsPerHost = 16
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	a.client = &http.Client{
		Transport: tr,
		Timeout:   timeout,
		// Never follow redirects: Gitea answers a renamed user's old name with 307, which
		// must read as "no such user", and no SCIM request may reach another path.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return nil
}

// parseBaseURL accepts http(s)://host[:port][/prefix][/api/v1] and returns the /api/v1 URL.
func parseBaseURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, fmt.Errorf("missing")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("invalid URL %q", s)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("scheme must be http or https: %q", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("no host in %q", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("must not carry credentials, a query or a fragment")
	}
	p := strings.TrimSuffix(u.Path, "/")
	p = strings.TrimSuffix(p, "/api/v1")
	u.Path = p + "/api/v1"
	u.RawPath = ""
	return u, nil
}

// Validate checks the provisioned configuration.
func (a *Adapter) Validate() error {
	if a.base == nil {
		return fmt.Errorf("gitea: url is required")
	}
	if a.token == "" {
		return fmt.Errorf("gitea: token is required")
	}
	if a.SourceID < 0 {
		return fmt.Errorf("gitea: source_id must not be negative")
	}
	if a.Timeout < 0 {
		return fmt.Errorf("gitea: timeout must not be negative")
	}
	if a.MaxConns < 0 {
		return fmt.Errorf("gitea: max_conns must not be negative")
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
	if a.client != nil {
		a.client.CloseIdleConnections()
	}
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
//	}
//
// It is parsed after the word `adapter` of the scim directive.
func (a *Adapter) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return adapters.ParseBlock(d, "gitea", &a.URL, []string{"team_units"}, func(opt string, vals []string) error {
		val := vals[0]
		switch opt {
		case "token":
			a.Token = val
		case "source_id":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 0 {
				return d.Errf("source_id must be a non-negative integer: %s", val)
			}
			a.SourceID = n
		case "timeout":
			dur, err := caddy.ParseDuration(val)
			if err != nil {
				return d.Errf("invalid timeout %q: %v", val, err)
			}
			a.Timeout = caddy.Duration(dur)
		case "max_conns":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				return d.Errf("max_conns must be a non-negative integer: %s", val)
			}
			a.MaxConns = n
		case "organization":
			a.Organization = val
		case "team_permission":
			a.TeamPermission = val
		case "team_units":
			a.TeamUnits = vals
		default:
			return d.Errf("unrecognized gitea option '%s'", opt)
		}
		return nil
	})
}

// Interface guards
var (
	_ caddy.Provisioner     = (*Adapter)(nil)
	_ caddy.Validator       = (*Adapter)(nil)
	_ caddy.CleanerUpper    = (*Adapter)(nil)
	_ caddyfile.Unmarshaler = (*Adapter)(nil)
	_ adapters.UserAdapter  = (*Adapter)(nil)
	_ adapters.GroupAdapter = (*Adapter)(nil)
	_ adapters.GroupSwitch  = (*Adapter)(nil)
)

// UpstreamCalls is the number of HTTP requests sent to Gitea so far, retries
// included; the handler exports it as a metric and benchmarks read it.
func (a *Adapter) UpstreamCalls() int64 {
	if a.calls == nil {
		return 0
	}
	return a.calls.Load()
}
