package scimhandler

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/adaptertest"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

func bulkHandler(t *testing.T) (*Handler, *adaptertest.Memory) {
	t.Helper()
	h := testHandler(t)
	m := &adaptertest.Memory{PageSize: 10}
	h.adapter, h.groups = m, m
	h.svc.Adapter, h.svc.Groups = m, m
	h.MaxBodySize = 1 << 16
	h.features.Groups, h.features.BulkMaxOperations, h.features.BulkMaxPayload = true, 10, h.MaxBodySize
	return h, m
}

type bulkAnswer struct {
	Operations []struct {
		Location, Method, BulkID, Version, Status string
		Response                                  map[string]any
	}
}

func runBulk(t *testing.T, h *Handler, failOnErrors int, ops ...string) (int, bulkAnswer) {
	t.Helper()
	body := fmt.Sprintf(`{"schemas":["%s"],"failOnErrors":%d,"Operations":[%s]}`, scim.MessageBulkRequest, failOnErrors, strings.Join(ops, ","))
	rec, _ := serve(t, h, "POST", "/scim/v2/Bulk", body, true)
	var a bulkAnswer
	_ = json.Unmarshal(rec.Body.Bytes(), &a)
	return rec.Code, a
}

const bulkUser = `{"method":"POST","path":"/Users","bulkId":"%s","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"%s","externalId":"ext-%s","active":true}}`

// TestBulk (#16): operations in order, a group POSTed before the user it lists
// (bulkId), failOnErrors, circular references, and the limits.
func TestBulk(t *testing.T) {
	h, m := bulkHandler(t)
	st, a := runBulk(t, h, 0,
		`{"method":"POST","path":"/Groups","bulkId":"g","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Eng","members":[{"value":"bulkId:u"}]}}`,
		fmt.Sprintf(bulkUser, "u", "ada", "ada"),
		`{"method":"PATCH","path":"/Users/bulkId:u","data":{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}}`,
		`{"method":"DELETE","path":"/Users/999"}`,
	)
	if st != 200 || len(a.Operations) != 4 {
		t.Fatalf("%d %+v", st, a)
	}
	want := []string{"201", "201", "200", "404"}
	for i, op := range a.Operations {
		if op.Status != want[i] {
			t.Errorf("operation %d: %+v, want status %s", i+1, op, want[i])
		}
	}
	if !strings.Contains(a.Operations[1].Location, "/Users/") || a.Operations[0].BulkID != "g" || a.Operations[3].Response["scimType"] != nil && a.Operations[3].Response["status"] != "404" {
		t.Errorf("locations and responses: %+v", a.Operations)
	}
	uid := a.Operations[1].Location[strings.LastIndex(a.Operations[1].Location, "/")+1:]
	gid := a.Operations[0].Location[strings.LastIndex(a.Operations[0].Location, "/")+1:]
	if got := m.Members(gid); len(got) != 1 || got[0] != uid {
		t.Errorf("group members %v, want [%s]", got, uid)
	}

	// failOnErrors 1: the first error stops the rest
	st, a = runBulk(t, h, 1,
		`{"method":"POST","path":"/Users","bulkId":"x","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]}}`,
		fmt.Sprintf(bulkUser, "y", "bob", "bob"))
	if st != 200 || len(a.Operations) != 1 || a.Operations[0].Status != "400" {
		t.Fatalf("failOnErrors: %d %+v", st, a)
	}
	if recs, _, _ := m.ListUsers(t.Context(), adaptersPage(100)); len(recs) != 1 {
		t.Errorf("%d users after failOnErrors stopped the bulk, want 1", len(recs))
	}

	// a circle is refused; the operation outside it runs; one referring to a failed POST is 409
	st, a = runBulk(t, h, 0,
		`{"method":"POST","path":"/Groups","bulkId":"a","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"A","members":[{"value":"bulkId:b"}]}}`,
		`{"method":"POST","path":"/Groups","bulkId":"b","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"B","members":[{"value":"bulkId:a"}]}}`,
		fmt.Sprintf(bulkUser, "c", "carol", "carol"),
		`{"method":"POST","path":"/Users","bulkId":"bad","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]}}`,
		`{"method":"PATCH","path":"/Users/bulkId:bad","data":{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}}`,
		`{"method":"DELETE","path":"/Users/bulkId:nowhere"}`)
	got := []string{}
	for _, op := range a.Operations {
		got = append(got, op.Status)
	}
	if st != 200 || strings.Join(got, " ") != "409 409 201 400 409 400" {
		t.Fatalf("circle: %d %v %+v", st, got, a)
	}
	if gs, _, _ := m.ListGroups(t.Context(), adaptersPage(100), false); len(gs) != 1 {
		t.Errorf("%d groups, want only the first bulk's", len(gs))
	}

	// limits: more operations than maxOperations, a body over maxPayloadSize
	many := make([]string, 11)
	for i := range many {
		many[i] = fmt.Sprintf(bulkUser, fmt.Sprint(i), fmt.Sprint("u", i), fmt.Sprint(i))
	}
	if st, _ := runBulk(t, h, 0, many...); st != 413 {
		t.Errorf("11 operations: %d, want 413", st)
	}
	big := fmt.Sprintf(bulkUser, "big", strings.Repeat("x", 70000), "big")
	if st, _ := runBulk(t, h, 0, big); st != 413 {
		t.Errorf("a body over maxPayloadSize: %d, want 413", st)
	}
	spc := scim.ServiceProviderConfig(h.features)["bulk"].(map[string]any)
	if spc["supported"] != true || spc["maxOperations"] != 10 || spc["maxPayloadSize"] != int64(1<<16) {
		t.Errorf("bulk in /ServiceProviderConfig: %v", spc)
	}
}

func adaptersPage(n int) adapters.Page { return adapters.Page{Limit: n} }
