package gitea

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
)

// tokenHint tells operators what Gitea's 401/403 to an admin call means.
const tokenHint = "the token must belong to a site administrator and have the scopes write:admin and write:user"

// messageOf reads Gitea's error text ({"message": …}).
func messageOf(body []byte) string {
	var e struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(body, &e)
	return e.Message
}

// message returns Gitea's error text, scrubbed for a SCIM detail.
func (a *Adapter) message(r *upstream.Response) string { return a.api.Message(r) }

// fail maps an answer that no endpoint-specific rule claimed.
func (a *Adapter) fail(r *upstream.Response) error { return a.api.StatusFact(r, "") }

// takenOrFail maps Gitea's answers to create, rename and e-mail changes: a taken
// name or e-mail is the Taken fact, anything else as fail.
func (a *Adapter) takenOrFail(r *upstream.Response) error {
	if r.Status == http.StatusUnprocessableEntity || r.Status == http.StatusBadRequest {
		msg := a.message(r)
		if strings.Contains(msg, "already exists") || strings.Contains(msg, "already in use") {
			field := "userName"
			if strings.Contains(strings.ToLower(msg), "mail") {
				field = "emails"
			}
			return adapters.TakenBy(field, "gitea: %s", msg)
		}
	}
	return a.fail(r)
}

// get sends a GET below /api/v1.
func (a *Adapter) get(ctx context.Context, path string, q url.Values) (*upstream.Response, error) {
	return a.api.Do(ctx, upstream.Request{Method: http.MethodGet, Path: path, Query: q})
}

// send sends a write below /api/v1.
func (a *Adapter) send(ctx context.Context, method, path string, body any) (*upstream.Response, error) {
	return a.api.Do(ctx, upstream.Request{Method: method, Path: path, Body: body, Idempotent: method == http.MethodDelete || method == http.MethodPut})
}

// path joins escaped segments below /api/v1.
func path(segs ...string) string { return "/" + strings.Join(segs, "/") }
