package testenv

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TinyApp is a small application of the kind most people want SCIM for, with no
// room for SCIM's state: users with an id, a login, an e-mail, a name and a list
// of roles, behind a bearer token, and nothing else (no metadata field, no
// disabled flag). Its API, under /api:
//
//	GET    /users?page=1&per_page=20[&login=…][&email=…]   {"users": [...], "total": n}
//	POST   /users        {"login", "email", "name", "roles"}   201 the user
//	GET    /users/{id}                                      the user
//	PUT    /users/{id}   the fields given change, the others stay
//	DELETE /users/{id}                                      204
//
// A user reads {"id": 7, "login", "email", "name", "roles": [...], "created_at"}.
// Logins and e-mails are unique, case-insensitively (409 {"error": …}); an e-mail
// that is no address is 422; an unknown id 404; a wrong token 401. Pages are
// 1-based, per_page at most 100, in id order.
type TinyApp struct {
	URL   string // http://127.0.0.1:<port>
	Token string

	mu    sync.Mutex
	users map[int]*TinyUser
	next  int
}

// TinyUser is one account of a TinyApp.
type TinyUser struct {
	ID        int       `json:"id"`
	Login     string    `json:"login"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Roles     []string  `json:"roles"`
	CreatedAt time.Time `json:"created_at"`
}

// NewTinyApp serves a new, empty TinyApp on a free loopback port until t ends.
func NewTinyApp(t testing.TB) *TinyApp {
	app := &TinyApp{Token: "tiny-" + UniqueName("tok"), users: map[int]*TinyUser{}}
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	app.URL = srv.URL
	return app
}

// Add creates an account by hand, as the application's administrator would, and
// returns its id.
func (a *TinyApp) Add(login, email, name string, roles ...string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.next++
	a.users[a.next] = &TinyUser{ID: a.next, Login: login, Email: email, Name: name, Roles: append([]string{}, roles...), CreatedAt: time.Now().UTC().Truncate(time.Second)}
	return strconv.Itoa(a.next)
}

// User returns a copy of account id.
func (a *TinyApp) User(id string) (TinyUser, bool) {
	n, _ := strconv.Atoi(id)
	a.mu.Lock()
	defer a.mu.Unlock()
	u, ok := a.users[n]
	if !ok {
		return TinyUser{}, false
	}
	c := *u
	c.Roles = slices.Clone(u.Roles)
	return c, true
}

// Edit changes account id by hand; it reports whether the account exists.
func (a *TinyApp) Edit(id string, change func(u *TinyUser)) bool {
	n, _ := strconv.Atoi(id)
	a.mu.Lock()
	defer a.mu.Unlock()
	u, ok := a.users[n]
	if ok {
		change(u)
	}
	return ok
}

// Count is the number of accounts.
func (a *TinyApp) Count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.users)
}

func (a *TinyApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	answer := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	if r.Header.Get("Authorization") != "Bearer "+a.Token {
		answer(http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/users")
	if !ok || rest != "" && !strings.HasPrefix(rest, "/") {
		answer(http.StatusNotFound, map[string]string{"error": "no such endpoint"})
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if rest == "" || rest == "/" {
		switch r.Method {
		case http.MethodGet:
			answer(a.list(r))
		case http.MethodPost:
			answer(a.create(r))
		default:
			answer(http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
		}
		return
	}
	id, err := strconv.Atoi(rest[1:])
	u := a.users[id]
	if err != nil || u == nil {
		answer(http.StatusNotFound, map[string]string{"error": "user not found"})
		return
	}
	switch r.Method {
	case http.MethodGet:
		answer(http.StatusOK, u)
	case http.MethodPut:
		answer(a.update(r, u))
	case http.MethodDelete:
		delete(a.users, id)
		w.WriteHeader(http.StatusNoContent)
	default:
		answer(http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
	}
}

// list answers a page of the accounts, filtered by login or e-mail; a.mu is held.
func (a *TinyApp) list(r *http.Request) (int, any) {
	q := r.URL.Query()
	page, per := 1, 20
	if v := q.Get("page"); v != "" {
		page, _ = strconv.Atoi(v)
	}
	if v := q.Get("per_page"); v != "" {
		per, _ = strconv.Atoi(v)
	}
	if page < 1 || per < 1 || per > 100 {
		return http.StatusBadRequest, map[string]string{"error": "page must be 1 or more, per_page 1 to 100"}
	}
	ids := make([]int, 0, len(a.users))
	for id, u := range a.users {
		if (q.Get("login") == "" || strings.EqualFold(u.Login, q.Get("login"))) && (q.Get("email") == "" || strings.EqualFold(u.Email, q.Get("email"))) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	out := []*TinyUser{}
	for i := (page - 1) * per; i < len(ids) && i < page*per; i++ {
		out = append(out, a.users[ids[i]])
	}
	return http.StatusOK, map[string]any{"users": out, "total": len(ids)}
}

// tinyFields is a create or update body; absent fields are nil.
type tinyFields struct {
	Login *string   `json:"login"`
	Email *string   `json:"email"`
	Name  *string   `json:"name"`
	Roles *[]string `json:"roles"`
}

func (a *TinyApp) create(r *http.Request) (int, any) {
	var f tinyFields
	if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
		return http.StatusBadRequest, map[string]string{"error": "bad JSON: " + err.Error()}
	}
	u := &TinyUser{Roles: []string{}, CreatedAt: time.Now().UTC().Truncate(time.Second)}
	if status, err := a.apply(u, f); err != nil {
		return status, map[string]string{"error": err.Error()}
	}
	a.next++
	u.ID = a.next
	a.users[u.ID] = u
	return http.StatusCreated, u
}

func (a *TinyApp) update(r *http.Request, u *TinyUser) (int, any) {
	var f tinyFields
	if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
		return http.StatusBadRequest, map[string]string{"error": "bad JSON: " + err.Error()}
	}
	next := *u
	if status, err := a.apply(&next, f); err != nil {
		return status, map[string]string{"error": err.Error()}
	}
	*u = next
	return http.StatusOK, u
}

// apply sets the fields given on u, refusing what the application cannot keep;
// a.mu is held.
func (a *TinyApp) apply(u *TinyUser, f tinyFields) (int, error) {
	if f.Login != nil {
		u.Login = strings.TrimSpace(*f.Login)
	}
	if f.Email != nil {
		u.Email = strings.TrimSpace(*f.Email)
	}
	if f.Name != nil {
		u.Name = *f.Name
	}
	if f.Roles != nil {
		u.Roles = slices.Clone(*f.Roles)
	}
	if u.Login == "" {
		return http.StatusUnprocessableEntity, fmt.Errorf("login is required")
	}
	if local, domain, ok := strings.Cut(u.Email, "@"); u.Email != "" && (!ok || local == "" || domain == "" || strings.ContainsAny(u.Email, " \t\r\n")) {
		return http.StatusUnprocessableEntity, fmt.Errorf("email %q is not a valid address", u.Email)
	}
	for _, o := range a.users {
		switch {
		case o.ID == u.ID:
		case strings.EqualFold(o.Login, u.Login):
			return http.StatusConflict, fmt.Errorf("login %q is already taken", u.Login)
		case u.Email != "" && strings.EqualFold(o.Email, u.Email):
			return http.StatusConflict, fmt.Errorf("email %q is already taken", u.Email)
		}
	}
	return 0, nil
}
