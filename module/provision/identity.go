package provision

import (
	"context"
	"strings"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// The identity of record. What SCIM must know of an account — its userName of record,
// who blocked it, which tenant it belongs to — lives in the link store, with a copy in
// the application where the adapter has room for one. Every record an adapter
// answers passes through own (tenancy) and ofRecord (the link) before any rule reads
// it, so the rules below decide on the same facts whatever the adapter.

// otherTenant is what own leaves in Record.Tenant of an account marked for the
// default tenant, seen from a named one: never a valid tenant name.
const otherTenant = "(default)"

// decideBlock is the one rule of block ownership: a managed account the application
// blocks (BlockReason) without SCIM's mark (BlockMark) was blocked by someone else,
// and SCIM never lifts that block. Every record an adapter answers passes here.
func decideBlock(r *adapters.Record) {
	r.HandBlock = ""
	if r.Managed && r.User != nil && !r.User.Active && r.BlockReason != "" && !r.BlockMark {
		r.HandBlock = r.BlockReason
	}
}

// own applies tenancy and the block rule: an account marked for another tenant is
// not managed here, and keeps a non-empty Tenant so that no rule mistakes it for an
// unmanaged account that could be adopted.
func (s *Service) own(r *adapters.Record) {
	defer decideBlock(r)
	if !r.Managed || r.Tenant == s.Tenant {
		if !r.Managed {
			r.Tenant = ""
		}
		return
	}
	r.Managed = false
	if r.Tenant == "" {
		r.Tenant = otherTenant
	}
}

// foreign reports whether r is another tenant's account (after own).
func foreign(r adapters.Record) bool { return !r.Managed && r.Tenant != "" }

// marked gives records an adapter answered (with err) the store's marks and
// tenancy: what every read of accounts goes through.
func (s *Service) marked(ctx context.Context, recs []adapters.Record, err error) ([]adapters.Record, error) {
	if err == nil {
		err = s.storeMarks(ctx, recs)
	}
	for i := range recs {
		s.own(&recs[i])
	}
	return recs, err
}

// findUsers is the adapter's FindUsers, with the store's marks and tenancy applied.
func (s *Service) findUsers(ctx context.Context, q adapters.Lookup) ([]adapters.Record, error) {
	recs, err := s.Adapter.FindUsers(ctx, q)
	return s.marked(ctx, recs, err)
}

// readUsers is the adapter's batch read (adapters.UserBatch) of ids, with the
// store's marks and tenancy applied, by id; nil when the adapter has none or the
// batch failed (the caller then reads each user alone, and a real outage shows there).
func (s *Service) readUsers(ctx context.Context, ids []string) map[string]adapters.Record {
	b, ok := s.Adapter.(adapters.UserBatch)
	if !ok || len(ids) < 2 {
		return nil
	}
	recs, err := b.ReadUsers(ctx, ids)
	if recs, err = s.marked(ctx, recs, err); err != nil {
		if s.OnBatchFailed != nil {
			s.OnBatchFailed(err)
		}
		return nil
	}
	out := make(map[string]adapters.Record, len(recs))
	for _, r := range recs {
		out[idOf(r)] = r
	}
	return out
}

// listUsers is the adapter's ListUsers (which lists only this tenant's accounts, or
// every account when the store keeps the marks), with the store's marks and tenancy
// applied.
func (s *Service) listUsers(ctx context.Context, p adapters.Page) ([]adapters.Record, int, error) {
	recs, total, err := s.Adapter.ListUsers(ctx, p)
	recs, err = s.marked(ctx, recs, err)
	return recs, total, err
}

// storeMarks gives the accounts of an application without room for SCIM's marks
// (Info.MarksInStore) the marks their links keep: managed (a link exists), its
// externalId, deleted, SCIM's block, and, where the application cannot block
// (Info.NoBlock), SCIM's active. An account without a link is not SCIM's; a store
// that cannot answer fails the request rather than show every account unmanaged.
func (s *Service) storeMarks(ctx context.Context, recs []adapters.Record) error {
	info := s.Adapter.Info()
	if !info.MarksInStore || len(recs) == 0 {
		return nil
	}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = idOf(r)
	}
	ls, err := s.Links.GetMany(ctx, ids)
	if err != nil {
		return scim.Unavailable(5, "the link store, the only record of which accounts SCIM manages in this application, cannot answer now; retry shortly")
	}
	for i := range recs {
		r, l := &recs[i], ls[i]
		if r.User == nil || l.ID != r.User.ID || l.Group {
			continue
		}
		u := *r.User
		u.ExternalID = l.ExternalID
		if info.NoBlock {
			u.Active = l.Active
		}
		r.User = &u
		r.Managed, r.Tenant, r.Deleted, r.BlockMark = true, l.Tenant, l.Deleted, l.Block == links.BlockSCIM
		markVersion(r)
	}
	return nil
}

// markVersion folds the marks the store keeps into the account's version, so that
// its ETag changes when SCIM's state of it does (If-Match, If-None-Match).
func markVersion(r *adapters.Record) {
	r.User.Meta.Version = adapters.Version(r.User.Meta.Version, r.User.ExternalID, r.User.Active, r.Deleted, r.BlockMark)
}

