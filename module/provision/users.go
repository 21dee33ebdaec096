package provision

import (
	"context"
	"strings"
	"sync"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// User operations: lookups through the link store, POST with its reactivation,
// adoption and create paths, PUT, PATCH and DELETE (through the write pipeline,
// write.go).

// find runs an adapter lookup; not found is no records.
func (s *Service) find(ctx context.Context, q adapters.Lookup) ([]adapters.Record, error) {
	if q.Value == "" {
		return nil, nil
	}
	recs, err := s.findUsers(ctx, q)
	if adapters.Is(err, adapters.NotFound) {
		return nil, nil
	}
	if err != nil || q.Kind == adapters.ByID { // readRecord overlays with the link it has
		return recs, err
	}
	out := recs[:0]
	for _, r := range recs {
		if r.Managed {
			l, _, err := s.Links.Get(ctx, idOf(r)) // a miss is a zero link
			s.storeErr(err)
			s.ofRecord(&r, l)
		}
		// an account answers to its userName of record, and an unproven one to none
		if q.Kind != adapters.ByUserName || (strings.EqualFold(r.User.UserName, q.Value) && !unproven(r)) {
			out = append(out, r)
		}
	}
	return out, nil
}

func idOf(r adapters.Record) string {
	if r.User == nil {
		return ""
	}
	return r.User.ID
}

// getRecord loads a user by SCIM id, visible or not; ok=false when absent upstream.
func (s *Service) getRecord(ctx context.Context, id string) (adapters.Record, bool, error) {
	r, _, ok, err := s.getRecordCached(ctx, id)
	return r, ok, err
}

// getRecordCached is getRecord that also returns the link the store held for id
// (zero when none), for rememberChanged.
func (s *Service) getRecordCached(ctx context.Context, id string) (adapters.Record, links.Link, bool, error) {
	var cached links.Link
	readLink := func() {
		if l, ok, err := s.Links.Get(ctx, id); err != nil {
			s.storeErr(err)
		} else if ok {
			cached = l
		}
	}
	if s.Adapter.Info().NameKeyed {
		readLink()
		return s.readRecord(ctx, id, cached, false)
	}
	// The read needs no hint: the link and the account are read at once (the
	// latency of the slower one, not of both).
	var wg sync.WaitGroup
	wg.Go(readLink)
	recs, err := s.find(ctx, adapters.Lookup{Kind: adapters.ByID, Value: id})
	wg.Wait()
	if err != nil {
		return adapters.Record{}, cached, false, err
	}
	return s.recordOf(ctx, id, recs, cached, false)
}

// readRecord reads user id upstream, with the stored link (if any) as the name hint.
// With fromIndex, cached is an index entry's copy of the link, as of when that entry
// was written: after a rename through SCIM, the entry of the old name still holds the
// old link, which must not pass for the userName of record. The id's own link is then
// read, only when the upstream's name differs from the copy.
func (s *Service) readRecord(ctx context.Context, id string, cached links.Link, fromIndex bool) (adapters.Record, links.Link, bool, error) {
	recs, err := s.find(ctx, adapters.Lookup{Kind: adapters.ByID, Value: id, UserNameHint: cached.UserName})
	if err != nil {
		return adapters.Record{}, cached, false, err
	}
	return s.recordOf(ctx, id, recs, cached, fromIndex)
}

// recordOf is readRecord's answer from what a read of id found.
func (s *Service) recordOf(ctx context.Context, id string, recs []adapters.Record, cached links.Link, fromIndex bool) (adapters.Record, links.Link, bool, error) {
	for _, r := range recs {
		if r.User != nil && r.User.ID == id {
			if fromIndex && !strings.EqualFold(cached.UserName, r.User.UserName) {
				l, ok, err := s.Links.Get(ctx, id)
				s.storeErr(err)
				if ok {
					cached = l
				}
			}
			s.ofRecord(&r, cached)
			return r, cached, true, nil
		}
	}
	s.storeErr(s.Links.Forget(ctx, id))
	return adapters.Record{}, links.Link{}, false, nil
}

// GetUser returns a visible user or a SCIM 404 (GET /Users/{id}).
func (s *Service) GetUser(ctx context.Context, id string) (_ adapters.Record, err error) {
	r, err := s.getUser(ctx, id)
	if err == nil && staleMark(r) {
		recs := []adapters.Record{r}
		s.clearStaleMarks(ctx, recs)
		r = recs[0]
	}
	return r, err
}

// getUser is GetUser for callers that hold the user's lock (no write of its own).
func (s *Service) getUser(ctx context.Context, id string) (adapters.Record, error) {
	r, cached, ok, err := s.getRecordCached(ctx, id)
	if err != nil {
		return r, err
	}
	if !ok || !visible(r) {
		return r, scim.NotFound("User", id)
	}
	s.rememberChanged(ctx, r, cached)
	return r, nil
}

// lookupVia resolves a userName or externalId through the link store first (one
// upstream call on a hit), then the adapter.
func (s *Service) lookupVia(ctx context.Context, kind adapters.LookupKind, value string) ([]adapters.Record, error) {
	recs, _, err := s.lookupViaCached(ctx, kind, value)
	return recs, err
}

// lookupViaCached is lookupVia that also returns the stored link of a link store hit.
func (s *Service) lookupViaCached(ctx context.Context, kind adapters.LookupKind, value string) ([]adapters.Record, links.Link, error) {
	l, ok, err := s.linkBy(ctx, kind, value)
	s.storeErr(err)
	if ok {
		r, cached, found, err := s.readRecord(ctx, l.ID, l, true)
		if err != nil {
			return nil, links.Link{}, err
		}
		if found && matchesLookup(r, kind, value) {
			return []adapters.Record{r}, cached, nil
		}
		// stale link: fall through to the upstream
	} else if err == nil && kind == adapters.ByExternalID && s.proveNew(ctx, value, "") {
		// A complete index without this externalId proves no managed user has it
		// (Entra's GET before a POST, when externalId is its matching attribute).
		// Not done for userName: users can rename themselves upstream.
		return nil, links.Link{}, nil
	}
	recs, err := s.find(ctx, adapters.Lookup{Kind: kind, Value: value})
	return recs, links.Link{}, err
}

// linkBy resolves an index to the whole stored link: one round trip with a Resolver
// store, two (index, then link) otherwise.
func (s *Service) linkBy(ctx context.Context, kind adapters.LookupKind, value string) (links.Link, bool, error) {
	if r, ok := s.Links.(links.Resolver); ok {
		if kind == adapters.ByExternalID {
			return r.LinkByExternalID(ctx, value)
		}
		return r.LinkByUserName(ctx, value)
	}
	var id string
	var ok bool
	var err error
	if kind == adapters.ByExternalID {
		id, ok, err = s.Links.ByExternalID(ctx, value)
	} else {
		id, ok, err = s.Links.ByUserName(ctx, value)
	}
	if !ok || err != nil {
		return links.Link{}, false, err
	}
	return s.Links.Get(ctx, id)
}

func matchesLookup(r adapters.Record, kind adapters.LookupKind, value string) bool {
	switch kind {
	case adapters.ByExternalID:
		return r.User.ExternalID == value
	case adapters.ByUserName:
		return strings.EqualFold(r.User.UserName, value)
	}
	return true
}

// CreateUser provisions u (POST /Users). It answers the record, new or (for a
// reactivation or adoption, which still answer 201) existing.
func (s *Service) CreateUser(ctx context.Context, u *scim.User) (_ adapters.Record, err error) {
	// Serialise creates of one identity on this instance and, through the link
	// store's lock, across instances; the upstream re-check below is what makes it
	// correct, the lock only makes the race rare.
	keys := []string{"create:un:" + strings.ToLower(u.UserName)}
	if u.ExternalID != "" {
		keys = append(keys, "create:ext:"+u.ExternalID)
	}
	release, err := s.lockAll(ctx, keys)
	if err != nil {
		return adapters.Record{}, err
	}
	defer release()

	// A complete link index that holds neither the externalId nor the userName
	// proves the identity new: create at once. The upstream still refuses a taken
	// name or e-mail (an unmanaged user the index does not know); the full path
	// below then decides between adoption and a precise 409.
	if s.proveNew(ctx, u.ExternalID, u.UserName) {
		rec, err := s.createNew(ctx, u)
		if !adapters.Is(err, adapters.Taken) {
			return rec, err
		}
	}

	// The three lookups are independent reads: run them together (the latency of one
	// instead of three), then decide in the order below, exactly as if they had run
	// one after the other. The memo answers a userName and an e-mail lookup that are
	// the same upstream query once.
	ctx = adapters.WithMemo(ctx)
	email := u.PrimaryEmail()
	var byExt, byName, byEmail struct {
		recs []adapters.Record
		err  error
	}
	var wg sync.WaitGroup
	if u.ExternalID != "" {
		wg.Go(func() { byExt.recs, byExt.err = s.lookupVia(ctx, adapters.ByExternalID, u.ExternalID) })
	}
	wg.Go(func() { byName.recs, byName.err = s.lookupVia(ctx, adapters.ByUserName, u.UserName) })
	if email != "" {
		wg.Go(func() { byEmail.recs, byEmail.err = s.find(ctx, adapters.Lookup{Kind: adapters.ByEmail, Value: email}) })
	}
	wg.Wait()

	if byExt.err != nil {
		return adapters.Record{}, byExt.err
	}
	for _, r := range byExt.recs {
		if r.Managed {
			return s.reactivateOrConflict(ctx, r, u, "externalId")
		}
	}
	if byName.err != nil {
		return adapters.Record{}, byName.err
	}
	for _, r := range byName.recs {
		if r.Managed {
			if visible(r) && r.User.Active && r.User.ExternalID != "" && u.ExternalID != "" && r.User.ExternalID != u.ExternalID {
				return adapters.Record{}, scim.Conflict("userName %q is already provisioned for a different externalId", u.UserName)
			}
			return s.reactivateOrConflict(ctx, r, u, "userName")
		}
		return s.adoptOrConflict(ctx, r, u, LinkUserName, "userName")
	}
	if email != "" {
		if byEmail.err != nil {
			return adapters.Record{}, byEmail.err
		}
		for _, r := range byEmail.recs {
			if r.Managed {
				return adapters.Record{}, scim.Conflict("email %q already belongs to provisioned user %q", email, r.User.UserName)
			}
			return s.adoptOrConflict(ctx, r, u, LinkEmail, "email")
		}
	}
	rec, err := s.createNew(ctx, u)
	if adapters.Is(err, adapters.Taken) {
		return rec, s.takenByUnproven(ctx, u.UserName, err)
	}
	return rec, err
}

// takenByUnproven explains a create the application refused because the userName is
// taken by an account that answers to no userName lookup: an unproven one of this
// tenant (its link lost), or another tenant's. Any other holder keeps err.
func (s *Service) takenByUnproven(ctx context.Context, userName string, err error) error {
	recs, ferr := s.findUsers(ctx, adapters.Lookup{Kind: adapters.ByUserName, Value: userName})
	if ferr != nil {
		return err
	}
	for _, r := range recs {
		switch {
		case r.User == nil || !strings.EqualFold(r.User.UserName, userName):
		case foreign(r):
			return scim.Conflict("userName %q belongs to an account another SCIM tenant manages (id %s); it is never shared between tenants", userName, r.User.ID)
		case unproven(r):
			return scim.Conflict("userName %q is taken in the application by account %s. %s", userName, r.User.ID, relinkHint(r.User.ID))
		}
	}
	return err
}

// createNew creates u upstream as a new user and remembers its link. Adapters
// create active users: one created inactive is deprovisioned at once.
func (s *Service) createNew(ctx context.Context, u *scim.User) (adapters.Record, error) {
	s.oneName(nil, u)
	if ix, ok := s.Links.(links.Index); ok {
		s.storeErr(ix.Intend(ctx, u.ExternalID, u.UserName, intentTTL))
	}
	rec, err := s.Adapter.CreateUser(ctx, u)
	if err != nil {
		return rec, err
	}
	st := adapters.State{Managed: true}
	if !u.Active && (rec.User.Active || s.Adapter.Info().NoBlock) {
		st.Deactivating = true
		if rec, err = s.Adapter.UpdateUser(ctx, rec.User.ID, u, st); err != nil {
			return rec, err
		}
	}
	s.wrote(ctx, &rec, u, st, u.UserName)
	return rec, nil
}

// wrote records what a write of u with st made of an account: the userName it wrote is
// the name of record (for an application without room for a copy, only the link
// keeps it), and so are the marks where the application keeps none.
func (s *Service) wrote(ctx context.Context, rec *adapters.Record, u *scim.User, st adapters.State, userName string) {
	if rec.User == nil {
		return
	}
	s.writeMarks(rec, u, st)
	if !rec.Managed && s.Adapter.Info().MarksInStore {
		s.storeErr(s.Links.Forget(ctx, rec.User.ID)) // no longer SCIM's
		return
	}
	decideBlock(rec)
	if userName != "" {
		rec.RecordedUserName = userName
	}
	s.ofRecord(rec, links.Link{})
	s.remember(ctx, *rec)
}

// reactivateOrConflict handles a POST that names an existing managed user: 409 when
// it is active and visible, else the same upstream user is reactivated and updated,
// under the account's write lock.
func (s *Service) reactivateOrConflict(ctx context.Context, r adapters.Record, u *scim.User, by string) (adapters.Record, error) {
	if visible(r) && r.User.Active {
		if by == "externalId" && unproven(r) {
			return adapters.Record{}, s.proveByExternalID(ctx, r, u)
		}
		return adapters.Record{}, scim.Conflict("a user with this %s already exists (id %s)", by, r.User.ID)
	}
	cur, release, err := s.lockedRecord(ctx, r.User.ID, "reactivate")
	if err != nil {
		return adapters.Record{}, err
	}
	defer release()
	if err := reactivationTarget(cur, u, by); err != nil {
		return adapters.Record{}, err
	}
	if err := s.refuseForeignUnblock(cur, u, "reactivate"); err != nil {
		return adapters.Record{}, err
	}
	return s.update(ctx, cur, u, adapters.State{Managed: true}, true)
}

// proveByExternalID answers the 409 of a POST whose externalId is an unproven
// account's, and records the POST's userName as that account's userName of record:
// the externalId is SCIM's own mark in the application, so the IdP that sends it
// names the identity, and its next lookup by userName finds the account. Not when
// another account answers to that userName.
func (s *Service) proveByExternalID(ctx context.Context, r adapters.Record, u *scim.User) error {
	dup := scim.Conflict("a user with this externalId already exists (id %s)", r.User.ID)
	release, err := s.lockAll(ctx, []string{"user:" + r.User.ID})
	if err != nil {
		return err
	}
	defer release()
	holders, err := s.userHolders(adapters.ByUserName, u.UserName, false)(ctx)
	if err != nil || len(holders) > 0 {
		return dup
	}
	r.RecordedUserName = u.UserName
	s.ofRecord(&r, links.Link{})
	if err := s.Links.Put(ctx, s.linkOf(r)); err != nil {
		return dup
	}
	return scim.Conflict("a user with this externalId already exists (id %s); its link had been lost, and %q is now its userName of record: a lookup by userName finds it", r.User.ID, u.UserName)
}

// adoptOrConflict handles a POST whose userName or email belongs to an unmanaged
// upstream user.
func (s *Service) adoptOrConflict(ctx context.Context, r adapters.Record, u *scim.User, mode, by string) (adapters.Record, error) {
	if foreign(r) {
		return adapters.Record{}, scim.Conflict("an account another SCIM tenant manages has this %s (id %s); accounts are never shared between tenants", by, r.User.ID)
	}
	if s.LinkExisting != mode {
		return adapters.Record{}, scim.Conflict("an upstream user with this %s exists but is not managed by SCIM; set link_existing %s to adopt it", by, mode)
	}
	if why := s.protected(r); why != "" { // an administrator, or named by protect
		return adapters.Record{}, scim.Conflict("an upstream account that %s has this %s; it is never adopted", why, by)
	}
	if r.Unconfirmed {
		return adapters.Record{}, scim.Conflict("an upstream account has this %s but its e-mail is not confirmed in the application, so it may not belong to this person; it is not adopted: confirm the address there, or remove that account", by)
	}
	release, err := s.lockAll(ctx, []string{"user:" + r.User.ID})
	if err != nil {
		return adapters.Record{}, err
	}
	defer release()
	// what was read before the lock may have changed: adopt only what is still unmanaged
	cur, found, err := s.getRecord(ctx, r.User.ID)
	if err != nil {
		return adapters.Record{}, err
	}
	if !found || cur.Managed || foreign(cur) || s.protected(cur) != "" {
		return adapters.Record{}, scim.Unavailable(1, "the account with this %s changed while it was being adopted; retry", by)
	}
	rec, err := s.update(ctx, cur, u, adapters.State{Managed: true}, true)
	if err == nil && s.OnAdopted != nil {
		s.OnAdopted(rec.User.ID, r.User.UserName, u.UserName, u.ExternalID, by)
	}
	return rec, err
}

// update writes u and st over the upstream user of cur and remembers its link. A
// block set in the application stays the application's, DELETE or not: writing the
// account inactive keeps it foreign (the callers that may activate one, modify and
// reactivateOrConflict, refuse that first with refuseForeignUnblock). statesName
// says the request stated u's userName (a POST, a PUT, a PATCH of userName): it then
// becomes the name of record, which an unproven account gains no other way.
func (s *Service) update(ctx context.Context, cur adapters.Record, u *scim.User, st adapters.State, statesName bool) (adapters.Record, error) {
	st.ForeignBlock = cur.HandBlock != ""
	active := cur.User.Active && !cur.Deleted
	after := u.Active && !st.Deleted
	st.Deactivating, st.Reactivating = active && !after, !active && after
	s.oneName(cur.User, u)
	rec, err := s.Adapter.UpdateUser(ctx, cur.User.ID, u, st)
	if err != nil {
		return rec, err
	}
	name := ""
	if statesName || !unproven(cur) {
		name = u.UserName
	}
	s.wrote(ctx, &rec, u, st, name)
	return rec, nil
}

// ReplaceUser applies a PUT. hasActive is false when the body carried no active: the
// current state is kept.
func (s *Service) ReplaceUser(ctx context.Context, id string, u *scim.User, hasActive bool, ifMatch string) (adapters.Record, error) {
	return s.modify(ctx, id, ifMatch, true, func(cur adapters.Record) (*scim.User, error) {
		if !hasActive {
			u.Active = cur.User.Active
		}
		return u, nil
	})
}

// PatchUser applies a PATCH: the operations run on the rendered current resource.
func (s *Service) PatchUser(ctx context.Context, id string, ops []scim.PatchOp, ifMatch string, opt scim.RenderOptions) (adapters.Record, error) {
	return s.modify(ctx, id, ifMatch, scim.PatchSets(ops, "userName"), func(cur adapters.Record) (*scim.User, error) {
		u, err := patched(cur.User, ops, scim.UserResourceType,
			func(u *scim.User) scim.Resource { return scim.UserToResource(u, opt) }, scim.UserFromResource)
		if err != nil {
			return nil, err
		}
		if strings.TrimSpace(u.UserName) == "" {
			return nil, scim.BadRequest(scim.ErrInvalidValue, "userName is required and cannot be removed")
		}
		s.patchedName(cur.User, u)
		return u, nil
	})
}

// modify is PUT's and PATCH's change of a user (writeLocked): next turns the current
// record into the desired user. A change of userName or externalId is checked for
// uniqueness first; a change the upstream does not store costs no write.
func (s *Service) modify(ctx context.Context, id, ifMatch string, statesName bool, next func(cur adapters.Record) (*scim.User, error)) (adapters.Record, error) {
	return writeLocked(ctx, s, "user:"+id, ifMatch, s.userToWrite(id), func(ctx context.Context, cur adapters.Record) (adapters.Record, error) {
		if err := s.refuseProtected(cur, "modify"); err != nil {
			return cur, err
		}
		u, err := next(cur)
		if err != nil {
			return cur, err
		}
		u.ID = id
		if err := s.refuseForeignUnblock(cur, u, "modify"); err != nil {
			return cur, err
		}
		if sameUser(cur.User, u) && !(statesName && unproven(cur)) {
			return cur, nil // nothing the upstream stores changed
		}
		if err := s.checkUserUnique(ctx, cur.User, u); err != nil {
			return cur, err
		}
		return s.update(ctx, cur, u, adapters.State{Managed: true}, statesName)
	})
}

// userToWrite reads visible user id for a write (writeLocked).
func (s *Service) userToWrite(id string) func(context.Context) (adapters.Record, string, error) {
	return func(ctx context.Context) (adapters.Record, string, error) {
		cur, err := s.getUser(ctx, id)
		if err != nil {
			return cur, "", err
		}
		return cur, cur.User.Meta.Version, nil
	}
}

// checkUserUnique refuses a new userName (case-insensitively) that another upstream
// user answers to, and a new externalId that another managed user has.
func (s *Service) checkUserUnique(ctx context.Context, cur, next *scim.User) error {
	var claims []claim
	if !strings.EqualFold(cur.UserName, next.UserName) {
		claims = append(claims, claim{"userName", next.UserName, s.userHolders(adapters.ByUserName, next.UserName, false)})
	}
	if next.ExternalID != cur.ExternalID {
		claims = append(claims, claim{"externalId", next.ExternalID, s.userHolders(adapters.ByExternalID, next.ExternalID, true)})
	}
	return unique(ctx, "user", cur.ID, claims)
}

func (s *Service) userHolders(kind adapters.LookupKind, value string, managedOnly bool) func(context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		recs, err := s.lookupVia(ctx, kind, value)
		var ids []string
		for _, r := range recs {
			if matchesLookup(r, kind, value) && (r.Managed || !managedOnly) {
				ids = append(ids, r.User.ID)
			}
		}
		return ids, err
	}
}

