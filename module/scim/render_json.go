package scim

import (
	"time"
	"unicode/utf8"
)

// AppendUserJSON appends the JSON of u as the handler answers it when no attributes
// or excludedAttributes are asked: the bytes of
// json.Marshal(Project(UserToResource(u, opt), UserResourceType, nil, nil)), without
// building the map (most of the allocations of a GET /Users/{id}, see bench_test.go).
// Keys are written in the sorted order json.Marshal gives a map, meta and schemas
// among the attributes of userCodec.
func AppendUserJSON(dst []byte, u *User, opt RenderOptions) []byte {
	if u.Groups != nil { // returned on request only: as Project without attributes
		c := *u
		c.Groups = nil
		u = &c
	}
	dst = append(dst, '{')
	dst = userCodec.appendMembers(dst, u, 0, userMetaAt)
	dst = appendUserMeta(dst, u, opt)
	dst = userCodec.appendMembers(dst, u, userMetaAt, userSchemasAt)
	dst = append(appendKey(dst, "schemas"), `["`+SchemaUser...)
	if !userEnterprise.empty(u) { // as UserToResource: only with the extension
		dst = append(dst, `","`+SchemaEnterpriseUser...)
	}
	dst = append(dst, `"]`...)
	dst = userCodec.appendMembers(dst, u, userSchemasAt, len(userCodec.sorted))
	return append(dst, '}')
}

var (
	// where meta and schemas go among the sorted attributes of a User
	userMetaAt     = userCodec.keysBefore("meta")
	userSchemasAt  = userCodec.keysBefore("schemas")
	userEnterprise = userCodec.field(SchemaEnterpriseUser)
)

// UserLocation is meta.location of the user with the given id.
func (opt RenderOptions) UserLocation(id string) string {
	return opt.BaseURL + "/Users/" + id
}

// appendUserMeta writes meta as metaMap builds it.
func appendUserMeta(dst []byte, u *User, opt RenderOptions) []byte {
	m := u.Meta
	dst = append(appendKey(dst, "meta"), '{')
	if !m.Created.IsZero() {
		lm := m.LastModified
		if lm.IsZero() {
			lm = m.Created // RFC 7643 §3.1: equals created until modified
		}
		dst = append(dst, `"created":"`...)
		dst = m.Created.UTC().AppendFormat(dst, time.RFC3339)
		dst = append(dst, `","lastModified":"`...)
		dst = lm.UTC().AppendFormat(dst, time.RFC3339)
		dst = append(dst, `",`...)
	}
	// BaseURL and the id are escaped apart: the ASCII between them keeps any
	// invalid UTF-8 at their edges invalid, as in the concatenation.
	dst = append(dst, `"location":"`...)
	dst = appendEscaped(dst, opt.BaseURL)
	dst = append(dst, "/Users/"...)
	dst = appendEscaped(dst, u.ID)
	dst = append(dst, `","resourceType":"User"`...)
	if m.Version != "" {
		dst = append(dst, `,"version":"W/\"`...) // ETag(m.Version)
		dst = appendEscaped(dst, m.Version)
		dst = append(dst, `\""`...)
	}
	return append(dst, '}')
}

// appendKey writes "key": with the comma it needs: none right after an opening
// brace or bracket. Keys are constants that need no escaping.
func appendKey(dst []byte, key string) []byte {
	if c := dst[len(dst)-1]; c != '{' && c != '[' {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

// appendStr writes an omitempty string attribute.
func appendStr(dst []byte, key, v string) []byte {
	if v == "" {
		return dst
	}
	dst = appendKey(dst, key)
	dst = append(dst, '"')
	dst = appendEscaped(dst, v)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// appendEscaped writes s as the inside of a JSON string, escaping as encoding/json
// does (HTML characters and U+2028/U+2029 included). Invalid UTF-8 becomes U+FFFD
// written out, which is what the map path answers: its JSON round trip decodes
// encoding/json's \ufffd into the character.
func appendEscaped(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = utf8.AppendRune(dst, utf8.RuneError)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(dst, s[start:]...)
}
