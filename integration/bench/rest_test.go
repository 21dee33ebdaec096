package bench_test

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/rest"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
	"github.com/caddy-scim/caddy-scim/integration/testenv"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// kratosCode is what a hand-written Kratos adapter does for a read and a write: the
// same calls as the kratos preset, with typed structs and encoding/json instead of
// templates and JSON paths. It is the baseline of TestRestCost, not an adapter.
type kratosCode struct{ api *upstream.Client }

func (k kratosCode) record(i *testenv.KratosIdentity) adapters.Record {
	u := &scim.User{ID: i.ID, UserName: i.Traits.Username, Active: i.State == "active",
		Name:   &scim.Name{GivenName: i.Traits.Name.GivenName, FamilyName: i.Traits.Name.FamilyName},
		Emails: []scim.MultiValue{{Value: i.Traits.Email, Type: "work", Primary: true}}}
	m := i.MetadataAdmin.SCIM
	if m.Managed {
		u.ExternalID = m.ExternalID
	}
	u.Meta.Version = adapters.Version(u.ID, u.UserName, u.ExternalID, u.Name.GivenName, u.Name.FamilyName, "", "", i.Traits.Email, u.Active, m.Managed, m.Deleted, m.Blocked)
	return adapters.Record{User: u, Managed: m.Managed, Deleted: m.Deleted}
}

func (k kratosCode) get(ctx context.Context, id string) (adapters.Record, error) {
	var i testenv.KratosIdentity
	if _, err := k.api.GetJSON(ctx, upstream.Request{Path: "/admin/identities/" + id}, &i); err != nil {
		return adapters.Record{}, err
	}
	return k.record(&i), nil
}

func (k kratosCode) update(ctx context.Context, id string, u *scim.User, st adapters.State) (adapters.Record, error) {
	state := "inactive"
	if u.Active {
		state = "active"
	}
	body := map[string]any{"schema_id": "default", "state": state,
		"traits": map[string]any{"email": u.PrimaryEmail(), "username": u.UserName,
			"name": map[string]any{"givenName": u.Name.GivenName, "familyName": u.Name.FamilyName}},
		"metadata_admin": map[string]any{"scim": map[string]any{"managed": st.Managed, "external_id": u.ExternalID,
			"deleted": st.Deleted, "blocked": !u.Active && !st.ForeignBlock}}}
	resp, err := k.api.Do(ctx, upstream.Request{Method: http.MethodPut, Path: "/admin/identities/" + id, Body: body})
	if err != nil {
		return adapters.Record{}, err
	}
	if !resp.OK() {
		return adapters.Record{}, k.api.StatusFact(resp, "")
	}
	var i testenv.KratosIdentity
	if err := k.api.Decode(resp, &i); err != nil {
		return adapters.Record{}, err
	}
	return k.record(&i), nil
}

// TestRestCost measures what the declarative adapter costs beside code doing the
// same calls: a read by id and a full write, against the real Kratos, in alternating
// turns of one run; it prints the ratios and the upstream calls of each.
func TestRestCost(t *testing.T) {
	benchOnly(t)
	k := testenv.Kratos(t)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	a := &rest.Adapter{Config: upstream.Config{URL: k.AdminURL}, Preset: "kratos"}
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	api, err := upstream.New(upstream.Options{Name: "Kratos", Base: k.AdminURL})
	if err != nil {
		t.Fatal(err)
	}
	code := kratosCode{api: api}
	u := &scim.User{UserName: testenv.UniqueName("cost"), ExternalID: "ext-cost", Active: true,
		Name: &scim.Name{GivenName: "Cost", FamilyName: "Bench"}}
	u.Emails = []scim.MultiValue{{Value: u.UserName + "@example.test", Primary: true}}
	rec, err := a.CreateUser(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	id := rec.User.ID
	st := adapters.State{Managed: true}
	dur := envDuration("CADDY_SCIM_BENCH_DURATION", 2*time.Second)
	type target struct {
		name string
		f    func(i int) error
	}
	ops := []struct {
		name       string
		rest, code func(i int) error
	}{
		{"read by id", func(int) error {
			_, err := a.FindUsers(ctx, adapters.Lookup{Kind: adapters.ByID, Value: id})
			return err
		},
			func(int) error { _, err := code.get(ctx, id); return err }},
		{"full write (PUT)", func(i int) error {
			v := *u
			v.Name = &scim.Name{GivenName: fmt.Sprint("R", i), FamilyName: "Bench"}
			_, err := a.UpdateUser(ctx, id, &v, st)
			return err
		}, func(i int) error {
			v := *u
			v.Name = &scim.Name{GivenName: fmt.Sprint("C", i), FamilyName: "Bench"}
			_, err := code.update(ctx, id, &v, st)
			return err
		}},
	}
	fmt.Printf("\n## Declarative adapter cost (kratos preset vs the same calls in code, real Kratos, sequential, %s each in 1 s turns)\n\n", dur)
	fmt.Printf("| operation | preset ops/s | p50 ms | code ops/s | p50 ms | preset ÷ code time | upstream calls/op preset | code |\n|---|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, op := range ops {
		lat := [2][]time.Duration{}
		calls := [2]int64{}
		n := [2]int{}
		for turn := time.Duration(0); turn < dur; turn += time.Second {
			for side, f := range []func(int) error{op.rest, op.code} {
				c0 := []int64{a.UpstreamCalls(), api.Calls()}[side]
				for end := time.Now().Add(time.Second); time.Now().Before(end); n[side]++ {
					t0 := time.Now()
					if err := f(n[side]); err != nil {
						t.Fatalf("%s: %v", op.name, err)
					}
					lat[side] = append(lat[side], time.Since(t0))
				}
				calls[side] += []int64{a.UpstreamCalls(), api.Calls()}[side] - c0
			}
		}
		med := func(l []time.Duration) time.Duration {
			sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
			return l[len(l)/2]
		}
		sum := func(l []time.Duration) (s time.Duration) {
			for _, d := range l {
				s += d
			}
			return s
		}
		r := (float64(sum(lat[0])) / float64(n[0])) / (float64(sum(lat[1])) / float64(n[1]))
		fmt.Printf("| %s | %.0f | %s | %.0f | %s | %.3f | %.2f | %.2f |\n", op.name, float64(n[0])/dur.Seconds(), ms(med(lat[0])),
			float64(n[1])/dur.Seconds(), ms(med(lat[1])), r, float64(calls[0])/float64(n[0]), float64(calls[1])/float64(n[1]))
	}
}
