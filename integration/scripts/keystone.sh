#!/usr/bin/env bash
# keystone.sh — install and run a real OpenStack Keystone (Zed, Debian's package, SQLite)
# for the integration tests.
#
#   keystone.sh install                 apt-get install python3-keystone and build the instance
#                                       template (idempotent, locked; needs root or sudo)
#   keystone.sh start <workdir> [port]  start a private instance on 127.0.0.1:<port> (a free one
#                                       when absent); writes <workdir>/env
#   keystone.sh stop <workdir>          stop the instance started in <workdir>
#
# With WATCH_PID=<pid> in the environment, start also stops the server when that process exits.
#
# Only python3-keystone is installed: it holds all of Keystone's code, keystone-manage and the
# WSGI entry point. The keystone binary package adds the system service (uwsgi with 8
# processes on port 5000, /etc/keystone, an init script its postinst starts), which the tests
# do not use. Each keystone-manage run costs seconds of Python imports, so install runs them
# once into a template in the cache (db_sync; fernet and credential keys; bootstrap: user
# admin, project admin, roles admin/member/reader in domain default, with a random password)
# and start copies it into <workdir>, serves the copy with keystone-wsgi-public (Python's
# wsgiref, one thread, no Apache) on its own config, and asks for a project-scoped admin
# token. Keystone's tokens expire ([token] expiration, 3600 s by default) and the rest adapter
# sends a fixed token, so these instances issue tokens valid for a day (see the keystone
# preset in the README).
# Cache: ${CADDY_SCIM_CACHE:-$HOME/.cache/caddy-scim}/keystone/template-<version>/.
# Measured on 2 cores: install cold ~110 s (apt-get ~95 s, the template ~15 s), warm <1 s;
# start ~6 s (Python imports, then one token).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CACHE_ROOT="${CADDY_SCIM_CACHE:-$HOME/.cache/caddy-scim}"
DEST="$CACHE_ROOT/keystone"
MANAGE=/usr/bin/keystone-manage
SERVE=/usr/bin/keystone-wsgi-public
PY=/usr/bin/python3 # Debian's, whatever python3 comes first on PATH
TOKEN_TTL=86400

# version is the installed python3-keystone's, "" when none.
version() {
	dpkg-query -W -f '${Status} ${Version}' python3-keystone 2>/dev/null | sed -n 's/^install ok installed //p'
}

# template is the directory of the instance every start copies, per package version.
template() { echo "$DEST/template-$(version | tr ':~+' '___')"; }

packaged() {
	[[ -x "$MANAGE" && -x "$SERVE" && -n "$(version)" ]] && command -v curl >/dev/null 2>&1
}

installed() {
	packaged && [[ -s "$(template)/keystone.db" && -s "$(template)/admin-password" ]]
}

# write_config <dir>: the keystone.conf of the instance (or the template) in dir.
write_config() {
	local dir=$1
	cat >"$dir/keystone.conf" <<EOF
[DEFAULT]
use_stderr = true
[database]
connection = sqlite:///$dir/keystone.db
[identity]
# bcrypt's cheapest cost: only test passwords are hashed here
password_hash_rounds = 4
[token]
expiration = $TOKEN_TTL
[cache]
# one process: its own memory is a coherent cache (a token check costs 12 ms, not 300)
enabled = true
backend = dogpile.cache.memory
[fernet_tokens]
key_repository = $dir/fernet-keys
[fernet_receipts]
key_repository = $dir/fernet-keys
[credential]
key_repository = $dir/credential-keys
[oslo_policy]
# absent: the policy defaults in Keystone's code
policy_file = $dir/policy.yaml
EOF
}

# build_template <dir>: a migrated, bootstrapped instance without its server.
build_template() {
	local dir=$1 user group password
	user="$(id -un)" group="$(id -gn)"
	password="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	mkdir -p "$dir/fernet-keys" "$dir/credential-keys"
	chmod 700 "$dir" "$dir/fernet-keys" "$dir/credential-keys"
	write_config "$dir"
	local conf="$dir/keystone.conf"
	"$MANAGE" --config-file "$conf" db_sync &&
		"$MANAGE" --config-file "$conf" fernet_setup --keystone-user "$user" --keystone-group "$group" &&
		"$MANAGE" --config-file "$conf" credential_setup --keystone-user "$user" --keystone-group "$group" &&
		"$MANAGE" --config-file "$conf" bootstrap --bootstrap-password "$password" || return 1
	(umask 077 && echo "$password" >"$dir/admin-password")
}

