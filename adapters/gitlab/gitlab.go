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
//     GitLab usernames are sanitised (an e-mail-shaped userName loses its domain).
//
// SCIM groups are GitLab groups; their layout is described in groups.go.
package gitlab

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
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

// Default values of the configuration.
const (
	DefaultIdentityProvider = "caddy_scim"
	DefaultTimeout          = 30 * time.Second
)

// Adapter provisions SCIM users into GitLab (self-managed or Dedicated) through the
// REST API v4.
type Adapter struct {
	// URL is GitLab's base URL, e.g. https://gitlab.example.com (a trailing /api/v4
	// is accepted). Required.
	URL string `json:"url,omitempty"`

	// Token is an administrator's personal access token with the api scope, sent as
	// PRIVATE-TOKEN. Use {env.GITLAB_TOKEN} or {file./run/secrets/gitlab_token};
	// both are resolved when the config loads and an empty result is an error.
	// Required.
	Token string `json:"token,omitempty"`

	// IdentityProvider is the GitLab identity provider under which the SCIM
	// externalId is stored as extern_uid. Set it to the SAML (or OIDC) provider's
	// name, e.g. "saml", when the IdP sends the SAML NameID as externalId: the
	// user's first SSO sign-in then binds to the provisioned account. "scim" is
	// refused because GitLab EE reserves it. Default: caddy_scim.
	IdentityProvider string `json:"identity_provider,omitempty"`

	// LinkExisting lets a SCIM create adopt a GitLab user that SCIM does not manage
	// yet: off, email or username. It is read by the scim handler when the handler's
	// own link_existing option is unset. Default: off.
	LinkExisting string `json:"link_existing,omitempty"`

	// Timeout bounds each HTTP request to GitLab. Default: 30s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

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

	api      string // base URL + /api/v4, no trailing slash
	token    string // resolved secret; never logged
	provider string
	client   *http.Client
	logger   *zap.Logger
	calls    *atomic.Int64 // a pointer: CaddyModule copies the struct
	groups   *groupState   // lazily resolved group context; a pointer for the same reason

	// Retry policy for idempotent calls; tests shorten it.
	maxTries     int
	backoff      time.Duration
	maxRetryWait time.Duration
}

// CaddyModule returns the Caddy module information.
func (Adapter) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "scim.adapters.gitlab",
		New: func() caddy.Module { return new(Adapter) },
	}
}

// Provision resolves secrets and placeholders, applies defaults and builds the
// HTTP client.
func (a *Adapter) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	if a.calls == nil {
		a.calls = new(atomic.Int64)
	}
	repl := caddy.NewReplacer()
	u, err := repl.ReplaceOrErr(a.URL, true, true)
	if err != nil {
		return fmt.Errorf("gitlab url: %v", err)
	}
	a.api = apiBase(u)
	if a.Token != "" {
		// errOnEmpty: an unset {env.X} or unreadable {file.X} must fail the load,
		// never become an empty token.
		tok, err := repl.ReplaceOrErr(a.Token, true, true)
		if err != nil {
			return fmt.Errorf("gitlab token: %v", err)
		}
		a.token = strings.TrimSpace(tok)
	}
	a.provider = a.IdentityProvider
	if a.provider == "" {
		a.provider = DefaultIdentityProvider
	}
	timeout := time.Duration(a.Timeout)
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	a.client = newHTTPClient(timeout)
	a.provisionGroups()
	if a.maxTries == 0 {
		a.maxTries = 3
	}
	if a.backoff == 0 {
		a.backoff = 200 * time.Millisecond
	}
	if a.maxRetryWait == 0 {
		a.maxRetryWait = 3 * time.Second
	}
	return nil
}

func newHTTPClient(timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		// A redirect (http→https, a moved instance) would turn a POST into a GET
		// and drop PRIVATE-TOKEN: report it instead of following it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// apiBase turns the configured URL into the API root.
func apiBase(u string) string {
	u = strings.TrimRight(strings.TrimSpace(u), "/")
	u = strings.TrimSuffix(u, "/api/v4")
	if u == "" {
		return ""
	}
	return u + "/api/v4"
}

// Validate checks the provisioned configuration.
func (a *Adapter) Validate() error {
	if a.URL == "" {
		return fmt.Errorf("gitlab: url is required")
	}
	pu, err := url.Parse(a.api)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return fmt.Errorf("gitlab: url must be an http or https URL with a host")
	}
	if pu.User != nil || pu.RawQuery != "" || pu.Fragment != "" {
		return fmt.Errorf("gitlab: url must not carry credentials, a query or a fragment")
	}
	if a.token == "" {
		return fmt.Errorf("gitlab: token is required (an admin personal access token with the api scope)")
	}
	if strings.EqualFold(strings.TrimSpace(a.provider), "scim") {
		return fmt.Errorf("gitlab: identity_provider %q is reserved by GitLab EE for its own SCIM identities; use the SAML provider name or %q", a.provider, DefaultIdentityProvider)
	}
	if strings.TrimSpace(a.provider) != a.provider {
		return fmt.Errorf("gitlab: identity_provider must not have surrounding spaces")
	}
	switch a.LinkExisting {
	case "", "off", "email", "username":
	default:
		return fmt.Errorf("gitlab: link_existing must be off, email or username, not %q", a.LinkExisting)
	}
	if a.Timeout < 0 {
		return fmt.Errorf("gitlab: timeout must not be negative")
	}
	return a.validateGroups()
}

// Cleanup releases idle connections. It is safe on a half-provisioned adapter.
func (a *Adapter) Cleanup() error {
	if a.client != nil {
		a.client.CloseIdleConnections()
	}
	return nil
}

// Info describes what the adapter persists.
func (a *Adapter) Info() adapters.Info {
	return adapters.Info{
		Name: "gitlab",
		UserAttributes: []string{
			"userName",
			"name.formatted", "name.givenName", "name.familyName",
			"displayName",
			"emails",
			"active",
			"externalId",
		},
		GroupAttributes: []string{"displayName", "members"}, // externalId is common, always supported
		MaxPageSize:     maxPerPage,
	}
}

// LinkExistingMode is the link_existing value given in the adapter block ("" when
// unset); the handler uses it when its own option is unset.
func (a *Adapter) LinkExistingMode() string { return a.LinkExisting }

// UpstreamCalls is the number of HTTP requests sent to GitLab so far, retries
// included (for benchmarks and tests).
func (a *Adapter) UpstreamCalls() int64 {
	if a.calls == nil {
		return 0
	}
	return a.calls.Load()
}

// Interface guards
var (
	_ caddy.Module          = (*Adapter)(nil)
	_ caddy.Provisioner     = (*Adapter)(nil)
	_ caddy.Validator       = (*Adapter)(nil)
	_ caddy.CleanerUpper    = (*Adapter)(nil)
	_ caddyfile.Unmarshaler = (*Adapter)(nil)
	_ adapters.UserAdapter  = (*Adapter)(nil)
)