// writeMarks is storeMarks for the record a write answers: the write's own state is
// what the link store will keep.
func (s *Service) writeMarks(rec *adapters.Record, u *scim.User, st adapters.State) {
	info := s.Adapter.Info()
	if !info.MarksInStore || rec.User == nil {
		return
	}
	nu := *rec.User
	nu.ExternalID = u.ExternalID
	if info.NoBlock {
		nu.Active = u.Active && !st.Deleted
	}
	rec.User = &nu
	rec.Managed, rec.Tenant, rec.Deleted = st.Managed, s.Tenant, st.Deleted
	rec.BlockMark = (!u.Active || st.Deleted) && !st.ForeignBlock
	markVersion(rec)
}

// unproven reports whether SCIM cannot prove r's userName: the application keeps no
// copy of it for this account and the link store lost its link. Such an account
// still reads, but answers to no userName lookup (its name in the application may
// be one its owner chose: another person's), and a POST that names it is refused
// with a detail that says how to relink it.
func unproven(r adapters.Record) bool {
	return r.Managed && r.Unrecorded && r.RecordedUserName == ""
}

// ofRecord overlays r with what SCIM knows of it: l is the account's link (zero when
// the store has none). The userName of record is the link's, else the application's
// copy; when the application now answers another name, the account was renamed there
// (or, with an e-mail userName, its owner changed the e-mail): SCIM keeps answering to
// the IdP's name, never to the new one, and the IdP's next write renames it back.
func (s *Service) ofRecord(r *adapters.Record, l links.Link) {
	if !r.Managed || r.User == nil {
		return
	}
	if l.ID == r.User.ID && !l.Group && l.UserName != "" {
		r.RecordedUserName = l.UserName
	}
	name := r.RecordedUserName
	if name == "" || strings.EqualFold(name, r.User.UserName) {
		return
	}
	if s.OnDrift != nil {
		s.OnDrift(r.User.ID, name, r.User.UserName)
	}
	u := *r.User
	u.UserName = name
	r.User = &u
}

// linkOf is the link a record makes. An unproven account's name is not recorded.
func (s *Service) linkOf(r adapters.Record) links.Link {
	l := links.Link{ID: r.User.ID, ExternalID: r.User.ExternalID, Email: r.User.PrimaryEmail(),
		Active: r.User.Active, Deleted: r.Deleted, Block: blockOf(r), Tenant: s.Tenant, Version: r.User.Meta.Version}
	if !unproven(r) {
		l.UserName = r.User.UserName
	}
	return l
}

// blockOf says who blocked the account of r, as the rules now see it.
func blockOf(r adapters.Record) string {
	switch {
	case r.User.Active:
		return links.BlockNone
	case r.HandBlock != "":
		return links.BlockApp
	}
	return links.BlockSCIM
}

// remember writes the link of a record a write just made, under the account's write
// lock; a failure only costs later lookups (and, for an application without room for
// a copy, the proof of the userName: the store logs it).
func (s *Service) remember(ctx context.Context, r adapters.Record) {
	if !r.Managed || r.User == nil {
		return
	}
	s.storeErr(s.Links.Put(ctx, s.linkOf(r)))
}

// rememberChanged records what a read saw. cached is the link the store held when the
// read began (zero when none): the write is a swap from it, so a link that a write
// stored meanwhile is never overwritten by what the read saw before it. It skips
// the write when the store already holds exactly this link, so a warm read costs no
// store write.
func (s *Service) rememberChanged(ctx context.Context, r adapters.Record, cached links.Link) {
	if !r.Managed || r.User == nil {
		return
	}
	if cached.ID != r.User.ID {
		cached = links.Link{}
	}
	l := s.linkOf(r)
	if cached == l {
		return
	}
	_, err := s.Links.Swap(ctx, cached, l)
	s.storeErr(err)
}

// staleMark reports an active account that still carries SCIM's block mark: someone
// lifted SCIM's block in the application. Left so, a later block by hand would read
// as SCIM's, and the IdP's next active:true would lift it.
func staleMark(r adapters.Record) bool {
	return r.Managed && r.User != nil && r.User.Active && r.BlockMark && !r.Deleted
}

// clearStaleMarks re-derives block ownership where the application contradicts the
// mark: the marks of active accounts among recs are cleared (a write of each
// account's state, under its lock, after a fresh read), once, when a read first sees
// them. It is called by the read entry points, which hold no lock; recs are updated.
// A failure leaves the mark until the next read or write.
func (s *Service) clearStaleMarks(ctx context.Context, recs []adapters.Record) {
	for i := range recs {
		if !staleMark(recs[i]) {
			continue
		}
		release, err := s.lockAll(ctx, []string{"user:" + recs[i].User.ID})
		if err != nil {
			continue
		}
		cur, cached, found, err := s.getRecordCached(ctx, recs[i].User.ID)
		if err == nil && found && staleMark(cur) {
			u := *cur.User // the account as SCIM knows it, its state as the application has it
			if rec, err := s.update(ctx, cur, &u, adapters.State{Managed: true, Deleted: cur.Deleted}, false); err == nil {
				cur = rec
			}
		} else if err == nil && found {
			s.rememberChanged(ctx, cur, cached)
		}
		release()
		if err == nil && found {
			recs[i] = cur
		}
	}
}

// relinkHint is the detail of a refusal that concerns an unproven account.
func relinkHint(id string) string {
	return "SCIM has no record that account " + id + " belongs to this identity: the application keeps no copy of its userName and the link store lost its link. " +
		"Restore the links (caddy scim links import) or write the account by id (PUT /Users/" + id + " with its userName), then retry"
}
