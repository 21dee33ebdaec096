package adapters

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Version derives a resource version (and so its ETag) from the upstream fields a
// mapping reads, for upstreams that keep no version or update time of their own: it
// changes whenever one of them does.
func Version(fields ...any) string {
	var buf [256]byte
	b := buf[:0]
	for _, f := range fields {
		// the bytes of fmt's %v, without fmt (every read computes a version)
		switch v := f.(type) {
		case string:
			b = append(b, v...)
		case bool:
			b = strconv.AppendBool(b, v)
		case int:
			b = strconv.AppendInt(b, int64(v), 10)
		case int64:
			b = strconv.AppendInt(b, v, 10)
		default:
			b = fmt.Append(b, f)
		}
		b = append(b, 0)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
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
