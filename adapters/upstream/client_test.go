package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapters"
)

const secret = "tok-0123456789abcdef"

func newClient(t *testing.T, h http.HandlerFunc, opt Options) (*Client, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("Authorization") != "token "+secret {
			t.Errorf("auth header %q", r.Header.Get("Authorization"))
		}
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	opt.Name = "App"
	opt.Base = srv.URL + "/api"
	opt.Auth = func(r *http.Request) { r.Header.Set("Authorization", "token "+secret) }
	opt.Secrets = []string{secret}
	if opt.Retry.Tries == 0 {
		opt.Retry = Retry{Tries: 3, Backoff: time.Millisecond, MaxWait: 2 * time.Second}
	}
	c, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, &hits
}

func fact(t *testing.T, err error, want adapters.Fact) *adapters.Error {
	t.Helper()
	e, ok := adapters.FactOf(err)
	if !ok || e.Fact != want {
		t.Fatalf("error %v (%T), want the %s fact", err, err, want)
	}
	if strings.Contains(e.Error(), secret) {
		t.Errorf("the secret leaked: %v", e)
	}
	return e
}

func TestRetryPolicy(t *testing.T) {
	ctx := context.Background()
	t.Run("reads retry 5xx then fail Unavailable", func(t *testing.T) {
		c, hits := newClient(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(502) }, Options{})
		_, err := c.Do(ctx, Request{Path: "/x"})
		fact(t, err, adapters.Unavailable)
		if hits.Load() != 3 {
			t.Errorf("%d attempts, want 3", hits.Load())
		}
	})
	t.Run("writes are sent once", func(t *testing.T) {
		c, hits := newClient(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }, Options{})
		_, err := c.Do(ctx, Request{Method: http.MethodPost, Path: "/x", Body: map[string]int{"a": 1}})
		fact(t, err, adapters.Unavailable)
		if hits.Load() != 1 {
			t.Errorf("a POST was sent %d times", hits.Load())
		}
	})
	t.Run("idempotent writes retry", func(t *testing.T) {
		n := 0
		c, hits := newClient(t, func(w http.ResponseWriter, r *http.Request) {
			if n++; n < 3 {
				w.WriteHeader(503)
				return
			}
			w.WriteHeader(204)
		}, Options{})
		resp, err := c.Do(ctx, Request{Method: http.MethodPut, Path: "/x", Idempotent: true})
		if err != nil || resp.Status != 204 || hits.Load() != 3 {
			t.Errorf("%v %v after %d attempts", resp, err, hits.Load())
		}
	})
	t.Run("a short Retry-After is waited out", func(t *testing.T) {
		n := 0
		c, _ := newClient(t, func(w http.ResponseWriter, r *http.Request) {
			if n++; n == 1 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(429)
				return
			}
			_, _ = w.Write([]byte(`[]`))
		}, Options{})
		start := time.Now()
		if _, err := c.Do(ctx, Request{Path: "/x"}); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 900*time.Millisecond {
			t.Errorf("answered after %v; the Retry-After of 1 s was not waited out", d)
		}
	})
	t.Run("a long Retry-After fails at once with it", func(t *testing.T) {
		c, hits := newClient(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(429)
		}, Options{})
		_, err := c.Do(ctx, Request{Path: "/x"})
		if e := fact(t, err, adapters.Unavailable); e.RetryAfter != 60 || hits.Load() != 1 {
			t.Errorf("RetryAfter %d after %d attempts", e.RetryAfter, hits.Load())
		}
	})
	t.Run("a Retry-After past the deadline fails at once", func(t *testing.T) {
		c, hits := newClient(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(503)
		}, Options{})
		dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		_, err := c.Do(dctx, Request{Path: "/x"})
		if e := fact(t, err, adapters.Unavailable); e.RetryAfter != 1 || hits.Load() != 1 {
			t.Errorf("RetryAfter %d after %d attempts", e.RetryAfter, hits.Load())
		}
	})
	t.Run("4xx is an answer, not an error", func(t *testing.T) {
		c, hits := newClient(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) }, Options{})
		resp, err := c.Do(ctx, Request{Path: "/x"})
		if err != nil || resp.Status != 404 || hits.Load() != 1 {
			t.Errorf("%v %v after %d attempts", resp, err, hits.Load())
		}
	})
}

