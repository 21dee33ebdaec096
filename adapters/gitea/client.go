package gitea

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// maxBody bounds what is read of one Gitea answer.
const maxBody = 16 << 20

// response is a Gitea answer that was received (any status).
type response struct {
	status int
	header http.Header
	body   []byte
}

// message returns Gitea's error text ({"message": …}), sanitized for a SCIM detail.
func (a *Adapter) message(r *response) string {
	var e struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(r.body, &e)
	return a.sanitize(e.Message)
}

// sanitize makes upstream text safe for a SCIM detail: no token, no control
// characters, bounded length.
func (a *Adapter) sanitize(s string) string {
	if a.token != "" {
		s = strings.ReplaceAll(s, a.token, "[redacted]")
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}

// endpoint builds an API URL from already-escaped path segments.
func (a *Adapter) endpoint(query url.Values, segs ...string) string {
	u := *a.base
	p := a.base.EscapedPath()
	for _, s := range segs {
		p += "/" + s
	}
	u.Path, _ = url.PathUnescape(p)
	u.RawPath = p
	u.RawQuery = ""
	if len(query) > 0 {
		u.RawQuery = query.Encode()
	}
	return u.String()
}

// call sends one request and returns Gitea's answer whatever its status. Transport
// failures become 503 errors. Idempotent GETs are retried twice with a short backoff on
// transport failures, 5xx, and 429 without Retry-After (with one, the IdP waits instead).
//
// Within one SCIM operation (adapters.WithMemo) a GET of the same URL is answered once,
// and every write first forgets what was read.
func (a *Adapter) call(ctx context.Context, method, target string, body any) (*response, error) {
	memo := adapters.MemoFrom(ctx)
	if memo == nil {
		return a.callUpstream(ctx, method, target, body)
	}
	if method != http.MethodGet {
		memo.Reset()
		defer memo.Reset()
		return a.callUpstream(ctx, method, target, body)
	}
	v, err := memo.Do("gitea:GET "+target, func() (any, error) { return a.callUpstream(ctx, method, target, body) })
	r, _ := v.(*response)
	return r, err
}

func (a *Adapter) callUpstream(ctx context.Context, method, target string, body any) (*response, error) {
	var payload []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		payload = b
	}
	attempts := 1
	if method == http.MethodGet {
		attempts = 3
	}
	backoff := 100 * time.Millisecond
	var lastErr error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return nil, adapters.UpstreamUnavailable(0, "request cancelled")
			case <-time.After(backoff):
			}
			backoff *= 3
		}
		resp, err := a.once(ctx, method, target, payload)
		if err != nil {
			lastErr = err
			if a.logger != nil {
				a.logger.Debug("gitea call failed", zap.String("method", method), zap.Int("attempt", i+1), zap.Error(err))
			}
			continue
		}
		if method == http.MethodGet && i+1 < attempts &&
			(resp.status >= 500 || resp.status == http.StatusTooManyRequests && resp.header.Get("Retry-After") == "") {
			lastErr = a.statusError("a lookup", resp)
			continue
		}
		return resp, nil
	}
	return nil, lastErr
}

func (a *Adapter) once(ctx context.Context, method, target string, payload []byte) (*response, error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "token "+a.token)
	req.Header.Set("Accept", "application/json")
	if login, ok := ctx.Value(sudoKey{}).(string); ok {
		req.Header.Set("Sudo", login) // act as that user (admin tokens only), for UserGroups
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.calls != nil {
		a.calls.Add(1)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, transportError(ctx, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, transportError(ctx, err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// transportError hides the URL and the Go error text, which may name internal hosts.
func transportError(ctx context.Context, err error) error {
	var ne interface{ Timeout() bool }
	switch {
	case ctx.Err() != nil:
		return adapters.UpstreamUnavailable(0, "request cancelled")
	case errors.As(err, &ne) && ne.Timeout():
		return adapters.UpstreamUnavailable(0, "gitea did not answer in time")
	default:
		return adapters.UpstreamUnavailable(0, "cannot reach gitea")
	}
}

// statusError maps an unexpected Gitea status to a SCIM error; op names the call for
// the detail ("create user"). 404 is adapters.ErrNotFound. Callers handle the 4xx
// answers that mean something specific before calling it.
func (a *Adapter) statusError(op string, r *response) error {
	switch {
	case r.status == http.StatusNotFound:
		return adapters.ErrNotFound
	case r.status == http.StatusUnauthorized || r.status == http.StatusForbidden:
		return adapters.UpstreamMisconfigured(fmt.Sprintf(
			"gitea answered %d to %s: the token must belong to a site administrator and have the scopes write:admin and write:user",
			r.status, op))
	case r.status == http.StatusTooManyRequests || r.status >= 500:
		ra, _ := strconv.Atoi(r.header.Get("Retry-After"))
		return adapters.UpstreamUnavailable(ra, fmt.Sprintf("gitea answered %d to %s", r.status, op))
	case r.status == http.StatusBadRequest || r.status == http.StatusUnprocessableEntity || r.status == http.StatusConflict:
		msg := a.message(r)
		if msg == "" {
			msg = "invalid value"
		}
		return scim.BadRequest(scim.ErrInvalidValue, "gitea rejected the %s: %s", op, msg)
	default:
		return scim.Errorf(http.StatusBadGateway, "", "unexpected answer %d from gitea to %s", r.status, op)
	}
}

// decode unmarshals a 2xx JSON body.
func decode(r *response, v any) error {
	if err := json.Unmarshal(r.body, v); err != nil {
		return scim.Errorf(http.StatusBadGateway, "", "gitea sent an unreadable answer")
	}
	return nil
}
