package scim

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/caddy-scim/caddy-scim/adapters"
)

// Query is a parsed list request: GET query parameters or a POST /.search body.
type Query struct {
	Filter             string
	SortBy             string
	Descending         bool
	StartIndex         int // 1-based
	Count              int // -1 when absent
	Attributes         []string
	ExcludedAttributes []string
}

// ParseQuery reads the SCIM list parameters of a GET request. Parameter names are
// case-insensitive in practice (clients vary), so they are matched that way.
func ParseQuery(v url.Values) (Query, error) {
	q := Query{StartIndex: 1, Count: -1}
	for k, vals := range v {
		if len(vals) == 0 {
			continue
		}
		val := vals[0]
		switch strings.ToLower(k) {
		case "filter":
			q.Filter = val
		case "sortby":
			q.SortBy = val
		case "sortorder":
			if err := q.setOrder(val); err != nil {
				return q, err
			}
		case "startindex":
			n, err := strconv.Atoi(strings.TrimSpace(val))
			if err != nil {
				return q, BadRequest(ErrInvalidValue, "startIndex must be an integer")
			}
			q.StartIndex = n
		case "count":
			n, err := strconv.Atoi(strings.TrimSpace(val))
			if err != nil {
				return q, BadRequest(ErrInvalidValue, "count must be an integer")
			}
			q.Count = n
		case "attributes":
			q.Attributes = attrList(splitList(val))
		case "excludedattributes":
			q.ExcludedAttributes = attrList(splitList(val))
		}
	}
	q.normalize()
	return q, nil
}

// SearchRequest is the body of POST /.search (RFC 7644 §3.4.3).
type SearchRequest struct {
	Schemas            []string `json:"schemas"`
	Attributes         []string `json:"attributes"`
	ExcludedAttributes []string `json:"excludedAttributes"`
	Filter             string   `json:"filter"`
	SortBy             string   `json:"sortBy"`
	SortOrder          string   `json:"sortOrder"`
	StartIndex         *int     `json:"startIndex"`
	Count              *int     `json:"count"`
}

// Query converts a search request into a Query.
func (s *SearchRequest) Query() (Query, error) {
	q := Query{StartIndex: 1, Count: -1, Filter: s.Filter, SortBy: s.SortBy,
		Attributes: attrList(s.Attributes), ExcludedAttributes: attrList(s.ExcludedAttributes)}
	found := false
	for _, sc := range s.Schemas {
		if strings.EqualFold(sc, MessageSearchRequest) {
			found = true
		}
	}
	if !found {
		return q, BadRequest(ErrInvalidSyntax, "schemas must contain %s", MessageSearchRequest)
	}
	if err := q.setOrder(s.SortOrder); err != nil {
		return q, err
	}
	if s.StartIndex != nil {
		q.StartIndex = *s.StartIndex
	}
	if s.Count != nil {
		q.Count = *s.Count
	}
	q.normalize()
	return q, nil
}

func (q *Query) setOrder(v string) error {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "ascending":
		q.Descending = false
	case "descending":
		q.Descending = true
	default:
		return BadRequest(ErrInvalidValue, "sortOrder must be ascending or descending")
	}
	return nil
}

// normalize applies RFC 7644 §3.4.2.4: startIndex < 1 is 1, a negative count is 0.
func (q *Query) normalize() {
	if q.StartIndex < 1 {
		q.StartIndex = 1
	}
	if q.Count < -1 {
		q.Count = 0
	}
}

// splitList splits a comma-separated parameter, leaving commas inside a value
// filter or a quoted string alone (`emails[type eq "a,b"]`).
func splitList(s string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) {
			switch c := s[i]; {
			case c == '\\' && quoted:
				i++
				continue
			case c == '"':
				quoted = !quoted
				continue
			case quoted:
				continue
			case c == '[':
				depth++
				continue
			case c == ']':
				depth--
				continue
			case c != ',' || depth > 0:
				continue
			}
		}
		if p := strings.TrimSpace(s[start:i]); p != "" {
			out = append(out, p)
		}
		start = i + 1
	}
	return out
}

// attrList reads attribute paths as the attributes they name: a value filter
// (`emails[type eq "work"]`, which Microsoft's reference client sends) selects
// values, not attributes, so `emails[type eq "work"].value` is emails.value.
// Without this the projection matched nothing and answered only the id.
func attrList(paths []string) []string {
	out := paths[:0:0]
	for _, p := range paths {
		var b strings.Builder
		depth, quoted := 0, false
		for i := 0; i < len(p); i++ {
			c := p[i]
			switch {
			case quoted && c == '\\':
				i++
			case c == '"' && depth > 0:
				quoted = !quoted
			case quoted:
			case c == '[':
				depth++
			case c == ']' && depth > 0:
				depth--
			case depth == 0:
				b.WriteByte(c)
			}
		}
		if a := strings.TrimSpace(b.String()); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// ListResponse is the body of a list or search answer.
type ListResponse struct {
	Schemas      []string   `json:"schemas"`
	TotalResults int        `json:"totalResults"`
	ItemsPerPage int        `json:"itemsPerPage"`
	StartIndex   int        `json:"startIndex"`
	Resources    []Resource `json:"Resources"`
}

// Paginate returns the window of rs selected by q, with the page size capped at max.
func Paginate(rs []Resource, q Query, max int) ListResponse {
	lr := ListResponse{Schemas: []string{MessageListResponse}, StartIndex: q.StartIndex}
	lr.Resources, lr.TotalResults = adapters.Window(rs, q.Page(max))
	lr.ItemsPerPage = len(lr.Resources)
	return lr
}

// Page is the window of q, its page size capped at max, as adapters read it.
func (q Query) Page(max int) adapters.Page {
	return adapters.Page{Offset: q.StartIndex - 1, Limit: q.PageSize(max)}
}

// PageSize is how many results a page of q holds at most: count, capped at max
// (max when count is absent).
func (q Query) PageSize(max int) int {
	if q.Count < 0 || q.Count > max {
		return max
	}
	return q.Count
}

// PageBounds is the window [from, to) of n results that Paginate answers.
func PageBounds(n int, q Query, max int) (from, to int) {
	return q.Page(max).Bounds(n)
}

// AppendJSON appends lr as json.Marshal writes it (Schemas and Resources not nil, as
// Paginate makes them), except that item writes the i-th resource of the page, with
// a typed encoder such as AppendUserJSON.
func (lr ListResponse) AppendJSON(dst []byte, item func(dst []byte, i int) ([]byte, error)) ([]byte, error) {
	dst = append(dst, `{"schemas":[`...)
	for i, s := range lr.Schemas {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = appendEscaped(dst, s)
		dst = append(dst, '"')
	}
	dst = append(dst, `],"totalResults":`...)
	dst = strconv.AppendInt(dst, int64(lr.TotalResults), 10)
	dst = append(dst, `,"itemsPerPage":`...)
	dst = strconv.AppendInt(dst, int64(lr.ItemsPerPage), 10)
	dst = append(dst, `,"startIndex":`...)
	dst = strconv.AppendInt(dst, int64(lr.StartIndex), 10)
	dst = append(dst, `,"Resources":[`...)
	for i := range lr.Resources {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = item(dst, i); err != nil {
			return nil, err
		}
	}
	return append(dst, "]}"...), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
