package gitea

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
	"github.com/caddy-scim/caddy-scim/module/provision"
)

func TestLoginNameRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		st   loginState
		want string
	}{
		{loginState{externalID: "00u1abcd"}, "00u1abcd"},
		{loginState{externalID: "00u1abcd", deleted: true}, "~scim:deleted:00u1abcd"},
		{loginState{externalID: "00u1abcd", emailName: true}, "~scim:email:00u1abcd"},
		{loginState{externalID: "00u1abcd", emailName: true, deleted: true}, "~scim:email-deleted:00u1abcd"},
		{loginState{externalID: "00u1abcd", blocked: true}, "~scim:blocked:00u1abcd"},
		{loginState{externalID: "00u1abcd", emailName: true, blocked: true}, "~scim:email-blocked:00u1abcd"},
		{loginState{}, "~scim:managed:"},
		{loginState{deleted: true}, "~scim:deleted:"},
		{loginState{emailName: true}, "~scim:email:"},
		{loginState{externalID: "~scim:x"}, "~scim:managed:~scim:x"},
		{loginState{externalID: "~scim:managed:y"}, "~scim:managed:~scim:managed:y"},
		{loginState{externalID: "~scim:deleted:y"}, "~scim:managed:~scim:deleted:y"},
		{loginState{externalID: "~scim:deleted:y", deleted: true}, "~scim:deleted:~scim:deleted:y"},
		{loginState{externalID: "~scim:email:y", emailName: true}, "~scim:email:~scim:email:y"},
		{loginState{externalID: "scim:z"}, "scim:z"},
		{loginState{externalID: "with space and ünïcode"}, "with space and ünïcode"},
		{loginState{externalID: "00u1abcd", deleted: true, handBlock: true}, "~scim:hdeleted:00u1abcd"},
		{loginState{externalID: "00u1abcd", emailName: true, deleted: true, handBlock: true}, "~scim:email-hdeleted:00u1abcd"},
		{loginState{externalID: "00u1abcd", tenant: "acme"}, "~scim@acme:00u1abcd"},
		{loginState{tenant: "acme"}, "~scim@acme:~scim:managed:"},
		{loginState{externalID: "x", emailName: true, blocked: true, tenant: "b-2"}, "~scim@b-2:~scim:email-blocked:x"},
		{loginState{externalID: "~scim@acme:x"}, "~scim:managed:~scim@acme:x"},
	} {
		tc.st.managed = true
		got := encodeLoginName(tc.st)
		if got != tc.want {
			t.Errorf("encode(%+v) = %q, want %q", tc.st, got, tc.want)
		}
		if dec := decodeLoginName(got); dec != tc.st {
			t.Errorf("decode(%q) = %+v; want %+v", got, dec, tc.st)
		}
		forms := loginNameForms(tc.st.externalID, tc.st.tenant)
		found := false
		for _, f := range forms {
			found = found || f == got
			if d := decodeLoginName(f); d.externalID != tc.st.externalID || !d.managed {
				t.Errorf("form %q of %q decodes to %+v", f, tc.st.externalID, d)
			}
		}
		if !found {
			t.Errorf("loginNameForms(%q) = %q misses %q", tc.st.externalID, forms, got)
		}
	}
	if d := decodeLoginName(""); d.managed || d.externalID != "" {
		t.Errorf("empty login_name reads as managed")
	}
	// A reserved-looking value written by someone else reads verbatim.
	if d := decodeLoginName("~scim:other"); d.externalID != "~scim:other" || !d.managed || d.deleted || d.emailName {
		t.Errorf("decode(~scim:other) = %+v", d)
	}
	long := loginState{externalID: strings.Repeat("x", MaxExternalIDLength), deleted: true, emailName: true, handBlock: true}
	if len(encodeLoginName(long)) != maxLoginName {
		t.Errorf("MaxExternalIDLength does not fit the longest form exactly")
	}
	long.tenant = strings.Repeat("t", 32)
	long.externalID = strings.Repeat("x", maxExternalID(long.tenant))
	if len(encodeLoginName(long)) != maxLoginName {
		t.Errorf("maxExternalID does not fit a tenant's longest form exactly: %d", len(encodeLoginName(long)))
	}
	// another tenant's forms are not this tenant's
	for _, f := range loginNameForms("x", "a") {
		if d := decodeLoginName(f); d.tenant != "a" {
			t.Errorf("form %q of tenant a decodes to tenant %q", f, d.tenant)
		}
	}
}

