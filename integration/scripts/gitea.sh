#!/usr/bin/env bash
# gitea.sh — install and run a real Gitea for the integration tests.
#
#   gitea.sh install                  build Gitea into the cache (idempotent, locked)
#   gitea.sh start <workdir> <port>   start a fresh instance; writes <workdir>/env
#   gitea.sh stop <workdir>           stop the instance started in <workdir>
#   gitea.sh add-oauth <workdir> <name>  add an OAuth2 auth source; prints its id
#   gitea.sh path                     print the binary path
#
# With WATCH_PID=<pid> in the environment, start also stops the server when that process exits.
#
# Gitea is built from the Go module proxy (see docs/upstreams.md §6): `go install` is refused
# because of replace directives in Gitea's go.mod, so we build inside the downloaded module.
# Cache: ${CADDY_SCIM_CACHE:-$HOME/.cache/caddy-scim}/gitea-<version>/{gitea,options/}.
# Measured on 2 cores: install cold ~160-200 s (mostly the Go build), warm (binary present) <1 s;
# start on an empty workdir ~3 s (migrate, admin, token, ready).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

GITEA_VERSION="${GITEA_VERSION:-1.26.0}"
CACHE_ROOT="${CADDY_SCIM_CACHE:-$HOME/.cache/caddy-scim}"
DEST="$CACHE_ROOT/gitea-$GITEA_VERSION"
BIN="$DEST/gitea"
ADMIN_USER="scimadmin"
ADMIN_PASS="scim-admin-password-1"
ADMIN_EMAIL="scimadmin@example.test"


# binary_ok is true when a usable build of the wanted version is cached.
binary_ok() {
	[[ -x "$BIN" && -d "$DEST/options/locale" ]] || return 1
	"$BIN" --version 2>/dev/null | grep -q "version $GITEA_VERSION " || return 1
}


ensure_git() { ensure_cmd git git ca-certificates; }

cmd_install() {
	ensure_git
	command -v go >/dev/null 2>&1 || die "go is required on PATH"
	# the tests change what Gitea's API cannot (an account left unactivated) in its db
	ensure_cmd sqlite3 sqlite3
	if binary_ok; then
		return 0
	fi
	# The sqlite driver is cgo.
	ensure_cmd "$(go env CC 2>/dev/null || echo gcc)" gcc libc6-dev
	mkdir -p "$DEST"
	# The lock makes parallel test binaries wait for one build instead of racing.
	exec 9>"$DEST/.lock"
	flock 9
	if binary_ok; then
		return 0
	fi
	local start=$SECONDS
	log "building gitea $GITEA_VERSION into $DEST (a few minutes on a cold cache)"
	go mod download "code.gitea.io/gitea@v$GITEA_VERSION" || die "go mod download code.gitea.io/gitea@v$GITEA_VERSION failed"
	local src
	src="$(go env GOMODCACHE)/code.gitea.io/gitea@v$GITEA_VERSION"
	[[ -f "$src/go.mod" ]] || die "module source not found at $src"
	local tags="sqlite sqlite_unlock_notify"
	# -o into the cache: the module cache is read-only.
	(cd "$src" && CGO_ENABLED=1 GOWORK=off GOFLAGS=-mod=readonly go build -tags "$tags" \
		-ldflags "-s -w -X 'main.Version=$GITEA_VERSION' -X 'main.Tags=$tags'" \
		-o "$BIN.tmp" .) || die "go build of gitea failed"
	rm -rf "$DEST/options"
	cp -r "$src/options" "$DEST/options"
	chmod -R u+w "$DEST/options"
	mv -f "$BIN.tmp" "$BIN"
	binary_ok || die "built binary does not run: $("$BIN" --version 2>&1 || true)"
	log "gitea $GITEA_VERSION built in $((SECONDS - start)) s"
}

write_ini() {
	local work=$1 port=$2
	cat >"$work/custom/conf/app.ini" <<EOF
APP_NAME = caddy-scim test
RUN_MODE = prod
WORK_PATH = $work
I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = $port
ROOT_URL = http://127.0.0.1:$port/
DOMAIN = 127.0.0.1
STATIC_ROOT_PATH = $DEST
APP_DATA_PATH = $work/data
OFFLINE_MODE = true
DISABLE_SSH = true
START_SSH_SERVER = false
LFS_START_SERVER = false

[database]
DB_TYPE = sqlite3
PATH = $work/data/gitea.db
SQLITE_JOURNAL_MODE = WAL

[repository]
ROOT = $work/repos

[security]
INSTALL_LOCK = true
PASSWORD_HASH_ALGO = pbkdf2\$1000\$50
PASSWORD_COMPLEXITY = off
PASSWORD_CHECK_PWN = false
MIN_PASSWORD_LENGTH = 8

[service]
DISABLE_REGISTRATION = true
REQUIRE_SIGNIN_VIEW = false
REGISTER_EMAIL_CONFIRM = false
ENABLE_NOTIFY_MAIL = false

[api]
MAX_RESPONSE_ITEMS = 100

[mailer]
ENABLED = false

[cache]
ADAPTER = memory

[session]
PROVIDER = memory

[queue]
TYPE = level

[indexer]
ISSUE_INDEXER_TYPE = db
REPO_INDEXER_ENABLED = false

[cron]
ENABLED = false

[cron.update_checker]
ENABLED = false

[log]
MODE = file
LEVEL = Warn
ROOT_PATH = $work/log
EOF
}