// DeleteUser answers DELETE: in block mode the user is blocked and hidden (the link
// stays, so a later POST reactivates it); in delete mode it is removed upstream.
func (s *Service) DeleteUser(ctx context.Context, id string, ifMatch string) error {
	_, err := writeLocked(ctx, s, "user:"+id, ifMatch, s.userToWrite(id), func(ctx context.Context, cur adapters.Record) (struct{}, error) {
		if err := s.refuseProtected(cur, "delete"); err != nil {
			return struct{}{}, err
		}
		if s.Deprovision == DeprovisionDelete {
			if err := s.Adapter.DeleteUser(ctx, id); err != nil && !adapters.Is(err, adapters.NotFound) {
				return struct{}{}, err
			}
			s.storeErr(s.Links.Forget(ctx, id))
			return struct{}{}, nil
		}
		u := *cur.User
		u.Active = false
		_, err := s.update(ctx, cur, &u, adapters.State{Managed: true, Deleted: true}, false)
		return struct{}{}, err
	})
	return err
}

// lockedRecord takes user id's write lock and reads it, for a POST that reactivates
// an account that may be hidden (DELETEd) or inactive. It must still be this
// tenant's, and not an account SCIM must leave alone.
func (s *Service) lockedRecord(ctx context.Context, id, op string) (adapters.Record, func(), error) {
	release, err := s.lockAll(ctx, []string{"user:" + id})
	if err != nil {
		return adapters.Record{}, nil, err
	}
	cur, found, err := s.getRecord(ctx, id)
	switch {
	case err != nil:
	case !found || !cur.Managed:
		err = scim.Unavailable(1, "user %s changed while it was being reactivated; retry", id)
	default:
		err = s.refuseProtected(cur, op)
	}
	if err != nil {
		release()
		return cur, nil, err
	}
	return cur, release, nil
}
