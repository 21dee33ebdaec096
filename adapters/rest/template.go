package rest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/caddy-scim/caddy-scim/adapters/upstream"
)

// Data is what a mapping's templates see.
type Data struct {
	// ID is the application's id of the user (get, update, delete).
	ID string
	// User is the normalized user being written.
	User View
	// The durable provisioning state a write keeps: managed by SCIM, DELETEd
	// through SCIM, blocked by SCIM.
	Managed, Deleted, Blocked bool
	// Password is a random password nobody knows, new for each write that reads
	// it: an account's first password, or the one deprovisioning or reactivation
	// sets where the application has no block (the user's own one is then gone).
	Password string
	// Value is the value looked up (find_*).
	Value string
	// IDs are the ids get_many reads (ascending).
	IDs []string
	// Group is the group being written; Member the user id of a membership.
	Group  GroupView
	Member string
	// Offset, Limit and Page are the window a list call asks for.
	Offset, Limit, Page int
	// Params are the adapter's params (instance-specific values such as the id of
	// a custom field), the same in every call.
	Params map[string]string
	// Tenant is the SCIM tenant of the adapter's handler ("" the default), the
	// same in every call: writes keep it at read.tenant.
	Tenant string
	// Before holds the values the call's before calls fetched, by name.
	Before map[string]string
	// Secret is the adapter's token, the password or client secret a login
	// sends; only the login call's templates read it.
	Secret string
}

// View is the normalized user in templates.
type View struct {
	UserName, GivenName, FamilyName, Formatted, DisplayName, Email, ExternalID string
	Active                                                                     bool
}

// GroupView is the normalized group in templates.
type GroupView struct {
	DisplayName, ExternalID string
}

// funcs are the template functions: few, because a mapping maps and decides nothing.
var funcs = template.FuncMap{
	// json writes v as JSON, & < > as they are (a value inside an application's
	// JSON filter must match itself); a body string that is one {{json …}} action
	// becomes that JSON value.
	"json": jsonText,
	// quote writes s as a double-quoted string with " and \ escaped (control
	// characters as \uXXXX): safe inside an application's filter language
	// (PocketBase's `username = {{quote .Value}}`), where a raw value could close
	// the quotes and add a condition.
	"quote": func(s string) (string, error) { return jsonText(s) },
	// random is 32 random hex digits, new at each call: a value nobody knows,
	// such as a new token key that signs a deprovisioned user out.
	"random": func() (string, error) {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		return hex.EncodeToString(b), nil
	},
	// join writes the strings of list separated by sep: {{join "," .IDs}}.
	"join":  func(sep string, list []string) string { return strings.Join(list, sep) },
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
	// default returns def when v is empty.
	"default": func(def, v string) string {
		if v == "" {
			return def
		}
		return v
	},
}

// jsonText is v as JSON without HTML escaping.
func jsonText(v any) (string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// request is a compiled Call.
type request struct {
	name   string
	method string
	path   *template.Template
	query  []queryParam
	body   node
	form   bool
	result string
	reread bool
	params map[string]string
	before []fetch
	then   []*request
	as     string // a users.get then call: the name of its answer in the user
	// emptyNotFound: an answer without result is no such user or group.
	emptyNotFound bool
}

// fetch is a compiled before call.
type fetch struct {
	name  string
	req   *request
	value string
}

// scope is what a template may read besides Data's fixed fields: the params, and
// the names of the values fetched before it.
type scope struct {
	params map[string]string
	before []string
	secret bool // the login call: {{.Secret}} may be read
}

// nameRE is the shape of a before call's name and a then call's as: a template
// field and a JSON key alike.
var nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// beforeNames are the names r's before calls fetch.
func (r *request) beforeNames() []string {
	var out []string
	for _, f := range r.before {
		out = append(out, f.name)
	}
	return out
}

type queryParam struct {
	name string
	tmpl *template.Template
}

func compileTemplate(field, src string, sc scope) (*template.Template, error) {
	t, err := template.New(field).Funcs(funcs).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, fmt.Errorf("mapping %s: %v", field, err)
	}
	if !sc.secret && strings.Contains(t.Tree.Root.String(), ".Secret") {
		return nil, fmt.Errorf("mapping %s: only the login call reads {{.Secret}} (the adapter's token is sent as auth says)", field)
	}
	// Execute once against zero data, so that a misspelt field, a missing param or
	// a value no before call fetches fails the load, not the first request.
	d := Data{Params: sc.params, Before: map[string]string{}}
	for _, n := range sc.before {
		d.Before[n] = ""
	}
	if err := t.Execute(io.Discard, d); err != nil {
		return nil, fmt.Errorf("mapping %s: %v", field, err)
	}
	return t, nil
}

