package gitlab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddy-scim/caddy-scim/adapters/upstream"
)

// maxPerPage is GitLab's per_page cap.
const maxPerPage = 100

// tokenHint tells operators what a 401/403 on an admin call means; under Admin
// Mode an administrator's token without admin_mode is refused like a user's.
const tokenHint = "the token must be a GitLab administrator's personal access token with the api scope, " +
	"and the admin_mode scope when the instance has Admin Mode on"

// paging reads GitLab's offset-paginated lists; keyset its keyset-paginated ones,
// the only way past 10 000 rows (the first request also asks pagination=keyset).
var (
	paging = upstream.Paging{Page: "page", Size: "per_page", PerPage: maxPerPage, Next: "X-Next-Page"}
	keyset = upstream.Paging{Link: true, Size: "per_page", PerPage: maxPerPage}
)

// upstreamName names GitLab in the client's reasons.
const upstreamName = "GitLab"

// appLimitRetry is the retry hint of a 429 that carries none: GitLab's
// per-endpoint limits (GET /groups, GET /groups/:id, …) answer JSON without
// Retry-After (lib/api/helpers/rate_limiter.rb) and count per minute
// (lib/gitlab/application_rate_limiter.rb). Rack::Attack's 429 carries
// Retry-After, which the client honours; newer GitLab also RateLimit-Reset.
const appLimitRetry = 60

// send performs r; a redirect is the BadAnswer fact (the adapter url should be
// GitLab's final address).
func (a *Adapter) send(ctx context.Context, r upstream.Request) (*upstream.Response, error) {
	resp, err := a.api.Do(ctx, r)
	if err == nil && resp.Status/100 == 3 {
		return nil, a.fail(resp)
	}
	return resp, err
}

// getJSON sends a GET and decodes a 200 answer into out; a 404 is ErrNotFound.
func (a *Adapter) getJSON(ctx context.Context, path string, q url.Values, out any) (*upstream.Response, error) {
	resp, err := a.send(ctx, upstream.Request{Path: path, Query: q})
	if err != nil {
		return nil, err
	}
	if resp.Status != http.StatusOK {
		return resp, a.fail(resp)
	}
	return resp, a.api.Decode(resp, out)
}

// walk reads every page of a list below path.
func walk[T any](ctx context.Context, a *Adapter, path string, q url.Values, maxPages int, each func([]T) bool) error {
	p := paging
	p.MaxPages = maxPages
	return upstream.EachPage(ctx, p, upstream.JSONArray[T](a.api, upstream.Request{Path: path, Query: q}), each)
}

// fail maps an answer that no endpoint-specific rule claimed.
func (a *Adapter) fail(resp *upstream.Response) error { return a.api.StatusFact(resp, "") }

// message is GitLab's error text, scrubbed.
func (a *Adapter) message(resp *upstream.Response) string { return a.api.Message(resp) }

// extractMessage reads GitLab's error text from any of its shapes — {"message":"…"},
// {"message":{"attr":["…"]}}, {"message":{"error":"…"}}, {"error":"…"} or plain
// text.
func extractMessage(body []byte) string {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		s := strings.TrimSpace(string(body))
		if s == "" {
			return "no details"
		}
		return s
	}
	if raw, ok := top["message"]; ok {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		if kv := orderedErrors(raw); kv != "" {
			return kv
		}
		return string(raw)
	}
	if raw, ok := top["error"]; ok {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			var ds string
			if d, ok := top["error_description"]; ok && json.Unmarshal(d, &ds) == nil && ds != "" {
				return s + ": " + ds
			}
			return s
		}
		return string(raw)
	}
	return strings.TrimSpace(string(body))
}

