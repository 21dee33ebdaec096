package scim

// The User resource, described once (see objectCodec): UserToResource,
// UserFromResource and AppendUserJSON follow from this table. A new attribute is a
// field of User (or of one of its sub-objects) and its line here.

var userCodec = newObjectCodec(
	strField("id", func(u *User) *string { return &u.ID }),
	strField("externalId", func(u *User) *string { return &u.ExternalID }),
	strField("userName", func(u *User) *string { return &u.UserName }),
	objectField("name", func(u *User) **Name { return &u.Name }, nameCodec).dropEmpty(),
	strField("displayName", func(u *User) *string { return &u.DisplayName }),
	strField("nickName", func(u *User) *string { return &u.NickName }),
	strField("profileUrl", func(u *User) *string { return &u.ProfileURL }),
	strField("title", func(u *User) *string { return &u.Title }),
	strField("userType", func(u *User) *string { return &u.UserType }),
	strField("preferredLanguage", func(u *User) *string { return &u.PreferredLanguage }),
	strField("locale", func(u *User) *string { return &u.Locale }),
	strField("timezone", func(u *User) *string { return &u.Timezone }),
	boolField("active", func(u *User) *bool { return &u.Active }).keepFalse(),
	listField("emails", func(u *User) *[]MultiValue { return &u.Emails }, multiValueCodec),
	listField("phoneNumbers", func(u *User) *[]MultiValue { return &u.PhoneNumbers }, multiValueCodec),
	listField("ims", func(u *User) *[]MultiValue { return &u.IMs }, multiValueCodec),
	listField("photos", func(u *User) *[]MultiValue { return &u.Photos }, multiValueCodec),
	listField("addresses", func(u *User) *[]Address { return &u.Addresses }, addressCodec),
	listField("groups", func(u *User) *[]GroupRef { return &u.Groups }, groupRefCodec),
	listField("entitlements", func(u *User) *[]MultiValue { return &u.Entitlements }, multiValueCodec),
	listField("roles", func(u *User) *[]MultiValue { return &u.Roles }, multiValueCodec),
	listField("x509Certificates", func(u *User) *[]MultiValue { return &u.X509Certificates }, multiValueCodec),
	objectField(SchemaEnterpriseUser, func(u *User) **EnterpriseUser { return &u.Enterprise }, enterpriseCodec).dropEmpty(),
)

var nameCodec = newObjectCodec(
	strField("formatted", func(n *Name) *string { return &n.Formatted }),
	strField("familyName", func(n *Name) *string { return &n.FamilyName }),
	strField("givenName", func(n *Name) *string { return &n.GivenName }),
	strField("middleName", func(n *Name) *string { return &n.MiddleName }),
	strField("honorificPrefix", func(n *Name) *string { return &n.HonorificPrefix }),
	strField("honorificSuffix", func(n *Name) *string { return &n.HonorificSuffix }),
)

var multiValueCodec = newObjectCodec(
	strField("value", func(v *MultiValue) *string { return &v.Value }),
	strField("display", func(v *MultiValue) *string { return &v.Display }),
	strField("type", func(v *MultiValue) *string { return &v.Type }),
	boolField("primary", func(v *MultiValue) *bool { return &v.Primary }),
)

var addressCodec = newObjectCodec(
	strField("formatted", func(a *Address) *string { return &a.Formatted }),
	strField("streetAddress", func(a *Address) *string { return &a.StreetAddress }),
	strField("locality", func(a *Address) *string { return &a.Locality }),
	strField("region", func(a *Address) *string { return &a.Region }),
	strField("postalCode", func(a *Address) *string { return &a.PostalCode }),
	strField("country", func(a *Address) *string { return &a.Country }),
	strField("type", func(a *Address) *string { return &a.Type }),
	boolField("primary", func(a *Address) *bool { return &a.Primary }),
)

var groupRefCodec = newObjectCodec(
	strField("value", func(g *GroupRef) *string { return &g.Value }),
	strField("$ref", func(g *GroupRef) *string { return &g.Ref }),
	strField("display", func(g *GroupRef) *string { return &g.Display }),
	strField("type", func(g *GroupRef) *string { return &g.Type }),
)

var enterpriseCodec = newObjectCodec(
	strField("employeeNumber", func(x *EnterpriseUser) *string { return &x.EmployeeNumber }),
	strField("costCenter", func(x *EnterpriseUser) *string { return &x.CostCenter }),
	strField("organization", func(x *EnterpriseUser) *string { return &x.Organization }),
	strField("division", func(x *EnterpriseUser) *string { return &x.Division }),
	strField("department", func(x *EnterpriseUser) *string { return &x.Department }),
	objectField("manager", func(x *EnterpriseUser) **Manager { return &x.Manager }, managerCodec),
)

var managerCodec = newObjectCodec(
	strField("value", func(m *Manager) *string { return &m.Value }),
	strField("$ref", func(m *Manager) *string { return &m.Ref }),
	strField("displayName", func(m *Manager) *string { return &m.DisplayName }),
)

// UserToResource renders a User as a Resource with schemas and meta. An empty name
// or Enterprise extension is left out, and the extension's schema is listed only
// with the extension.
func UserToResource(u *User, opt RenderOptions) Resource {
	r := userCodec.toMap(u, 8) // the map holds about 10 members for a typical user
	schemas := []any{SchemaUser}
	if _, ok := r[SchemaEnterpriseUser]; ok {
		schemas = append(schemas, SchemaEnterpriseUser)
	}
	r["schemas"] = schemas
	r["meta"] = metaMap("User", opt.UserLocation(u.ID), u.Meta)
	return r
}

// UserFromResource converts a decoded or patched Resource into a User, as decoding
// its JSON into User would: attribute names are matched exactly, else
// case-insensitively; null leaves a value unset; a value of the wrong type is a 400
// invalidValue naming the attribute. The password is taken from r["password"].
func UserFromResource(r Resource) (*User, error) {
	u, err := userCodec.decodeNew(r)
	if err != nil {
		return nil, err.scimError()
	}
	if pw, ok := r["password"].(string); ok {
		u.Password = pw
	}
	return u, nil
}
