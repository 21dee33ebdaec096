package scim

import "github.com/caddy-scim/caddy-scim/adapters"

// The normalized user and group are the adapter contract's (package adapters): the
// adapters map them onto their applications, the protocol core decodes and renders
// them. These names keep the core's code in its own words.
type (
	User           = adapters.User
	Name           = adapters.Name
	MultiValue     = adapters.MultiValue
	Address        = adapters.Address
	GroupRef       = adapters.GroupRef
	EnterpriseUser = adapters.EnterpriseUser
	Manager        = adapters.Manager
	Group          = adapters.Group
	Member         = adapters.Member
	Meta           = adapters.Meta
)
