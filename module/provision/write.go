package provision

import (
	"context"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// The write pipeline. Every change of an existing resource — PUT, PATCH and DELETE of
// a user or a group — takes the same steps, here: the resource's write lock (on this
// instance and, through the link store, across instances, so that no interleaving
// of a DELETE with a PUT or PATCH writes a stale state back); a fresh read under it;
// If-Match against that read; then the change, which the resource type supplies
// (users.go, groups.go) and which ends in the adapter's writes.

// writeLocked runs change on the resource of key as read, under the lock, after
// If-Match. read answers the resource and its version (its ETag's source).
func writeLocked[T, R any](ctx context.Context, s *Service, key, ifMatch string,
	read func(context.Context) (T, string, error), change func(context.Context, T) (R, error)) (R, error) {
	var zero R
	release, err := s.lockAll(ctx, []string{key})
	if err != nil {
		return zero, err
	}
	defer release()
	ctx = adapters.WithMemo(ctx) // the adapter's read before its write reuses this one
	cur, version, err := read(ctx)
	if err != nil {
		return zero, err
	}
	if err := checkIfMatch(ifMatch, version); err != nil {
		return zero, err
	}
	return change(ctx, cur)
}

// checkIfMatch implements If-Match (RFC 7644 §3.14) with the one ETag rule.
func checkIfMatch(ifMatch, version string) error {
	if ifMatch == "" || version == "" || scim.ETagMatches(ifMatch, scim.ETag(version)) {
		return nil
	}
	return scim.Errorf(412, "", "the resource has changed: If-Match does not match the current version %s", scim.ETag(version))
}

// patched applies a PATCH's operations to the rendered current resource and decodes
// the result: the one PATCH semantics for users and groups.
func patched[T any](cur T, ops []scim.PatchOp, rt *scim.ResourceType, render func(T) scim.Resource, decode func(scim.Resource) (T, error)) (T, error) {
	res, err := scim.ApplyPatch(render(cur), ops, rt)
	if err != nil {
		var zero T
		return zero, err
	}
	return decode(res)
}
