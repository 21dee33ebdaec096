// Package scimops is what an operator sees of this Caddy's scim handlers: the
// activity page (http.handlers.scim_activity, directive scim_activity) and the admin
// API (admin.api.scim: /scim/health, /scim/events, /scim/report; admin.api.scim_links:
// /scim/links). It reads the live handlers through module/scimhandler's views
// (scimhandler.Live and the Handler's methods); scimhandler never imports it.
package scimops

import (
	"crypto/subtle"
	"fmt"
	"github.com/caddy-scim/caddy-scim/module/scimhandler"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(Activity{})
	httpcaddyfile.RegisterHandlerDirective("scim_activity", parseActivity)
	// Right before handle, and before scim: scimhandler, which this package imports,
	// has already put scim right before handle, so "before handle" would now land
	// after it. invoke is the standard directive just before handle.
	httpcaddyfile.RegisterDirectiveOrder("scim_activity", httpcaddyfile.After, "invoke")
}

// Activity serves the activity page of this Caddy's scim handlers — their health,
// counts per IdP and operation, recent operations and errors with their detail, the
// link index and its rebuild, and the drift report — to whoever has its own token:
// a browser asks for it (HTTP Basic, any user name, the token as password), a
// script sends it as a bearer token. Put it on a path of a site:
//
//	handle /scim-activity {
//		scim_activity {
//			token {env.SCIM_ACTIVITY_TOKEN}
//		}
//	}
type Activity struct {
	// Token is the page's credential (at least 16 characters); use {env.NAME} or
	// {file./path}. It is not one of the IdPs' tokens: whoever sees the page sees
	// account names and errors, not SCIM write access.
	Token string `json:"token,omitempty"`

	// Tenant is the tenant (the scim handlers' tenant option) whose handlers,
	// events and drift the page shows; those of other tenants never appear, so a
	// tenant's page can be handed to that IdP's admins. Default: "" (the default
	// tenant's).
	Tenant string `json:"tenant,omitempty"`

	token []byte
}

var (
	_ caddy.Provisioner           = (*Activity)(nil)
	_ caddyhttp.MiddlewareHandler = (*Activity)(nil)
	_ caddyfile.Unmarshaler       = (*Activity)(nil)
)

// CaddyModule returns the Caddy module information.
func (Activity) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.scim_activity", New: func() caddy.Module { return new(Activity) }}
}

// Provision resolves the token.
func (a *Activity) Provision(caddy.Context) error {
	t, err := caddy.NewReplacer().ReplaceOrErr(a.Token, true, true)
	if err != nil {
		return fmt.Errorf("resolving the activity page's token: %v", err)
	}
	if len(t) < 16 {
		return fmt.Errorf("the activity page needs its own token of at least 16 characters")
	}
	a.token = []byte(t)
	return nil
}

// ServeHTTP answers the page to a request with the token, 401 to others.
func (a *Activity) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if !a.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="scim activity", charset="UTF-8"`)
		http.Error(w, "the SCIM activity page needs its token", http.StatusUnauthorized)
		return nil
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return nil
	}
	return renderActivity(w, r, a.Tenant)
}

func (a *Activity) authorized(r *http.Request) bool {
	got := ""
	if _, pw, ok := r.BasicAuth(); ok {
		got = pw
	} else if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		got = b
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), a.token) == 1
}

// UnmarshalCaddyfile parses
//
//	scim_activity {
//		token <token>
//		tenant <name>
//	}
func (a *Activity) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "token":
			if err := scimhandler.OneArg(d, &a.Token); err != nil {
				return err
			}
		case "tenant":
			if err := scimhandler.OneArg(d, &a.Tenant); err != nil {
				return err
			}
		default:
			return d.Errf("unknown scim_activity option %q", d.Val())
		}
	}
	return nil
}

func parseActivity(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	a := new(Activity)
	err := a.UnmarshalCaddyfile(h.Dispenser)
	return a, err
}
