package adapters

import "time"

// User is the normalized user model that adapters map onto their upstream (the
// protocol core, module/scim, decodes and renders it). It holds
// every attribute of the core User schema and the Enterprise extension; an adapter
// persists the ones it can (see adapters.Info.UserAttributes) and ignores the rest.
type User struct {
	ID                string          `json:"id,omitempty"`
	ExternalID        string          `json:"externalId,omitempty"`
	UserName          string          `json:"userName,omitempty"`
	Name              *Name           `json:"name,omitempty"`
	DisplayName       string          `json:"displayName,omitempty"`
	NickName          string          `json:"nickName,omitempty"`
	ProfileURL        string          `json:"profileUrl,omitempty"`
	Title             string          `json:"title,omitempty"`
	UserType          string          `json:"userType,omitempty"`
	PreferredLanguage string          `json:"preferredLanguage,omitempty"`
	Locale            string          `json:"locale,omitempty"`
	Timezone          string          `json:"timezone,omitempty"`
	Active            bool            `json:"active"`
	Emails            []MultiValue    `json:"emails,omitempty"`
	PhoneNumbers      []MultiValue    `json:"phoneNumbers,omitempty"`
	IMs               []MultiValue    `json:"ims,omitempty"`
	Photos            []MultiValue    `json:"photos,omitempty"`
	Addresses         []Address       `json:"addresses,omitempty"`
	Groups            []GroupRef      `json:"groups,omitempty"`
	Entitlements      []MultiValue    `json:"entitlements,omitempty"`
	Roles             []MultiValue    `json:"roles,omitempty"`
	X509Certificates  []MultiValue    `json:"x509Certificates,omitempty"`
	Enterprise        *EnterpriseUser `json:"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User,omitempty"`

	// Password is write-only: it is never rendered and must never be logged.
	Password string `json:"-"`
	// Meta is filled by the adapter where the upstream knows it.
	Meta Meta `json:"-"`
}

// Name is the complex name attribute.
type Name struct {
	Formatted       string `json:"formatted,omitempty"`
	FamilyName      string `json:"familyName,omitempty"`
	GivenName       string `json:"givenName,omitempty"`
	MiddleName      string `json:"middleName,omitempty"`
	HonorificPrefix string `json:"honorificPrefix,omitempty"`
	HonorificSuffix string `json:"honorificSuffix,omitempty"`
}

// MultiValue is one value of emails, phoneNumbers, ims, photos, entitlements, roles
// or x509Certificates.
type MultiValue struct {
	Value   string `json:"value,omitempty"`
	Display string `json:"display,omitempty"`
	Type    string `json:"type,omitempty"`
	Primary bool   `json:"primary,omitempty"`
}

// Address is one value of addresses.
type Address struct {
	Formatted     string `json:"formatted,omitempty"`
	StreetAddress string `json:"streetAddress,omitempty"`
	Locality      string `json:"locality,omitempty"`
	Region        string `json:"region,omitempty"`
	PostalCode    string `json:"postalCode,omitempty"`
	Country       string `json:"country,omitempty"`
	Type          string `json:"type,omitempty"`
	Primary       bool   `json:"primary,omitempty"`
}

// GroupRef is one value of the read-only groups attribute of a User.
type GroupRef struct {
	Value   string `json:"value,omitempty"`
	Ref     string `json:"$ref,omitempty"`
	Display string `json:"display,omitempty"`
	Type    string `json:"type,omitempty"`
}

// EnterpriseUser is the Enterprise User extension.
type EnterpriseUser struct {
	EmployeeNumber string   `json:"employeeNumber,omitempty"`
	CostCenter     string   `json:"costCenter,omitempty"`
	Organization   string   `json:"organization,omitempty"`
	Division       string   `json:"division,omitempty"`
	Department     string   `json:"department,omitempty"`
	Manager        *Manager `json:"manager,omitempty"`
}

// Manager is the manager attribute of the Enterprise User extension.
type Manager struct {
	Value       string `json:"value,omitempty"`
	Ref         string `json:"$ref,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
}

// Group is the normalized group model.
type Group struct {
	ID          string   `json:"id,omitempty"`
	ExternalID  string   `json:"externalId,omitempty"`
	DisplayName string   `json:"displayName,omitempty"`
	Members     []Member `json:"members,omitempty"`
	Meta        Meta     `json:"-"`
}

// Member is one value of a Group's members.
type Member struct {
	Value   string `json:"value,omitempty"`
	Ref     string `json:"$ref,omitempty"`
	Display string `json:"display,omitempty"`
	Type    string `json:"type,omitempty"`
}

// Meta carries what the upstream knows of a resource's history.
type Meta struct {
	Created      time.Time
	LastModified time.Time
	// Version is an opaque upstream-derived value; the ETag is computed from it and
	// the resource body.
	Version string
}

// PrimaryEmail returns the primary email, else the first work email, else the first.
func (u *User) PrimaryEmail() string {
	for _, e := range u.Emails {
		if e.Primary && e.Value != "" {
			return e.Value
		}
	}
	for _, e := range u.Emails {
		if e.Type == "work" && e.Value != "" {
			return e.Value
		}
	}
	for _, e := range u.Emails {
		if e.Value != "" {
			return e.Value
		}
	}
	return ""
}

// FullName returns name.formatted, else "givenName familyName", else displayName.
func (u *User) FullName() string {
	if u.Name != nil {
		if u.Name.Formatted != "" {
			return u.Name.Formatted
		}
		n := u.Name.GivenName
		if u.Name.FamilyName != "" {
			if n != "" {
				n += " "
			}
			n += u.Name.FamilyName
		}
		if n != "" {
			return n
		}
	}
	return u.DisplayName
}
