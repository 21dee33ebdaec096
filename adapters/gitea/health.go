package gitea

import (
	"context"
	"net/http"
	"net/url"

	"github.com/caddy-scim/caddy-scim/adapters"
)

var _ adapters.HealthChecker = (*Adapter)(nil)

// CheckHealth checks that the admin token is accepted, belongs to a site
// administrator and may list users, and that the organization (for groups) exists.
// Gitea does not tell a token its own scopes: a missing write scope shows at the
// first write, as a 502 naming the token.
func (a *Adapter) CheckHealth(ctx context.Context) error {
	r, err := a.get(ctx, "/user", nil)
	if err != nil {
		return err
	}
	if !r.OK() {
		return a.fail(r)
	}
	var me struct {
		Login   string `json:"login"`
		IsAdmin bool   `json:"is_admin"`
	}
	if err := a.api.Decode(r, &me); err != nil {
		return err
	}
	if !me.IsAdmin {
		return adapters.MisconfiguredBecause("the admin token belongs to %s, who is not a Gitea site administrator", me.Login)
	}
	if r, err = a.get(ctx, "/admin/users", url.Values{"limit": {"1"}}); err != nil {
		return err
	} else if !r.OK() {
		return a.fail(r)
	}
	if a.Organization != "" {
		if r, err = a.get(ctx, path("orgs", url.PathEscape(a.Organization)), nil); err != nil {
			return err
		}
		if r.Status == http.StatusNotFound {
			return adapters.MisconfiguredBecause("the organization %s does not exist in Gitea", a.Organization)
		}
		if !r.OK() {
			return a.fail(r)
		}
	}
	return nil
}
