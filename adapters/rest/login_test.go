package rest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/tidwall/gjson"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
)

// expiringApp is an application whose admin tokens expire: POST /login with the
// right password answers a new token that lasts life (expires_in, seconds); every
// other call needs a live one (401 otherwise). revoke ends every token at once, as
// an administrator (or a restart) would.
type expiringApp struct {
	life     time.Duration
	mu       sync.Mutex
	tokens   map[string]time.Time
	users    map[string]map[string]any
	logins   atomic.Int64
	refused  atomic.Int64 // 401s answered
	password string
}

func (p *expiringApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/login" {
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		if body["user"] != "scim" || body["password"] != p.password {
			w.WriteHeader(401)
			_, _ = w.Write([]byte(`{"error":"bad credentials"}`))
			return
		}
		p.logins.Add(1)
		tok := fmt.Sprintf("tok-%d-%d", p.logins.Load(), time.Now().UnixNano())
		p.tokens[tok] = time.Now().Add(p.life)
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "expires_in": p.life.Seconds()})
		return
	}
	exp, ok := p.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	if !ok || time.Now().After(exp) {
		p.refused.Add(1)
		w.WriteHeader(401)
		_, _ = w.Write([]byte(`{"error":"token expired"}`))
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	switch {
	case r.Method == "POST" && len(parts) == 1:
		id := fmt.Sprint(len(p.users) + 1)
		body["id"] = id
		p.users[id] = body
		w.WriteHeader(201)
		_ = json.NewEncoder(w).Encode(body)
	case r.Method == "GET" && len(parts) == 1:
		list := []map[string]any{}
		for _, u := range p.users {
			list = append(list, u)
		}
		_ = json.NewEncoder(w).Encode(list)
	case len(parts) == 2 && p.users[parts[1]] != nil:
		if r.Method == "PUT" {
			body["id"] = parts[1]
			p.users[parts[1]] = body
		}
		_ = json.NewEncoder(w).Encode(p.users[parts[1]])
	default:
		w.WriteHeader(404)
	}
}

func (p *expiringApp) revoke() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.tokens)
}

func loginMapping() *Mapping {
	body := json.RawMessage(`{"login": "{{.User.UserName}}", "ext": "{{.User.ExternalID}}", "managed": "{{json .Managed}}", "deleted": "{{json .Deleted}}", "blocked": "{{json .Blocked}}", "active": "{{json .User.Active}}"}`)
	return &Mapping{Name: "Expiring", Auth: "bearer", Params: []string{"user"},
		Login: &Login{Method: "POST", Path: "/login", Body: json.RawMessage(`{"user": "{{.Params.user}}", "password": "{{.Secret}}"}`),
			Token: "access_token", ExpiresIn: "expires_in"},
		Users: Users{
			Attributes: []string{"userName", "active", "externalId"},
			Read: Fields{ID: "id", UserName: "login", ExternalID: "ext", Active: Flag{Path: "active"},
				Managed: Flag{Path: "managed"}, Deleted: Flag{Path: "deleted"}, SCIMBlock: Flag{Path: "blocked"}},
			Create: Call{Method: "POST", Path: "/users", Body: body},
			Get:    Call{Method: "GET", Path: "/users/{{.ID}}"},
			Update: Call{Method: "PUT", Path: "/users/{{.ID}}", Body: body},
			Delete: Call{Method: "DELETE", Path: "/users/{{.ID}}"},
			List:   List{Call: Call{Method: "GET", Path: "/users"}, Paging: "none"},
		}}
}