func TestDeriveUsername(t *testing.T) {
	for in, want := range map[string]string{
		"test.user@okta.local":         "test.user",
		"First.Last@Example.com":       "First.Last",
		"a+b@x.y":                      "a-b",
		"..weird__name..@x":            "weird_name",
		"@x":                           "user",
		"émile@x":                      "mile",
		strings.Repeat("a", 60) + "@x": strings.Repeat("a", 40),
	} {
		got := deriveUsername(in)
		if got != want {
			t.Errorf("deriveUsername(%q) = %q, want %q", in, got, want)
		}
		if err := checkUsername(got); err != nil {
			t.Errorf("deriveUsername(%q) = %q is not a valid username: %v", in, got, err)
		}
	}
	if got := usernameSuffix.With(strings.Repeat("a", 40), 3); len(got) != 40 || checkUsername(got) != nil {
		t.Errorf("withSuffix kept %q", got)
	}
}

func TestCheckUsername(t *testing.T) {
	good := []string{"a", "alice", "Alice.Smith", "a-b_c.d", "a1", "0abc", strings.Repeat("a", 40)}
	bad := []string{"", "../admin", "..", ".", "a/b", "a%2fb", "-a", "_a", ".a", "a-", "a.", "a..b", "a-_b",
		"a b", "a@b", "ünï", "a?b", "a#b", strings.Repeat("a", 41), "admin\n", "a\x00"}
	for _, s := range good {
		if err := checkUsername(s); err != nil {
			t.Errorf("checkUsername(%q) = %v, want ok", s, err)
		}
	}
	for _, s := range bad {
		if err := checkUsername(s); err == nil {
			t.Errorf("checkUsername(%q) = ok, want error", s)
		}
	}
}

func TestEndpointEscapes(t *testing.T) {
	r, err := upstream.Config{URL: "http://gitea.example:3000/sub/"}.Resolve("gitea", "/api/v1")
	if err != nil {
		t.Fatal(err)
	}
	c, err := upstream.New(upstream.Options{Base: r.Base})
	if err != nil {
		t.Fatal(err)
	}
	got := c.URL(upstream.Request{Path: path("admin", "users", userPath("a/../b"), "rename")})
	if want := "http://gitea.example:3000/sub/api/v1/admin/users/a%2F..%2Fb/rename"; got != want {
		t.Errorf("endpoint = %q, want %q", got, want)
	}
}