func compileCall(field string, c Call, withBody bool, params map[string]string) (*request, error) {
	return compileCallIn(field, c, withBody, scope{params: params})
}

// compileBefore compiles the before calls of field, each seeing the values of
// those before it, and returns the scope of the call itself.
func compileBefore(field string, fs []Fetch, sc scope) ([]fetch, scope, error) {
	if sc.secret && len(fs) > 0 {
		return nil, sc, fmt.Errorf("mapping %s.before: the login call fetches nothing first", field)
	}
	var out []fetch
	names := slices.Clone(sc.before)
	for i, f := range fs {
		ff := fmt.Sprintf("%s.before[%d]", field, i)
		switch {
		case f.Name == "":
			return nil, sc, fmt.Errorf("mapping %s.name: required: the name its value has in {{.Before.<name>}}", ff)
		case !nameRE.MatchString(f.Name):
			return nil, sc, fmt.Errorf("mapping %s.name: must be letters, digits and _ (it is read as {{.Before.<name>}}), not %q", ff, f.Name)
		case slices.Contains(names, f.Name):
			return nil, sc, fmt.Errorf("mapping %s.name: %s is fetched twice", ff, f.Name)
		case strings.TrimSpace(f.Value) == "":
			return nil, sc, fmt.Errorf("mapping %s.value: required: the JSON path of the value in the answer", ff)
		}
		r, err := compileCallIn(ff, Call{Method: f.Method, Path: f.Path, Query: f.Query, Body: f.Body, Form: f.Form},
			len(f.Body) > 0, scope{params: sc.params, before: slices.Clone(names)})
		if err != nil {
			return nil, sc, err
		}
		out = append(out, fetch{name: f.Name, req: r, value: f.Value})
		names = append(names, f.Name)
	}
	return out, scope{params: sc.params, before: names, secret: sc.secret}, nil
}

