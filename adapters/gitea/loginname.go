package gitea

import "strings"

// The durable provisioning state of a Gitea user lives in its login_name, an admin-only
// field that Gitea's own local (Plain) sign-in ignores and that OAuth2/OIDC sign-in uses
// as the IdP subject. Together with source_id it answers, from Gitea alone, whether a
// user is managed, its externalId, and whether it was DELETEd through SCIM:
//
//	state                               login_name
//	not managed                         ""                 (or any value under another source_id)
//	managed, live, externalId X         X                  (verbatim, so OIDC sign-in binds when X is the subject)
//	managed, live, no externalId        "~scim:managed:"
//	managed, live, X starts with "~scim:"  "~scim:managed:" + X   (escaped, so decoding is unambiguous)
//	managed, SCIM-DELETED, externalId X "~scim:deleted:" + X     (X may be empty; it stays recoverable)
//
// "Managed" also requires the user's source_id to equal the adapter's source_id. A
// deprovisioned user (active=false) keeps its live form; prohibit_login carries that.
// Decoding is total: a login_name under the reserved prefix that matches neither form is
// read as a live externalId, verbatim.
const (
	reservedPrefix = "~scim:"
	managedPrefix  = reservedPrefix + "managed:"
	deletedPrefix  = reservedPrefix + "deleted:"

	// maxLoginName is the width of Gitea's user.login_name column (VARCHAR(255)).
	maxLoginName = 255
	// MaxExternalIDLength is the longest externalId that fits every encoded form.
	MaxExternalIDLength = maxLoginName - len(deletedPrefix)
)

// encodeLoginName returns the login_name of a managed user.
func encodeLoginName(externalID string, deleted bool) string {
	switch {
	case deleted:
		return deletedPrefix + externalID
	case externalID == "" || strings.HasPrefix(externalID, reservedPrefix):
		return managedPrefix + externalID
	default:
		return externalID
	}
}

// decodeLoginName reads a login_name; managed is false only for the empty string
// (the caller also checks source_id).
func decodeLoginName(loginName string) (externalID string, managed, deleted bool) {
	switch {
	case loginName == "":
		return "", false, false
	case strings.HasPrefix(loginName, deletedPrefix):
		return loginName[len(deletedPrefix):], true, true
	case strings.HasPrefix(loginName, managedPrefix):
		return loginName[len(managedPrefix):], true, false
	default:
		return loginName, true, false
	}
}

// loginNameForms lists every login_name a managed user with this externalId may have,
// for exact lookups.
func loginNameForms(externalID string) []string {
	live := encodeLoginName(externalID, false)
	forms := []string{live, encodeLoginName(externalID, true)}
	// A reserved-looking login_name written by someone else decodes verbatim too.
	if strings.HasPrefix(externalID, reservedPrefix) && !strings.HasPrefix(externalID, managedPrefix) &&
		!strings.HasPrefix(externalID, deletedPrefix) {
		forms = append(forms, externalID)
	}
	return forms
}
