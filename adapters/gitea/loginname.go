package gitea

import (
	"strings"

	"github.com/caddy-scim/caddy-scim/adapters"
)

// The durable provisioning state of a Gitea user lives in its login_name, an admin-only
// field that Gitea's own local (Plain) sign-in ignores and that OAuth2/OIDC sign-in uses
// as the IdP subject. Together with source_id it answers, from Gitea alone, whether a
// user is managed, its externalId, whether it was DELETEd through SCIM, and whether its
// SCIM userName is its e-mail address (Gitea usernames cannot hold "@", so an
// e-mail-shaped userName is stored as a username derived from it plus this flag):
//
//	state                                       login_name
//	not managed                                 ""   (or any value under another source_id)
//	managed, live, externalId X                 X    (verbatim, so OIDC sign-in binds when X is the subject)
//	managed, live, no externalId                "~scim:managed:"
//	managed, live, X starts with "~scim:"       "~scim:managed:" + X  (escaped, so decoding is unambiguous)
//	managed, deprovisioned by SCIM             "~scim:blocked:" + X  (the block is SCIM's: SCIM may lift it)
//	managed, SCIM-DELETED, externalId X         "~scim:deleted:" + X  (X may be empty; it stays recoverable)
//	SCIM-DELETED while blocked by hand         "~scim:hdeleted:" + X (the block stays the application's)
//	as above, userName is the e-mail           "~scim:email:" + X, "~scim:email-blocked:" + X, "~scim:email-deleted:" + X,
//	                                           "~scim:email-hdeleted:" + X
//	any of the above for tenant T              "~scim@" + T + ":" + the form above
//
// Gitea keeps no copy of the SCIM userName: login_name must stay searchable by the
// externalId alone (Gitea's login_name filter is an exact match), and its live form
// must be the OIDC subject. The link store is the record of the userName; a user's
// own rename is never taken for it (adapters.Record.Unrecorded).
//
// "Managed" also requires the user's source_id to equal the adapter's source_id. A
// managed user with prohibit_login in its live form was blocked in Gitea by hand: SCIM
// never lifts that block. (A user deprovisioned through SCIM cannot sign in, so its
// login_name need not be the OIDC subject meanwhile.)
// Decoding is total: a login_name under the reserved prefix that matches none of the
// forms is read as a live externalId, verbatim.
const (
	reservedPrefix          = "~scim:"
	tenantPrefix            = "~scim@"
	managedPrefix           = reservedPrefix + "managed:"
	deletedPrefix           = reservedPrefix + "deleted:"
	handDeletedPrefix       = reservedPrefix + "hdeleted:"
	blockedPrefix           = reservedPrefix + "blocked:"
	emailPrefix             = reservedPrefix + "email:"
	emailBlockedPrefix      = reservedPrefix + "email-blocked:"
	emailDeletedPrefix      = reservedPrefix + "email-deleted:"
	emailHandDeletedPrefix  = reservedPrefix + "email-hdeleted:"
	longestPrefix           = emailHandDeletedPrefix
	maxTenantPrefixOverhead = len(tenantPrefix) + len(":")

	// maxLoginName is the width of Gitea's user.login_name column (VARCHAR(255)).
	maxLoginName = 255
	// MaxExternalIDLength is the longest externalId that fits every encoded form of
	// the default tenant (a tenant's forms are longer by its name and 7 characters).
	MaxExternalIDLength = maxLoginName - len(longestPrefix)
)

// maxExternalID is the longest externalId every form of tenant fits.
func maxExternalID(tenant string) int {
	if tenant == "" {
		return MaxExternalIDLength
	}
	return MaxExternalIDLength - maxTenantPrefixOverhead - len(tenant)
}

// loginState is what a login_name encodes.
type loginState struct {
	externalID string
	managed    bool
	deleted    bool
	blocked    bool // deprovisioned by SCIM (a deleted user's block is SCIM's too)
	emailName  bool // the SCIM userName is the user's primary e-mail
	handBlock  bool // DELETEd while blocked by hand: the block is not SCIM's
	tenant     string
}

// encodeLoginName returns the login_name of a managed user.
func encodeLoginName(s loginState) string {
	if s.tenant != "" {
		t := s.tenant
		s.tenant = ""
		inner := encodeLoginName(s)
		if inner == "" { // never: a live user without externalId has the managed form
			inner = managedPrefix
		}
		return tenantPrefix + t + ":" + inner
	}
	switch {
	case s.emailName && s.deleted && s.handBlock:
		return emailHandDeletedPrefix + s.externalID
	case s.deleted && s.handBlock:
		return handDeletedPrefix + s.externalID
	case s.emailName && s.deleted:
		return emailDeletedPrefix + s.externalID
	case s.emailName && s.blocked:
		return emailBlockedPrefix + s.externalID
	case s.emailName:
		return emailPrefix + s.externalID
	case s.deleted:
		return deletedPrefix + s.externalID
	case s.blocked:
		return blockedPrefix + s.externalID
	case s.externalID == "" || strings.HasPrefix(s.externalID, reservedPrefix) || strings.HasPrefix(s.externalID, tenantPrefix):
		return managedPrefix + s.externalID
	default:
		return s.externalID
	}
}

// decodeLoginName reads a login_name; managed is false only for the empty string
// (the caller also checks source_id).
func decodeLoginName(loginName string) loginState {
	if rest, ok := strings.CutPrefix(loginName, tenantPrefix); ok {
		if t, inner, ok := strings.Cut(rest, ":"); ok && t != "" && adapters.CheckTenant(t) == nil && inner != "" {
			st := decodeLoginName(inner)
			st.tenant = t
			return st
		}
	}
	for _, f := range []struct {
		prefix                      string
		deleted, blocked, emailName bool
	}{
		{emailHandDeletedPrefix, true, false, true},
		{handDeletedPrefix, true, false, false},
		{emailDeletedPrefix, true, false, true},
		{emailBlockedPrefix, false, true, true},
		{emailPrefix, false, false, true},
		{deletedPrefix, true, false, false},
		{blockedPrefix, false, true, false},
		{managedPrefix, false, false, false},
	} {
		if strings.HasPrefix(loginName, f.prefix) {
			hand := f.prefix == emailHandDeletedPrefix || f.prefix == handDeletedPrefix
			return loginState{externalID: loginName[len(f.prefix):], managed: true, deleted: f.deleted, blocked: f.blocked, emailName: f.emailName, handBlock: hand}
		}
	}
	return loginState{externalID: loginName, managed: loginName != ""}
}

// loginNameForms lists every login_name a user of tenant with this externalId may
// have, for exact lookups (Gitea's login_name filter is an exact match).
func loginNameForms(externalID, tenant string) []string {
	var forms []string
	for _, st := range []loginState{{}, {blocked: true}, {deleted: true}, {deleted: true, handBlock: true}} {
		for _, emailName := range []bool{false, true} {
			st.externalID, st.emailName, st.tenant = externalID, emailName, tenant
			forms = append(forms, encodeLoginName(st))
		}
	}
	// A reserved-looking login_name written by someone else decodes verbatim too.
	if tenant == "" && strings.HasPrefix(externalID, reservedPrefix) && decodeLoginName(externalID).externalID == externalID {
		forms = append(forms, externalID)
	}
	return forms
}
