package scim

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func ops(specs ...string) []BulkOperation {
	var out []BulkOperation
	for _, s := range specs { // "METHOD path bulkId data"
		f := strings.SplitN(s, " ", 4)
		op := BulkOperation{Method: f[0], Path: f[1]}
		if len(f) > 2 && f[2] != "-" {
			op.BulkID = f[2]
		}
		if len(f) > 3 {
			op.Data = json.RawMessage(f[3])
		}
		out = append(out, op)
	}
	return out
}

// TestBulkOrder: request order, except that a reference waits for its POST; circles
// (and what waits on them) are set apart.
func TestBulkOrder(t *testing.T) {
	for _, c := range []struct {
		name          string
		ops           []BulkOperation
		order, cyclic []int
	}{
		{"plain", ops(`POST /Users a {}`, `POST /Users b {}`), []int{0, 1}, nil},
		{"group after its member", ops(`POST /Users u {}`, `POST /Groups g {"members":[{"value":"bulkId:u"}]}`), []int{0, 1}, nil},
		{"group before its member", ops(`POST /Groups g {"members":[{"value":"bulkId:u"}]}`, `POST /Users u {}`), []int{1, 0}, nil},
		{"path reference", ops(`PATCH /Groups/bulkId:g - {}`, `POST /Groups g {}`, `DELETE /Users/7`), []int{1, 0, 2}, nil},
		{"circle", ops(`POST /Groups a {"members":[{"value":"bulkId:b"}]}`, `POST /Groups b {"members":[{"value":"bulkId:a"}]}`, `POST /Users c {}`), []int{2}, []int{0, 1}},
		{"self", ops(`POST /Groups a {"members":[{"value":"bulkId:a"}]}`), nil, []int{0}},
		{"waiting on a circle", ops(`POST /Groups a {"x":"bulkId:b"}`, `POST /Groups b {"x":"bulkId:a"}`, `PATCH /Groups/bulkId:a - {}`), nil, []int{0, 1, 2}},
		{"undefined reference runs (and fails alone)", ops(`POST /Groups g {"members":[{"value":"bulkId:nope"}]}`), []int{0}, nil},
	} {
		order, cyclic := BulkOrder(c.ops)
		if !slices.Equal(order, c.order) || !slices.Equal(cyclic, c.cyclic) {
			t.Errorf("%s: order %v cyclic %v, want %v %v", c.name, order, cyclic, c.order, c.cyclic)
		}
	}
}

func TestBulkResolve(t *testing.T) {
	op := ops(`PATCH /Groups/bulkId:g - {"Operations":[{"op":"add","path":"members","value":[{"value":"bulkId:u"},{"value":"42"}]}]}`)[0]
	if _, missing := op.Resolve(map[string]string{"g": "5"}); !slices.Equal(missing, []string{"u"}) {
		t.Fatalf("missing %v", missing)
	}
	out, missing := op.Resolve(map[string]string{"g": "5", "u": "9"})
	if missing != nil || out.Path != "/Groups/5" || !strings.Contains(string(out.Data), `"value":"9"`) || !strings.Contains(string(out.Data), `"value":"42"`) || strings.Contains(string(out.Data), "bulkId") {
		t.Fatalf("resolved %s %s", out.Path, out.Data)
	}
}

func TestParseBulkAndCheck(t *testing.T) {
	status := func(err error) int {
		var se *Error
		if errors.As(err, &se) {
			return se.Status
		}
		return 0
	}
	ok := `{"schemas":["` + MessageBulkRequest + `"],"Operations":[{"method":"POST","path":"/Users","bulkId":"a","data":{}}]}`
	if _, err := ParseBulk([]byte(ok), 1); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		body string
		max  int
		want int
	}{
		{`{`, 10, 400},
		{`{"Operations":[{"method":"POST"}]}`, 10, 400},
		{strings.Replace(ok, `"Operations"`, `"failOnErrors":-1,"Operations"`, 1), 10, 400},
		{`{"schemas":["` + MessageBulkRequest + `"],"Operations":[]}`, 10, 400},
		{ok, 0, 413},
	} {
		if _, err := ParseBulk([]byte(c.body), c.max); status(err) != c.want {
			t.Errorf("%s (max %d): %v, want %d", c.body, c.max, err, c.want)
		}
	}
	for _, c := range []struct {
		op   BulkOperation
		good bool
	}{
		{ops(`POST /Users a {}`)[0], true},
		{ops(`POST /Users - {}`)[0], false}, // no bulkId
		{ops(`POST /Users/1 a {}`)[0], false},
		{ops(`PUT /Users - {}`)[0], false}, // no id
		{ops(`PATCH /Groups/3 - {}`)[0], true},
		{ops(`PATCH /Groups/3`)[0], false}, // no data
		{ops(`DELETE /Users/3`)[0], true},
		{ops(`GET /Users/3`)[0], false},
		{ops(`POST /Bulk a {}`)[0], false},
		{ops(`POST Users a {}`)[0], false},
	} {
		if _, err := c.op.Check(); (err == nil) != c.good {
			t.Errorf("%+v: %v", c.op, err)
		}
	}
}

// FuzzBulk: any body parses or fails with a SCIM error; every ordering runs each
// operation once; resolving never leaves a reference it reported resolved.
func FuzzBulk(f *testing.F) {
	f.Add(`{"schemas":["` + MessageBulkRequest + `"],"failOnErrors":1,"Operations":[{"method":"POST","path":"/Users","bulkId":"u","data":{"userName":"a"}},{"method":"POST","path":"/Groups","bulkId":"g","data":{"displayName":"G","members":[{"value":"bulkId:u"}]}},{"method":"PATCH","path":"/Groups/bulkId:g","data":{"Operations":[]}},{"method":"DELETE","path":"/Users/bulkId:u"}]}`)
	f.Add(`{"schemas":["` + MessageBulkRequest + `"],"Operations":[{"method":"POST","path":"/Groups","bulkId":"a","data":{"x":"bulkId:a"}}]}`)
	f.Fuzz(func(t *testing.T, body string) {
		req, err := ParseBulk([]byte(body), 50)
		if err != nil {
			var se *Error
			if !errors.As(err, &se) || se.Status < 400 {
				t.Fatalf("not a SCIM error: %v", err)
			}
			return
		}
		order, cyclic := BulkOrder(req.Operations)
		seen := map[int]bool{}
		for _, i := range append(order, cyclic...) {
			if seen[i] || i < 0 || i >= len(req.Operations) {
				t.Fatalf("operation %d ordered twice or out of range: %v %v", i, order, cyclic)
			}
			seen[i] = true
		}
		if len(seen) != len(req.Operations) {
			t.Fatalf("%d operations, %d ordered", len(req.Operations), len(seen))
		}
		ids := map[string]string{}
		for _, op := range req.Operations {
			_, _ = op.Check()
			if op.BulkID != "" {
				ids[op.BulkID] = "id-" + op.BulkID
			}
		}
		for _, op := range req.Operations {
			if out, missing := op.Resolve(ids); len(missing) == 0 && len(out.Refs()) > 0 {
				for _, r := range out.Refs() {
					if _, ok := ids[r]; ok && !strings.HasPrefix(r, "bulkId:") {
						t.Fatalf("reference %q left after resolving %+v", r, out)
					}
				}
			}
		}
	})
}
