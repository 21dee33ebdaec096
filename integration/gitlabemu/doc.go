// Package gitlabemu is an in-memory emulator of the parts of GitLab's REST
// API v4 that the caddy-scim GitLab adapter uses. It is written from the
// sourced facts in docs/upstreams.md (§2 "GitLab REST admin API", §5.4
// "Emulator checklist") and GitLab's lib/api/users.rb, independently of any
// adapter, so adapter tests cannot pass by two wrong halves agreeing.
// Standard library only; safe for concurrent use.
//
// # Reproduced
//
// Auth (§2.1): PRIVATE-TOKEN header, Authorization: Bearer, ?private_token=.
// Missing, unknown or a token whose user is not active → 401
// {"message":"401 Unauthorized"}. Non-admin on an admin endpoint → 403
// {"message":"403 Forbidden"}; a token without the api scope on a write →
// 403 {"error":"insufficient_scope",...}; read_api/read_user allow GETs.
// authenticated_as_admin! runs after Grape validation, so a non-admin's
// malformed POST /users is a 400 before it is a 403, as in GitLab.
//
// Error shapes (§2.2): render_api_error! {"message":m}; not_found!
// {"message":"404 User Not Found"} (Group, Identity, Email, Custom Attribute,
// Member alike); forbidden! {"message":"403 Forbidden - <reason>"};
// conflict! 409 {"message":m}; model validation 400
// {"message":{"attr":["msg"]}} in validation order; Grape parameter errors
// 400 {"error":"a is missing, b is missing"} including at_least_one_of
// ("password, reset_password, force_random_password are missing, at least
// one parameter must be provided"), all_or_none_of ("extern_uid, provider
// provide all or none of parameters"), "x is invalid" for bad booleans and
// integers and "x does not have a valid value" for enums. Unknown route,
// or a non-numeric :id (requirement id: /[0-9]*/) → 404
// {"error":"404 Not Found"} (the catch-all route's Grape error!; listed as
// open point in §5.5).
//
// POST /users (§2.3): required email, name, username and one of
// password/reset_password/force_random_password; skip_confirmation sets
// confirmed_at; extern_uid+provider create an identity. After a failed
// save: 409 "Email has already been taken" when the address is any user's
// primary or confirmed secondary e-mail (case-insensitive), else 409
// "Username has already been taken" (case-insensitive), else 400 with the
// model errors: username path rules ("can contain only letters, digits,
// '_', '-' and '.'. Cannot start with '-' or end in '.', '.git' or
// '.atom'.", reserved top-level names, ≤255, collision with a top-level
// group path), name blank/too long, e-mail format (Devise regexp) and
// uniqueness against unconfirmed secondaries too, password 8..128, and
// identities.extern_uid unique per provider case-insensitively ("has
// already been taken. Please contact your administrator to generate a
// unique extern_uid / NameID").
//
// GET /users/:id: UserDetailsWithAdmin for admins (id, username, name,
// state, email, identities[{provider,extern_uid,saml_provider_id:null}],
// is_admin, created_at, confirmed_at, last_activity_on, EE
// scim_identities:[] ...; custom_attributes with with_custom_attributes),
// Entities::User for others; 404 "404 User Not Found". GET /user too.
// GET /personal_access_tokens/self answers the token's scopes.
//
// GET /users: username (exact, case-insensitive); search (name/username
// substring, exact below 3 characters, exact public e-mail, and for admins
// exact primary or confirmed secondary e-mail; ordered like User.search:
// exact public_email, username, name first, then name); extern_uid+provider
// (admin only, else 403; extern_uid case-insensitive; provider "scim" is EE's
// instance scim_identities lookup and always empty here, since the emulator
// has no SCIM identities); active; blocked (blocked+ldap_blocked);
// exclude_active; external; admins; custom_attributes[k]=v (admins);
// created_after/before (admins); order_by id|name|username|created_at|
// updated_at and sort (admins only; default id desc, id tie-breaker).
// Non-admins get UserBasic rows.
//
// Pagination (§2.4): offset page/per_page (default 20, capped at
// MaxPerPage=100, per_page<1 → 20) with Link (prev, next, first, last in
// that order, query keys sorted), X-Page, X-Per-Page, X-Next-Page,
// X-Prev-Page (empty when none), X-Total, X-Total-Pages (≥1); above 10 000
// rows X-Total, X-Total-Pages and rel="last" are omitted. Keyset for /users:
// pagination=keyset&order_by=id&sort=asc|desc&per_page=N → only Link (and
// Links) rel="next" carrying an opaque cursor (base64 {"id":"N","_kd":"n"}),
// no X-Total; other order_by → 405 {"error":"Keyset pagination is not yet
// available for this type of request"}. Options.KeysetRequiredAbove models
// the max-offset limit: 405 "Offset pagination has a maximum allowed offset
// of N ... keyset pagination.".
//
// PUT /users/:id: any create attribute + skip_reconfirmation; 409 for an
// e-mail/username taken by another user, checked before the update; 400
// model errors. extern_uid+provider upserts the identity of that provider;
// if another user holds that extern_uid the identity change is silently
// dropped and the rest saved (UpdateService ignores it; re-read to verify).
// Primary e-mail change, our reading of "can only change to an
// already-added secondary e-mail": a confirmed secondary address of the
// user, or any address with skip_reconfirmation=true, becomes primary at
// once and the old primary is kept as a confirmed secondary; any other
// address is stored as unconfirmed_email (Devise reconfirmable) and the
// primary does not change — the call still answers 200.
//
// States (§1.8, §2.3; messages from lib/api/users.rb and Users::*Service):
// block → 201 true; 201 null if already blocked/blocked_pending_approval;
// 403 "403 Forbidden - LDAP blocked users cannot be modified by the API";
// 403 "403 Forbidden - The API initiating user cannot be blocked by the
// API". unblock → 201 true (blocked, blocked_pending_approval, banned →
// active via User#activate), 201 false if already active, 403 "403
// Forbidden - LDAP blocked users cannot be unblocked by the API" and "403
// Forbidden - Deactivated users cannot be unblocked by the API".
// deactivate → 201 true; 201 null if already deactivated; 403 {"message":
// "Error occurred. A blocked user cannot be deactivated"}; 403 "Internal
// users cannot be deactivated"; 403 "The user you are trying to deactivate
// has been active in the past 90 days and cannot be deactivated" unless
// max(last_activity_on, created_at) is ≥90 days old. activate → 201 true
// (also when already active); 403 "Error occurred. A blocked user must be
// unblocked to be activated" for blocked states. ban/unban → 201 true; 403
// "You cannot ban <state> users." / "You cannot unban <state> users.".
// Blocked, banned, deactivated... users' own tokens get 401.
//
// DELETE /users/:id → 204 (hard_delete accepted); 409 "User cannot be
// removed while is the sole-owner of a group" unless hard_delete. DELETE
// /users/:id/identities/:provider → 204 / 404 "404 Identity Not Found".
// POST/GET/DELETE /users/:id/emails (skip_confirmation → confirmed_at;
// 400 {"message":{"email":["has already been taken"]}} / "is invalid").
// Custom attributes (admin only) on users and groups: GET list, GET/PUT/
// DELETE :key (PUT needs value; 404 "404 Custom Attribute Not Found").
//
// Groups (§2.5): POST /groups {name, path, parent_id?, visibility,
// description} → 201, creator becomes owner (50); path rules as usernames,
// unique among siblings and, at top level, against usernames; failure 400
// {"message":"Failed to save group {:path=>[\"has already been taken\"]}"}.
// GET /groups/:id (id or URL-encoded full path; 404 "404 Group Not Found"),
// GET /groups (search, custom_attributes[k]=v, order_by name|path|id,
// default name asc; paginated), PUT /groups/:id, DELETE /groups/:id → 202
// {"message":"202 Accepted"} (GitLab deletes asynchronously; here at once,
// subgroups included). Members: GET /groups/:id/members (direct members,
// user_ids, query, paginated), GET /groups/:id/members/:user_id, POST
// {user_id|username, access_level ∈ 0,5,10,15,20,30,40,50} → 201 member /
// 409 {"message":"Member already exists"} / 404 User; PUT :user_id
// {access_level} → 200; DELETE :user_id → 204; a non-member on PUT/DELETE
// → 404 {"message":"404 Not found"} (find_by! → RecordNotFound rescue).
//
// Rate limiting (§2.2): with Options.RateLimit > 0, request N+1 of an
// authenticated user within RateLimitWindow gets 429. RackAttack style:
// text/plain "Retry later\n", Retry-After (seconds to window end),
// RateLimit-Name/Limit/Observed/Remaining/Reset/ResetTime. ApplicationLimit
// style: {"message":{"error":"This endpoint has been requested too many
// times. Try again later."}} with Retry-After: 60.
//
// Test control: User, FindByUsername, Users, SetState, ModifyUser,
// CreateUserDirect, Group, Groups, CreateGroupDirect, AddToken, Calls,
// TotalCalls, ResetCalls, FailNext, DelayNext, InjectFault, Reset.
//
// # Left out
//
// GitLab's own SCIM API (/api/scim/v2, §1); Sudo header; approve/reject of
// blocked_pending_approval users and the user cap; SAML/LDAP sign-in
// (identities are plain rows; no LDAP DN normalisation); the users_get_by_id
// 300/10 min limit for non-admins; async deletion (DELETE is immediate, a
// GET right after answers 404 where GitLab might still show the user) and
// ghost-user migration; projects, /users/:id/memberships, SSH/GPG keys,
// tokens API; promotion-approval "Request queued" member answers; inherited
// (/members/all) membership; group delayed deletion; unauthenticated
// GET /users?username= (everything without a token is 401 here); ETags and
// conditional requests; exact Rack::Attack window arithmetic (a fixed
// window per user is used); entity fields beyond those listed above.
package gitlabemu
