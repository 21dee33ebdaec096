#!/usr/bin/env bash
# pocketbase.sh — install and run a real PocketBase (v0.40, SQLite built in) for the
# integration tests.
#
#   pocketbase.sh install               build PocketBase into the cache (idempotent, locked)
#   pocketbase.sh start <workdir> [port] start a fresh instance (a free port when none is given);
#                                        writes <workdir>/env
#   pocketbase.sh stop <workdir>        stop the instance started in <workdir>
#   pocketbase.sh path                  print the binary path
#
# With WATCH_PID=<pid> in the environment, start also stops the server when that process exits.
#
# PocketBase is a Go module, not a program to `go install`: the binary is a small main
# package of our own (pocketbase.New().Start(), nothing else) built in the cache from the
# Go module proxy. v0.40 needs Go 1.27; the toolchain comes from the module proxy too
# (GOTOOLCHAIN), whatever Go is on PATH.
#
# start makes, as an operator would through PocketBase's API, what the pocketbase preset
# needs: a superuser, and on the users collection the fields username (text, unique
# without regard to case), disabled (bool, hidden: only a superuser reads or writes it)
# and scim (json, hidden: SCIM's marks), authRule "disabled = false" (a disabled user
# cannot sign in) and createRule null (no public sign-up); then a long-lived superuser
# token (impersonate, one year), written to env.
# --dev=false everywhere: PocketBase takes a binary under the user's cache directory for
# `go run` and would turn its dev mode on (every SQL statement on the console).
# Cache: ${CADDY_SCIM_CACHE:-$HOME/.cache/caddy-scim}/pocketbase-<version>/pocketbase.
# Measured on 2 cores: install cold ~80 s (the Go 1.27 toolchain and the modules from the
# proxy, then the build), warm <0.1 s; start ~1 s.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PB_VERSION="${PB_VERSION:-0.40.4}"
PB_GOTOOLCHAIN="${PB_GOTOOLCHAIN:-go1.27.4}"
CACHE_ROOT="${CADDY_SCIM_CACHE:-$HOME/.cache/caddy-scim}"
DEST="$CACHE_ROOT/pocketbase-$PB_VERSION"
BIN="$DEST/pocketbase"
ADMIN_EMAIL=admin@pocketbase.test

binary_ok() {
	[[ -x "$BIN" ]] && "$BIN" --version >/dev/null 2>&1
}

