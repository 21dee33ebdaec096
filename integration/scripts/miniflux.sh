#!/usr/bin/env bash
# miniflux.sh — install and run a real Miniflux 2.3 (PostgreSQL) for the integration tests.
#
#   miniflux.sh install                 PostgreSQL from apt, miniflux built from the Go module
#                                       proxy into the cache (idempotent, locked)
#   miniflux.sh start <workdir> [port]  a private PostgreSQL cluster and a Miniflux in <workdir>
#                                       (a free port when none is given); writes <workdir>/env
#   miniflux.sh stop <workdir>          stop both
#   miniflux.sh path                    print the binary path
#
# With WATCH_PID=<pid> in the environment, start also stops both servers when that process exits.
#
# Miniflux keeps everything in PostgreSQL. start makes a cluster of its own in
# <workdir>/pg (initdb; no TCP, a Unix socket in the same directory; fsync off: a test
# database), run by the postgres system user when the script runs as root (PostgreSQL
# refuses root); Miniflux migrates it and creates its administrator from the
# environment (CREATE_ADMIN, a random password), its scheduler off (no feeds to poll).
# Then start makes the administrator's API key (POST /v1/api-keys with Basic auth): what
# the miniflux preset's token is.
# Cache: ${CADDY_SCIM_CACHE:-$HOME/.cache/caddy-scim}/miniflux-<version>/miniflux.
# Measured on 2 cores under load: install cold ~97 s (PostgreSQL already installed: the
# modules from the proxy, then the build), warm 0.2 s; start 3.5-4.5 s (initdb, 135
# migrations, the administrator's bcrypt).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MINIFLUX_VERSION="${MINIFLUX_VERSION:-2.3.5}"
CACHE_ROOT="${CADDY_SCIM_CACHE:-$HOME/.cache/caddy-scim}"
DEST="$CACHE_ROOT/miniflux-$MINIFLUX_VERSION"
BIN="$DEST/miniflux"
ADMIN=admin

binary_ok() {
	[[ -x "$BIN" ]] && "$BIN" -version >/dev/null 2>&1
}

# pg_bin prints the directory of the newest installed PostgreSQL server's programs.
pg_bin() {
	local d
	d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
	[[ -n "$d" && -x "$d/postgres" && -x "$d/initdb" ]] || return 1
	echo "$d"
}

install_postgres() {
	pg_bin >/dev/null && return 0
	command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is missing and apt-get is not available"
	local sudo=""
	[[ "$(id -u)" == 0 ]] || sudo="sudo"
	log "installing postgresql with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get -o DPkg::Lock::Timeout=900 update -q >/dev/null || die "apt-get update failed"
	$sudo apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends postgresql >/dev/null ||
		die "apt-get install postgresql failed"
	pg_bin >/dev/null || die "PostgreSQL is still missing after the install"
}

cmd_install() {
	if binary_ok && pg_bin >/dev/null; then
		return 0
	fi
	mkdir -p "$DEST"
	exec 9>"$DEST/.lock"
	flock 9
	local start=$SECONDS
	install_postgres
	if binary_ok; then
		return 0
	fi
	if ! command -v go >/dev/null 2>&1; then
		[[ -x /usr/local/go/bin/go ]] && export PATH=$PATH:/usr/local/go/bin
	fi
	command -v go >/dev/null 2>&1 || die "go is required on PATH"
	log "building miniflux $MINIFLUX_VERSION into $DEST (a minute or two on a cold cache)"
	rm -rf "$DEST/gobin"
	# go install names the binary after the module (miniflux.app); it is moved into place
	(export GOBIN="$DEST/gobin" GOWORK=off GOFLAGS="-buildvcs=false" CGO_ENABLED=0 &&
		go install -trimpath -ldflags "-s -w -X miniflux.app/v2/internal/version.Version=$MINIFLUX_VERSION" \
			"miniflux.app/v2@v$MINIFLUX_VERSION") || die "go install of miniflux failed"
	local built
	built="$(ls "$DEST"/gobin/* 2>/dev/null | head -n 1)"
	[[ -n "$built" ]] || die "go install left no binary in $DEST/gobin"
	mv -f "$built" "$BIN"
	rm -rf "$DEST/gobin"
	binary_ok || die "built binary does not run"
	log "miniflux $MINIFLUX_VERSION installed in $((SECONDS - start)) s"
}

# as_pg runs a command as the owner of the cluster: the postgres system user under
# root (PostgreSQL refuses to run as root), else the caller. exec, so that a
# background server's pid is the caller's $!.
as_pg() {
	if [[ "$(id -u)" == 0 ]]; then
		exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
	fi
	exec "$@"
}

