package faultproxy

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// The selection rules: After lets the first matches through, Every spaces the faults,
// Times bounds them, and PathContains narrows the match.
func TestSelection(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
	defer up.Close()
	for _, c := range []struct {
		name  string
		f     Fault
		paths []string
		want  []int
	}{
		{"after", Fault{After: 2, Status: 503}, []string{"/a", "/a", "/a", "/a"}, []int{200, 200, 503, 503}},
		{"every", Fault{Every: 3, Status: 503}, []string{"/a", "/a", "/a", "/a", "/a", "/a"}, []int{200, 200, 503, 200, 200, 503}},
		{"times", Fault{After: 1, Times: 1, Status: 429}, []string{"/a", "/a", "/a"}, []int{200, 429, 200}},
		{"contains", Fault{PathContains: "/members/bob", Status: 502}, []string{"/t/1/members/al", "/t/1/members/bob", "/t/2/members/bob"}, []int{200, 502, 502}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := New(up.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			p.Add(c.f)
			for i, path := range c.paths {
				resp, err := http.Get(p.URL + path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != c.want[i] {
					t.Fatalf("request %d (%s): %d, want %d", i+1, path, resp.StatusCode, c.want[i])
				}
			}
			if faulted, total := p.Hits(); total != len(c.paths) {
				t.Fatalf("hits %d/%d", faulted, total)
			}
		})
	}
}
