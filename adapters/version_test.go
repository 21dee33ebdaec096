package adapters

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
)

// fmtVersion is Version as it was first written: the versions links keep must not change.
func fmtVersion(fields ...any) string {
	h := sha256.New()
	for _, f := range fields {
		fmt.Fprintf(h, "%v\x00", f)
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

func TestVersionIsStable(t *testing.T) {
	type x struct{ A int }
	var ip *int
	for _, c := range [][]any{{"a", true, 3, int64(-7), uint(4), 1.5, x{2}, ip, nil, ""}, {}, {string(make([]byte, 300))}} {
		if Version(c...) != fmtVersion(c...) {
			t.Errorf("%v: %s != %s", c, Version(c...), fmtVersion(c...))
		}
	}
}