func TestCancellationAndTimeouts(t *testing.T) {
	release := make(chan struct{})
	c, _ := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}, Options{Timeout: 100 * time.Millisecond})
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	_, err := c.Do(ctx, Request{Path: "/x"})
	fact(t, err, adapters.Unavailable)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled call does not unwrap to context.Canceled: %v", err)
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer dcancel()
	_, err = c.Do(dctx, Request{Path: "/x"})
	fact(t, err, adapters.Unavailable)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("an expired call does not unwrap to context.DeadlineExceeded: %v", err)
	}
	// the per-call timeout: retried, then Unavailable
	_, err = c.Do(context.Background(), Request{Path: "/x"})
	if e := fact(t, err, adapters.Unavailable); !strings.Contains(e.Reason, "timed out") {
		t.Errorf("reason %q", e.Reason)
	}
}

func TestSizeCapRedirectAndScrub(t *testing.T) {
	c, _ := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/big":
			_, _ = w.Write([]byte(strings.Repeat("x", 2048)))
		case "/api/moved":
			http.Redirect(w, r, "/api/elsewhere", http.StatusFound)
		case "/api/elsewhere":
			t.Error("a redirect was followed")
		default:
			w.WriteHeader(403)
			_, _ = w.Write([]byte("denied for " + secret + "\n\tby policy"))
		}
	}, Options{MaxBody: 1024})
	ctx := context.Background()
	_, err := c.Do(ctx, Request{Path: "/big"})
	fact(t, err, adapters.BadAnswer)
	resp, err := c.Do(ctx, Request{Path: "/moved"})
	if err != nil || resp.Status != http.StatusFound {
		t.Fatalf("redirect: %v %v", resp, err)
	}
	fact(t, c.StatusFact(resp, ""), adapters.BadAnswer)
	resp, err = c.Do(ctx, Request{Path: "/denied"})
	if err != nil {
		t.Fatal(err)
	}
	e := fact(t, c.StatusFact(resp, "use an admin token"), adapters.Misconfigured)
	if !strings.Contains(e.Reason, "[redacted]") || !strings.Contains(e.Reason, "use an admin token") || strings.ContainsAny(e.Reason, "\n\t") {
		t.Errorf("reason %q", e.Reason)
	}
	if s := c.Scrub(strings.Repeat("é", 500)); len([]rune(s)) != 200 {
		t.Errorf("scrub kept %d runes", len([]rune(s)))
	}
	for status, want := range map[int]adapters.Fact{404: adapters.NotFound, 409: adapters.Taken, 422: adapters.Invalid, 400: adapters.Invalid, 418: adapters.BadAnswer} {
		if got := c.StatusFact(&Response{Status: status}, ""); !adapters.Is(got, want) {
			t.Errorf("StatusFact(%d) = %v, want %s", status, got, want)
		}
	}
}

