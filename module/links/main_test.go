package links_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/links/linkstest"
)

// TestMain runs the tests through testenv, which stops the real Redis servers the
// Redis tests start.
func TestMain(m *testing.M) { testenv.Main(m) }

func TestMemoryConformance(t *testing.T) {
	linkstest.Run(t, func(t *testing.T) links.Store { return links.NewMemory(linkstest.TTL, 10_000) },
		linkstest.Options{Expires: true})
}

// TestGuardConformance: a guarded healthy store behaves like the store itself.
func TestGuardConformance(t *testing.T) {
	linkstest.Run(t, func(t *testing.T) links.Store {
		return links.Guard(links.NewMemory(linkstest.TTL, 10_000), func(err error) { t.Errorf("onDown: %v", err) }, nil)
	}, linkstest.Options{Expires: true})
}

// TestReadJSONLinesRefusesBadLines: an import names the first bad line and stores
// the good lines before it, nothing after it.
func TestReadJSONLinesRefusesBadLines(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, input, wantErr string
		wantN                int
	}{
		{"no id", `{"id":"1","un":"a"}` + "\n" + `{"un":"b"}` + "\n" + `{"id":"3"}`, "line 2:", 1},
		{"empty id", `{"id":""}`, "line 1:", 0},
		{"not JSON", `{"id":"1"}` + "\n\n" + `{"id":`, "line 3:", 1},
		{"unknown field", `{"id":"1","favourite":"x"}`, "line 1:", 0},
		{"wrong type", `{"id":"1","a":"yes"}`, "line 1:", 0},
		{"two values", `{"id":"1"} {"id":"2"}`, "line 1:", 0},
		{"unknown block owner", `{"id":"1","b":"someone"}`, "line 1:", 0},
		{"array", `[{"id":"1"}]`, "line 1:", 0},
		{"too long", `{"id":"` + strings.Repeat("x", 2<<20) + `"}`, "longer than", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := links.NewMemory(0, 0)
			n, err := links.ReadJSONLines(ctx, strings.NewReader(tc.input), s)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || n != tc.wantN {
				t.Fatalf("ReadJSONLines = %d %v, want %d and an error with %q", n, err, tc.wantN, tc.wantErr)
			}
			if tc.wantN == 1 {
				if _, ok, _ := s.Get(ctx, "1"); !ok {
					t.Fatal("the good line before the bad one was not stored")
				}
			}
			if _, ok, _ := s.Get(ctx, "3"); ok {
				t.Fatal("a line after the bad one was stored")
			}
		})
	}
	// blank lines and surrounding space are fine
	s := links.NewMemory(0, 0)
	n, err := links.ReadJSONLines(ctx, strings.NewReader("\n  {\"id\":\"1\",\"b\":\"scim\",\"g\":true}  \r\n\n"), s)
	if l, _, _ := s.Get(ctx, "1"); err != nil || n != 1 || l != (links.Link{ID: "1", Block: links.BlockSCIM, Group: true}) {
		t.Fatalf("= %d %v, link %+v", n, err, l)
	}
}

// failingWriter fails every write.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestWriteJSONLinesReportsWriteErrors: an export that cannot be written fails.
func TestWriteJSONLinesReportsWriteErrors(t *testing.T) {
	ctx := context.Background()
	s := links.NewMemory(0, 0)
	for _, id := range []string{"1", "2"} {
		if err := s.Put(ctx, links.Link{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := links.WriteJSONLines(ctx, failingWriter{}, s); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("WriteJSONLines to a failing writer = %v", err)
	}
}
