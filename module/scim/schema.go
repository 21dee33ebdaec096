package scim

import "strings"

// Attribute types (RFC 7643 §2.3).
const (
	TypeString    = "string"
	TypeBoolean   = "boolean"
	TypeDecimal   = "decimal"
	TypeInteger   = "integer"
	TypeDateTime  = "dateTime"
	TypeBinary    = "binary"
	TypeReference = "reference"
	TypeComplex   = "complex"
)

// Mutability and returned values (RFC 7643 §2.2).
const (
	ReadOnly  = "readOnly"
	ReadWrite = "readWrite"
	Immutable = "immutable"
	WriteOnly = "writeOnly"

	ReturnedAlways  = "always"
	ReturnedNever   = "never"
	ReturnedDefault = "default"
	ReturnedRequest = "request"
)

// Attribute describes one attribute of a schema (RFC 7643 §7).
type Attribute struct {
	Name            string       `json:"name"`
	Type            string       `json:"type"`
	SubAttributes   []*Attribute `json:"subAttributes,omitempty"`
	MultiValued     bool         `json:"multiValued"`
	Description     string       `json:"description,omitempty"`
	Required        bool         `json:"required"`
	CanonicalValues []string     `json:"canonicalValues,omitempty"`
	CaseExact       bool         `json:"caseExact"`
	Mutability      string       `json:"mutability"`
	Returned        string       `json:"returned"`
	Uniqueness      string       `json:"uniqueness"`
	ReferenceTypes  []string     `json:"referenceTypes,omitempty"`
}

// Sub returns the sub-attribute with the given name, case-insensitively.
func (a *Attribute) Sub(name string) *Attribute {
	if a == nil {
		return nil
	}
	return attrNamed(a.SubAttributes, name)
}

func attrNamed(attrs []*Attribute, name string) *Attribute {
	for _, a := range attrs {
		if strings.EqualFold(a.Name, name) {
			return a
		}
	}
	return nil
}

// Schema is a SCIM schema: the core schema of a resource type or an extension.
type Schema struct {
	ID          string       `json:"id"`
	Name        string       `json:"name"`
	Description string       `json:"description"`
	Attributes  []*Attribute `json:"attributes"`
}

// Attr returns the top-level attribute with the given name, case-insensitively.
func (s *Schema) Attr(name string) *Attribute {
	if s == nil {
		return nil
	}
	return attrNamed(s.Attributes, name)
}

// ResourceType binds a core schema and its extensions to an endpoint (RFC 7643 §6).
//
// Resources are handled in the core as a Resource: a map keyed by canonical attribute
// names (the spelling of the schema). Core attributes sit at the top level; the
// attributes of an extension sit in a nested map under the extension's URN. Values are
// string, bool, float64 (decimal and integer), map[string]any (complex) and []any
// (multi-valued). dateTime values are RFC 3339 strings.
type ResourceType struct {
	ID         string    // "User"
	Name       string    // "User"
	Endpoint   string    // "/Users"
	Core       *Schema   // core schema
	Extensions []*Schema // extension schemas (all optional)
}

// Resource is a decoded SCIM resource; see ResourceType.
type Resource = map[string]any

// Extension returns the extension schema with the given URN, case-insensitively.
func (rt *ResourceType) Extension(urn string) *Schema {
	for _, e := range rt.Extensions {
		if strings.EqualFold(e.ID, urn) {
			return e
		}
	}
	return nil
}

// Schemas returns the core schema followed by the extensions.
func (rt *ResourceType) Schemas() []*Schema {
	return append([]*Schema{rt.Core}, rt.Extensions...)
}

// common attributes of every resource (RFC 7643 §3.1); not part of any schema's list.
var (
	attrID = &Attribute{Name: "id", Type: TypeString, CaseExact: true,
		Mutability: ReadOnly, Returned: ReturnedAlways, Uniqueness: "server",
		Description: "Unique identifier for the SCIM resource as defined by the service provider."}
	attrExternalID = &Attribute{Name: "externalId", Type: TypeString, CaseExact: true,
		Mutability: ReadWrite, Returned: ReturnedDefault, Uniqueness: "none",
		Description: "Identifier of the resource as defined by the provisioning client."}
	attrMeta = &Attribute{Name: "meta", Type: TypeComplex, Mutability: ReadOnly, Returned: ReturnedDefault,
		Uniqueness: "none", Description: "Resource metadata.",
		SubAttributes: []*Attribute{
			{Name: "resourceType", Type: TypeString, CaseExact: true, Mutability: ReadOnly, Returned: ReturnedDefault, Uniqueness: "none"},
			{Name: "created", Type: TypeDateTime, Mutability: ReadOnly, Returned: ReturnedDefault, Uniqueness: "none"},
			{Name: "lastModified", Type: TypeDateTime, Mutability: ReadOnly, Returned: ReturnedDefault, Uniqueness: "none"},
			{Name: "location", Type: TypeReference, ReferenceTypes: []string{"uri"}, CaseExact: true, Mutability: ReadOnly, Returned: ReturnedDefault, Uniqueness: "none"},
			{Name: "version", Type: TypeString, CaseExact: true, Mutability: ReadOnly, Returned: ReturnedDefault, Uniqueness: "none"},
		}}
	attrSchemas = &Attribute{Name: "schemas", Type: TypeReference, MultiValued: true, CaseExact: true,
		Mutability: ReadOnly, Returned: ReturnedAlways, Uniqueness: "none", ReferenceTypes: []string{"uri"}}
)

// CommonAttr returns id, externalId, meta or schemas by name, case-insensitively.
func CommonAttr(name string) *Attribute {
	for _, a := range []*Attribute{attrID, attrExternalID, attrMeta, attrSchemas} {
		if strings.EqualFold(a.Name, name) {
			return a
		}
	}
	return nil
}

// LookupAttr resolves a top-level attribute name, which may be URN-qualified
// ("urn:…:enterprise:2.0:User:employeeNumber" or "urn:…:core:2.0:User:userName").
// It returns the extension URN ("" for the core schema and common attributes),
// the attribute, and whether it was found.
func (rt *ResourceType) LookupAttr(name string) (urn string, attr *Attribute, ok bool) {
	if strings.HasPrefix(strings.ToLower(name), "urn:") {
		// the longest schema URN that prefixes the name wins
		for _, s := range rt.Schemas() {
			if len(name) > len(s.ID)+1 && strings.EqualFold(name[:len(s.ID)], s.ID) && name[len(s.ID)] == ':' {
				rest := name[len(s.ID)+1:]
				if s == rt.Core {
					if a := CommonAttr(rest); a != nil {
						return "", a, true
					}
					if a := s.Attr(rest); a != nil {
						return "", a, true
					}
					return "", nil, false
				}
				if a := s.Attr(rest); a != nil {
					return s.ID, a, true
				}
				return s.ID, nil, false
			}
		}
		return "", nil, false
	}
	if a := CommonAttr(name); a != nil {
		return "", a, true
	}
	if a := rt.Core.Attr(name); a != nil {
		return "", a, true
	}
	return "", nil, false
}
