package scim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// BulkRequest is the body of POST /Bulk (RFC 7644 §3.7).
type BulkRequest struct {
	Schemas []string `json:"schemas"`
	// FailOnErrors stops the processing after that many errors; 0: never.
	FailOnErrors int             `json:"failOnErrors"`
	Operations   []BulkOperation `json:"Operations"`
}

// BulkOperation is one operation of a bulk request.
type BulkOperation struct {
	Method  string          `json:"method"`
	BulkID  string          `json:"bulkId,omitempty"`
	Version string          `json:"version,omitempty"`
	Path    string          `json:"path"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// BulkResponse is the answer of POST /Bulk.
type BulkResponse struct {
	Schemas    []string         `json:"schemas"`
	Operations []BulkResultItem `json:"Operations"`
}

// BulkResultItem is one operation's outcome; Response holds the SCIM error of a
// failed one.
type BulkResultItem struct {
	Location string          `json:"location,omitempty"`
	Method   string          `json:"method"`
	BulkID   string          `json:"bulkId,omitempty"`
	Version  string          `json:"version,omitempty"`
	Status   string          `json:"status"`
	Response json.RawMessage `json:"response,omitempty"`
}

// bulkRef is how a bulk operation names a resource another operation creates.
const bulkRef = "bulkId:"

// ParseBulk decodes and checks a bulk request: its schema, failOnErrors, and at most
// maxOps operations (more is 413, as RFC 7644 §3.7.4 asks). Each operation is checked
// on its own by Check, so that one bad operation fails alone.
func ParseBulk(body []byte, maxOps int) (*BulkRequest, error) {
	var req BulkRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		return nil, BadRequest(ErrInvalidSyntax, "request body is not a valid BulkRequest: %v", err)
	}
	if !slices.ContainsFunc(req.Schemas, func(s string) bool { return strings.EqualFold(s, MessageBulkRequest) }) {
		return nil, BadRequest(ErrInvalidSyntax, "schemas must contain %s", MessageBulkRequest)
	}
	if req.FailOnErrors < 0 {
		return nil, BadRequest(ErrInvalidValue, "failOnErrors must be a positive integer")
	}
	if len(req.Operations) == 0 {
		return nil, BadRequest(ErrInvalidValue, "Operations is required and must not be empty")
	}
	if len(req.Operations) > maxOps {
		return nil, &Error{Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("the request has %d operations; maxOperations is %d (see /ServiceProviderConfig)", len(req.Operations), maxOps)}
	}
	return &req, nil
}

// Check validates one operation: a method, a path to /Users or /Groups (with an id
// for PUT, PATCH and DELETE), a bulkId on a POST, data where the method needs it.
// It returns the resource type's endpoint ("Users" or "Groups").
func (op BulkOperation) Check() (string, error) {
	method := strings.ToUpper(op.Method)
	segs := strings.Split(strings.Trim(op.Path, "/"), "/")
	if !strings.HasPrefix(op.Path, "/") || len(segs) > 2 || (!strings.EqualFold(segs[0], "Users") && !strings.EqualFold(segs[0], "Groups")) {
		return "", BadRequest(ErrInvalidPath, "path must be /Users or /Groups, with /{id} after it except for a POST; got %q", op.Path)
	}
	switch method {
	case http.MethodPost:
		if len(segs) != 1 {
			return "", BadRequest(ErrInvalidPath, "a POST's path is /Users or /Groups, not %q", op.Path)
		}
		if op.BulkID == "" {
			return "", BadRequest(ErrInvalidValue, "a POST needs a bulkId")
		}
	case http.MethodPut, http.MethodPatch, http.MethodDelete:
		if len(segs) != 2 || segs[1] == "" {
			return "", BadRequest(ErrInvalidPath, "a %s's path is /%s/{id}, not %q", method, segs[0], op.Path)
		}
	default:
		return "", BadRequest(ErrInvalidValue, "method must be POST, PUT, PATCH or DELETE, not %q", op.Method)
	}
	if method != http.MethodDelete && len(bytes.TrimSpace(op.Data)) == 0 {
		return "", BadRequest(ErrInvalidValue, "a %s needs data", method)
	}
	return segs[0], nil
}

// Refs returns the bulkIds op refers to, in its path and in any string of its data
// that is exactly "bulkId:<id>" (a group's member value, typically).
func (op BulkOperation) Refs() []string {
	var refs []string
	add := func(s string) {
		if id, ok := strings.CutPrefix(s, bulkRef); ok && id != "" && !slices.Contains(refs, id) {
			refs = append(refs, id)
		}
	}
	for _, seg := range strings.Split(op.Path, "/") {
		add(seg)
	}
	var v any
	if json.Unmarshal(op.Data, &v) == nil {
		walkStrings(v, func(s string) string { add(s); return s })
	}
	return refs
}

// walkStrings calls f on every string of a decoded JSON value and stores its result.
func walkStrings(v any, f func(string) string) any {
	switch x := v.(type) {
	case string:
		return f(x)
	case []any:
		for i := range x {
			x[i] = walkStrings(x[i], f)
		}
	case map[string]any:
		for k := range x {
			x[k] = walkStrings(x[k], f)
		}
	}
	return v
}

// Defines is the bulkId op defines: a POST's; "" for other methods.
func (op BulkOperation) Defines() string {
	if strings.EqualFold(op.Method, http.MethodPost) {
		return op.BulkID
	}
	return ""
}

// Resolve replaces the bulkId references of op with the ids in ids; missing names the
// references ids lacks (op is unchanged then).
func (op BulkOperation) Resolve(ids map[string]string) (out BulkOperation, missing []string) {
	refs := op.Refs()
	for _, r := range refs {
		if _, ok := ids[r]; !ok {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 || len(refs) == 0 {
		return op, missing
	}
	out = op
	replace := func(s string) string {
		if id, ok := strings.CutPrefix(s, bulkRef); ok {
			if to, ok := ids[id]; ok {
				return to
			}
		}
		return s
	}
	segs := strings.Split(op.Path, "/")
	for i := range segs {
		segs[i] = replace(segs[i])
	}
	out.Path = strings.Join(segs, "/")
	if len(op.Data) > 0 {
		var v any
		if json.Unmarshal(op.Data, &v) == nil {
			b, _ := json.Marshal(walkStrings(v, replace))
			out.Data = b
		}
	}
	return out, nil
}

// BulkOrder returns the order to run ops in: the request's order, except that an
// operation referring to a bulkId runs after the POST that defines it. Operations in
// a circle of references (or waiting on one) are not ordered: they are returned in
// cyclic, in request order, to be refused. Duplicate bulkIds keep their first POST.
func BulkOrder(ops []BulkOperation) (order, cyclic []int) {
	def := map[string]int{}
	for i, op := range ops {
		if id := op.Defines(); id != "" {
			if _, dup := def[id]; !dup {
				def[id] = i
			}
		}
	}
	waits := make([][]int, len(ops)) // j in waits[i]: i must run after j
	for i, op := range ops {
		for _, r := range op.Refs() {
			if j, ok := def[r]; ok {
				waits[i] = append(waits[i], j)
			}
		}
	}
	done := make([]bool, len(ops))
	for len(order)+len(cyclic) < len(ops) {
		progressed := false
		for i := range ops { // the first ready operation, in request order
			if done[i] {
				continue
			}
			ready := true
			for _, j := range waits[i] {
				ready = ready && done[j] && j != i
			}
			if ready {
				done[i], progressed = true, true
				order = append(order, i)
				break
			}
		}
		if !progressed {
			for i := range ops {
				if !done[i] {
					done[i] = true
					cyclic = append(cyclic, i)
				}
			}
		}
	}
	return order, cyclic
}
