package rest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
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
	// Password is a random password the user never needs (create only).
	Password string
	// Value is the value looked up (find_*).
	Value string
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
	// json writes v as JSON; a body string that is one {{json …}} action becomes
	// that JSON value.
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
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

// request is a compiled Call.
type request struct {
	name   string
	method string
	path   *template.Template
	query  []queryParam
	body   node
	result string
	reread bool
	params map[string]string
}

type queryParam struct {
	name string
	tmpl *template.Template
}

func compileTemplate(field, src string, params map[string]string) (*template.Template, error) {
	t, err := template.New(field).Funcs(funcs).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, fmt.Errorf("mapping %s: %v", field, err)
	}
	// Execute once against zero data, so that a misspelt field or a missing param
	// fails the load, not the first request.
	if err := t.Execute(io.Discard, Data{Params: params}); err != nil {
		return nil, fmt.Errorf("mapping %s: %v", field, err)
	}
	return t, nil
}

func compileCall(field string, c Call, withBody bool, params map[string]string) (*request, error) {
	r := &request{name: field, method: strings.ToUpper(strings.TrimSpace(c.Method)), result: c.Result, reread: c.Reread, params: params}
	switch r.method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return nil, fmt.Errorf("mapping %s.method: must be GET, POST, PUT, PATCH or DELETE, not %q", field, c.Method)
	}
	if !strings.HasPrefix(c.Path, "/") {
		return nil, fmt.Errorf("mapping %s.path: must start with /", field)
	}
	var err error
	if r.path, err = compileTemplate(field+".path", c.Path, params); err != nil {
		return nil, err
	}
	escapeActions(r.path)
	names := make([]string, 0, len(c.Query))
	for k := range c.Query {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		t, err := compileTemplate(field+".query."+k, c.Query[k], params)
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
		if r.body, err = compileNode(field+".body", dec, params); err != nil {
			return nil, err
		}
	} else if withBody && r.method != http.MethodDelete {
		return nil, fmt.Errorf("mapping %s.body: required", field)
	}
	return r, nil
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
func compileNode(field string, dec *json.Decoder, params map[string]string) (node, error) {
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
				n, err := compileNode(field+"."+k, dec, params)
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
			n, err := compileNode(fmt.Sprintf("%s[%d]", field, i), dec, params)
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
		t, err := compileTemplate(field, v, params)
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
	}
	return req, nil
}