// orderedErrors renders a validation hash {"email":["is invalid"],…} as
// "email: is invalid; …" in GitLab's order (the order validations ran).
func orderedErrors(raw json.RawMessage) string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	var parts []string
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return ""
		}
		key, _ := kt.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return ""
		}
		var msgs []string
		switch x := v.(type) {
		case []any:
			for _, m := range x {
				msgs = append(msgs, fmt.Sprint(m))
			}
		default:
			msgs = append(msgs, fmt.Sprint(x))
		}
		if key == "error" || key == "base" {
			parts = append(parts, strings.Join(msgs, ", "))
		} else {
			parts = append(parts, key+": "+strings.Join(msgs, ", "))
		}
	}
	return strings.Join(parts, "; ")
}

// errorsOf decodes a 400 validation hash into attribute → messages.
func errorsOf(body []byte) map[string][]string {
	var v struct {
		Message map[string]json.RawMessage `json:"message"`
	}
	if json.Unmarshal(body, &v) != nil {
		return nil
	}
	out := map[string][]string{}
	for k, raw := range v.Message {
		var list []string
		if json.Unmarshal(raw, &list) == nil {
			out[k] = list
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			out[k] = []string{s}
		}
	}
	return out
}

// taken reports whether errs holds "has already been taken" (or, with reserved,
// "is a reserved name") for a key that match accepts.
func taken(errs map[string][]string, reserved bool, match func(key string) bool) bool {
	for k, ms := range errs {
		if !match(k) {
			continue
		}
		for _, m := range ms {
			if strings.Contains(m, "has already been taken") || reserved && strings.Contains(m, "is a reserved name") {
				return true
			}
		}
	}
	return false
}

// attrs is a user's or group's custom attributes.
type attrs []glAttr

type glAttr struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func (l *attrs) get(key string) (string, bool) {
	if l == nil {
		return "", false
	}
	for _, a := range *l {
		if a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}

func (l *attrs) set(key, value string) {
	for i, a := range *l {
		if a.Key == key {
			(*l)[i].Value = value
			return
		}
	}
	*l = append(*l, glAttr{Key: key, Value: value})
}

func (l *attrs) del(key string) {
	out := (*l)[:0]
	for _, a := range *l {
		if a.Key != key {
			out = append(out, a)
		}
	}
	*l = out
}

// ensureAttrs fetches the custom attributes of the user or group at owner when an
// answer lacked them.
func (a *Adapter) ensureAttrs(ctx context.Context, owner string, l **attrs) error {
	if *l != nil {
		return nil
	}
	var list attrs
	if _, err := a.getJSON(ctx, owner+"/custom_attributes", nil, &list); err != nil {
		return err
	}
	*l = &list
	return nil
}

// syncAttr makes the custom attribute key of owner hold value ("" removes it),
// writing only when it differs from what l holds, and updates l.
func (a *Adapter) syncAttr(ctx context.Context, owner string, l *attrs, key, value string) error {
	have, ok := l.get(key)
	switch {
	case value != "" && value != have:
		resp, err := a.send(ctx, upstream.Request{Method: http.MethodPut, Path: owner + "/custom_attributes/" + key,
			Body: map[string]string{"value": value}, Idempotent: true})
		if err != nil {
			return err
		}
		if !resp.OK() {
			return a.fail(resp)
		}
		l.set(key, value)
	case value == "" && ok:
		resp, err := a.send(ctx, upstream.Request{Method: http.MethodDelete, Path: owner + "/custom_attributes/" + key, Idempotent: true})
		if err != nil {
			return err
		}
		if !resp.OK() && resp.Status != http.StatusNotFound {
			return a.fail(resp)
		}
		l.del(key)
	}
	return nil
}

// remove deletes what owner names, best effort (a half-created user or group).
func (a *Adapter) remove(ctx context.Context, owner string) error {
	resp, err := a.send(ctx, upstream.Request{Method: http.MethodDelete, Path: owner, Idempotent: true})
	if err == nil && !resp.OK() && resp.Status != http.StatusNotFound {
		err = a.fail(resp)
	}
	return err
}
