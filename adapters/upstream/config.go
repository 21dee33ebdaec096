package upstream

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-scim/caddy-scim/adapters"
)

// Config is the part of an adapter's configuration that every upstream has. Adapters
// embed it, so its fields appear at the top level of their JSON and Caddyfile blocks.
type Config struct {
	// URL is the application's base URL, e.g. https://gitea.example.com (a trailing
	// API path such as /api/v1 is accepted). Placeholders such as {env.APP_URL} are
	// resolved when the config loads. Required.
	URL string `json:"url,omitempty"`

	// Token is the administrator's API token the adapter sends. Use {env.NAME} or
	// {file./run/secrets/name}, never {$NAME}: the latter is written into the adapted
	// JSON config. An unset variable or unreadable file fails the config load.
	// Required.
	Token string `json:"token,omitempty"`

	// Timeout bounds one call to the application, reading the answer included.
	// Default: 30s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// MaxConns caps the concurrent connections to the application. Default 0:
	// unlimited.
	MaxConns int `json:"max_conns,omitempty"`
}

// Resolved is a Config with its placeholders replaced.
type Resolved struct {
	// Base is the API root: the URL with apiPath appended once.
	Base  string
	Token string
}

// Resolve replaces placeholders and builds the API root from the URL; name prefixes
// the errors ("gitea url: …"), which name a placeholder but never a secret.
func (c Config) Resolve(name, apiPath string) (Resolved, error) {
	repl := caddy.NewReplacer()
	raw, err := repl.ReplaceOrErr(c.URL, true, true)
	if err != nil {
		return Resolved{}, fmt.Errorf("%s url: %v", name, err)
	}
	base, err := apiRoot(raw, apiPath)
	if err != nil {
		return Resolved{}, fmt.Errorf("%s url: %v", name, err)
	}
	tok, err := repl.ReplaceOrErr(c.Token, true, true)
	if err != nil {
		return Resolved{}, fmt.Errorf("%s token: %v", name, err)
	}
	return Resolved{Base: base, Token: strings.TrimSpace(tok)}, nil
}

// apiRoot accepts http(s)://host[:port][/prefix][apiPath] and returns the URL ending
// in apiPath.
func apiRoot(s, apiPath string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("url is required")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("must be an http or https URL with a host, not %q", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("must not carry credentials, a query or a fragment")
	}
	p := strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), apiPath)
	u.Path = p + apiPath
	u.RawPath = ""
	return u.String(), nil
}

// Check is the part of Validate every adapter shares: Connect gave a client and a
// token, and the numbers are sane. name prefixes the errors; what says which token.
func (c Config) Check(name string, client *Client, token, what string) error {
	switch {
	case client == nil:
		return fmt.Errorf("%s: url is required", name)
	case token == "":
		return fmt.Errorf("%s: token is required (%s)", name, what)
	case c.Timeout < 0:
		return fmt.Errorf("%s: timeout must not be negative", name)
	case c.MaxConns < 0:
		return fmt.Errorf("%s: max_conns must not be negative", name)
	}
	return nil
}

// Connect is the part of Provision every adapter shares: it resolves the config and
// builds the client. opt holds what is the adapter's own (Name, Message, Hint, Retry,
// Logger, a default Timeout); auth sets the resolved token on each request. name
// prefixes the errors.
func (c Config) Connect(name, apiPath string, opt Options, auth func(r *http.Request, token string)) (*Client, string, error) {
	r, err := c.Resolve(name, apiPath)
	if err != nil {
		return nil, "", err
	}
	opt.Base, opt.Secrets, opt.MaxConns = r.Base, []string{r.Token}, c.MaxConns
	if c.Timeout > 0 {
		opt.Timeout = time.Duration(c.Timeout)
	}
	opt.Auth = func(req *http.Request) { auth(req, r.Token) }
	client, err := New(opt)
	if err != nil {
		return nil, "", fmt.Errorf("%s url: %v", name, err)
	}
	return client, r.Token, nil
}

// ParseBlock reads an adapter's Caddyfile block (adapters.ParseBlock): the options
// every adapter shares into c, every other one through set.
func (c *Config) ParseBlock(d *caddyfile.Dispenser, name string, lists []string, set func(opt string, vals []string) error) error {
	return adapters.ParseBlock(d, name, &c.URL, lists, func(opt string, vals []string) error {
		if ok, err := c.ParseOption(d, opt, vals); ok {
			return err
		}
		return set(opt, vals)
	})
}

// ParseOption reads the Caddyfile options every adapter shares (token, timeout,
// max_conns; url is read by adapters.ParseBlock); it reports false for any other.
func (c *Config) ParseOption(d *caddyfile.Dispenser, opt string, vals []string) (bool, error) {
	val := vals[0]
	switch opt {
	case "token":
		c.Token = val
	case "timeout":
		dur, err := caddy.ParseDuration(val)
		if err != nil {
			return true, d.Errf("bad timeout '%s': %v", val, err)
		}
		if dur <= 0 {
			return true, d.Errf("timeout must be positive")
		}
		c.Timeout = caddy.Duration(dur)
	case "max_conns":
		n, err := strconv.Atoi(val)
		if err != nil || n < 0 {
			return true, d.Errf("max_conns must be a non-negative integer: %s", val)
		}
		c.MaxConns = n
	default:
		return false, nil
	}
	return true, nil
}
