package provision

import (
	"context"
	"net/http"
	"strings"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// Safety rules: an account never changes hands, and SCIM never touches what it does
// not own. They are checked here, once, for every adapter.

// protected reports why SCIM must leave the account of r alone ("" when it may act):
// an upstream administrator, or an account the protect option names by userName,
// upstream login or id. Managed or not: an administrator who signed in by SSO, or a
// SCIM-created user later made an administrator, is protected too.
func (s *Service) protected(r adapters.Record) string {
	if r.User == nil {
		return ""
	}
	if r.Admin {
		return "is an administrator of the application"
	}
	for _, p := range s.Protect {
		if p != "" && (p == r.User.ID || strings.EqualFold(p, r.User.UserName) || strings.EqualFold(p, r.Login) || strings.EqualFold(p, r.RecordedUserName)) {
			return "is protected by the protect option"
		}
	}
	return ""
}

// refuseForeignUnblock answers 409 for a write that asks to activate an account
// blocked in the application by someone other than SCIM: SCIM lifts only blocks
// SCIM set. Nothing is written, and OnRefused hears why.
func (s *Service) refuseForeignUnblock(cur adapters.Record, u *scim.User, op string) error {
	if cur.HandBlock == "" || !u.Active {
		return nil
	}
	s.refused(op, cur, cur.HandBlock+"; SCIM lifts only blocks it set")
	return scim.Errorf(http.StatusConflict, "", "user %s %s, not by SCIM, and SCIM lifts only blocks it set: unblock the account in the application (or send active false), then retry", cur.User.ID, cur.HandBlock)
}

// refused tells OnRefused.
func (s *Service) refused(op string, r adapters.Record, why string) {
	if s.OnRefused != nil && r.User != nil {
		s.OnRefused(op, r.User.ID, r.User.UserName, why)
	}
}

// refuseProtected answers 403 for a write to a protected account, and tells
// OnRefused why.
func (s *Service) refuseProtected(r adapters.Record, what string) error {
	why := s.protected(r)
	if why == "" {
		return nil
	}
	s.refused(what, r, why)
	return scim.Errorf(http.StatusForbidden, "", "user %s (%q) %s: SCIM never modifies, blocks, deletes, adopts or reactivates it; change it in the application", r.User.ID, r.User.UserName, why)
}

// reactivationTarget refuses to give a deprovisioned or deleted account to another
// identity: r is reactivated only for the externalId it is linked to, or when neither
// the POST nor the account has one. A POST without an externalId (Keycloak,
// authentik) never takes an account that is linked to one.
func reactivationTarget(r adapters.Record, u *scim.User, by string) error {
	if u.ExternalID == r.User.ExternalID {
		return nil
	}
	state := "a deprovisioned"
	if r.Deleted {
		state = "a deleted"
	}
	switch {
	case r.User.ExternalID == "":
		return scim.Conflict("this %s belongs to %s account (id %s) that is not linked to any externalId; it is not given to externalId %q: delete or rename that account in the application, or send the same identity", by, state, r.User.ID, u.ExternalID)
	case u.ExternalID == "":
		return scim.Conflict("this %s belongs to %s account (id %s) linked to an externalId, and this request has none; it is reactivated only for its own identity: send its externalId, or delete or rename that account in the application", by, state, r.User.ID)
	}
	return scim.Conflict("this %s belongs to %s account (id %s) linked to another externalId; it is never given to a new identity: delete or rename that account in the application, then retry", by, state, r.User.ID)
}

// claim is a value that at most one resource may hold; holders lists the ids of
// those that do.
type claim struct {
	attr, value string
	holders     func(context.Context) ([]string, error)
}

// unique answers 409 uniqueness when a resource other than selfID holds a claimed
// value; an empty value claims nothing. One rule for users and groups.
func unique(ctx context.Context, what, selfID string, claims []claim) error {
	for _, c := range claims {
		if c.value == "" {
			continue
		}
		ids, err := c.holders(ctx)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if id != selfID {
				return scim.Conflict("a %s with %s %q already exists (id %s)", what, c.attr, c.value, id)
			}
		}
	}
	return nil
}
