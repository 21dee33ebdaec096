// Package caddyfile holds the Caddyfile → JSON golden tests of the scim directive.
// Each testdata/*.caddyfiletest file is a Caddyfile, a line of dashes, and either the
// expected JSON or, when that part does not start with "{", a substring of the
// expected adapt error.
package caddyfile

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-scim/caddy-scim"
)

// -update rewrites the expected JSON of the golden files (review the diff!).
var update = flag.Bool("update", false, "rewrite golden files")

var sep = regexp.MustCompile(`(?m)^-{10,}\s*$`)

func TestAdapt(t *testing.T) {
	files, err := filepath.Glob("testdata/*.caddyfiletest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	adapter := caddyconfig.GetAdapter("caddyfile")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			parts := sep.Split(string(raw), 2)
			if len(parts) != 2 {
				t.Fatal("golden file needs a Caddyfile, a line of dashes, and the expectation")
			}
			input, want := parts[0], strings.TrimSpace(parts[1])
			got, _, err := adapter.Adapt([]byte(input), map[string]any{"filename": "Caddyfile"})
			if !strings.HasPrefix(want, "{") {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("want error containing %q, got %v", want, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("adapt: %v", err)
			}
			var buf bytes.Buffer
			_ = json.Indent(&buf, got, "", "\t")
			if *update {
				if err := os.WriteFile(f, []byte(strings.TrimRight(input, "\n")+"\n----------\n"+buf.String()+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if g := buf.String(); strings.TrimSpace(g) != want {
				t.Fatalf("adapted JSON differs.\n--- got\n%s\n--- want\n%s", g, want)
			}
		})
	}
}

// The example shipped at the repository root must adapt.
func TestExampleAdapts(t *testing.T) {
	raw, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(raw, map[string]any{"filename": "Caddyfile.example"}); err != nil {
		t.Fatalf("Caddyfile.example: %v", err)
	}
}
