package adapters

import (
	"iter"
	"strconv"
	"strings"
	"time"
)

// NameTries bounds the names an adapter tries for one upstream name that is taken
// (a login derived from a userName, a team or group path): the name, numbered ones,
// and last one numbered from the clock, so that a crowd of namesakes cannot exhaust
// the tries and a write costs at most this many calls.
const NameTries = 6

// Suffix is how an application numbers a name that is taken: Sep and the number
// appended ("jdoe2", "team-2"), counting from From. When the suffix does not fit in
// Max characters (0: no limit), the name is cut and Trim (nil: none) drops what it
// may not end with.
type Suffix struct {
	Sep  string
	From int
	Max  int
	Trim func(string) string
}

// With returns base with the suffix n, within Max.
func (s Suffix) With(base string, n int) string {
	suf := s.Sep + strconv.Itoa(n)
	if s.Max > 0 && len(base)+len(suf) > s.Max {
		base = base[:max(s.Max-len(suf), 0)]
		if s.Trim != nil {
			base = s.Trim(base)
		}
	}
	return base + suf
}

// Name is the name of try (from 0) for base: base itself, then base numbered From,
// From+1, …, and at the last of NameTries a number from the clock.
func (s Suffix) Name(base string, try int) string {
	switch {
	case try <= 0:
		return base
	case try < NameTries-1:
		return s.With(base, s.From+try-1)
	default:
		return s.With(base, int(time.Now().UnixNano()%90000)+10000)
	}
}

// Names yields the NameTries names for base in order, each with whether another
// follows.
func (s Suffix) Names(base string) iter.Seq2[string, bool] {
	return func(yield func(string, bool) bool) {
		for try := range NameTries {
			if !yield(s.Name(base, try), try < NameTries-1) {
				return
			}
		}
	}
}

// Numbered reports whether name is base, or base with a suffix of s (a name given
// for base when it was taken), in any case: such a name stays when base is asked
// for again.
func (s Suffix) Numbered(name, base string) bool {
	if strings.EqualFold(name, base) {
		return true
	}
	n := len(base) + len(s.Sep)
	return len(name) > n && strings.EqualFold(name[:n], base+s.Sep) && strings.Trim(name[n:], "0123456789") == ""
}
