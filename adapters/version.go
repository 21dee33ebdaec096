package adapters

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// Version derives a resource version (and so its ETag) from the upstream fields a
// mapping reads, for upstreams that keep no version or update time of their own: it
// changes whenever one of them does.
func Version(fields ...any) string {
	h := sha256.New()
	for _, f := range fields {
		fmt.Fprintf(h, "%v\x00", f)
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// NumericID reads an upstream's positive decimal id in canonical form ("42", not
// "042" or "+42"); anything else names no upstream resource.
func NumericID(id string) (int64, bool) {
	var n int64
	if id == "" || id[0] == '0' || len(id) > 18 {
		return 0, false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(id[i]-'0')
	}
	return n, true
}

// CompareIDs orders ids as upstreams number them: numeric ids numerically, others
// as strings (the stable order of listings).
func CompareIDs(a, b string) int {
	if len(a) != len(b) && isDigits(a) && isDigits(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}
