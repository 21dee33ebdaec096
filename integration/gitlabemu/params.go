package gitlabemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// params merges the query string and the body (JSON object or form), as
// Grape does; body values win.
type params map[string]any

func parseParams(r *http.Request) (params, error) {
	p := params{}
	addValues(p, r.URL.Query())
	if r.Body == nil || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return p, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return p, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case ct == "application/x-www-form-urlencoded":
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, err
		}
		addValues(p, v)
	default:
		// GitLab clients send JSON; treat anything else as JSON too.
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return nil, err
		}
		for k, v := range m {
			p[k] = v
		}
	}
	return p, nil
}

// addValues turns k[]=v into a list and k[sub]=v into a nested map, the
// Rack conventions GitLab clients use for user_ids[] and custom_attributes[k].
func addValues(p params, v url.Values) {
	for k, vs := range v {
		if k == "private_token" {
			continue
		}
		switch {
		case strings.HasSuffix(k, "[]"):
			base := strings.TrimSuffix(k, "[]")
			list, _ := p[base].([]any)
			for _, x := range vs {
				list = append(list, x)
			}
			p[base] = list
		case strings.Contains(k, "[") && strings.HasSuffix(k, "]"):
			i := strings.Index(k, "[")
			base, sub := k[:i], k[i+1:len(k)-1]
			m, _ := p[base].(map[string]any)
			if m == nil {
				m = map[string]any{}
			}
			m[sub] = vs[len(vs)-1]
			p[base] = m
		default:
			p[k] = vs[len(vs)-1]
		}
	}
}

func (p params) has(k string) bool {
	v, ok := p[k]
	return ok && v != nil
}

// str coerces like Grape's String type.
func (p params) str(k string) (string, bool) {
	v, ok := p[k]
	if !ok || v == nil {
		return "", false
	}
	switch t := v.(type) {
	case string:
		return t, true
	case json.Number:
		return t.String(), true
	case bool:
		return strconv.FormatBool(t), true
	default:
		b, _ := json.Marshal(t)
		return string(b), true
	}
}

// boolean coerces like Grape's Boolean type; bad values are "k is invalid".
func (p params) boolean(k string) (val, present bool, err error) {
	v, ok := p[k]
	if !ok || v == nil {
		return false, false, nil
	}
	switch t := v.(type) {
	case bool:
		return t, true, nil
	case json.Number:
		switch t.String() {
		case "1":
			return true, true, nil
		case "0":
			return false, true, nil
		}
	case string:
		switch strings.ToLower(t) {
		case "true", "1", "t", "yes", "y", "on":
			return true, true, nil
		case "false", "0", "f", "no", "n", "off", "":
			return false, true, nil
		}
	}
	return false, true, fmt.Errorf("%s is invalid", k)
}

func (p params) integer(k string) (val int, present bool, err error) {
	s, ok := p.str(k)
	if !ok {
		return 0, false, nil
	}
	n, e := strconv.Atoi(strings.TrimSpace(s))
	if e != nil {
		return 0, true, fmt.Errorf("%s is invalid", k)
	}
	return n, true, nil
}

// strMap reads a hash parameter such as custom_attributes[k]=v.
func (p params) strMap(k string) map[string]string {
	m, _ := p[k].(map[string]any)
	if len(m) == 0 {
		return nil
	}
	out := map[string]string{}
	for kk, vv := range m {
		out[kk] = fmt.Sprint(vv)
	}
	return out
}

// intList reads user_ids as a JSON array, k[]=... or "1,2,3".
func (p params) intList(k string) ([]int, bool, error) {
	v, ok := p[k]
	if !ok || v == nil {
		return nil, false, nil
	}
	var raw []string
	switch t := v.(type) {
	case []any:
		for _, x := range t {
			raw = append(raw, fmt.Sprint(x))
		}
	case string:
		raw = strings.Split(t, ",")
	case json.Number:
		raw = []string{t.String()}
	default:
		return nil, true, fmt.Errorf("%s is invalid", k)
	}
	var out []int
	for _, s := range raw {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, true, fmt.Errorf("%s is invalid", k)
		}
		out = append(out, n)
	}
	return out, true, nil
}

// grapeErrs accumulates Grape validation messages, which GitLab joins with
// ", " into one {"error": ...} body.
type grapeErrs []string

func (g *grapeErrs) add(err error) {
	if err != nil {
		*g = append(*g, err.Error())
	}
}

func (g *grapeErrs) missing(p params, keys ...string) {
	for _, k := range keys {
		if !p.has(k) {
			*g = append(*g, k+" is missing")
		}
	}
}

func (g *grapeErrs) atLeastOne(p params, keys ...string) {
	for _, k := range keys {
		if p.has(k) {
			return
		}
	}
	*g = append(*g, strings.Join(keys, ", ")+" are missing, at least one parameter must be provided")
}

func (g *grapeErrs) allOrNone(p params, keys ...string) {
	n := 0
	for _, k := range keys {
		if p.has(k) {
			n++
		}
	}
	if n != 0 && n != len(keys) {
		*g = append(*g, strings.Join(keys, ", ")+" provide all or none of parameters")
	}
}

func (g *grapeErrs) values(p params, k string, allowed ...string) {
	v, ok := p.str(k)
	if !ok {
		return
	}
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	*g = append(*g, k+" does not have a valid value")
}

func (g *grapeErrs) bools(p params, keys ...string) {
	for _, k := range keys {
		_, _, err := p.boolean(k)
		g.add(err)
	}
}

// write answers 400 {"error": "..."} when anything was collected.
func (g grapeErrs) write(w http.ResponseWriter) bool {
	if len(g) == 0 {
		return false
	}
	grapeError(w, 400, strings.Join(g, ", "))
	return true
}

// modelErrs is an ordered ActiveModel::Errors hash, rendered as
// 400 {"message":{"attr":["msg", ...]}} in validation order.
type modelErrs struct {
	keys []string
	msgs map[string][]string
}

func (m *modelErrs) add(attr, msg string) {
	if m.msgs == nil {
		m.msgs = map[string][]string{}
	}
	if _, ok := m.msgs[attr]; !ok {
		m.keys = append(m.keys, attr)
	}
	m.msgs[attr] = append(m.msgs[attr], msg)
}

func (m *modelErrs) any() bool { return len(m.keys) > 0 }

func (m *modelErrs) has(attr, msg string) bool {
	for _, x := range m.msgs[attr] {
		if x == msg {
			return true
		}
	}
	return false
}

func (m *modelErrs) json() []byte {
	var b bytes.Buffer
	b.WriteString(`{"message":{`)
	for i, k := range m.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(m.msgs[k])
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteString(`}}`)
	return b.Bytes()
}

func (m *modelErrs) write(w http.ResponseWriter) { writeRawJSON(w, 400, m.json()) }
