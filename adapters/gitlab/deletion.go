package gitlab

// GitLab deletes a user in the background: DELETE /users/:id answers 204 and
// Sidekiq's DeleteUserWorker removes the account later, or never when the job
// fails. Until then the account is there, in its state, holding its username, its
// e-mail and its identity. So DeleteUser blocks the account first (removing a user
// blocks it at once, whatever the worker does), then marks it scim_deleting, which
// takes it out of every lookup and listing: a POST for the same person never meets
// it as an account to reactivate or adopt, which the worker would then delete. A
// create or update that GitLab refuses because such an account still holds its
// e-mail, username or externalId waits briefly for the worker, then answers
// Unavailable with a retry hint.

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
)

const (
	// defaultDeletionWait bounds how long a create waits for GitLab's worker
	// (the client's own wait budget for a Retry-After).
	defaultDeletionWait = 3 * time.Second
	// deletionPoll is the pause between two reads of the account being deleted.
	deletionPoll = 250 * time.Millisecond
	// deletionRetryAfter is the hint of the Unavailable answered meanwhile.
	deletionRetryAfter = 30
	// stuckDeletion is the age past which GitLab's worker is taken to have failed.
	stuckDeletion = time.Hour
)

// leaving reports an account SCIM deleted that GitLab has not removed yet, and
// since when.
func leaving(u *glUser) (time.Time, bool) {
	v, ok := u.CustomAttributes.get(attrDeleting)
	if !ok {
		return time.Time{}, false
	}
	t, _ := time.Parse(time.RFC3339, v)
	return t, true
}

// DeleteUser removes the GitLab user (deprovision mode "delete"): blocked first,
// as a deprovision would, then out of SCIM's view, then deleted. A DELETE that
// GitLab refuses (the sole owner of a group) puts the account back as it was.
func (a *Adapter) DeleteUser(ctx context.Context, id string) error {
	uid, ok := adapters.NumericID(id)
	if !ok {
		return adapters.ErrNotFound
	}
	cur, err := a.getUser(ctx, uid)
	if err != nil {
		return err
	}
	if _, ok := leaving(cur); ok {
		return adapters.ErrNotFound
	}
	owner := userPath(uid)
	wasActive := cur.State == stateActive
	prevBlock, _ := cur.CustomAttributes.get(attrBlocked)
	if wasActive {
		// SCIM's mark before SCIM's block, as UpdateUser writes them.
		if err := a.syncAttr(ctx, owner, cur.CustomAttributes, attrBlocked, "true"); err != nil {
			return err
		}
		if err := a.setActive(ctx, cur, false); err != nil {
			return err
		}
	}
	if err := a.syncAttr(ctx, owner, cur.CustomAttributes, attrDeleting, time.Now().UTC().Format(time.RFC3339)); err != nil {
		return err
	}
	if err := a.syncAttr(ctx, owner, cur.CustomAttributes, attrManaged, ""); err != nil {
		return err
	}
	resp, err := a.send(ctx, upstream.Request{Method: http.MethodDelete, Path: owner, Idempotent: true})
	switch {
	case err != nil:
		a.logger.Warn("GitLab did not answer a user DELETE: the account stays blocked and out of SCIM's view", zap.Int64("id", uid), zap.Error(err))
		return err
	case resp.OK() || resp.Status == http.StatusNotFound:
		return nil
	case resp.Status == http.StatusConflict:
		a.undoDelete(ctx, cur, wasActive, prevBlock)
		return adapters.RefusedBecause("GitLab cannot delete the user: %s", a.message(resp))
	}
	return a.fail(resp)
}

// undoDelete puts back an account whose DELETE GitLab refused: SCIM's marks, then
// its state, then its block mark. Best effort: a failure is logged.
func (a *Adapter) undoDelete(ctx context.Context, cur *glUser, wasActive bool, prevBlock string) {
	owner := userPath(cur.ID)
	err := a.syncAttr(ctx, owner, cur.CustomAttributes, attrManaged, "true")
	if err == nil {
		err = a.syncAttr(ctx, owner, cur.CustomAttributes, attrDeleting, "")
	}
	if err == nil && wasActive {
		if err = a.setActive(ctx, cur, true); err == nil {
			err = a.syncAttr(ctx, owner, cur.CustomAttributes, attrBlocked, prevBlock)
		}
	}
	if err != nil {
		a.logger.Warn("could not put back a GitLab user whose deletion GitLab refused", zap.Int64("id", cur.ID), zap.Error(err))
	}
}