func TestMemo(t *testing.T) {
	c, hits := newClient(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{}`)) }, Options{})
	ctx := adapters.WithMemo(context.Background())
	for range 3 {
		if _, err := c.Do(ctx, Request{Path: "/u/1"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Do(ctx, Request{Path: "/u/1", Header: http.Header{"Sudo": {"a"}}}); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 2 {
		t.Errorf("%d calls for one URL read thrice and once with another header, want 2", hits.Load())
	}
	if _, err := c.Do(ctx, Request{Method: http.MethodPatch, Path: "/u/1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(ctx, Request{Path: "/u/1"}); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 4 || c.Calls() != 4 {
		t.Errorf("a read after a write was answered from the memo: %d calls (Calls %d)", hits.Load(), c.Calls())
	}
	// without a memo every read goes upstream
	_, _ = c.Do(context.Background(), Request{Path: "/u/1"})
	_, _ = c.Do(context.Background(), Request{Path: "/u/1"})
	if hits.Load() != 6 {
		t.Errorf("%d calls", hits.Load())
	}
}

// pagedServer lists n items, X-Total-Count set, capping limit at cap.
func pagedServer(n, cap int, pages *atomic.Int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pages.Add(1)
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		per, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		per = min(per, cap)
		w.Header().Set("X-Total-Count", strconv.Itoa(n))
		var items []string
		for i := (page - 1) * per; i < min(page*per, n); i++ {
			items = append(items, strconv.Itoa(i))
		}
		_, _ = fmt.Fprintf(w, "[%s]", strings.Join(items, ","))
	}
}

func TestWalkAndWindow(t *testing.T) {
	var pages atomic.Int64
	c, _ := newClient(t, pagedServer(23, 5, &pages), Options{})
	p := Paging{Page: "page", Size: "limit", PerPage: 10, Total: "X-Total-Count", Ahead: 3}
	var got []int
	err := EachPage(context.Background(), p, JSONArray[int](c, Request{Path: "/list"}), func(items []int) bool { got = append(got, items...); return true })
	if err != nil || len(got) != 23 || pages.Load() != 5 {
		t.Fatalf("walk: %v, %d items in %d pages", err, len(got), pages.Load())
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("out of order at %d: %v", i, got)
		}
	}
	// stopping early stops paging (at most the pages fetched ahead)
	pages.Store(0)
	n := 0
	_ = EachPage(context.Background(), Paging{Page: "page", Size: "limit", PerPage: 5, Total: "X-Total-Count"},
		JSONArray[int](c, Request{Path: "/list"}), func(items []int) bool { n += len(items); return n < 7 })
	if pages.Load() != 2 {
		t.Errorf("an early stop read %d pages, want 2", pages.Load())
	}
	// a window costs the pages it covers
	pages.Store(0)
	wp := Paging{Page: "page", Size: "limit", PerPage: 100, Total: "X-Total-Count"}
	items, total, err := Window[int](context.Background(), c, Request{Path: "/list"}, wp, 6, 3)
	if err != nil || total != 23 || fmt.Sprint(items) != "[6 7 8]" || pages.Load() != 1 {
		t.Errorf("window: %v %d %v in %d pages", items, total, err, pages.Load())
	}
	pages.Store(0)
	items, _, err = Window[int](context.Background(), c, Request{Path: "/list"}, wp, 7, 3)
	if err != nil || fmt.Sprint(items) != "[7 8 9]" || pages.Load() != 2 {
		t.Errorf("window off a page boundary: %v %v in %d pages", items, err, pages.Load())
	}
	if _, _, err := Window[int](context.Background(), c, Request{Path: "/list"}, Paging{Page: "page", Size: "limit", PerPage: 5, Total: "X-Missing"}, 0, 3); !errors.Is(err, ErrNoWindow) {
		t.Errorf("no total: %v", err)
	}
}

func TestParseRetryAfterAndNextLink(t *testing.T) {
	for in, want := range map[string]int{"": 0, "7": 7, "-3": 0, "soon": 0,
		time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat): 90} {
		if got := ParseRetryAfter(in); got < want-1 || got > want {
			t.Errorf("ParseRetryAfter(%q) = %d, want %d", in, got, want)
		}
	}
	if u := NextLink(`<https://x/a?cursor=c>; rel="next", <https://x/a?page=1>; rel="first"`); u == nil || u.Query().Get("cursor") != "c" {
		t.Errorf("NextLink = %v", u)
	}
}

// A 429's hint: Retry-After first, then RateLimit-Reset as a moment or as seconds,
// then the upstream's own window; writes are not retried, so the hint is what the
// IdP sees.
func TestRateLimitHint(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		header  map[string]string
		own     int
		atLeast int
		atMost  int
	}{
		{"Retry-After", map[string]string{"Retry-After": "40", "RateLimit-Reset": "5"}, 60, 40, 40},
		{"RateLimit-Reset as a moment", map[string]string{"RateLimit-Reset": strconv.FormatInt(time.Now().Add(50*time.Second).Unix(), 10)}, 60, 49, 51},
		{"RateLimit-Reset as seconds", map[string]string{"RateLimit-Reset": "25"}, 60, 25, 25},
		{"a reset already past", map[string]string{"RateLimit-Reset": strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10)}, 60, 60, 60},
		{"none: the upstream's window", nil, 60, 60, 60},
		{"none and no window", map[string]string{"RateLimit-Reset": "soon"}, 0, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl, _ := newClient(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range c.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(http.StatusTooManyRequests)
			}, Options{RateLimitWait: c.own})
			_, err := cl.Do(ctx, Request{Method: http.MethodPost, Path: "/x", Body: map[string]int{"a": 1}})
			e := fact(t, err, adapters.Unavailable)
			if e.RetryAfter < c.atLeast || e.RetryAfter > c.atMost {
				t.Errorf("retry hint %d, want %d..%d", e.RetryAfter, c.atLeast, c.atMost)
			}
		})
	}
}
