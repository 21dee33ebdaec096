package audit

import (
	"strings"
	"unicode/utf8"
)

// MaxEventBytes bounds one event's JSON, as the stream stores it. Every field a
// client can choose (its User-Agent, the path, a JWT's subject, …) is clipped, so
// that the stream's size cap can be counted in events and no request can make a
// bigger one.
const MaxEventBytes = 2048

// The fields' own caps, in bytes of their JSON (escapes counted). They sum to more
// than an event may hold: when several are long at once, the longest give way (Bound).
const (
	maxClient = 256 // the User-Agent
	maxText   = 512 // path and detail
	maxIdent  = 128 // caller, client id, id, externalId, name, site, base path
	maxWord   = 32  // op, method, auth, scimType, tenant
	maxAddr   = 64  // an IPv6 address with a zone
)

// eventOverhead is the most an event's JSON spends outside its strings' contents:
// keys, quotes, the time and the numbers (checked by TestBoundWorstCase).
const eventOverhead = 400

// minKept is what Bound leaves of a field when it must take from the longest ones.
const minKept = 64

const ellipsis = "…"

// Bound returns e with every string valid UTF-8 and clipped (marked with "…"), so
// that its JSON takes at most MaxEventBytes.
func Bound(e Event) Event {
	fields := [...]struct {
		s   *string
		max int
	}{
		{&e.Client, maxClient}, {&e.Path, maxText}, {&e.Detail, maxText},
		{&e.Site, maxIdent}, {&e.BasePath, maxIdent}, {&e.Caller, maxIdent}, {&e.ClientID, maxIdent},
		{&e.ID, maxIdent}, {&e.ExternalID, maxIdent}, {&e.Name, maxIdent},
		{&e.Op, maxWord}, {&e.Method, maxWord}, {&e.Auth, maxWord}, {&e.ScimType, maxWord}, {&e.Tenant, maxWord},
		{&e.RemoteIP, maxAddr},
	}
	var size [len(fields)]int
	total := 0
	for i, f := range fields {
		*f.s = Clip(*f.s, f.max)
		size[i] = jsonLen(*f.s)
		total += size[i]
	}
	for budget := MaxEventBytes - eventOverhead; total > budget; {
		longest := 0
		for i := range size {
			if size[i] > size[longest] {
				longest = i
			}
		}
		keep := max(size[longest]-(total-budget), minKept)
		if keep >= size[longest] {
			break // cannot happen: the floors sum to less than the budget
		}
		f := fields[longest]
		*f.s = Clip(*f.s, keep)
		total += jsonLen(*f.s) - size[longest]
		size[longest] = jsonLen(*f.s)
	}
	if e.Status < 0 || e.Status > 999 { // net/http never sends those; the bound counts 3 digits
		e.Status = 0
	}
	return e
}

// Clip returns s as valid UTF-8 whose JSON string content takes at most max bytes,
// cut at a character and ended with "…" when it was longer.
func Clip(s string, max int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	n, cut := 0, -1
	for i, r := range s {
		c := runeJSONLen(r)
		if cut < 0 && n+c > max-len(ellipsis) {
			cut = i
		}
		if n += c; n > max {
			return s[:cut] + ellipsis
		}
	}
	return s
}

// jsonLen is what s's content takes in JSON, at most (s valid UTF-8).
func jsonLen(s string) int {
	n := 0
	for _, r := range s {
		n += runeJSONLen(r)
	}
	return n
}

// runeJSONLen is what encoding/json writes for r, at most: it escapes quotes and
// backslashes, control characters, and (HTML-safe) <, >, &, U+2028 and U+2029.
func runeJSONLen(r rune) int {
	switch {
	case r == '"' || r == '\\':
		return 2
	case r < 0x20 || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029':
		return 6
	default:
		return utf8.RuneLen(r)
	}
}
