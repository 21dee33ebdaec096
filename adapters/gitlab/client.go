package gitlab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// maxPerPage is GitLab's per_page cap.
const maxPerPage = 100

// maxDetail bounds upstream text copied into SCIM error details.
const maxDetail = 200

// tokenHint tells operators what a 401/403 on an admin call means.
const tokenHint = "the token must be a GitLab administrator's personal access token with the api scope"

// response is a GitLab answer that is not a transport-level failure.
type response struct {
	status int
	header http.Header
	body   []byte
}

// request is one API call. retry marks calls that are safe to repeat (GET, DELETE,
// PUT of a custom attribute); POST and PUT /users/:id never are, because a lost
// answer may hide a committed change.
type request struct {
	method string
	path   string // below /api/v4, already escaped where needed
	query  url.Values
	body   any
	retry  bool
}

// send performs r with bounded retries and maps throttling, 5xx, timeouts and
// transport failures to a SCIM 503. Every other status is returned to the caller.
func (a *Adapter) send(ctx context.Context, r request) (*response, error) {
	var payload []byte
	if r.body != nil {
		var err error
		if payload, err = json.Marshal(r.body); err != nil {
			return nil, err
		}
	}
	u := a.api + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	tries := 1
	if r.retry {
		tries = a.maxTries
	}
	for attempt := 1; ; attempt++ {
		resp, err := a.once(ctx, r.method, u, payload)
		var retryAfter int
		var fail *scim.Error
		switch {
		case err != nil:
			if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, ctx.Err() // the client went away; nothing to report
			}
			fail = adapters.UpstreamUnavailable(0, transportReason(err))
		case resp.status == http.StatusTooManyRequests:
			retryAfter = parseRetryAfter(resp.header.Get("Retry-After"))
			fail = adapters.UpstreamUnavailable(retryAfter, "GitLab rate limit reached")
		case resp.status >= 500:
			retryAfter = parseRetryAfter(resp.header.Get("Retry-After"))
			fail = adapters.UpstreamUnavailable(retryAfter, fmt.Sprintf("GitLab answered %d", resp.status))
		case resp.status >= 300 && resp.status < 400:
			return nil, scim.Errorf(http.StatusBadGateway, "",
				"GitLab answered a redirect (%d); set the adapter url to GitLab's final address", resp.status)
		default:
			return resp, nil
		}
		if attempt >= tries {
			return nil, fail
		}
		wait := a.backoff << (attempt - 1)
		if retryAfter > 0 {
			ra := time.Duration(retryAfter) * time.Second
			if ra > a.maxRetryWait {
				return nil, fail // too long to hold the IdP's request: let it retry
			}
			wait = ra
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, fail
			}
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// once sends one HTTP request.
func (a *Adapter) once(ctx context.Context, method, u string, payload []byte) (*response, error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("PRIVATE-TOKEN", a.token)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	a.calls.Add(1)
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// transportReason describes a failed exchange without echoing URLs or headers.
func transportReason(err error) string {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return "request to GitLab timed out"
	}
	return "cannot reach GitLab"
}

// parseRetryAfter reads delta-seconds or an HTTP date; 0 when absent or invalid.
func parseRetryAfter(v string) int {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return n
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return int(d.Seconds() + 0.999)
		}
	}
	return 0
}

// getJSON sends a retried GET and decodes a 200 answer into out. A 404 is
// adapters.ErrNotFound.
func (a *Adapter) getJSON(ctx context.Context, path string, q url.Values, out any) (*response, error) {
	resp, err := a.send(ctx, request{method: http.MethodGet, path: path, query: q, retry: true})
	if err != nil {
		return nil, err
	}
	if resp.status != http.StatusOK {
		return resp, a.statusError(resp)
	}
	if err := json.Unmarshal(resp.body, out); err != nil {
		return resp, scim.Errorf(http.StatusBadGateway, "", "GitLab answered %s %s with a body that is not the expected JSON", http.MethodGet, pathKind(path))
	}
	return resp, nil
}

// pathKind keeps ids out of error details (they are not secrets, just noise).
func pathKind(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if s != "" && strings.Trim(s, "0123456789") == "" {
			segs[i] = ":id"
		}
	}
	return strings.Join(segs, "/")
}

// statusError maps an unexpected GitLab answer to an error. Callers handle the
// statuses that mean something specific to their operation first.
func (a *Adapter) statusError(resp *response) error {
	msg := a.message(resp)
	switch resp.status {
	case http.StatusNotFound:
		return adapters.ErrNotFound
	case http.StatusUnauthorized:
		return adapters.UpstreamMisconfigured(tokenHint)
	case http.StatusForbidden:
		return adapters.UpstreamMisconfigured(tokenHint + " (GitLab: " + msg + ")")
	case http.StatusConflict:
		return scim.Conflict("GitLab: %s", msg)
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return scim.BadRequest(scim.ErrInvalidValue, "GitLab refused the user: %s", msg)
	}
	return scim.Errorf(http.StatusBadGateway, "", "GitLab answered %d: %s", resp.status, msg)
}

// message extracts GitLab's error text from any of its shapes — {"message":"…"},
// {"message":{"attr":["…"]}}, {"message":{"error":"…"}}, {"error":"…"} or plain
// text — truncated and with the token removed.
func (a *Adapter) message(resp *response) string {
	return a.safe(extractMessage(resp.body))
}

// safe makes upstream text fit for a SCIM detail.
func (a *Adapter) safe(s string) string {
	if a.token != "" {
		s = strings.ReplaceAll(s, a.token, "[redacted]")
	}
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > maxDetail {
		s = string(r[:maxDetail-1]) + "…"
	}
	return s
}

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
			if d, ok := top["error_description"]; ok {
				var ds string
				if json.Unmarshal(d, &ds) == nil && ds != "" {
					return s + ": " + ds
				}
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
		case string:
			msgs = append(msgs, x)
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