// TestLoginTokensThatExpire: the application's tokens last 2 seconds; the adapter,
// given the password, provisions for a minute (a write and a read every 100 ms)
// without one failure: it logs in again before a token expires, and once more when
// the application revokes every token early (a 401). The tokens never reach an
// error detail.
func TestLoginTokensThatExpire(t *testing.T) {
	t.Parallel()
	const password = "s3cret-password"
	app := &expiringApp{life: 2 * time.Second, tokens: map[string]time.Time{}, users: map[string]map[string]any{}, password: password}
	srv := httptest.NewServer(app)
	defer srv.Close()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	a := &Adapter{Config: upstream.Config{URL: srv.URL, Token: password}, Mapping: loginMapping(), Params: map[string]string{"user": "scim"}}
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	r, err := a.CreateUser(ctx, &adapters.User{UserName: "ada", ExternalID: "e1", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	n := 0
	for ; time.Now().Before(deadline); n++ {
		if n == 100 {
			app.revoke() // early: the next call is refused once, then logs in again
		}
		u := *r.User
		u.DisplayName = fmt.Sprint("call ", n)
		if _, err := a.UpdateUser(ctx, r.User.ID, &u, adapters.State{Managed: true}); err != nil {
			t.Fatalf("write %d after %s: %v", n, time.Since(deadline.Add(-time.Minute)).Round(time.Millisecond), err)
		}
		if recs, err := a.FindUsers(ctx, adapters.Lookup{Kind: adapters.ByID, Value: r.User.ID}); err != nil || len(recs) != 1 {
			t.Fatalf("read %d: %v %v", n, recs, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// about one login per 1.6 s (renewed a fifth of the life early), plus the revocation
	logins := app.logins.Load()
	t.Logf("%d writes and reads in a minute: %d logins, %d calls refused", n, logins, app.refused.Load())
	if logins < 30 || logins > 60 || app.refused.Load() != 1 {
		t.Errorf("%d logins and %d refusals in a minute of 2 s tokens; want a login about every 1.6 s and one refusal (the revocation)", logins, app.refused.Load())
	}

	// a wrong password is the adapter's misconfiguration, and names no secret
	bad := &Adapter{Config: upstream.Config{URL: srv.URL, Token: "wrong-" + password}, Mapping: loginMapping(), Params: map[string]string{"user": "scim"}}
	if err := bad.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = bad.FindUsers(ctx, adapters.Lookup{Kind: adapters.ByID, Value: "1"})
	if f, ok := adapters.FactOf(err); !ok || f.Fact != adapters.Misconfigured || !strings.Contains(f.Reason, "login") || strings.Contains(f.Reason, password) {
		t.Errorf("a login with a wrong password: %v; want misconfigured, naming the login, no secret", err)
	}
	// a token the application echoes back is scrubbed from details
	tok, _ := a.current(ctx, "")
	if got := a.api.Scrub("bad token " + tok); strings.Contains(got, tok) {
		t.Errorf("the session token reached a detail: %q", got)
	}
}

// TestLoginChecks: check-mapping names what is wrong with a login, and only the
// login reads {{.Secret}}.
func TestLoginChecks(t *testing.T) {
	for _, c := range []struct {
		want string
		edit func(m *Mapping)
	}{
		{"login.token", func(m *Mapping) { m.Login.Token = "" }},
		{"mapping auth", func(m *Mapping) { m.Auth = "basic:scim" }},
		{"login.lifetime", func(m *Mapping) { m.Login.Lifetime = "soon" }},
		{"login.expires_at", func(m *Mapping) { m.Login.ExpiresAt = "expires_at" }},
		{"users.create.body.login: only the login call reads {{.Secret}}", func(m *Mapping) {
			m.Users.Create.Body = json.RawMessage(`{"login": "{{.Secret}}"}`)
		}},
	} {
		m := loginMapping()
		c.edit(m)
		if _, err := compile(m, map[string]string{"user": "x"}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("compile = %v, want an error naming %q", err, c.want)
		}
	}
}

// TestLoginExpiry: where a token's lifetime comes from.
func TestLoginExpiry(t *testing.T) {
	now := time.Now()
	claims := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"exp":%d}`, now.Add(time.Hour).Unix())))
	jwt := "e30." + claims + ".sig"
	for _, c := range []struct {
		name string
		s    *session
		body string
		tok  string
		want time.Duration // from now; 0: none
	}{
		{"expires_in", &session{expiresIn: "expires_in"}, `{"expires_in": 300}`, "x", 5 * time.Minute},
		{"expires_at", &session{expiresAt: "token.expires_at"}, `{"token":{"expires_at":"` + now.Add(time.Hour).UTC().Format(time.RFC3339) + `"}}`, "x", time.Hour},
		{"a JWT's exp", &session{}, `{}`, jwt, time.Hour},
		{"lifetime", &session{lifetime: 10 * time.Minute}, `{}`, "x", 10 * time.Minute},
		{"nothing: until a 401", &session{}, `{}`, "x", 0},
	} {
		exp := c.s.expiry(&upstream.Response{Body: []byte(c.body)}, c.tok)
		got := time.Duration(0)
		if !exp.IsZero() {
			got = exp.Sub(now).Round(time.Minute)
		}
		if got != c.want {
			t.Errorf("%s: expires in %s, want %s", c.name, got, c.want)
		}
	}
	if r := renewAt(now.Add(2*time.Second), now); r.Sub(now) != 1600*time.Millisecond {
		t.Errorf("a 2 s token is renewed after %s, want 1.6 s", r.Sub(now))
	}
	if r := renewAt(now.Add(24*time.Hour), now); now.Add(24*time.Hour).Sub(r) != time.Minute {
		t.Errorf("a day's token is renewed %s early, want a minute", now.Add(24*time.Hour).Sub(r))
	}
}

// TestDatesQuotingAndErrorFields: dates in the formats applications write, json
// and quote without HTML escaping (a filter value matches itself), and an error
// detail that names the field.
func TestDatesQuotingAndErrorFields(t *testing.T) {
	want := time.Date(2026, 12, 6, 15, 36, 25, 773000000, time.UTC)
	for _, c := range []struct{ s, layout string }{
		{"2026-12-06T15:36:25.773Z", ""},
		{"2026-12-06 15:36:25.773Z", ""}, // PocketBase
		{"06/12/2026 15:36:25.773", "02/01/2006 15:04:05.000"},
	} {
		if got, ok := parseTime(c.s, c.layout); !ok || !got.Equal(want) {
			t.Errorf("parseTime(%q, %q) = %v %v, want %v", c.s, c.layout, got, ok, want)
		}
	}
	if got, ok := parseTime("1796052985", ""); !ok || got.Unix() != 1796052985 {
		t.Errorf("Unix seconds: %v %v", got, ok)
	}
	if _, ok := parseTime("yesterday", ""); ok {
		t.Error("parseTime took yesterday")
	}
	r, err := compileCall("users.find_username", Call{Method: "GET", Path: "/u",
		Query: map[string]string{"filter": `username = {{quote .Value}}`, "j": `{"eq":{{json .Value}}}`}}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	req, err := r.build(Data{Value: `x&y" || admin = true || "`})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := req.Query.Get("filter"), `username = "x&y\" || admin = true || \""`; got != want {
		t.Errorf("quote: %s, want %s", got, want)
	}
	r2, err := compileCall("users.deactivate", Call{Method: "PATCH", Path: "/u", Body: json.RawMessage(`{"key": "{{random}}"}`)}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	k1, _ := r2.build(Data{})
	k2, _ := r2.build(Data{})
	if a, b := k1.Body.(map[string]any)["key"], k2.Body.(map[string]any)["key"]; len(fmt.Sprint(a)) != 32 || a == b {
		t.Errorf("random: %v then %v; want 32 hex digits, new each time", a, b)
	}
	if got := req.Query.Get("j"); !gjson.Valid(got) || gjson.Get(got, "eq").String() != `x&y" || admin = true || "` {
		t.Errorf("json: %s", got)
	}
	a := &Adapter{m: &compiled{m: &Mapping{ErrorMessage: []string{"data.@values.0.message", "message"}, ErrorField: "data|@keys|0"}}}
	if got := a.message([]byte(`{"message":"Failed to create record.","data":{"email":{"code":"validation_not_unique","message":"Value must be unique."}}}`)); got != "email: Value must be unique." {
		t.Errorf("PocketBase's error: %q", got)
	}
	if got := a.message([]byte(`{"message":"Something went wrong."}`)); got != "Something went wrong." {
		t.Errorf("an error about no field: %q", got)
	}
}

// TestMappingFileAndDatesAreLogged: the log says which mapping file (and which
// version of it) was read, since caddy reload re-reads it only when the config
// changed; a date that does not parse is logged once, not dropped without a word.
func TestMappingFileAndDatesAreLogged(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	path := filepath.Join(t.TempDir(), "m.json")
	b, _ := json.Marshal(loginMapping())
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	a := &Adapter{MappingFile: path, logger: zap.New(core), dateWarned: new(atomic.Bool)}
	if _, err := a.loadMapping(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	read := logs.FilterMessage("rest mapping read").All()
	if len(read) != 1 || read[0].ContextMap()["file"] != path || read[0].ContextMap()["sha256"] != hex.EncodeToString(sum[:6]) {
		t.Fatalf("mapping read logged as %+v", read)
	}
	a.m = &compiled{m: &Mapping{Name: "Dates"}}
	for range 3 {
		if !a.date("06.12.2026").IsZero() {
			t.Fatal("a date in an unknown format parsed")
		}
	}
	if n := logs.FilterMessage("a date the application answers does not parse; set users.read.date_format").Len(); n != 1 {
		t.Errorf("an unparsable date logged %d times, want once", n)
	}
}