// sendAwaiting sends r, a POST or PUT of a user with body; when GitLab refuses a
// value of body that an account SCIM deleted still holds, it waits for GitLab's
// worker and sends r once more.
func (a *Adapter) sendAwaiting(ctx context.Context, r upstream.Request, body map[string]any) (*upstream.Response, error) {
	resp, err := a.send(ctx, r)
	if err != nil || resp.OK() {
		return resp, err
	}
	gone, err := a.awaitDeletion(ctx, resp, body)
	if err != nil || !gone {
		return resp, err
	}
	return a.send(ctx, r)
}

// awaitDeletion finds the account holding the value resp refused; when SCIM
// deleted it and GitLab still has it, it waits for it to go: true when it went,
// else the Unavailable fact (or, past stuckDeletion, Refused). false, nil: no
// such account.
func (a *Adapter) awaitDeletion(ctx context.Context, resp *upstream.Response, body map[string]any) (bool, error) {
	what, q, match := conflictQuery(resp, body, a.provider)
	if q == nil {
		return false, nil
	}
	holders, err := a.rawUsers(ctx, q)
	if err != nil {
		return false, err
	}
	for i := range holders {
		since, ok := leaving(&holders[i])
		if !ok || !match(&holders[i]) {
			continue
		}
		if time.Since(since) > stuckDeletion {
			return false, adapters.RefusedBecause("the %s belongs to GitLab user %d, which SCIM deleted at %s and GitLab has not removed since "+
				"(its deletion job may have failed): delete that user in Admin Area > Users, then retry", what, holders[i].ID, since.Format(time.RFC3339))
		}
		return a.waitGone(ctx, holders[i].ID, what, since)
	}
	return false, nil
}

// conflictQuery is the GET /users query of the account holding the value resp
// refused (e-mail, username or externalId), and a filter of its answers.
func conflictQuery(resp *upstream.Response, body map[string]any, provider string) (string, url.Values, func(*glUser) bool) {
	str := func(k string) string { s, _ := body[k].(string); return s }
	msg := strings.ToLower(extractMessage(resp.Body))
	errs := errorsOf(resp.Body)
	email, username, ext := str("email"), str("username"), str("extern_uid")
	switch {
	case email != "" && (resp.Status == http.StatusConflict && strings.Contains(msg, "email") || taken(errs, false, func(k string) bool { return k == "email" })):
		return "e-mail", url.Values{"search": {email}}, func(u *glUser) bool { return strings.EqualFold(u.Email, email) }
	case username != "" && (resp.Status == http.StatusConflict && strings.Contains(msg, "username") || taken(errs, false, func(k string) bool { return k == "username" })):
		return "username", url.Values{"username": {username}}, func(u *glUser) bool { return strings.EqualFold(u.Username, username) }
	case ext != "" && taken(errs, false, func(k string) bool { return strings.HasPrefix(k, "identities") }):
		return "externalId", url.Values{"extern_uid": {ext}, "provider": {provider}}, func(u *glUser) bool {
			e, ok := u.externUID(provider)
			return ok && strings.EqualFold(e, ext)
		}
	}
	return "", nil, nil
}

// rawUsers reads the first page of GET /users for q, custom attributes included.
func (a *Adapter) rawUsers(ctx context.Context, q url.Values) ([]glUser, error) {
	q.Set("with_custom_attributes", "true")
	var users []glUser
	if err := walk(ctx, a, "/users", q, 1, func(l []glUser) bool { users = append(users, l...); return true }); err != nil {
		return nil, err
	}
	for i := range users {
		if err := a.ensureAttrs(ctx, userPath(users[i].ID), &users[i].CustomAttributes); err != nil {
			return nil, err
		}
	}
	return users, nil
}

// waitGone reads user id until GitLab has removed it, within the wait budget and
// the request's deadline.
func (a *Adapter) waitGone(ctx context.Context, id int64, what string, since time.Time) (bool, error) {
	wait := a.deletionWait
	if wait <= 0 {
		wait = defaultDeletionWait
	}
	end := time.Now().Add(wait)
	if dl, ok := ctx.Deadline(); ok && dl.Before(end) {
		end = dl
	}
	for n := 1; ; n++ {
		// Each read is its own request: the per-operation memo would answer a
		// repeated GET from its first answer.
		resp, err := a.send(ctx, upstream.Request{Path: userPath(id), Header: http.Header{"X-Scim-Poll": {strconv.Itoa(n)}}})
		if err != nil {
			return false, err
		}
		if resp.Status == http.StatusNotFound {
			return true, nil
		}
		pause := min(deletionPoll, wait/4)
		if time.Now().Add(pause).After(end) {
			break
		}
		select {
		case <-ctx.Done(): // the next read answers the context's fact
		case <-time.After(pause):
		}
	}
	return false, adapters.UnavailableFor(deletionRetryAfter, "GitLab is still deleting user %d, which SCIM deleted at %s and which holds this %s; retry shortly",
		id, since.Format(time.RFC3339), what)
}