func compileCallIn(field string, c Call, withBody bool, outer scope) (*request, error) {
	before, sc, err := compileBefore(field, c.Before, outer)
	if err != nil {
		return nil, err
	}
	params := sc.params
	r := &request{name: field, method: strings.ToUpper(strings.TrimSpace(c.Method)), result: c.Result, reread: c.Reread,
		params: params, before: before, form: c.Form, as: c.As, emptyNotFound: c.EmptyIsNotFound}
	switch r.method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return nil, fmt.Errorf("mapping %s.method: must be GET, POST, PUT, PATCH or DELETE, not %q", field, c.Method)
	}
	if !strings.HasPrefix(c.Path, "/") {
		return nil, fmt.Errorf("mapping %s.path: must start with /", field)
	}
	if r.path, err = compileTemplate(field+".path", c.Path, sc); err != nil {
		return nil, err
	}
	escapeActions(r.path)
	names := make([]string, 0, len(c.Query))
	for k := range c.Query {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		t, err := compileTemplate(field+".query."+k, c.Query[k], sc)
		if err != nil {
			return nil, err
		}
		r.query = append(r.query, queryParam{k, t})
	}
	if len(c.Body) > 0 {
		if !withBody {
			return nil, fmt.Errorf("mapping %s.body: this call sends no body", field)
		}
		dec := json.NewDecoder(bytes.NewReader(c.Body))
		dec.UseNumber()
		if r.body, err = compileNode(field+".body", dec, sc); err != nil {
			return nil, err
		}
	} else if withBody && r.method != http.MethodDelete {
		return nil, fmt.Errorf("mapping %s.body: required", field)
	}
	if r.form {
		if err := checkForm(field, r.body); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// checkForm checks that a form call's body is a flat object: a form has names and
// text values, repeated for a list, and nothing nested.
func checkForm(field string, body node) error {
	o, ok := body.(object)
	if !ok {
		return fmt.Errorf("mapping %s.form: a form call sends an object body", field)
	}
	for i, v := range o.vals {
		items := []node{v}
		if a, ok := v.(array); ok {
			items = a
		}
		for _, it := range items {
			switch it.(type) {
			case object, array:
				return fmt.Errorf("mapping %s.body.%s: a form body holds only text, numbers, booleans and lists of them", field, o.keys[i])
			}
		}
	}
	return nil
}

// node is a compiled body template.
type node interface {
	render(d Data) (any, error)
}

type literal struct{ v any }

func (l literal) render(Data) (any, error) { return l.v, nil }

type object struct {
	keys []string
	vals []node
}

func (o object) render(d Data) (any, error) {
	m := make(map[string]any, len(o.keys))
	for i, k := range o.keys {
		v, err := o.vals[i].render(d)
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
	return m, nil
}

type array []node

func (a array) render(d Data) (any, error) {
	out := make([]any, len(a))
	for i, n := range a {
		v, err := n.render(d)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

type text struct {
	t     *template.Template
	typed bool // one {{json …}} action: the output is a JSON value
}

func (s text) render(d Data) (any, error) {
	var b strings.Builder
	if err := s.t.Execute(&b, d); err != nil {
		return nil, err
	}
	if s.typed {
		return json.RawMessage(b.String()), nil
	}
	return b.String(), nil
}

// compileNode reads one JSON value from dec as a template.
func compileNode(field string, dec *json.Decoder, sc scope) (node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("mapping %s: %v", field, err)
	}
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' {
			var o object
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("mapping %s: %v", field, err)
				}
				k := kt.(string)
				n, err := compileNode(field+"."+k, dec, sc)
				if err != nil {
					return nil, err
				}
				o.keys, o.vals = append(o.keys, k), append(o.vals, n)
			}
			_, err := dec.Token() // }
			return o, err
		}
		var a array
		for i := 0; dec.More(); i++ {
			n, err := compileNode(fmt.Sprintf("%s[%d]", field, i), dec, sc)
			if err != nil {
				return nil, err
			}
			a = append(a, n)
		}
		_, err := dec.Token() // ]
		return a, err
	case string:
		if !strings.Contains(v, "{{") {
			return literal{v}, nil
		}
		t, err := compileTemplate(field, v, sc)
		if err != nil {
			return nil, err
		}
		return text{t: t, typed: isJSONAction(t)}, nil
	case json.Number:
		return literal{json.RawMessage(v.String())}, nil
	default:
		return literal{v}, nil // bool, nil
	}
}

// isJSONAction reports whether t is exactly one action whose pipeline ends in json.
func isJSONAction(t *template.Template) bool {
	nodes := t.Tree.Root.Nodes
	if len(nodes) != 1 {
		return false
	}
	a, ok := nodes[0].(*parse.ActionNode)
	if !ok || len(a.Pipe.Cmds) == 0 {
		return false
	}
	last := a.Pipe.Cmds[len(a.Pipe.Cmds)-1]
	id, ok := last.Args[0].(*parse.IdentifierNode)
	return ok && id.Ident == "json"
}

// escapeFunc is the function escapeActions appends to every action of a path.
const escapeFunc = "_pathValue"

// escapeActions makes every value a path template writes one escaped path segment
// (url.PathEscape), whatever it comes from (an id, a userName, a param, a function),
// while the template's own text keeps its slashes: a userName "a/b?c" must not
// change which resource, or which query, a call names.
func escapeActions(t *template.Template) {
	t.Funcs(template.FuncMap{escapeFunc: func(v any) string { return url.PathEscape(fmt.Sprint(v)) }})
	var walk func(l *parse.ListNode)
	walk = func(l *parse.ListNode) {
		if l == nil {
			return
		}
		for _, n := range l.Nodes {
			switch n := n.(type) {
			case *parse.ActionNode:
				if len(n.Pipe.Decl) == 0 { // a declaration writes nothing
					n.Pipe.Cmds = append(n.Pipe.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: n.Pos,
						Args: []parse.Node{parse.NewIdentifier(escapeFunc).SetPos(n.Pos)}})
				}
			case *parse.IfNode:
				walk(n.List)
				walk(n.ElseList)
			case *parse.RangeNode:
				walk(n.List)
				walk(n.ElseList)
			case *parse.WithNode:
				walk(n.List)
				walk(n.ElseList)
			}
		}
	}
	for _, tt := range t.Templates() { // {{define}}d ones too
		walk(tt.Tree.Root)
	}
}