func TestParseBaseURL(t *testing.T) {
	parseBaseURL := func(s string) (string, error) {
		r, err := upstream.Config{URL: s}.Resolve("gitea", "/api/v1")
		return r.Base, err
	}
	for in, want := range map[string]string{
		"http://127.0.0.1:3000":             "http://127.0.0.1:3000/api/v1",
		"http://127.0.0.1:3000/":            "http://127.0.0.1:3000/api/v1",
		"https://git.example/api/v1":        "https://git.example/api/v1",
		"https://git.example/gitea/api/v1/": "https://git.example/gitea/api/v1",
	} {
		u, err := parseBaseURL(in)
		if err != nil || u != want {
			t.Errorf("parseBaseURL(%q) = %v, %v; want %q", in, u, err, want)
		}
	}
	for _, in := range []string{"", "ftp://x", "127.0.0.1:3000", "http://", "http://u:p@x", "http://x/?a=b"} {
		if _, err := parseBaseURL(in); err == nil {
			t.Errorf("parseBaseURL(%q) accepted", in)
		}
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`gitea {
		url       http://127.0.0.1:3000
		token     {env.GITEA_TOKEN}
		source_id 3
		timeout   5s
		max_conns 8
	}`)
	var a Adapter
	if err := a.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if a.URL != "http://127.0.0.1:3000" || a.Token != "{env.GITEA_TOKEN}" || a.SourceID != 3 ||
		a.Timeout != caddy.Duration(5*time.Second) || a.MaxConns != 8 {
		t.Fatalf("got %+v", a)
	}
	for _, bad := range []string{
		"gitea {\n bogus 1\n }",
		"gitea {\n token\n }",
		"gitea {\n token a b\n }",
		"gitea {\n token a\n token b\n }",
		"gitea {\n source_id x\n }",
		"gitea {\n timeout forever\n }",
		"gitea http://a {\n url http://b\n }",
		"gitea a b",
	} {
		var a Adapter
		if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

func TestProvisionSecrets(t *testing.T) {
	t.Setenv("CADDY_SCIM_TEST_GITEA_TOKEN", "s3cret-token")
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	a := &Adapter{Config: upstream.Config{URL: "http://127.0.0.1:1", Token: "{env.CADDY_SCIM_TEST_GITEA_TOKEN}"}}
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	if a.token != "s3cret-token" {
		t.Fatalf("token not resolved")
	}
	_ = a.Cleanup()

	b := &Adapter{Config: upstream.Config{URL: "http://127.0.0.1:1", Token: "{env.CADDY_SCIM_TEST_UNSET_VARIABLE}"}}
	if err := b.Provision(ctx); err == nil {
		t.Fatal("unset env var accepted")
	}
	_ = b.Cleanup()
	var zero Adapter
	if err := zero.Cleanup(); err != nil {
		t.Fatal(err)
	}
}

// TestErrorMapping checks status mapping and that no detail carries the token. It uses
// a local HTTP server only to produce transport-level answers Gitea cannot be made to
// give (500, 429, a hang); adapter behaviour against Gitea is tested in gitea_test.
func TestErrorMapping(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef01234567"
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("Authorization") != "token "+token {
			t.Errorf("authorization header %q", r.Header.Get("Authorization"))
		}
		switch r.URL.Query().Get("q") {
		case "500":
			w.WriteHeader(500)
		case "429":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(429)
		case "403":
			w.WriteHeader(403)
		case "slow":
			time.Sleep(300 * time.Millisecond)
		}
		_, _ = w.Write([]byte(`{"message":"boom ` + token + `"}`))
	}))
	defer srv.Close()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	a := &Adapter{Config: upstream.Config{URL: srv.URL, Token: token, Timeout: caddy.Duration(100 * time.Millisecond)}}
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	defer a.Cleanup()
	for q, status := range map[string]int{"500": 503, "429": 503, "403": 502, "slow": 503} {
		hits.Store(0)
		_, err := a.FindUsers(context.Background(), adapters.Lookup{Kind: adapters.ByEmail, Value: q})
		se, _ := provision.SCIMError(err) // what the IdP sees of the adapter's fact
		if err == nil || se.Status != status {
			t.Errorf("q=%s: err = %v, want status %d", q, err, status)
			continue
		}
		if strings.Contains(se.Detail, token) || strings.Contains(se.Error(), token) {
			t.Errorf("q=%s: token leaked: %s", q, se.Detail)
		}
		if q == "429" && se.RetryAfter != 7 {
			t.Errorf("Retry-After = %d", se.RetryAfter)
		}
		if q == "500" && hits.Load() != 3 {
			t.Errorf("GET retried %d times, want 3 attempts", hits.Load())
		}
	}
	if s := a.api.Scrub("x " + token + " y\n" + strings.Repeat("z", 500)); strings.Contains(s, token) || len([]rune(s)) > 201 {
		t.Errorf("sanitize: %q", s)
	}
}
