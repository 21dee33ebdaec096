package gitlab

import (
	"context"
	"slices"
	"strings"

	"github.com/caddy-scim/caddy-scim/adapters"
)

var _ adapters.HealthChecker = (*Adapter)(nil)

// CheckHealth checks that the token is accepted, belongs to an administrator and
// carries the api scope (GET /personal_access_tokens/self, GitLab 15.5+).
func (a *Adapter) CheckHealth(ctx context.Context) error {
	var me glUser
	if _, err := a.getJSON(ctx, "/user", nil, &me); err != nil {
		return err
	}
	if !me.IsAdmin {
		return adapters.MisconfiguredBecause("the admin token belongs to %s, who is not a GitLab administrator: %s", me.Username, tokenHint)
	}
	var tok struct {
		Scopes []string `json:"scopes"`
		Active bool     `json:"active"`
	}
	if _, err := a.getJSON(ctx, "/personal_access_tokens/self", nil, &tok); err != nil {
		return err
	}
	if !slices.Contains(tok.Scopes, "api") {
		return adapters.MisconfiguredBecause("the admin token has the scopes %s, not api: %s", strings.Join(tok.Scopes, ", "), tokenHint)
	}
	return nil
}
