package scim

// Builders keep the schema tables below readable.
func str(name, desc string) *Attribute {
	return &Attribute{Name: name, Type: TypeString, Mutability: ReadWrite, Returned: ReturnedDefault, Uniqueness: "none", Description: desc}
}

func boolean(name, desc string) *Attribute {
	return &Attribute{Name: name, Type: TypeBoolean, Mutability: ReadWrite, Returned: ReturnedDefault, Uniqueness: "none", Description: desc}
}

func ref(name, desc string, types ...string) *Attribute {
	return &Attribute{Name: name, Type: TypeReference, ReferenceTypes: types, Mutability: ReadWrite, Returned: ReturnedDefault, Uniqueness: "none", Description: desc}
}

func complexAttr(name, desc string, multi bool, subs ...*Attribute) *Attribute {
	return &Attribute{Name: name, Type: TypeComplex, MultiValued: multi, SubAttributes: subs, Mutability: ReadWrite, Returned: ReturnedDefault, Uniqueness: "none", Description: desc}
}

func (a *Attribute) canonical(values ...string) *Attribute { a.CanonicalValues = values; return a }
func (a *Attribute) readOnly() *Attribute                  { a.Mutability = ReadOnly; return a }
func (a *Attribute) immutable() *Attribute                 { a.Mutability = Immutable; return a }
func (a *Attribute) required() *Attribute                  { a.Required = true; return a }
func (a *Attribute) exact() *Attribute                     { a.CaseExact = true; return a }

// onRequest: returned only when attributes names it. A user's groups cost an
// upstream read of their own, which no IdP's read of a user needs.
func (a *Attribute) onRequest() *Attribute { a.Returned = ReturnedRequest; return a }

// multiValue is the usual sub-attribute set of a multi-valued attribute (RFC 7643 §2.4).
func multiValue(name, desc string, valueType string, types ...string) *Attribute {
	value := str("value", "The attribute's significant value.")
	value.Type = valueType
	return complexAttr(name, desc, true,
		value,
		str("display", "A human-readable name, primarily used for display purposes."),
		str("type", "A label indicating the attribute's function.").canonical(types...),
		boolean("primary", "A Boolean value indicating the 'primary' or preferred attribute value for this attribute."),
	)
}