// mentions reports whether a template of r reads field (".Tenant").
func (r *request) mentions(field string) bool {
	if strings.Contains(r.path.Tree.Root.String(), field) {
		return true
	}
	for _, q := range r.query {
		if strings.Contains(q.tmpl.Tree.Root.String(), field) {
			return true
		}
	}
	var in func(n node) bool
	in = func(n node) bool {
		switch n := n.(type) {
		case text:
			return strings.Contains(n.t.Tree.Root.String(), field)
		case object:
			return slices.ContainsFunc(n.vals, in)
		case array:
			return slices.ContainsFunc(n, in)
		}
		return false
	}
	return r.body != nil && in(r.body)
}

// build renders r for d as an upstream request. Values in the path are escaped
// (escapeActions).
func (r *request) build(d Data) (upstream.Request, error) {
	d.Params = r.params
	var p strings.Builder
	if err := r.path.Execute(&p, d); err != nil {
		return upstream.Request{}, fmt.Errorf("%s.path: %v", r.name, err)
	}
	req := upstream.Request{Method: r.method, Path: p.String(),
		Idempotent: r.method == http.MethodDelete} // a whole-resource PUT is never repeated blindly
	if len(r.query) > 0 {
		req.Query = url.Values{}
		for _, q := range r.query {
			var v strings.Builder
			if err := q.tmpl.Execute(&v, d); err != nil {
				return upstream.Request{}, fmt.Errorf("%s.query.%s: %v", r.name, q.name, err)
			}
			req.Query.Set(q.name, v.String())
		}
	}
	if r.body != nil {
		b, err := r.body.render(d)
		if err != nil {
			return upstream.Request{}, fmt.Errorf("%s.body: %v", r.name, err)
		}
		req.Body = b
		if r.form {
			req.Body = formValues(b.(map[string]any)).Encode()
			req.Header = http.Header{formHeader: {"1"}}
		}
	}
	return req, nil
}

// formHeader marks a request whose Body is an encoded form: adapters/upstream sends
// every body as JSON, so the adapter's request hook (prepare) sends this one as the
// form it is, and drops the mark.
const formHeader = "X-Caddy-Scim-Form"

// formValues is a rendered flat object (checkForm) as form values: text as it is,
// a JSON string as its text, numbers and booleans as written, a list as the
// name repeated.
func formValues(body map[string]any) url.Values {
	v := url.Values{}
	var one func(k string, x any)
	one = func(k string, x any) {
		switch x := x.(type) {
		case nil:
			v.Add(k, "")
		case string:
			v.Add(k, x)
		case json.RawMessage:
			var s string
			if json.Unmarshal(x, &s) == nil {
				v.Add(k, s)
				return
			}
			var list []any
			if json.Unmarshal(x, &list) == nil { // a {{json}} action that wrote a list
				for _, it := range list {
					b, _ := json.Marshal(it)
					one(k, json.RawMessage(b))
				}
				return
			}
			v.Add(k, string(x))
		case []any:
			for _, it := range x {
				one(k, it)
			}
		default:
			v.Add(k, fmt.Sprint(x))
		}
	}
	for k, x := range body {
		one(k, x)
	}
	return v
}

// prepare is the hook every request passes before it is sent: it sets the
// credentials, and sends a form call's body (formHeader) as a form.
func prepare(auth func(*http.Request, string)) func(*http.Request, string) {
	return func(r *http.Request, token string) {
		auth(r, token)
		if r.Header.Get(formHeader) == "" || r.Body == nil {
			return
		}
		r.Header.Del(formHeader)
		var form string
		if err := json.NewDecoder(r.Body).Decode(&form); err != nil {
			return // never: build wrote it
		}
		r.Body = io.NopCloser(strings.NewReader(form))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(form)), nil }
		r.ContentLength = int64(len(form))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
}