cmd_start() {
	[[ $# -ge 1 && $# -le 2 ]] || die "usage: miniflux.sh start <workdir> [port]"
	local work=$1 port=${2:-}
	[[ -n "$port" ]] || port="$(free_port)"
	[[ "$port" =~ ^[0-9]+$ ]] || die "port must be a number"
	binary_ok || die "miniflux is not installed; run: miniflux.sh install"
	local pgbin
	pgbin="$(pg_bin)" || die "PostgreSQL is not installed; run: miniflux.sh install"
	ensure_cmd curl curl ca-certificates
	ensure_cmd jq jq
	mkdir -p "$work"
	work="$(cd "$work" && pwd)"
	if [[ -f "$work/miniflux.pid" ]] && alive "$(cat "$work/miniflux.pid")"; then
		die "a miniflux is already running from $work"
	fi
	local pg="$work/pg"
	rm -rf "$pg"
	mkdir -p "$pg"
	if [[ "$(id -u)" == 0 ]]; then
		id postgres >/dev/null 2>&1 || die "no postgres user to run PostgreSQL as"
		chmod o+x "$work" # the postgres user reaches its cluster; the rest of work stays closed
		chown postgres: "$pg"
	fi
	chmod 700 "$pg"
	(as_pg "$pgbin/initdb" -D "$pg/data" -U miniflux -A trust -E UTF8 --locale=C --no-sync) >"$work/initdb.log" 2>&1 ||
		die "initdb failed:
$(tail -n 30 "$work/initdb.log")"
	(as_pg "$pgbin/postgres" -D "$pg/data" -k "$pg" -c listen_addresses= -p 5432 -c fsync=off \
		-c synchronous_commit=off -c full_page_writes=off -c max_connections=40) >"$work/postgres.log" 2>&1 </dev/null &
	local pgpid=$!
	echo "$pgpid" >"$work/postgres.pid"
	watch_owner "$pgpid"
	local i
	for ((i = 0; i < 300; i++)); do
		alive "$pgpid" || die "postgres exited during start-up:
$(tail -n 30 "$work/postgres.log")"
		"$pgbin/pg_isready" -q -h "$pg" -p 5432 && break
		sleep 0.1
	done
	"$pgbin/pg_isready" -q -h "$pg" -p 5432 || die "postgres did not start within 30 s:
$(tail -n 30 "$work/postgres.log")"
	"$pgbin/createdb" -h "$pg" -p 5432 -U miniflux miniflux 2>>"$work/postgres.log" || die "createdb failed"

	local pass url="http://127.0.0.1:$port"
	pass="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	# exec: the pid is the server's; the redirections close the script's stdout, which
	# the caller waits on
	(export DATABASE_URL="host=$pg port=5432 user=miniflux dbname=miniflux sslmode=disable" \
		RUN_MIGRATIONS=1 CREATE_ADMIN=1 ADMIN_USERNAME="$ADMIN" ADMIN_PASSWORD="$pass" \
		LISTEN_ADDR="127.0.0.1:$port" BASE_URL="$url" DISABLE_SCHEDULER_SERVICE=1 \
		WORKER_POOL_SIZE=1 DATABASE_MAX_CONNS=10 LOG_LEVEL=info &&
		exec "$BIN") >"$work/miniflux.log" 2>&1 </dev/null &
	local pid=$!
	echo "$pid" >"$work/miniflux.pid"
	watch_owner "$pid"
	wait_ready miniflux "$pid" "$url/healthcheck" "$work/miniflux.log" 60
	local key
	key="$(curl -fsS -u "$ADMIN:$pass" -H 'Content-Type: application/json' \
		--data-binary '{"description":"caddy-scim tests"}' "$url/v1/api-keys" | jq -r .token)" ||
		die "creating the administrator's API key failed"
	[[ -n "$key" && "$key" != null ]] || die "no API key in the answer"
	cat >"$work/env" <<EOF
MINIFLUX_URL=$url
MINIFLUX_API_KEY=$key
MINIFLUX_ADMIN=$ADMIN
MINIFLUX_ADMIN_PASSWORD=$pass
MINIFLUX_PID=$pid
MINIFLUX_POSTGRES_PID=$pgpid
EOF
	chmod 600 "$work/env"
	echo "$url"
}

cmd_stop() {
	[[ $# -eq 1 ]] || die "usage: miniflux.sh stop <workdir>"
	stop_pidfile "$1/miniflux.pid"
	stop_pidfile "$1/postgres.pid"
}

case "${1:-}" in
install) shift && cmd_install "$@" ;;
start) shift && cmd_start "$@" ;;
stop) shift && cmd_stop "$@" ;;
path) echo "$BIN" ;;
*) die "usage: miniflux.sh install | start <workdir> [port] | stop <workdir> | path" ;;
esac
