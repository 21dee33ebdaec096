package scim

import (
	"strings"
	"unicode/utf8"
)

// Direct User ↔ Resource conversion. toMap and fromMap go through JSON twice, which
// was most of the time and allocations of rendering, decoding and PATCH (see
// bench_test.go). These produce exactly what the JSON round trip produces and report
// ok=false for anything unusual (a type the JSON decoder would reject, a key spelt in
// another case, which it matches case-insensitively, a null array element, invalid
// UTF-8, which it would replace): the caller then takes the JSON path, so errors and
// edge cases stay those of encoding/json.

var (
	userKeys = []string{"id", "externalId", "userName", "name", "displayName", "nickName", "profileUrl", "title",
		"userType", "preferredLanguage", "locale", "timezone", "active", "emails", "phoneNumbers", "ims", "photos",
		"addresses", "groups", "entitlements", "roles", "x509Certificates", SchemaEnterpriseUser}
	nameKeys       = []string{"formatted", "familyName", "givenName", "middleName", "honorificPrefix", "honorificSuffix"}
	multiValueKeys = []string{"value", "display", "type", "primary"}
	addressKeys    = []string{"formatted", "streetAddress", "locality", "region", "postalCode", "country", "type", "primary"}
	groupRefKeys   = []string{"value", "$ref", "display", "type"}
	enterpriseKeys = []string{"employeeNumber", "costCenter", "organization", "division", "department", "manager"}
	managerKeys    = []string{"value", "$ref", "displayName"}
)

// userToMap renders u as json.Marshal then json.Unmarshal into a map would.
func userToMap(u *User) (Resource, bool) {
	ok := true
	str := func(m map[string]any, k, v string) {
		if v == "" {
			return
		}
		if !utf8.ValidString(v) {
			ok = false
		}
		m[k] = v
	}
	mvs := func(m map[string]any, k string, vs []MultiValue) {
		if len(vs) == 0 {
			return
		}
		a := make([]any, len(vs))
		for i, v := range vs {
			e := make(map[string]any, 4)
			str(e, "value", v.Value)
			str(e, "display", v.Display)
			str(e, "type", v.Type)
			if v.Primary {
				e["primary"] = true
			}
			a[i] = e
		}
		m[k] = a
	}
	r := make(Resource, 16)
	str(r, "id", u.ID)
	str(r, "externalId", u.ExternalID)
	str(r, "userName", u.UserName)
	if n := u.Name; n != nil {
		m := make(map[string]any, 4)
		str(m, "formatted", n.Formatted)
		str(m, "familyName", n.FamilyName)
		str(m, "givenName", n.GivenName)
		str(m, "middleName", n.MiddleName)
		str(m, "honorificPrefix", n.HonorificPrefix)
		str(m, "honorificSuffix", n.HonorificSuffix)
		r["name"] = m
	}
	str(r, "displayName", u.DisplayName)
	str(r, "nickName", u.NickName)
	str(r, "profileUrl", u.ProfileURL)
	str(r, "title", u.Title)
	str(r, "userType", u.UserType)
	str(r, "preferredLanguage", u.PreferredLanguage)
	str(r, "locale", u.Locale)
	str(r, "timezone", u.Timezone)
	r["active"] = u.Active
	mvs(r, "emails", u.Emails)
	mvs(r, "phoneNumbers", u.PhoneNumbers)
	mvs(r, "ims", u.IMs)
	mvs(r, "photos", u.Photos)
	if len(u.Addresses) > 0 {
		a := make([]any, len(u.Addresses))
		for i, v := range u.Addresses {
			e := map[string]any{}
			str(e, "formatted", v.Formatted)
			str(e, "streetAddress", v.StreetAddress)
			str(e, "locality", v.Locality)
			str(e, "region", v.Region)
			str(e, "postalCode", v.PostalCode)
			str(e, "country", v.Country)
			str(e, "type", v.Type)
			if v.Primary {
				e["primary"] = true
			}
			a[i] = e
		}
		r["addresses"] = a
	}
	if len(u.Groups) > 0 {
		a := make([]any, len(u.Groups))
		for i, v := range u.Groups {
			e := make(map[string]any, 4)
			str(e, "value", v.Value)
			str(e, "$ref", v.Ref)
			str(e, "display", v.Display)
			str(e, "type", v.Type)
			a[i] = e
		}
		r["groups"] = a
	}
	mvs(r, "entitlements", u.Entitlements)
	mvs(r, "roles", u.Roles)
	mvs(r, "x509Certificates", u.X509Certificates)
	if x := u.Enterprise; x != nil {
		m := make(map[string]any, 4)
		str(m, "employeeNumber", x.EmployeeNumber)
		str(m, "costCenter", x.CostCenter)
		str(m, "organization", x.Organization)
		str(m, "division", x.Division)
		str(m, "department", x.Department)
		if mg := x.Manager; mg != nil {
			mm := make(map[string]any, 3)
			str(mm, "value", mg.Value)
			str(mm, "$ref", mg.Ref)
			str(mm, "displayName", mg.DisplayName)
			m["manager"] = mm
		}
		r[SchemaEnterpriseUser] = m
	}
	return r, ok
}

