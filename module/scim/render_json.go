package scim

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendUserJSON appends the JSON of u as the handler answers it when no attributes
// or excludedAttributes are asked: the bytes of
// json.Marshal(Project(UserToResource(u, opt), UserResourceType, nil, nil)), without
// building the map (most of the allocations of a GET /Users/{id}, see bench_test.go).
// Keys are written in the sorted order json.Marshal gives a map.
func AppendUserJSON(dst []byte, u *User, opt RenderOptions) []byte {
	dst = append(dst, `{"active":`...)
	dst = strconv.AppendBool(dst, u.Active)
	if len(u.Addresses) > 0 {
		dst = appendKey(dst, "addresses")
		for i, a := range u.Addresses {
			dst = appendElem(dst, i)
			dst = appendStr(dst, "country", a.Country)
			dst = appendStr(dst, "formatted", a.Formatted)
			dst = appendStr(dst, "locality", a.Locality)
			dst = appendStr(dst, "postalCode", a.PostalCode)
			dst = appendPrimary(dst, a.Primary)
			dst = appendStr(dst, "region", a.Region)
			dst = appendStr(dst, "streetAddress", a.StreetAddress)
			dst = appendStr(dst, "type", a.Type)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	dst = appendStr(dst, "displayName", u.DisplayName)
	dst = appendMultiValues(dst, "emails", u.Emails)
	dst = appendMultiValues(dst, "entitlements", u.Entitlements)
	dst = appendStr(dst, "externalId", u.ExternalID)
	if len(u.Groups) > 0 {
		dst = appendKey(dst, "groups")
		for i, g := range u.Groups {
			dst = appendElem(dst, i)
			dst = appendStr(dst, "$ref", g.Ref)
			dst = appendStr(dst, "display", g.Display)
			dst = appendStr(dst, "type", g.Type)
			dst = appendStr(dst, "value", g.Value)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	dst = appendStr(dst, "id", u.ID)
	dst = appendMultiValues(dst, "ims", u.IMs)
	dst = appendStr(dst, "locale", u.Locale)
	dst = appendUserMeta(dst, u, opt)
	if n := u.Name; n != nil && *n != (Name{}) {
		dst = appendKey(dst, "name")
		dst = append(dst, '{')
		dst = appendStr(dst, "familyName", n.FamilyName)
		dst = appendStr(dst, "formatted", n.Formatted)
		dst = appendStr(dst, "givenName", n.GivenName)
		dst = appendStr(dst, "honorificPrefix", n.HonorificPrefix)
		dst = appendStr(dst, "honorificSuffix", n.HonorificSuffix)
		dst = appendStr(dst, "middleName", n.MiddleName)
		dst = append(dst, '}')
	}
	dst = appendStr(dst, "nickName", u.NickName)
	dst = appendMultiValues(dst, "phoneNumbers", u.PhoneNumbers)
	dst = appendMultiValues(dst, "photos", u.Photos)
	dst = appendStr(dst, "preferredLanguage", u.PreferredLanguage)
	dst = appendStr(dst, "profileUrl", u.ProfileURL)
	dst = appendMultiValues(dst, "roles", u.Roles)
	x := u.Enterprise
	withExt := x != nil && *x != (EnterpriseUser{}) // as UserToResource: only a non-empty extension
	dst = append(dst, `,"schemas":["`+SchemaUser...)
	if withExt {
		dst = append(dst, `","`+SchemaEnterpriseUser...)
	}
	dst = append(dst, `"]`...)
	dst = appendStr(dst, "timezone", u.Timezone)
	dst = appendStr(dst, "title", u.Title)
	if withExt {
		dst = appendKey(dst, SchemaEnterpriseUser)
		dst = append(dst, '{')
		dst = appendStr(dst, "costCenter", x.CostCenter)
		dst = appendStr(dst, "department", x.Department)
		dst = appendStr(dst, "division", x.Division)
		dst = appendStr(dst, "employeeNumber", x.EmployeeNumber)
		if m := x.Manager; m != nil {
			dst = appendKey(dst, "manager")
			dst = append(dst, '{')
			dst = appendStr(dst, "$ref", m.Ref)
			dst = appendStr(dst, "displayName", m.DisplayName)
			dst = appendStr(dst, "value", m.Value)
			dst = append(dst, '}')
		}
		dst = appendStr(dst, "organization", x.Organization)
		dst = append(dst, '}')
	}
	dst = appendStr(dst, "userName", u.UserName)
	dst = appendStr(dst, "userType", u.UserType)
	dst = appendMultiValues(dst, "x509Certificates", u.X509Certificates)
	return append(dst, '}')
}

// UserLocation is meta.location of the user with the given id.
func (opt RenderOptions) UserLocation(id string) string {
	return opt.BaseURL + "/Users/" + id
}

// appendUserMeta writes meta as metaMap builds it.
func appendUserMeta(dst []byte, u *User, opt RenderOptions) []byte {
	m := u.Meta
	dst = append(dst, `,"meta":{`...)
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

func appendMultiValues(dst []byte, key string, vs []MultiValue) []byte {
	if len(vs) == 0 {
		return dst
	}
	dst = appendKey(dst, key)
	for i, v := range vs {
		dst = appendElem(dst, i)
		dst = appendStr(dst, "display", v.Display)
		dst = appendPrimary(dst, v.Primary)
		dst = appendStr(dst, "type", v.Type)
		dst = appendStr(dst, "value", v.Value)
		dst = append(dst, '}')
	}
	return append(dst, ']')
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

// appendElem opens the i-th object of an array whose key was just written.
func appendElem(dst []byte, i int) []byte {
	if i == 0 {
		return append(dst, '[', '{')
	}
	return append(dst, ',', '{')
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

func appendPrimary(dst []byte, primary bool) []byte {
	if !primary {
		return dst
	}
	return append(appendKey(dst, "primary"), "true"...)
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
