package provision

import (
	"context"
	"math"
	"strings"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// Drift is what differs between the application and what SCIM provisioned: the
// drift report of the admin API and `caddy scim report`.
type Drift struct {
	ManagedUsers int `json:"managed_users"`
	// Unmanaged are upstream accounts no IdP manages (administrators included, and
	// marked so); nil when the adapter cannot walk every account.
	Unmanaged []Account `json:"unmanaged_users"`
	// HandBlocked are managed accounts blocked in the application by someone
	// other than SCIM, which SCIM will not unblock.
	HandBlocked []Account `json:"blocked_by_hand"`
	// Renamed are managed accounts whose username or e-mail in the application is
	// no longer the one SCIM set (the IdP's next write sets it back).
	Renamed []Account `json:"renamed"`
	// Unproven are managed accounts whose userName SCIM cannot prove: the link was
	// lost and the application keeps no copy (they answer no userName lookup until
	// the IdP writes them or the links are imported).
	Unproven []Account `json:"unproven"`
	// DanglingLinks are links whose account is gone from the application; nil when
	// the link store cannot list its links (no trusted index).
	DanglingLinks []Account `json:"dangling_links"`
	// ForeignMembers are managed groups with members SCIM does not manage (by
	// their username in the application).
	ForeignMembers []GroupDrift `json:"groups_with_unmanaged_members"`
	// Notes say what could not be checked.
	Notes []string `json:"notes,omitempty"`
}

// Account names one account in the report.
type Account struct {
	ID         string `json:"id"`
	UserName   string `json:"user_name,omitempty"`
	ExternalID string `json:"external_id,omitempty"`
	// Detail: the upstream username of a renamed account, why a block is the
	// application's, "administrator".
	Detail string `json:"detail,omitempty"`
}

// GroupDrift is a managed group and its members SCIM does not manage.
type GroupDrift struct {
	ID          string   `json:"id"`
	DisplayName string   `json:"display_name"`
	Members     []string `json:"unmanaged_members"` // usernames in the application
}

// Drift walks the application once (every managed user; every account when the
// adapter can; every managed group with its members) and compares it with the links.
// It is an operator's request: unlike a SCIM list it is not bounded by MaxScan.
func (s *Service) Drift(ctx context.Context) (Drift, error) {
	var d Drift
	managed, err := pageAll(ctx, math.MaxInt32, s.listUsers)
	if err != nil {
		return d, err
	}
	d.ManagedUsers = len(managed)
	ids := make([]string, len(managed))
	isManaged := make(map[string]bool, len(managed))
	for i, r := range managed {
		ids[i], isManaged[r.User.ID] = r.User.ID, true
	}
	ls, err := s.Links.GetMany(ctx, ids)
	if err != nil {
		d.Notes = append(d.Notes, "renamed accounts not checked: the link store did not answer")
		ls = make([]links.Link, len(managed))
	}
	for i, l := range ls {
		r := managed[i]
		upstreamName, upstreamEmail := r.User.UserName, r.User.PrimaryEmail()
		s.ofRecord(&r, l)
		if r.HandBlock != "" {
			d.HandBlocked = append(d.HandBlocked, account(r, r.HandBlock))
		}
		switch {
		case unproven(r):
			d.Unproven = append(d.Unproven, account(r, "the link was lost and the application keeps no copy: caddy scim links import, or the IdP's next write of it"))
		case !strings.EqualFold(r.User.UserName, upstreamName):
			d.Renamed = append(d.Renamed, account(r, "renamed in the application to "+upstreamName))
		case l.ID != "" && l.Email != "" && !strings.EqualFold(l.Email, upstreamEmail):
			d.Renamed = append(d.Renamed, account(r, "e-mail changed in the application to "+upstreamEmail))
		}
	}
	if all, ok := s.Adapter.(adapters.AllUsers); ok {
		d.Unmanaged = []Account{}
		err := all.EachUser(ctx, func(r adapters.Record) bool {
			if s.own(&r); !r.Managed && !foreign(r) {
				detail := ""
				if r.Admin {
					detail = "administrator"
				}
				d.Unmanaged = append(d.Unmanaged, account(r, detail))
			}
			return true
		})
		if err != nil {
			return d, err
		}
	} else {
		d.Notes = append(d.Notes, "unmanaged accounts not checked: the adapter cannot walk every account")
	}
	if ix, ok := s.Links.(links.Index); ok {
		if visible, _, trusted, err := ix.PageLinks(ctx, 0, math.MaxInt32); err == nil && trusted {
			d.DanglingLinks = []Account{}
			for _, l := range visible {
				if !isManaged[l.ID] {
					d.DanglingLinks = append(d.DanglingLinks, Account{ID: l.ID, UserName: l.UserName, ExternalID: l.ExternalID})
				}
			}
		} else {
			d.Notes = append(d.Notes, "dangling links not checked: the link index is not trusted now")
		}
	} else {
		d.Notes = append(d.Notes, "dangling links not checked: the link store keeps no index")
	}
	if am, ok := s.Groups.(adapters.AllMembers); ok {
		groups, err := pageAll(ctx, math.MaxInt32, func(ctx context.Context, p adapters.Page) ([]*scim.Group, int, error) {
			return s.Groups.ListGroups(ctx, p, false)
		})
		if err != nil {
			return d, err
		}
		for _, g := range groups {
			var foreign []string
			err := am.EachMember(ctx, g.ID, func(r adapters.Record) bool {
				if s.own(&r); !r.Managed || r.Deleted {
					foreign = append(foreign, r.User.UserName)
				}
				return true
			})
			if err != nil {
				return d, err
			}
			if len(foreign) > 0 {
				d.ForeignMembers = append(d.ForeignMembers, GroupDrift{ID: g.ID, DisplayName: g.DisplayName, Members: foreign})
			}
		}
	} else if s.Groups != nil {
		d.Notes = append(d.Notes, "group members not checked: the adapter cannot list members SCIM does not manage")
	}
	return d, nil
}

func account(r adapters.Record, detail string) Account {
	return Account{ID: r.User.ID, UserName: r.User.UserName, ExternalID: r.User.ExternalID, Detail: detail}
}
