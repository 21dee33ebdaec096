// Package gitlabemu is an in-memory emulator of the parts of GitLab's REST
// API v4 that the caddy-scim GitLab adapter uses. It is written from the
// sourced facts in docs/upstreams.md (§2 "GitLab REST admin API", §5.4
// "Emulator checklist") and GitLab's own source (lib/api/users.rb,
// lib/api/groups.rb, app/models/user.rb, namespace.rb, member.rb, the services
// and specs each change names), independently of any adapter, so adapter
// tests cannot pass by two wrong halves agreeing. It follows GitLab 17.x and
// 18.x (18.0 brought delayed group deletion to every tier); Options select
// what depends on a setting or a version. Standard library only; safe for
// concurrent use.
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
// Options.AdminMode (GitLab 15.8+, lib/api/api_guard.rb
// bypass_session_for_admin_mode?): an administrator's token without the
// admin_mode scope acts as a normal user (403 on admin endpoints, user views
// without admin fields), while GET /user still renders UserWithAdmin with
// is_admin true (User#admin?) and /personal_access_tokens/self shows the
// scopes.
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
// "Username has already been taken" when another user has the username
// (case-insensitive), else 400 with the model errors: username path rules
// (the namespace format, the OCI format of lib/gitlab/regex.rb, reserved
// top-level names, 2..255 characters, no ending in "." and a Rails MIME
// extension: "ending with a reserved file extension is not allowed."), name
// blank/too long, e-mail format (Devise regexp) and uniqueness against
// unconfirmed secondaries too, password 8..128, identities.extern_uid unique
// per provider case-insensitively ("has already been taken. Please contact
// your administrator to generate a unique extern_uid / NameID"), and a
// username equal to a top-level group's path: {"base":["A user, alias, or
// group already exists with that username."]} (user.rb set_username_errors).
//
// GET /users/:id: UserDetailsWithAdmin for admins (id, username, name,
// state, email, identities[{provider,extern_uid,saml_provider_id:null}],
// is_admin, created_at, confirmed_at, last_activity_on, current_sign_in_at,
// EE scim_identities:[] ...; custom_attributes with with_custom_attributes),
// Entities::User for others; 404 "404 User Not Found". GET /user too.
// GET /personal_access_tokens/self answers the token's scopes.
// GET /users/:user_id/memberships (admins): direct memberships as
// {source_id, source_name, source_type, access_level}, type Namespace or
// Project, paginated.
//
// GET /users: username (exact, case-insensitive); search (name/username
// substring, exact below 3 characters, exact public e-mail, and for admins
// exact primary or confirmed secondary e-mail; ordered like User.search:
// exact public_email, username, name first, then name); extern_uid+provider
// (admin only, else 403; extern_uid case-insensitive, Identity.with_extern_uid;
// provider "scim" is EE's instance scim_identities lookup and always empty
// here, since the emulator has no SCIM identities); active; blocked
// (blocked+ldap_blocked); exclude_active; external; admins;
// custom_attributes[k]=v (admins); created_after/before (admins);
// order_by id|name|username|created_at|updated_at and sort (admins only;
// default id desc, id tie-breaker). Non-admins get UserBasic rows.
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
// the max-offset limit, held against the page's end (page * per_page >
// limit, lib/api/helpers/pagination_strategies.rb): 405 "Offset pagination
// has a maximum allowed offset of N ... keyset pagination.".
//
// PUT /users/:id: any create attribute + skip_reconfirmation; 409 for an
// e-mail/username taken by another user, checked before the update; 400
// model errors, the username's only when it changes. extern_uid+provider:
// the identity of that provider is found or created, then given the
// extern_uid; when another user holds that extern_uid the change is dropped
// and the rest saved, and a user that had no identity of the provider keeps a
// new one with a null extern_uid (users/update_service.rb assign_identity).
// Primary e-mail change, our reading of "can only change to an
// already-added secondary e-mail": a confirmed secondary address of the
// user, or any address with skip_reconfirmation=true, becomes primary at
// once and the old primary is kept as a confirmed secondary; any other
// address is stored as unconfirmed_email (Devise reconfirmable) and the
// primary does not change — the call still answers 200.
//
// States (§1.8, §2.3; messages from lib/api/users.rb and Users::*Service;
// banned counts as blocked, User#blocked?): block → 201 true; 201 null if
// already blocked/blocked_pending_approval/banned; 403 "403 Forbidden - LDAP
// blocked users cannot be modified by the API"; 403 "403 Forbidden - The API
// initiating user cannot be blocked by the API". unblock → 201 true
// (blocked, blocked_pending_approval, banned → active via User#activate),
// 201 false if already active, 403 "403 Forbidden - LDAP blocked users
// cannot be unblocked by the API" and "403 Forbidden - Deactivated users
// cannot be unblocked by the API". deactivate → 201 true; 201 null if
// already deactivated; 403 {"message":"Error occurred. A blocked user cannot
// be deactivated"}; 403 "Internal users cannot be deactivated"; 403 "The
// user you are trying to deactivate has been active in the past 90 days and
// cannot be deactivated" unless the later of last_activity_on and
// current_sign_in_at is ≥90 days old (neither: dormant; created_at does not
// count). activate → 201 true (also when already active); 403 "Error
// occurred. A blocked user must be unblocked to be activated" for blocked
// states. ban/unban → 201 true; 403 "You cannot ban <state> users." / "You
// cannot unban <state> users.". Blocked, banned, deactivated... users' own
// tokens get 401.
//
// DELETE /users/:id → 204 (hard_delete blocks the user first); 409 "User
// cannot be removed while is the sole-owner of a group" unless hard_delete.
// The removal is DeleteUserWorker's (User#delete_async): until it runs the
// user stays in its state with its username, e-mail and identities
// (Options.UserDeletionDelay; Options.UserDeletionStalls for a job that never
// completes; 0: done by the next request). DELETE
// /users/:id/identities/:provider → 204 / 404 "404 Identity Not Found".
// POST/GET/DELETE /users/:id/emails (skip_confirmation → confirmed_at;
// 400 {"message":{"email":["has already been taken"]}} / "is invalid").
// Custom attributes (admin only) on users and groups: GET list, GET/PUT/
// DELETE :key (PUT needs value; 404 "404 Custom Attribute Not Found").
//
// Groups (§2.5): POST /groups {name, path, parent_id?, visibility,
// description} → 201, creator becomes owner (50); path rules as usernames'
// (less the file-extension rule), unique as routes: among sibling groups,
// the parent's projects (CreateProjectDirect) and, at top level, usernames;
// subgroup names unique within the parent; failure 400 {"message":"Failed
// to save group {:path=>[\"has already been taken\"]}"}. GET /groups/:id (id
// or URL-encoded full path; 404 "404 Group Not Found"), GET /groups (search,
// custom_attributes[k]=v, order_by name|path|id, default name asc;
// paginated), PUT /groups/:id, DELETE /groups/:id → 202 {"message":"202
// Accepted"}: gone at once with its subgroups and projects, or, with
// Options.DelayedGroupDeletion, marked for deletion (marked_for_deletion_on),
// renamed "<name>-deletion_scheduled-<id>" (name and path) and kept with its
// members for Options.GroupRetention; a second DELETE → 400 "Group has been
// already marked for deletion"; permanently_remove=true with full_path
// removes a marked subgroup at once, else 400 ("`permanently_remove` option
// is only available for subgroups.", "Group must be marked for deletion
// first.", "`full_path` is incorrect. ..."). Members: GET
// /groups/:id/members (direct members, user_ids, query, paginated), GET
// /groups/:id/members/:user_id, POST {user_id|username, access_level ∈
// 0,5,10,15,20,30,40,50} → 201 member / 409 {"message":"Member already
// exists"} / 404 User / 400 {"message":{"access_level":["should be greater
// than or equal to Developer inherited membership from group <name>"]}} below
// a role held in an ancestor (member.rb higher_access_level_than_group); PUT
// :user_id {access_level} → 200 (same rule); DELETE :user_id → 204; a
// non-member on PUT/DELETE → 404 {"message":"404 Not found"} (find_by! →
// RecordNotFound rescue).
//
// Rate limiting (§2.2): with Options.RateLimit > 0, request N+1 of an
// authenticated user within a RateLimitWindow aligned on the epoch gets 429.
// RackAttack style (lib/gitlab/rack_attack.rb): text/plain "Retry later",
// Retry-After (seconds to the window's end), RateLimit-Name/Limit (per 60
// seconds)/Observed/Remaining/Reset (a Unix time)/ResetTime (an HTTP date).
// ApplicationLimit style (lib/api/helpers/rate_limiter.rb): {"message":
// {"error":"This endpoint has been requested too many times. Try again
// later."}} with no Retry-After. Options.GroupsAPILimit and GroupAPILimit are
// the per-user, per-minute limits of GET /groups and GET /groups/:id (17.1+),
// in that JSON shape.
//
// Test control: User, FindByUsername, Users, SetState, ModifyUser,
// CreateUserDirect, CreateUsersDirect, Group, Groups, CreateGroupDirect,
// CreateProjectDirect, AddToken, RunUserDeletions, PendingUserDeletions,
// RunGroupDeletions, Calls, TotalCalls, ResetCalls, FailNext, DelayNext,
// InjectFault, Reset; Options.Clock sets the emulator's time.
//
// # Left out
//
// GitLab's own SCIM API (/api/scim/v2, §1); Sudo header; approve/reject of
// blocked_pending_approval users and the user cap; SAML/LDAP sign-in
// (identities are plain rows; no LDAP DN normalisation); the users_get_by_id
// 300/10 min limit for non-admins and the other per-endpoint limits; ghost-user
// migration and hard_delete's removal of contributions; the delayed deletion
// of one's own account; projects beyond their paths (no project API, no
// project members, so Project memberships are empty); SSH/GPG keys, the
// tokens API; promotion-approval "Request queued" member answers; inherited
// (/members/all) membership; POST /groups/:id/restore, the skipped rename of
// a marked group holding container images, and subgroups of a marked group
// reading as pending deletion; aliases (redirect routes) in the username
// clash; the group name format (group_name_regex) and visibility rules
// against the parent; unauthenticated GET /users?username= (everything
// without a token is 401 here); ETags and conditional requests; entity
// fields beyond those listed above.
package gitlabemu
