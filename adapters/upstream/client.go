// Package upstream is the HTTP client every adapter uses to call its application's
// admin API. It holds, once, what each adapter would otherwise solve its own way:
// the auth hook, a response size cap, call counting, the per-request memo for reads,
// one retry policy for idempotent calls that honours Retry-After within the request's
// deadline, one answer to cancellation and timeouts, and the scrubbing of upstream
// text before it reaches a SCIM detail. Adapters keep only their error-body parsing
// and what each endpoint's statuses mean.
package upstream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	json "github.com/segmentio/encoding/json"
	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapters"
)

// DefaultMaxBody bounds what is read of one answer.
const DefaultMaxBody = 16 << 20

// Retry is the policy for idempotent calls: up to Tries attempts on transport
// failures, 5xx and 429, waiting Backoff, then twice that, …; a Retry-After the
// upstream sends replaces the backoff when it is at most MaxWait and ends before the
// request's deadline, else the call fails at once with it (the IdP retries later).
type Retry struct {
	Tries   int
	Backoff time.Duration
	MaxWait time.Duration
}

// DefaultRetry is used when Options.Retry is zero.
var DefaultRetry = Retry{Tries: 3, Backoff: 200 * time.Millisecond, MaxWait: 3 * time.Second}

// Options configure a Client.
type Options struct {
	// Name of the upstream in reasons ("Gitea", "GitLab").
	Name string
	// Base is the API root, e.g. http://127.0.0.1:3000/api/v1; request paths are
	// appended to it.
	Base string
	// Auth sets the credentials of a request.
	Auth func(*http.Request)
	// Secrets are removed from every upstream text that Scrub returns.
	Secrets []string
	// Message extracts the upstream's error text from an answer's body
	// (Gitea's {"message": …}); nil: the body as text.
	Message func(body []byte) string
	// Hint tells operators what a 401/403 means for this upstream (which token,
	// which scopes).
	Hint string
	// Timeout bounds one call, reading the answer included. Default: 30s.
	Timeout time.Duration
	// MaxConns caps concurrent connections. Default 0: unlimited.
	MaxConns int
	// MaxBody bounds what is read of one answer. Default: DefaultMaxBody.
	MaxBody int64
	// Retry is the policy for idempotent calls. Default: DefaultRetry.
	Retry Retry
	// RateLimitWait is the retry hint, in seconds, of a 429 that names no wait
	// (neither Retry-After nor RateLimit-Reset), e.g. the window of the upstream's
	// per-endpoint limits. Default 0: none.
	RateLimitWait int
	Logger        *zap.Logger
}

// Client calls one upstream. It is safe for concurrent use.
type Client struct {
	opt   Options
	base  *url.URL
	http  *http.Client
	calls atomic.Int64
	// fetched are secrets learnt while running (a login's session tokens), the
	// last few, scrubbed like Options.Secrets.
	fetched atomic.Pointer[[]string]
}

// maxFetched bounds the secrets a client remembers beyond Options.Secrets.
const maxFetched = 4

// AddSecret makes Scrub remove s too (a session token the adapter fetched).
func (c *Client) AddSecret(s string) {
	for {
		old := c.fetched.Load()
		var next []string
		if old != nil {
			next = append(next, (*old)[max(0, len(*old)-maxFetched+1):]...)
		}
		next = append(next, s)
		if c.fetched.CompareAndSwap(old, &next) {
			return
		}
	}
}

