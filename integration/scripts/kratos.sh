#!/usr/bin/env bash
# kratos.sh — install and run a real Ory Kratos for the integration tests.
#
#   kratos.sh install                          build Kratos into the cache (idempotent, locked)
#   kratos.sh start <workdir> <public> <admin> start a fresh instance on those ports; writes <workdir>/env
#   kratos.sh stop <workdir>                   stop the instance started in <workdir>
#   kratos.sh path                             print the binary path
#
# With WATCH_PID=<pid> in the environment, start also stops the server when that process exits.
#
# Kratos is built from the Go module proxy (docs/rest-upstreams.md): `go install` is refused
# because of replace directives, so we build inside the downloaded module, like Gitea.
# Cache: ${CADDY_SCIM_CACHE:-$HOME/.cache/caddy-scim}/kratos-<version>/kratos.
# Measured on 2 cores: install cold ~85 s (the Go build), warm <1 s; start ~2 s (migrate, ready).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KRATOS_VERSION="${KRATOS_VERSION:-1.3.1}"
CACHE_ROOT="${CADDY_SCIM_CACHE:-$HOME/.cache/caddy-scim}"
DEST="$CACHE_ROOT/kratos-$KRATOS_VERSION"
BIN="$DEST/kratos"


binary_ok() {
	[[ -x "$BIN" ]] && "$BIN" help >/dev/null 2>&1
}


cmd_install() {
	command -v go >/dev/null 2>&1 || die "go is required on PATH"
	if binary_ok; then
		return 0
	fi
	ensure_cmd "$(go env CC 2>/dev/null || echo gcc)" gcc libc6-dev
	mkdir -p "$DEST"
	exec 9>"$DEST/.lock"
	flock 9
	if binary_ok; then
		return 0
	fi
	local start=$SECONDS
	log "building kratos $KRATOS_VERSION into $DEST (about a minute and a half on a cold cache)"
	go mod download "github.com/ory/kratos@v$KRATOS_VERSION" || die "go mod download github.com/ory/kratos@v$KRATOS_VERSION failed"
	local src
	src="$(go env GOMODCACHE)/github.com/ory/kratos@v$KRATOS_VERSION"
	[[ -f "$src/go.mod" ]] || die "module source not found at $src"
	(cd "$src" && CGO_ENABLED=1 GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath \
		-tags 'sqlite sqlite_omit_load_extension' -ldflags '-s -w' -o "$BIN.tmp" .) ||
		die "go build of kratos failed"
	mv -f "$BIN.tmp" "$BIN"
	binary_ok || die "built binary does not run"
	log "kratos $KRATOS_VERSION built in $((SECONDS - start)) s"
}

write_config() {
	local work=$1 public=$2 admin=$3
	cat >"$work/identity.schema.json" <<'EOF'
{
  "$id": "https://caddy-scim.test/kratos/identity.schema.json",
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "Person",
  "type": "object",
  "properties": {
    "traits": {
      "type": "object",
      "properties": {
        "email": {
          "type": "string",
          "format": "email",
          "title": "E-mail",
          "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}
        },
        "username": {
          "type": "string",
          "title": "Username",
          "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}
        },
        "name": {
          "type": "object",
          "properties": {
            "givenName": {"type": "string"},
            "familyName": {"type": "string"}
          }
        }
      },
      "required": ["email", "username"],
      "additionalProperties": false
    }
  }
}
EOF
	cat >"$work/kratos.yml" <<EOF
version: v1.3.1
dsn: sqlite://$work/db.sqlite?_fk=true&mode=rwc
serve:
  public:
    base_url: http://127.0.0.1:$public/
    host: 127.0.0.1
    port: $public
  admin:
    base_url: http://127.0.0.1:$admin/
    host: 127.0.0.1
    port: $admin
selfservice:
  default_browser_return_url: http://127.0.0.1:$public/
  methods:
    password:
      enabled: true
      config:
        haveibeenpwned_enabled: false
identity:
  default_schema_id: default
  schemas:
    - id: default
      url: file://$work/identity.schema.json
courier:
  smtp:
    connection_uri: smtps://test:test@127.0.0.1:1/?skip_ssl_verify=true
secrets:
  cookie:
    - caddy-scim-kratos-cookie-secret-0
  cipher:
    - caddy-scim-kratos-cipher-secret1
hashers:
  algorithm: bcrypt
  bcrypt:
    cost: 4
log:
  level: warning
EOF
}

cmd_start() {
	[[ $# -eq 3 ]] || die "usage: kratos.sh start <workdir> <public-port> <admin-port>"
	local work=$1 public=$2 admin=$3
	[[ "$public" =~ ^[0-9]+$ && "$admin" =~ ^[0-9]+$ ]] || die "ports must be numbers"
	binary_ok || die "kratos is not installed; run: kratos.sh install"
	mkdir -p "$work"
	work="$(cd "$work" && pwd)"
	if [[ -f "$work/kratos.pid" ]] && kill -0 "$(cat "$work/kratos.pid")" 2>/dev/null; then
		die "a kratos is already running from $work"
	fi
	write_config "$work" "$public" "$admin"
	local out="$work/setup.log"
	"$BIN" migrate sql -e --yes -c "$work/kratos.yml" >"$out" 2>&1 || die "kratos migrate failed:
$(tail -n 30 "$out")"
	# DSN is read from the config; the environment must not override it.
	env -u DSN nohup "$BIN" serve -c "$work/kratos.yml" --watch-courier=false --sqa-opt-out >"$work/serve.log" 2>&1 </dev/null &
	local pid=$!
	echo "$pid" >"$work/kratos.pid"
	watch_owner "$pid"
	local url="http://127.0.0.1:$admin"
	wait_ready kratos "$pid" "$url/admin/health/ready" "$work/serve.log" 30
	cat >"$work/env" <<EOF
KRATOS_ADMIN_URL=$url
KRATOS_PUBLIC_URL=http://127.0.0.1:$public
KRATOS_PID=$pid
EOF
	echo "$url"
}


cmd_stop() {
	[[ $# -eq 1 ]] || die "usage: kratos.sh stop <workdir>"
	stop_pidfile "$1/kratos.pid"
}

case "${1:-}" in
install) shift && cmd_install "$@" ;;
start) shift && cmd_start "$@" ;;
stop) shift && cmd_stop "$@" ;;
path) echo "$BIN" ;;
*) die "usage: kratos.sh install | start <workdir> <public-port> <admin-port> | stop <workdir> | path" ;;
esac
