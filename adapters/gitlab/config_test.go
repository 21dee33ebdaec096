package gitlab

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-scim/caddy-scim/adapters/upstream"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     string // JSON of the adapter, or "" when an error is expected
		err      string
	}{
		{name: "full", in: `gitlab {
			url https://gitlab.example.com
			token {env.GITLAB_TOKEN}
			identity_provider saml
			link_existing email
			timeout 10s
		}`, want: `{"url":"https://gitlab.example.com","token":"{env.GITLAB_TOKEN}","timeout":10000000000,"identity_provider":"saml","link_existing":"email"}`},
		{name: "minimal", in: `gitlab {
			url http://127.0.0.1:8080
			token {file./run/secrets/gl}
		}`, want: `{"url":"http://127.0.0.1:8080","token":"{file./run/secrets/gl}"}`},
		{name: "inline url", in: `gitlab https://gl.example { 
			token t 
		}`, want: `{"url":"https://gl.example","token":"t"}`},
		{name: "empty block", in: `gitlab`, want: `{}`},
		{name: "days", in: `gitlab {
			timeout 1d
		}`, want: `{"timeout":86400000000000}`},
		{name: "unknown option", in: "gitlab {\n foo bar\n}", err: "unrecognized gitlab option 'foo'"},
		{name: "missing value", in: "gitlab {\n url\n}", err: "wrong argument count"},
		{name: "two values", in: "gitlab {\n token a b\n}", err: "wrong argument count"},
		{name: "duplicate", in: "gitlab {\n token a\n token b\n}", err: "duplicate gitlab option 'token'"},
		{name: "url twice", in: "gitlab https://a {\n url https://b\n}", err: "url given twice"},
		{name: "two inline args", in: "gitlab https://a https://b", err: "wrong argument count"},
		{name: "reserved provider", in: "gitlab {\n identity_provider scim\n}", err: "reserved"},
		{name: "bad link_existing", in: "gitlab {\n link_existing always\n}", err: "link_existing must be off, email or username"},
		{name: "bad timeout", in: "gitlab {\n timeout soon\n}", err: "bad timeout"},
		{name: "zero timeout", in: "gitlab {\n timeout 0s\n}", err: "timeout must be positive"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var a Adapter
			err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(c.in))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(&a)
			if string(b) != c.want {
				t.Errorf("JSON %s\nwant %s", b, c.want)
			}
		})
	}
}

// The handler loads the adapter this way after the word "adapter".
func TestUnmarshalModule(t *testing.T) {
	d := caddyfile.NewTestDispenser("adapter gitlab {\n url https://gl.example\n token x\n link_existing username\n}")
	d.Next() // adapter
	d.Next() // gitlab: where the handler stands when it calls UnmarshalModule
	mod, err := caddyfile.UnmarshalModule(d, "scim.adapters.gitlab")
	if err != nil {
		t.Fatal(err)
	}
	a, ok := mod.(*Adapter)
	if !ok || a.URL != "https://gl.example" || a.LinkExistingMode() != "username" {
		t.Fatalf("module %T %+v", mod, mod)
	}
}

func provisionOnly(t *testing.T, a *Adapter) error {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	defer func() { _ = a.Cleanup() }()
	if err := a.Provision(ctx); err != nil {
		return err
	}
	return a.Validate()
}

func TestProvisionAndValidate(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "token")
	if err := os.WriteFile(secret, []byte("glpat-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CADDY_SCIM_TEST_GL_TOKEN", "glpat-from-env")
	t.Setenv("CADDY_SCIM_TEST_GL_URL", "https://gl.example/")

	a := &Adapter{Config: upstream.Config{URL: "{env.CADDY_SCIM_TEST_GL_URL}", Token: "{env.CADDY_SCIM_TEST_GL_TOKEN}"}}
	if err := provisionOnly(t, a); err != nil {
		t.Fatal(err)
	}
	if a.token != "glpat-from-env" || a.api.URL(upstream.Request{}) != "https://gl.example/api/v4" || a.provider != DefaultIdentityProvider {
		t.Errorf("token %q api %q provider %q", a.token, a.api.URL(upstream.Request{}), a.provider)
	}
	if a.api.Timeout() != DefaultTimeout {
		t.Errorf("timeout %v", a.api.Timeout())
	}
	// The config keeps the placeholder; only the runtime field holds the secret.
	if b, _ := json.Marshal(a); strings.Contains(string(b), "glpat-from-env") {
		t.Errorf("the resolved token is in the JSON config: %s", b)
	}

	b := &Adapter{Config: upstream.Config{URL: "https://gl.example/api/v4/", Token: "{file." + secret + "}", Timeout: caddy.Duration(5 * time.Second)}}
	if err := provisionOnly(t, b); err != nil {
		t.Fatal(err)
	}
	if b.token != "glpat-from-file" || b.api.URL(upstream.Request{}) != "https://gl.example/api/v4" || b.api.Timeout() != 5*time.Second {
		t.Errorf("token %q api %q timeout %v", b.token, b.api.URL(upstream.Request{}), b.api.Timeout())
	}

	for _, c := range []struct {
		name string
		a    Adapter
		err  string
	}{
		{"unset env token", Adapter{Config: upstream.Config{URL: "https://gl", Token: "{env.CADDY_SCIM_TEST_UNSET_XYZ}"}}, "gitlab token"},
		{"missing file", Adapter{Config: upstream.Config{URL: "https://gl", Token: "{file." + filepath.Join(dir, "nope") + "}"}}, "gitlab token"},
		{"unknown placeholder", Adapter{Config: upstream.Config{URL: "https://gl", Token: "{what.ever}"}}, "gitlab token"},
		{"no token", Adapter{Config: upstream.Config{URL: "https://gl"}}, "token is required"},
		{"no url", Adapter{Config: upstream.Config{Token: "t"}}, "url is required"},
		{"bad scheme", Adapter{Config: upstream.Config{URL: "ftp://gl", Token: "t"}}, "http or https"},
		{"no host", Adapter{Config: upstream.Config{URL: "https://", Token: "t"}}, "http or https"},
		{"credentials in url", Adapter{Config: upstream.Config{URL: "https://u:p@gl", Token: "t"}}, "credentials"},
		{"scim provider", Adapter{Config: upstream.Config{URL: "https://gl", Token: "t"}, IdentityProvider: "scim"}, "reserved"},
		{"SCIM provider", Adapter{Config: upstream.Config{URL: "https://gl", Token: "t"}, IdentityProvider: "SCIM"}, "reserved"},
		{"bad link_existing", Adapter{Config: upstream.Config{URL: "https://gl", Token: "t"}, LinkExisting: "yes"}, "link_existing"},
		{"negative timeout", Adapter{Config: upstream.Config{URL: "https://gl", Token: "t", Timeout: -1}}, "timeout"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := c.a
			err := provisionOnly(t, &a)
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("error %v, want one containing %q", err, c.err)
			}
			if strings.Contains(err.Error(), "glpat") {
				t.Errorf("error leaks a token: %v", err)
			}
		})
	}
}

func TestCleanupIsNilSafe(t *testing.T) {
	var a Adapter
	if err := a.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if a.UpstreamCalls() != 0 {
		t.Fatal("calls on an unprovisioned adapter")
	}
}

func TestInfo(t *testing.T) {
	in := (&Adapter{}).Info()
	if in.Name != "gitlab" || in.MaxPageSize != 100 {
		t.Errorf("%+v", in)
	}
}