cmd_start() {
	[[ $# -eq 2 ]] || die "usage: gitea.sh start <workdir> <port>"
	local work=$1 port=$2
	[[ "$port" =~ ^[0-9]+$ ]] || die "port must be a number: $port"
	binary_ok || die "gitea is not installed; run: gitea.sh install"
	ensure_git
	mkdir -p "$work"
	work="$(cd "$work" && pwd)"
	if [[ -f "$work/gitea.pid" ]] && kill -0 "$(cat "$work/gitea.pid")" 2>/dev/null; then
		die "a gitea is already running from $work (pid $(cat "$work/gitea.pid"))"
	fi
	mkdir -p "$work/custom/conf" "$work/data" "$work/log" "$work/repos" "$work/home"
	write_ini "$work" "$port"
	local conf="$work/custom/conf/app.ini"
	# HOME is redirected so git config written by Gitea stays in the workdir.
	export HOME="$work/home" GITEA_WORK_DIR="$work" GITEA_CUSTOM="$work/custom"
	local g=("$BIN" --config "$conf" --work-path "$work")
	local out="$work/setup.log"
	: >"$out"
	"${g[@]}" migrate >>"$out" 2>&1 || die "gitea migrate failed:
$(tail -n 30 "$out")"
	"${g[@]}" admin user create --admin --username "$ADMIN_USER" --password "$ADMIN_PASS" \
		--email "$ADMIN_EMAIL" --must-change-password=false >>"$out" 2>&1 ||
		die "gitea admin user create failed:
$(tail -n 30 "$out")"
	local tokout token
	tokout="$("${g[@]}" admin user generate-access-token --username "$ADMIN_USER" \
		--token-name "scim-$(date +%s%N)" --scopes 'write:admin,write:user,write:organization' --raw 2>>"$out")" ||
		die "gitea generate-access-token failed:
$(tail -n 30 "$out")"
	# As root a warning line precedes the token on stdout.
	token="$(printf '%s\n' "$tokout" | tail -n 1 | tr -d '[:space:]')"
	[[ "$token" =~ ^[0-9a-f]{40}$ ]] || die "unexpected token output from gitea: $(printf '%s' "$tokout" | tail -n 1 | cut -c1-80)"

	nohup "${g[@]}" web --port "$port" >"$work/log/web.out" 2>&1 </dev/null &
	local pid=$!
	echo "$pid" >"$work/gitea.pid"
	watch_owner "$pid"
	local url="http://127.0.0.1:$port"
	wait_ready "gitea web" "$pid" "$url/api/healthz" "$work/log/web.out" 30
	cat >"$work/env" <<EOF
GITEA_URL=$url
GITEA_TOKEN=$token
GITEA_ADMIN=$ADMIN_USER
GITEA_PID=$pid
EOF
	chmod 600 "$work/env"
	echo "$url"
}



cmd_stop() {
	[[ $# -eq 1 ]] || die "usage: gitea.sh stop <workdir>"
	stop_pidfile "$1/gitea.pid"
}

# cmd_add_oauth adds an OAuth2 authentication source (provider github: it needs no
# discovery endpoint, and every OAuth2 source binds sign-ins by login_name alike) to the
# instance in <workdir> and prints its id.
cmd_add_oauth() {
	[[ $# -eq 2 ]] || die "usage: gitea.sh add-oauth <workdir> <name>"
	local work name=$2
	work="$(cd "$1" && pwd)"
	[[ "$name" =~ ^[A-Za-z0-9_-]+$ ]] || die "source name must be alphanumeric: $name"
	export HOME="$work/home" GITEA_WORK_DIR="$work" GITEA_CUSTOM="$work/custom"
	local g=("$BIN" --config "$work/custom/conf/app.ini" --work-path "$work")
	local out
	out="$("${g[@]}" admin auth add-oauth --name "$name" --provider github --key scim-test --secret scim-test 2>&1)" ||
		die "gitea admin auth add-oauth failed: $(printf '%s' "$out" | tail -n 5)"
	local id
	id="$("${g[@]}" admin auth list 2>/dev/null | awk -v n="$name" '$2 == n { print $1 }')"
	[[ "$id" =~ ^[0-9]+$ ]] || die "cannot find the id of auth source $name"
	echo "$id"
}

case "${1:-}" in
install) shift && cmd_install "$@" ;;
start) shift && cmd_start "$@" ;;
stop) shift && cmd_stop "$@" ;;
add-oauth) shift && cmd_add_oauth "$@" ;;
path) echo "$BIN" ;;
*) die "usage: gitea.sh install | start <workdir> <port> | stop <workdir> | add-oauth <workdir> <name> | path" ;;
esac