// New builds a client. Redirects are never followed: a redirect would drop the
// credentials or turn a write into a read, and an adapter reads it as an answer.
func New(opt Options) (*Client, error) {
	base, err := url.Parse(strings.TrimSuffix(opt.Base, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, errors.New("the URL must be an http or https URL with a host")
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 30 * time.Second
	}
	if opt.MaxBody <= 0 {
		opt.MaxBody = DefaultMaxBody
	}
	if opt.Retry.Tries <= 0 {
		opt.Retry = DefaultRetry
	}
	if opt.Logger == nil {
		opt.Logger = zap.NewNop()
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxConnsPerHost = opt.MaxConns
	tr.MaxIdleConnsPerHost = 16
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return &Client{opt: opt, base: base, http: &http.Client{
		Transport:     tr,
		Timeout:       opt.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// Timeout is the bound on one call.
func (c *Client) Timeout() time.Duration { return c.http.Timeout }

// Calls is the number of HTTP requests sent so far, retries included.
func (c *Client) Calls() int64 {
	if c == nil {
		return 0
	}
	return c.calls.Load()
}

// Close releases idle connections; it is safe on a nil client.
func (c *Client) Close() {
	if c != nil {
		c.http.CloseIdleConnections()
	}
}

// Request is one API call.
type Request struct {
	Method string
	// Path is below the base, already escaped ("/users/42", "/users/a%2Fb").
	Path  string
	Query url.Values
	// Body is sent as JSON when not nil.
	Body any
	// Header holds extra request headers (they are part of the memo key).
	Header http.Header
	// Idempotent marks a write that is safe to repeat (a PUT of a value, a DELETE):
	// it is retried like a read. POST and PUT of a whole resource never are, since
	// a lost answer may hide a committed change.
	Idempotent bool
	// Definite takes a 5xx answer as the upstream's last word rather than a
	// failure: it is returned, not retried (an application that answers a taken
	// login with 500, which its mapping names). nil: none is.
	Definite func(status int, body []byte) bool
}

// Response is an upstream answer that was received: any status below 500 except
// 429 (those are the Unavailable fact after the retries), and a 5xx that the
// request's Definite takes.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// OK reports a 2xx status.
func (r *Response) OK() bool { return r.Status/100 == 2 }

// URL returns the absolute URL of a request.
func (c *Client) URL(r Request) string {
	u := *c.base
	p := c.base.EscapedPath() + r.Path
	u.Path, _ = url.PathUnescape(p)
	u.RawPath = p
	u.RawQuery = ""
	if len(r.Query) > 0 {
		u.RawQuery = r.Query.Encode()
	}
	return u.String()
}

// Do performs r. Within one SCIM operation (adapters.WithMemo) a GET is answered
// once, and every other method first forgets what was read. Transport failures,
// 5xx and 429 are retried for reads and idempotent writes, then become the
// Unavailable fact; a cancelled or expired request is Unavailable too, wrapping the
// context's error.
func (c *Client) Do(ctx context.Context, r Request) (*Response, error) {
	if r.Method == "" {
		r.Method = http.MethodGet
	}
	memo := adapters.MemoFrom(ctx)
	if r.Method != http.MethodGet {
		memo.Reset()
		defer memo.Reset()
		return c.send(ctx, r)
	}
	v, err := memo.Do(c.memoKey(r), func() (any, error) { return c.send(ctx, r) })
	resp, _ := v.(*Response)
	return resp, err
}

func (c *Client) memoKey(r Request) string {
	k := "upstream:" + c.URL(r)
	if len(r.Header) > 0 {
		names := make([]string, 0, len(r.Header))
		for n := range r.Header {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			k += "\x00" + n + "=" + strings.Join(r.Header[n], ",")
		}
	}
	return k
}

func (c *Client) send(ctx context.Context, r Request) (*Response, error) {
	var payload []byte
	if r.Body != nil {
		b, err := json.Marshal(r.Body)
		if err != nil {
			return nil, err
		}
		payload = b
	}
	target := c.URL(r)
	tries := 1
	if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Idempotent {
		tries = c.opt.Retry.Tries
	}
	wait := c.opt.Retry.Backoff
	for attempt := 1; ; attempt++ {
		resp, err := c.once(ctx, r, target, payload)
		var fail *adapters.Error
		retryAfter := 0
		switch {
		case err != nil:
			if cerr := c.contextFact(ctx); cerr != nil {
				return nil, cerr
			}
			fail = c.transportFact(err)
		case resp.Status == http.StatusTooManyRequests:
			retryAfter = c.rateLimitWait(resp.Header)
			fail = adapters.UnavailableFor(retryAfter, "%s rate limit reached", c.opt.Name)
		case resp.Status >= 500 && r.Definite != nil && r.Definite(resp.Status, resp.Body):
			return resp, nil
		case resp.Status >= 500:
			retryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"))
			fail = adapters.UnavailableFor(retryAfter, "%s answered %d", c.opt.Name, resp.Status)
		default:
			return resp, nil
		}
		c.opt.Logger.Debug("upstream call failed", zap.String("method", r.Method), zap.Int("attempt", attempt), zap.Error(fail))
		if attempt >= tries {
			return nil, fail
		}
		pause := wait
		wait *= 2
		if retryAfter > 0 {
			pause = time.Duration(retryAfter) * time.Second
			if pause > c.opt.Retry.MaxWait {
				return nil, fail // too long to hold the IdP's request: it retries
			}
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < pause {
			return nil, fail
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, c.contextFact(ctx)
		case <-t.C:
		}
	}
}

func (c *Client) once(ctx context.Context, r Request, target string, payload []byte) (*Response, error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, target, body)
	if err != nil {
		return nil, err
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.opt.Auth != nil {
		c.opt.Auth(req)
	}
	c.calls.Add(1)
	adapters.CountCall(ctx)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.opt.MaxBody+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > c.opt.MaxBody {
		return nil, errTooLarge
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

var errTooLarge = errors.New("answer too large")

// contextFact is the one answer to a request whose context ended: Unavailable,
// wrapping the context's error (the handler answers a cancelled request 499, an
// expired one 503).
func (c *Client) contextFact(ctx context.Context) *adapters.Error {
	switch err := ctx.Err(); {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		return &adapters.Error{Fact: adapters.Unavailable, Reason: c.opt.Name + " did not answer in time", Err: err}
	default:
		return &adapters.Error{Fact: adapters.Unavailable, Reason: "the request was cancelled", Err: err}
	}
}

// transportFact describes a failed exchange without echoing URLs or Go error text,
// which may name internal hosts.
func (c *Client) transportFact(err error) *adapters.Error {
	var ne net.Error
	switch {
	case errors.Is(err, errTooLarge):
		return adapters.BadAnswerf("%s sent an answer larger than %d bytes", c.opt.Name, c.opt.MaxBody)
	case errors.As(err, &ne) && ne.Timeout():
		return adapters.UnavailableFor(0, "the request to %s timed out", c.opt.Name)
	default:
		return adapters.UnavailableFor(0, "cannot reach %s", c.opt.Name)
	}
}

// rateLimitWait is a 429's retry hint: Retry-After, else RateLimit-Reset (GitLab
// sends the window's end as a Unix time; older drafts sent seconds), else the
// upstream's RateLimitWait.
func (c *Client) rateLimitWait(h http.Header) int {
	if n := ParseRetryAfter(h.Get("Retry-After")); n > 0 {
		return n
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(h.Get("RateLimit-Reset")), 10, 64); err == nil && n > 0 {
		// A value past 1e9 can only be a moment (2001 onwards), not a wait.
		if n > 1e9 {
			n = int64(time.Until(time.Unix(n, 0)).Seconds() + 0.999)
		}
		if n > 0 {
			return int(n)
		}
	}
	return c.opt.RateLimitWait
}

// ParseRetryAfter reads delta-seconds or an HTTP date; 0 when absent or invalid.
func ParseRetryAfter(v string) int {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		return max(n, 0)
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return int(d.Seconds() + 0.999)
		}
	}
	return 0
}

// Decode unmarshals a JSON answer into v; an unreadable body is the BadAnswer fact.
func (c *Client) Decode(resp *Response, v any) error {
	if err := json.Unmarshal(resp.Body, v); err != nil {
		return adapters.BadAnswerf("%s sent an answer that is not the expected JSON", c.opt.Name)
	}
	return nil
}

// GetJSON sends a GET and decodes a 200 answer into v; any other status is returned
// with the fact StatusFact gives it.
func (c *Client) GetJSON(ctx context.Context, r Request, v any) (*Response, error) {
	r.Method = http.MethodGet
	resp, err := c.Do(ctx, r)
	if err != nil {
		return nil, err
	}
	if resp.Status != http.StatusOK {
		return resp, &StatusError{Response: resp, Err: c.StatusFact(resp, "")}
	}
	return resp, c.Decode(resp, v)
}

// StatusError is an answer GetJSON (and JSONArray, Window) did not expect; errors.Is and
// adapters.FactOf see the fact StatusFact gives it, and a caller that knows what the
// endpoint's status means reads the Response.
type StatusError struct {
	Response *Response
	Err      error
}

func (e *StatusError) Error() string { return e.Err.Error() }
func (e *StatusError) Unwrap() error { return e.Err }

// Message is the upstream's error text of an answer, scrubbed.
func (c *Client) Message(resp *Response) string {
	if c.opt.Message != nil {
		return c.Scrub(c.opt.Message(resp.Body))
	}
	return c.Scrub(string(resp.Body))
}

// StatusFact maps an answer that no endpoint-specific rule claimed: 404 is
// ErrNotFound, 401/403 Misconfigured (with hint, or Options.Hint when ""), 409
// Taken, 400/422 Invalid, other 3xx/4xx BadAnswer; the reason quotes Message.
func (c *Client) StatusFact(resp *Response, hint string) error {
	msg := c.Message(resp)
	if msg == "" {
		msg = "no details"
	}
	if hint == "" {
		hint = c.opt.Hint
	}
	switch resp.Status {
	case http.StatusNotFound:
		return adapters.ErrNotFound
	case http.StatusUnauthorized, http.StatusForbidden:
		return adapters.MisconfiguredBecause("upstream rejected the adapter's admin token: %s answered %d (%s); %s", c.opt.Name, resp.Status, msg, hint)
	case http.StatusConflict:
		return adapters.TakenBy("", "%s: %s", c.opt.Name, msg)
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return adapters.InvalidValue("", "%s refused the value: %s", c.opt.Name, msg)
	}
	if resp.Status/100 == 3 {
		return adapters.BadAnswerf("%s answered a redirect (%d); set the adapter url to its final address", c.opt.Name, resp.Status)
	}
	return adapters.BadAnswerf("%s answered %d: %s", c.opt.Name, resp.Status, msg)
}

// maxText bounds upstream text copied into a reason, in characters.
const maxText = 200

// Scrub makes upstream text fit for a SCIM detail: no secret, no control
// characters, white space folded, at most 200 characters.
func (c *Client) Scrub(s string) string {
	secrets := c.opt.Secrets
	if f := c.fetched.Load(); f != nil {
		secrets = append(slices.Clip(secrets), *f...)
	}
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	s = strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)), " ")
	if r := []rune(s); len(r) > maxText {
		s = string(r[:maxText-1]) + "…"
	}
	return s
}
