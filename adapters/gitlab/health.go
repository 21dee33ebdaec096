package gitlab

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
)

var _ adapters.HealthChecker = (*Adapter)(nil)

// CheckHealth checks that the token is accepted, belongs to an administrator,
// carries the api scope (GET /personal_access_tokens/self, GitLab 15.5+) and acts
// as an administrator: under Admin Mode a token without the admin_mode scope is a
// normal user's, though GET /user still answers is_admin true.
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
	if slices.Contains(tok.Scopes, "admin_mode") {
		return nil
	}
	return a.checkAdminMode(ctx, me.ID, tok.Scopes)
}

// checkAdminMode tells whether a token without admin_mode still acts as an
// administrator (Admin Mode off) with one admin-only read, the token user's own
// custom attributes.
func (a *Adapter) checkAdminMode(ctx context.Context, self int64, scopes []string) error {
	resp, err := a.send(ctx, upstream.Request{Path: userPath(self) + "/custom_attributes"})
	switch {
	case err != nil:
		return err
	case resp.Status == http.StatusForbidden:
		return adapters.MisconfiguredBecause("GitLab's Admin Mode is on and the admin token (scopes %s) lacks the admin_mode scope, so GitLab treats it "+
			"as a normal user's: give the token the api and admin_mode scopes", strings.Join(scopes, ", "))
	case resp.Status != http.StatusOK:
		return a.fail(resp)
	}
	return nil
}