cmd_install() {
	installed && return 0
	command -v apt-get >/dev/null 2>&1 || die "keystone is missing and apt-get is not available"
	local sudo=""
	[[ "$(id -u)" == 0 ]] || sudo="sudo"
	mkdir -p "$DEST"
	exec 9>"$DEST/install.lock"
	flock 9
	installed && return 0
	local start=$SECONDS
	if ! packaged; then
		log "installing python3-keystone with apt-get"
		export DEBIAN_FRONTEND=noninteractive
		# stale lists name .debs the mirror no longer has
		$sudo apt-get -o DPkg::Lock::Timeout=900 update -q >/dev/null || die "apt-get update failed"
		$sudo apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends python3-keystone curl >/dev/null ||
			die "apt-get install python3-keystone failed"
		packaged || die "keystone-manage and keystone-wsgi-public are still missing after the install"
		log "python3-keystone $(version) installed in $((SECONDS - start)) s"
	fi
	local tmp
	tmp="$(mktemp -d "$DEST/building.XXXXXX")"
	log "building the instance template (db_sync, keys, bootstrap)"
	build_template "$tmp" >"$tmp/build.log" 2>&1 || {
		tail -n 30 "$tmp/build.log" >&2
		rm -rf "$tmp"
		die "building the keystone template failed"
	}
	rm -rf "$(template)"
	mv "$tmp" "$(template)"
	installed || die "keystone is still not usable after the install"
	log "keystone installed in $((SECONDS - start)) s"
}

# token <url> <password>: a project-scoped token of the admin (the X-Subject-Token header).
token() {
	local body
	body="$(printf '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"id":"default"},"password":"%s"}}},"scope":{"project":{"name":"admin","domain":{"id":"default"}}}}}' "$2")"
	curl -fsS --max-time 30 -o /dev/null -D - -H 'Content-Type: application/json' -d "$body" "$1/v3/auth/tokens" |
		tr -d '\r' | sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: //p'
}

cmd_start() {
	[[ $# -eq 1 || $# -eq 2 ]] || die "usage: keystone.sh start <workdir> [port]"
	local work=$1 port=${2:-}
	[[ -n "$port" ]] || port="$(free_port)"
	[[ "$port" =~ ^[0-9]+$ ]] || die "port must be a number"
	installed || die "keystone is not installed; run: keystone.sh install"
	mkdir -p "$work"
	work="$(cd "$work" && pwd)"
	if [[ -f "$work/keystone.pid" ]] && alive "$(cat "$work/keystone.pid")"; then
		die "a keystone is already running from $work"
	fi
	local tpl url="http://127.0.0.1:$port"
	tpl="$(template)"
	rm -rf "$work/fernet-keys" "$work/credential-keys"
	cp -a "$tpl/keystone.db" "$tpl/fernet-keys" "$tpl/credential-keys" "$work/"
	write_config "$work"
	# exec: the pid is the server's; the redirections close the script's stdout, which
	# the caller waits on
	(OS_KEYSTONE_CONFIG_FILES="$work/keystone.conf" exec "$SERVE" --host 127.0.0.1 --port "$port") \
		>"$work/server.log" 2>&1 </dev/null &
	local pid=$!
	echo "$pid" >"$work/keystone.pid"
	watch_owner "$pid"
	wait_ready keystone "$pid" "$url/v3" "$work/server.log" 60
	local password tok
	password="$(cat "$tpl/admin-password")"
	tok="$(token "$url" "$password")" || true
	[[ -n "$tok" ]] || die "no token for the admin:
$(tail -n 30 "$work/server.log")"
	cat >"$work/env" <<EOF
KEYSTONE_URL=$url
KEYSTONE_ADMIN_PASSWORD=$password
KEYSTONE_TOKEN=$tok
KEYSTONE_DOMAIN_ID=default
KEYSTONE_PID=$pid
EOF
	chmod 600 "$work/env"
	echo "$url"
}

cmd_stop() {
	[[ $# -eq 1 ]] || die "usage: keystone.sh stop <workdir>"
	stop_pidfile "$1/keystone.pid"
}

case "${1:-}" in
install) shift && cmd_install "$@" ;;
start) shift && cmd_start "$@" ;;
stop) shift && cmd_stop "$@" ;;
*) die "usage: keystone.sh install | start <workdir> [port] | stop <workdir>" ;;
esac