// fromMapper decodes one JSON object the way encoding/json would, or gives up.
type fromMapper struct{ ok bool }

// foldKnown reports a key that is not spelt as the tag but matches it
// case-insensitively: encoding/json would use it, so the fast path gives up.
func (d *fromMapper) unknown(k string, known []string) {
	for _, t := range known {
		if strings.EqualFold(k, t) {
			d.ok = false
			return
		}
	}
}

func (d *fromMapper) str(dst *string, v any) {
	switch s := v.(type) {
	case nil: // null leaves a string unchanged
	case string:
		if !utf8.ValidString(s) {
			d.ok = false
		}
		*dst = s
	default:
		d.ok = false
	}
}

func (d *fromMapper) boolean(dst *bool, v any) {
	switch b := v.(type) {
	case nil:
	case bool:
		*dst = b
	default:
		d.ok = false
	}
}

// each calls f on every element of a JSON array of objects; null is an empty array.
func (d *fromMapper) each(v any, f func(i int, m map[string]any)) int {
	switch a := v.(type) {
	case nil:
		return 0
	case []any:
		for i, e := range a {
			m, isMap := e.(map[string]any)
			if !isMap {
				d.ok = false // null or not an object: the JSON path decides
				return 0
			}
			f(i, m)
		}
		return len(a)
	default:
		d.ok = false
		return 0
	}
}

func (d *fromMapper) object(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case nil:
		return nil, false
	case map[string]any:
		return m, true
	default:
		d.ok = false
		return nil, false
	}
}

func (d *fromMapper) multiValues(v any) []MultiValue {
	a, _ := v.([]any)
	if len(a) == 0 {
		d.each(v, nil)
		if a == nil {
			return nil
		}
		return []MultiValue{}
	}
	out := make([]MultiValue, len(a))
	d.each(v, func(i int, m map[string]any) {
		for k, x := range m {
			switch k {
			case "value":
				d.str(&out[i].Value, x)
			case "display":
				d.str(&out[i].Display, x)
			case "type":
				d.str(&out[i].Type, x)
			case "primary":
				d.boolean(&out[i].Primary, x)
			default:
				d.unknown(k, multiValueKeys)
			}
		}
	})
	return out
}

