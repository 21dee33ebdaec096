package gitlab

import (
	"context"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-scim/caddy-scim/adapters/upstream"
	"github.com/caddy-scim/caddy-scim/integration/gitlabemu"
)

const adminToken = "glpat-test-admin-token-0123456789"

// env is one emulator and an adapter provisioned against it.
type env struct {
	emu *gitlabemu.Server
	srv *httptest.Server
	a   *Adapter
}

func newEnv(t *testing.T, opts gitlabemu.Options, configure ...func(*Adapter)) *env {
	t.Helper()
	if opts.AdminToken == "" {
		opts.AdminToken = adminToken
	}
	emu := gitlabemu.New(opts)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	a := &Adapter{Config: upstream.Config{URL: srv.URL, Token: opts.AdminToken}}
	for _, f := range configure {
		f(a)
	}
	// Fast retries keep fault tests quick; the policy is the same.
	a.retry = fastRetry
	provisionAdapter(t, a)
	return &env{emu: emu, srv: srv, a: a}
}

func provisionAdapter(t *testing.T, a *Adapter) {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := a.Provision(ctx); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	if err := a.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	t.Cleanup(func() { _ = a.Cleanup() })
}

// fastRetry is upstream.DefaultRetry with a short backoff.
var fastRetry = upstream.Retry{Tries: upstream.DefaultRetry.Tries, Backoff: time.Millisecond, MaxWait: upstream.DefaultRetry.MaxWait}

// unprovisioned is an adapter with a client but no upstream, for the pure mapping
// functions.
func unprovisioned(t *testing.T) *Adapter {
	t.Helper()
	c, err := upstream.New(upstream.Options{Name: "GitLab", Base: "https://gl.example/api/v4", Message: extractMessage, Hint: tokenHint})
	if err != nil {
		t.Fatal(err)
	}
	return &Adapter{api: c}
}

func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("id %q is not numeric", s)
	}
	return n
}

func (e *env) user(t *testing.T, id string) gitlabemu.UserState {
	t.Helper()
	u, ok := e.emu.User(atoi(t, id))
	if !ok {
		t.Fatalf("emulator has no user %s", id)
	}
	return u
}