// UserSchema is the core User schema, every attribute of RFC 7643 §4.1 and §8.7.1.
var UserSchema = &Schema{
	ID:          SchemaUser,
	Name:        "User",
	Description: "User Account",
	Attributes: []*Attribute{
		func() *Attribute {
			a := str("userName", "Unique identifier for the User, typically used by the user to directly authenticate to the service provider.").required()
			a.Uniqueness = "server"
			return a
		}(),
		complexAttr("name", "The components of the user's real name.", false,
			str("formatted", "The full name, including all middle names, titles, and suffixes as appropriate, formatted for display."),
			str("familyName", "The family name of the User."),
			str("givenName", "The given name of the User."),
			str("middleName", "The middle name(s) of the User."),
			str("honorificPrefix", "The honorific prefix(es) of the User."),
			str("honorificSuffix", "The honorific suffix(es) of the User."),
		),
		str("displayName", "The name of the User, suitable for display to end-users."),
		str("nickName", "The casual way to address the user in real life."),
		ref("profileUrl", "A fully qualified URL pointing to a page representing the User's online profile.", "external"),
		str("title", "The user's title, such as \"Vice President\"."),
		str("userType", "Used to identify the relationship between the organization and the user."),
		str("preferredLanguage", "Indicates the User's preferred written or spoken language."),
		str("locale", "Used to indicate the User's default location for purposes of localizing items such as currency, date time format, or numerical representations."),
		str("timezone", "The User's time zone in the 'Olson' time zone database format."),
		boolean("active", "A Boolean value indicating the User's administrative status."),
		func() *Attribute {
			a := str("password", "The User's cleartext password. Write-only: never returned.")
			a.Mutability = WriteOnly
			a.Returned = ReturnedNever
			return a
		}(),
		multiValue("emails", "Email addresses for the user.", TypeString, "work", "home", "other"),
		multiValue("phoneNumbers", "Phone numbers for the User.", TypeString, "work", "home", "mobile", "fax", "pager", "other"),
		multiValue("ims", "Instant messaging addresses for the User.", TypeString, "aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"),
		multiValue("photos", "URLs of photos of the User.", TypeReference, "photo", "thumbnail"),
		complexAttr("addresses", "A physical mailing address for this User.", true,
			str("formatted", "The full mailing address, formatted for display or use with a mailing label."),
			str("streetAddress", "The full street address component."),
			str("locality", "The city or locality component."),
			str("region", "The state or region component."),
			str("postalCode", "The zip code or postal code component."),
			str("country", "The country name component."),
			str("type", "A label indicating the attribute's function.").canonical("work", "home", "other"),
			boolean("primary", "A Boolean value indicating the 'primary' or preferred attribute value for this attribute."),
		),
		complexAttr("groups", "A list of groups to which the user belongs, either through direct membership, through nested groups, or dynamically calculated.", true,
			str("value", "The identifier of the User's group.").readOnly(),
			ref("$ref", "The URI of the corresponding 'Group' resource to which the user belongs.", "User", "Group").readOnly(),
			str("display", "A human-readable name, primarily used for display purposes.").readOnly(),
			str("type", "A label indicating the attribute's function, e.g., 'direct' or 'indirect'.").canonical("direct", "indirect").readOnly(),
		).readOnly().onRequest(),
		multiValue("entitlements", "A list of entitlements for the User that represent a thing the User has.", TypeString),
		multiValue("roles", "A list of roles for the User that collectively represent who the User is.", TypeString),
		multiValue("x509Certificates", "A list of certificates issued to the User.", TypeBinary),
	},
}

// EnterpriseUserSchema is the Enterprise User extension (RFC 7643 §4.3).
var EnterpriseUserSchema = &Schema{
	ID:          SchemaEnterpriseUser,
	Name:        "EnterpriseUser",
	Description: "Enterprise User",
	Attributes: []*Attribute{
		str("employeeNumber", "Numeric or alphanumeric identifier assigned to a person."),
		str("costCenter", "Identifies the name of a cost center."),
		str("organization", "Identifies the name of an organization."),
		str("division", "Identifies the name of a division."),
		str("department", "Identifies the name of a department."),
		complexAttr("manager", "The User's manager.", false,
			str("value", "The id of the SCIM resource representing the User's manager."),
			ref("$ref", "The URI of the SCIM resource representing the User's manager.", "User"),
			str("displayName", "The displayName of the User's manager.").readOnly(),
		),
	},
}

// GroupSchema is the core Group schema (RFC 7643 §4.2).
var GroupSchema = &Schema{
	ID:          SchemaGroup,
	Name:        "Group",
	Description: "Group",
	Attributes: []*Attribute{
		str("displayName", "A human-readable name for the Group.").required(),
		complexAttr("members", "A list of members of the Group.", true,
			str("value", "Identifier of the member of this Group.").immutable(),
			ref("$ref", "The URI corresponding to a SCIM resource that is a member of this Group.", "User", "Group").immutable(),
			str("display", "A human-readable name for the member.").readOnly(),
			str("type", "A label indicating the type of resource, e.g., 'User' or 'Group'.").canonical("User", "Group").immutable(),
		),
	},
}

// UserResourceType and GroupResourceType are the built-in resource types.
var (
	UserResourceType = &ResourceType{ID: "User", Name: "User", Endpoint: "/Users",
		Core: UserSchema, Extensions: []*Schema{EnterpriseUserSchema}}
	GroupResourceType = &ResourceType{ID: "Group", Name: "Group", Endpoint: "/Groups",
		Core: GroupSchema}
)
