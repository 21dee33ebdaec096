// Package rest is the declarative adapter of caddy-scim: the Caddy guest module
// scim.adapters.rest, which provisions SCIM users into any application with an admin
// REST API that a Mapping describes (mapping.go): where each operation goes, what it
// sends (Go templates over the normalized user), and where the answer keeps each
// attribute and the durable provisioning state (JSON paths, gjson syntax), or, for an
// application without room for that state or without a block state, that the link
// store keeps it (adapters.Info.MarksInStore, NoBlock). A write may take several
// calls (before, then; form bodies). Presets ship mappings for known applications
// (presets/*.json).
//
// Like every adapter it decides no SCIM rule: uniqueness, adoption, reactivation,
// PATCH, filters, paging and the safety rules stay in module/provision.
package rest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/tidwall/gjson"
	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
)

func init() {
	caddy.RegisterModule(Adapter{})
}

// Adapter provisions SCIM users through a described admin REST API. Exactly one of
// Preset, MappingFile and Mapping says which.
type Adapter struct {
	upstream.Config

	// Preset names a shipped mapping: "kratos" (Ory Kratos v1.3).
	Preset string `json:"preset,omitempty"`

	// MappingFile is the path of a mapping in JSON (see the README, "Map your own
	// application"). It is read when the config loads: caddy reload re-reads it
	// only when the config changed, or with --force; the log says which version
	// (sha256) was read.
	MappingFile string `json:"mapping_file,omitempty"`

	// Mapping is the mapping itself, inline.
	Mapping *Mapping `json:"mapping,omitempty"`

	// Params gives the values the mapping declares in its params, such as the
	// ids of Redmine's custom fields. Placeholders ({env.NAME}) are resolved.
	Params map[string]string `json:"params,omitempty"`

	m          *compiled
	api        *upstream.Client
	token      string
	tenant     string // SetTenant's
	logger     *zap.Logger
	dateWarned *atomic.Bool // a date that does not parse was logged
}

// CaddyModule returns the Caddy module information.
func (Adapter) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "scim.adapters.rest",
		New: func() caddy.Module { return new(Adapter) },
	}
}

// Provision loads and compiles the mapping and builds the upstream client.
func (a *Adapter) Provision(ctx caddy.Context) error {
	a.logger, a.dateWarned = ctx.Logger(), new(atomic.Bool)
	m, err := a.loadMapping()
	if err != nil {
		return err
	}
	params := make(map[string]string, len(a.Params))
	repl := caddy.NewReplacer()
	for k, v := range a.Params {
		if params[k], err = repl.ReplaceOrErr(v, true, true); err != nil {
			return fmt.Errorf("rest params %s: %v", k, err)
		}
	}
	if a.m, err = compile(m, params); err != nil {
		return fmt.Errorf("rest: %v", err)
	}
	if err := a.m.tenantRoom(a.tenant); err != nil {
		return err
	}
	name := m.Name
	opt := upstream.Options{Name: name, Message: a.message, Logger: a.logger,
		Hint: "check the token the rest adapter sends (" + m.Auth + ")"}
	auth := authFunc(m.Auth)
	if a.m.login != nil { // the session's token, set on each request (login.go)
		auth = func(*http.Request, string) {}
	}
	a.api, a.token, err = a.Config.Connect("rest", m.APIPath, opt, prepare(auth))
	return err
}

// loadMapping returns the one mapping the config names.
func (a *Adapter) loadMapping() (*Mapping, error) {
	n := 0
	for _, set := range []bool{a.Preset != "", a.MappingFile != "", a.Mapping != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("rest: give exactly one of preset, mapping_file and mapping")
	}
	switch {
	case a.Mapping != nil:
		return a.Mapping, nil
	case a.Preset != "":
		return Preset(a.Preset)
	}
	path, err := caddy.NewReplacer().ReplaceOrErr(a.MappingFile, true, true)
	if err != nil {
		return nil, fmt.Errorf("rest mapping_file: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rest mapping_file: %v", err)
	}
	m, err := parseMapping(b)
	if err != nil {
		return nil, fmt.Errorf("rest mapping_file %s: %v", path, err)
	}
	// caddy reload re-reads the file only when the config changed (or with
	// --force): say which version was read
	sum := sha256.Sum256(b)
	a.logger.Info("rest mapping read", zap.String("file", path), zap.String("sha256", hex.EncodeToString(sum[:6])))
	return m, nil
}

// authFunc sets the credentials of each request as the mapping's auth says.
func authFunc(auth string) func(r *http.Request, token string) {
	return func(r *http.Request, token string) { setAuth(r.Header, auth, token) }
}

// message reads the application's error text at the mapping's paths, naming the
// field it is about when the mapping says where.
func (a *Adapter) message(body []byte) string {
	msg := string(body)
	for _, p := range a.m.m.ErrorMessage {
		if v := gjson.GetBytes(body, p); v.Exists() && v.String() != "" {
			msg = v.String()
			break
		}
	}
	if a.m.m.ErrorField == "" {
		return msg
	}
	if f := gjson.GetBytes(body, a.m.m.ErrorField).String(); f != "" && !strings.Contains(msg, f) {
		return f + ": " + msg
	}
	return msg
}

// Validate checks the provisioned configuration.
func (a *Adapter) Validate() error {
	if a.m == nil {
		return fmt.Errorf("rest: not provisioned")
	}
	token := a.token
	if a.m.m.Auth == "none" {
		token = "none" // the mapping sends no credentials
	}
	return a.Config.Check("rest", a.api, token, "what the mapping's auth "+a.m.m.Auth+" sends")
}

// Cleanup closes idle connections. It is safe on a half-provisioned adapter.
func (a *Adapter) Cleanup() error {
	a.api.Close()
	return nil
}

// UnmarshalCaddyfile sets up the adapter from Caddyfile tokens. Syntax:
//
//	rest [<url>] {
//		url          <base url>
//		preset       kratos           # or:
//		mapping_file <path.json>
//		params       <name>=<value>...  # what the mapping declares in params
//		token        <admin token>    # unless the mapping's auth is none
//		timeout      <duration>
//		max_conns    <n>
//	}
func (a *Adapter) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return a.Config.ParseBlock(d, "rest", []string{"params"}, func(opt string, vals []string) error {
		switch opt {
		case "preset":
			a.Preset = vals[0]
		case "mapping_file":
			a.MappingFile = vals[0]
		case "params":
			a.Params = map[string]string{}
			for _, kv := range vals {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return d.Errf("params: want <name>=<value>, not %q", kv)
				}
				a.Params[k] = v
			}
		default:
			return d.Errf("unrecognized rest option '%s'", opt)
		}
		return nil
	})
}

// UpstreamCalls is the number of HTTP requests sent so far, retries included.
func (a *Adapter) UpstreamCalls() int64 { return a.api.Calls() }

// Interface guards
var (
	_ caddy.Provisioner     = (*Adapter)(nil)
	_ caddy.Validator       = (*Adapter)(nil)
	_ caddy.CleanerUpper    = (*Adapter)(nil)
	_ caddyfile.Unmarshaler = (*Adapter)(nil)
	_ adapters.UserAdapter  = (*Adapter)(nil)
	_ adapters.CallCounter  = (*Adapter)(nil)
	_ adapters.GroupAdapter = (*Adapter)(nil)
	_ adapters.GroupSwitch  = (*Adapter)(nil)
	_ adapters.Tenancy      = (*Adapter)(nil)
)