cmd_install() {
	if binary_ok; then
		return 0
	fi
	if ! command -v go >/dev/null 2>&1; then
		[[ -x /usr/local/go/bin/go ]] && export PATH=$PATH:/usr/local/go/bin
	fi
	command -v go >/dev/null 2>&1 || die "go is required on PATH"
	mkdir -p "$DEST/src"
	exec 9>"$DEST/.lock"
	flock 9
	if binary_ok; then
		return 0
	fi
	local start=$SECONDS
	log "building pocketbase $PB_VERSION with $PB_GOTOOLCHAIN into $DEST (a few minutes on a cold cache)"
	cat >"$DEST/src/go.mod" <<EOF
module caddyscim.test/pocketbase

go 1.27

require github.com/pocketbase/pocketbase v$PB_VERSION
EOF
	cat >"$DEST/src/main.go" <<'EOF'
// Command pocketbase is PocketBase as a library serves it, with no extension: the
// integration tests of caddy-scim run against it.
package main

import (
	"log"

	"github.com/pocketbase/pocketbase"
)

func main() {
	if err := pocketbase.New().Start(); err != nil {
		log.Fatal(err)
	}
}
EOF
	(cd "$DEST/src" && export GOTOOLCHAIN="$PB_GOTOOLCHAIN" GOWORK=off GOFLAGS="-mod=mod -buildvcs=false" &&
		go mod tidy && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$BIN.tmp" .) ||
		die "go build of pocketbase failed"
	mv -f "$BIN.tmp" "$BIN"
	binary_ok || die "built binary does not run"
	log "pocketbase $PB_VERSION built in $((SECONDS - start)) s"
}

# api METHOD PATH [BODY]: one call to the instance as its superuser; prints the answer,
# dies with it on an error status.
api() {
	local method=$1 path=$2 body=${3:-} out st
	out="$(curl -sS -o - -w '\n%{http_code}' -X "$method" -H "Authorization: $TOKEN" \
		-H 'Content-Type: application/json' ${body:+--data-binary "$body"} "$URL$path")" ||
		die "$method $path: no answer"
	st=${out##*$'\n'}
	out=${out%$'\n'*}
	[[ "$st" == 2* ]] || die "$method $path answered $st: $out"
	printf '%s' "$out"
}

# setup_users makes the users collection what the pocketbase preset needs: the fields
# username, disabled and scim (those missing), a unique index on username without
# regard to case (so that it can be a login identifier too), authRule "disabled =
# false" and createRule null. The fields list is sent whole (PocketBase replaces it).
setup_users() {
	local coll
	coll="$(api GET /api/collections/users)"
	coll="$(jq -c '
		def add(f): if any(.fields[]; .name == f.name) then . else .fields += [f] end;
		add({name: "username", type: "text", max: 255})
		| add({name: "disabled", type: "bool", hidden: true})
		| add({name: "scim", type: "json", hidden: true})
		| if any(.indexes[]; test("\\(`?username`?[ )]")) then .
		  else .indexes += ["CREATE UNIQUE INDEX `idx_username_users` ON `users` (`username` COLLATE NOCASE) WHERE `username` != '"''"'"] end
		| .passwordAuth.identityFields = (.passwordAuth.identityFields + ["username"] | unique)
		| .authRule = "disabled = false"
		| .createRule = null
		| {fields, indexes, passwordAuth, authRule, createRule}' <<<"$coll")"
	api PATCH /api/collections/users "$coll" >/dev/null
}

cmd_start() {
	[[ $# -ge 1 && $# -le 2 ]] || die "usage: pocketbase.sh start <workdir> [port]"
	local work=$1 port=${2:-}
	[[ -n "$port" ]] || port="$(free_port)"
	[[ "$port" =~ ^[0-9]+$ ]] || die "port must be a number"
	binary_ok || die "pocketbase is not installed; run: pocketbase.sh install"
	ensure_cmd jq jq
	ensure_cmd curl curl ca-certificates
	mkdir -p "$work"
	work="$(cd "$work" && pwd)"
	if [[ -f "$work/pocketbase.pid" ]] && alive "$(cat "$work/pocketbase.pid")"; then
		die "a pocketbase is already running from $work"
	fi
	local data="$work/pb_data" pass
	pass="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	"$BIN" superuser upsert "$ADMIN_EMAIL" "$pass" --dir "$data" --dev=false >"$work/setup.log" 2>&1 ||
		die "creating the superuser failed:
$(tail -n 30 "$work/setup.log")"
	"$BIN" serve --http "127.0.0.1:$port" --dir "$data" --dev=false >"$work/serve.log" 2>&1 </dev/null &
	local pid=$!
	echo "$pid" >"$work/pocketbase.pid"
	watch_owner "$pid"
	URL="http://127.0.0.1:$port"
	wait_ready pocketbase "$pid" "$URL/api/health" "$work/serve.log" 30
	# a login (its token lasts a day), then a static superuser token for a year
	# (impersonate): what the adapter's token is
	local login admin
	TOKEN=""
	login="$(api POST /api/collections/_superusers/auth-with-password \
		"$(jq -cn --arg e "$ADMIN_EMAIL" --arg p "$pass" '{identity: $e, password: $p}')")"
	TOKEN="$(jq -r .token <<<"$login")"
	admin="$(jq -r .record.id <<<"$login")"
	setup_users
	TOKEN="$(api POST "/api/collections/_superusers/impersonate/$admin" '{"duration": 31536000}' | jq -r .token)"
	[[ -n "$TOKEN" && "$TOKEN" != null ]] || die "no static superuser token"
	cat >"$work/env" <<EOF
POCKETBASE_URL=$URL
POCKETBASE_TOKEN=$TOKEN
POCKETBASE_ADMIN_EMAIL=$ADMIN_EMAIL
POCKETBASE_ADMIN_PASSWORD=$pass
POCKETBASE_PID=$pid
EOF
	chmod 600 "$work/env"
	echo "$URL"
}

cmd_stop() {
	[[ $# -eq 1 ]] || die "usage: pocketbase.sh stop <workdir>"
	stop_pidfile "$1/pocketbase.pid"
}

case "${1:-}" in
install) shift && cmd_install "$@" ;;
start) shift && cmd_start "$@" ;;
stop) shift && cmd_stop "$@" ;;
path) echo "$BIN" ;;
*) die "usage: pocketbase.sh install | start <workdir> [port] | stop <workdir> | path" ;;
esac