// userFromMap fills u from r as json.Marshal then json.Unmarshal into u would, or
// reports ok=false (u is then partly filled and must be discarded).
func userFromMap(r Resource, u *User) bool {
	d := &fromMapper{ok: true}
	for k, v := range r {
		switch k {
		case "id":
			d.str(&u.ID, v)
		case "externalId":
			d.str(&u.ExternalID, v)
		case "userName":
			d.str(&u.UserName, v)
		case "displayName":
			d.str(&u.DisplayName, v)
		case "nickName":
			d.str(&u.NickName, v)
		case "profileUrl":
			d.str(&u.ProfileURL, v)
		case "title":
			d.str(&u.Title, v)
		case "userType":
			d.str(&u.UserType, v)
		case "preferredLanguage":
			d.str(&u.PreferredLanguage, v)
		case "locale":
			d.str(&u.Locale, v)
		case "timezone":
			d.str(&u.Timezone, v)
		case "active":
			d.boolean(&u.Active, v)
		case "name":
			m, ok := d.object(v)
			if !ok {
				u.Name = nil
				continue
			}
			n := &Name{}
			for nk, nv := range m {
				switch nk {
				case "formatted":
					d.str(&n.Formatted, nv)
				case "familyName":
					d.str(&n.FamilyName, nv)
				case "givenName":
					d.str(&n.GivenName, nv)
				case "middleName":
					d.str(&n.MiddleName, nv)
				case "honorificPrefix":
					d.str(&n.HonorificPrefix, nv)
				case "honorificSuffix":
					d.str(&n.HonorificSuffix, nv)
				default:
					d.unknown(nk, nameKeys)
				}
			}
			u.Name = n
		case "emails":
			u.Emails = d.multiValues(v)
		case "phoneNumbers":
			u.PhoneNumbers = d.multiValues(v)
		case "ims":
			u.IMs = d.multiValues(v)
		case "photos":
			u.Photos = d.multiValues(v)
		case "entitlements":
			u.Entitlements = d.multiValues(v)
		case "roles":
			u.Roles = d.multiValues(v)
		case "x509Certificates":
			u.X509Certificates = d.multiValues(v)
		case "addresses":
			a, _ := v.([]any)
			if a == nil {
				d.each(v, nil)
				u.Addresses = nil
				continue
			}
			out := make([]Address, len(a))
			d.each(v, func(i int, m map[string]any) {
				for ak, av := range m {
					switch ak {
					case "formatted":
						d.str(&out[i].Formatted, av)
					case "streetAddress":
						d.str(&out[i].StreetAddress, av)
					case "locality":
						d.str(&out[i].Locality, av)
					case "region":
						d.str(&out[i].Region, av)
					case "postalCode":
						d.str(&out[i].PostalCode, av)
					case "country":
						d.str(&out[i].Country, av)
					case "type":
						d.str(&out[i].Type, av)
					case "primary":
						d.boolean(&out[i].Primary, av)
					default:
						d.unknown(ak, addressKeys)
					}
				}
			})
			u.Addresses = out
		case "groups":
			a, _ := v.([]any)
			if a == nil {
				d.each(v, nil)
				u.Groups = nil
				continue
			}
			out := make([]GroupRef, len(a))
			d.each(v, func(i int, m map[string]any) {
				for gk, gv := range m {
					switch gk {
					case "value":
						d.str(&out[i].Value, gv)
					case "$ref":
						d.str(&out[i].Ref, gv)
					case "display":
						d.str(&out[i].Display, gv)
					case "type":
						d.str(&out[i].Type, gv)
					default:
						d.unknown(gk, groupRefKeys)
					}
				}
			})
			u.Groups = out
		case SchemaEnterpriseUser:
			m, ok := d.object(v)
			if !ok {
				u.Enterprise = nil
				continue
			}
			x := &EnterpriseUser{}
			for ek, ev := range m {
				switch ek {
				case "employeeNumber":
					d.str(&x.EmployeeNumber, ev)
				case "costCenter":
					d.str(&x.CostCenter, ev)
				case "organization":
					d.str(&x.Organization, ev)
				case "division":
					d.str(&x.Division, ev)
				case "department":
					d.str(&x.Department, ev)
				case "manager":
					mm, ok := d.object(ev)
					if !ok {
						x.Manager = nil
						continue
					}
					mg := &Manager{}
					for mk, mv := range mm {
						switch mk {
						case "value":
							d.str(&mg.Value, mv)
						case "$ref":
							d.str(&mg.Ref, mv)
						case "displayName":
							d.str(&mg.DisplayName, mv)
						default:
							d.unknown(mk, managerKeys)
						}
					}
					x.Manager = mg
				default:
					d.unknown(ek, enterpriseKeys)
				}
			}
			u.Enterprise = x
		default:
			d.unknown(k, userKeys)
		}
		if !d.ok {
			return false
		}
	}
	return d.ok
}
