package scim

import "strings"

// Features describes what this build and its adapter offer; discovery documents are
// derived from it so that they never advertise more than the server does.
type Features struct {
	BaseURL        string
	MaxResults     int  // filter.maxResults and the page-size cap
	Groups         bool // /Groups served by the adapter
	Sort           bool
	ETag           bool
	JWT            bool // JWT bearer tokens accepted besides static ones
	UserAttributes []string
	// GroupAttributes likewise; empty with Groups means all.
	GroupAttributes  []string
	DocumentationURI string
	// BulkMaxOperations and BulkMaxPayload are the /Bulk limits; 0 operations:
	// no /Bulk.
	BulkMaxOperations int
	BulkMaxPayload    int64
}

// ServiceProviderConfig renders /ServiceProviderConfig (RFC 7643 §5).
func ServiceProviderConfig(f Features) Resource {
	auth := []any{map[string]any{
		"type":        "oauthbearertoken",
		"name":        "OAuth Bearer Token",
		"description": "Authentication scheme using the OAuth Bearer Token Standard (RFC 6750): a static token configured in Caddy" + map[bool]string{true: ", or a signed JWT", false: ""}[f.JWT] + ".",
		"specUri":     "https://www.rfc-editor.org/info/rfc6750",
		"primary":     true,
	}}
	spc := Resource{
		"schemas":               []any{SchemaSPC},
		"patch":                 map[string]any{"supported": true},
		"bulk":                  map[string]any{"supported": f.BulkMaxOperations > 0, "maxOperations": f.BulkMaxOperations, "maxPayloadSize": f.BulkMaxPayload},
		"filter":                map[string]any{"supported": true, "maxResults": f.MaxResults},
		"changePassword":        map[string]any{"supported": false},
		"sort":                  map[string]any{"supported": f.Sort},
		"etag":                  map[string]any{"supported": f.ETag},
		"authenticationSchemes": auth,
		"meta": map[string]any{
			"resourceType": "ServiceProviderConfig",
			"location":     f.BaseURL + "/ServiceProviderConfig",
		},
	}
	if f.DocumentationURI != "" {
		spc["documentationUri"] = f.DocumentationURI
	}
	return spc
}

// ResourceTypes renders the /ResourceTypes entries this server serves.
func ResourceTypes(f Features) []Resource {
	user := Resource{
		"schemas":     []any{SchemaResourceType},
		"id":          "User",
		"name":        "User",
		"endpoint":    "/Users",
		"description": "User Account",
		"schema":      SchemaUser,
		"meta":        map[string]any{"resourceType": "ResourceType", "location": f.BaseURL + "/ResourceTypes/User"},
	}
	if len(filterSchema(EnterpriseUserSchema, f.UserAttributes).Attributes) > 0 {
		user["schemaExtensions"] = []any{map[string]any{"schema": SchemaEnterpriseUser, "required": false}}
	}
	out := []Resource{user}
	if f.Groups {
		out = append(out, Resource{
			"schemas":     []any{SchemaResourceType},
			"id":          "Group",
			"name":        "Group",
			"endpoint":    "/Groups",
			"description": "Group",
			"schema":      SchemaGroup,
			"meta":        map[string]any{"resourceType": "ResourceType", "location": f.BaseURL + "/ResourceTypes/Group"},
		})
	}
	return out
}

// Schemas renders the /Schemas entries, each reduced to the attributes the adapter
// persists (plus the ones every resource has).
func Schemas(f Features) []Resource {
	var out []Resource
	add := func(s *Schema) {
		out = append(out, Resource{
			"schemas":     []any{SchemaSchema},
			"id":          s.ID,
			"name":        s.Name,
			"description": s.Description,
			"attributes":  s.Attributes,
			"meta":        map[string]any{"resourceType": "Schema", "location": f.BaseURL + "/Schemas/" + s.ID},
		})
	}
	add(filterSchema(UserSchema, f.UserAttributes))
	if ent := filterSchema(EnterpriseUserSchema, f.UserAttributes); len(ent.Attributes) > 0 {
		add(ent)
	}
	if f.Groups {
		add(filterSchema(GroupSchema, f.GroupAttributes))
	}
	return out
}

// filterSchema keeps the attributes named in paths ("name.givenName" keeps name with
// that sub-attribute; "emails" keeps all of it; URN-qualified names select extension
// attributes). nil paths keep everything.
func filterSchema(s *Schema, paths []string) *Schema {
	if paths == nil {
		return s
	}
	out := &Schema{ID: s.ID, Name: s.Name, Description: s.Description}
	for _, a := range s.Attributes {
		var subs []*Attribute
		whole := false
		for _, p := range paths {
			if strings.HasPrefix(strings.ToLower(p), "urn:") {
				i := strings.LastIndexByte(p, ':')
				if !strings.EqualFold(p[:i], s.ID) {
					continue
				}
				p = p[i+1:]
			} else if s.ID != SchemaUser && s.ID != SchemaGroup {
				continue // unqualified names belong to core schemas
			}
			name, sub, hasSub := strings.Cut(p, ".")
			if !strings.EqualFold(name, a.Name) {
				continue
			}
			if !hasSub {
				whole = true
			} else if sa := a.Sub(sub); sa != nil {
				subs = append(subs, sa)
			}
		}
		switch {
		case whole:
			out.Attributes = append(out.Attributes, a)
		case len(subs) > 0:
			c := *a
			c.SubAttributes = subs
			out.Attributes = append(out.Attributes, &c)
		}
	}
	return out
}
