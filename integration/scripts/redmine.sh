#!/usr/bin/env bash
# redmine.sh — install and run a real Redmine 5 (Debian's package, SQLite, puma) for the
# integration tests.
#
#   redmine.sh install                 apt-get install redmine (idempotent, locked; needs root or sudo)
#   redmine.sh start <workdir> <port>  start Redmine on 127.0.0.1:<port>; writes <workdir>/env
#   redmine.sh stop <workdir>          stop the instance started in <workdir>
#
# With WATCH_PID=<pid> in the environment, start also stops the server when that process exits.
#
# Debian's Redmine is one system-wide instance (its SQLite database lives under
# /var/lib/dbconfig-common). start copies that database into <workdir> and runs a
# private Redmine instance (Debian's multi-tenancy: /usr/share/redmine/instances/<name>,
# linked to <workdir>/instance) on the copy, so every start begins from the freshly
# installed state and tests never see each other's users. start enables the REST API, creates the
# two user custom fields the redmine preset keeps SCIM's state in (scim_external_id,
# scim_state) and writes their ids and the admin's API key to <workdir>/env.
# Measured on 2 cores: install cold ~20 s, warm <1 s; start ~10 s (two Rails boots).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SHARE=/usr/share/redmine
CACHE_ROOT="${CADDY_SCIM_CACHE:-$HOME/.cache/caddy-scim}"


installed() {
	[[ -f "$SHARE/config.ru" && -f "$SHARE/Gemfile.local" ]] && command -v puma >/dev/null 2>&1
}

cmd_install() {
	installed && return 0
	command -v apt-get >/dev/null 2>&1 || die "redmine is missing and apt-get is not available"
	local sudo=""
	[[ "$(id -u)" == 0 ]] || sudo="sudo"
	mkdir -p "$CACHE_ROOT"
	exec 9>"$CACHE_ROOT/redmine-install.lock"
	flock 9
	installed && return 0
	local start=$SECONDS
	log "installing redmine, redmine-sqlite and puma with apt-get"
	printf '%s\n' 'redmine redmine/instances/default/dbconfig-install boolean true' \
		'redmine redmine/instances/default/database-type select sqlite3' | $sudo debconf-set-selections
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-cache show redmine >/dev/null 2>&1; then
		$sudo apt-get update -q >/dev/null || die "apt-get update failed"
	fi
	$sudo apt-get install -y -q --no-install-recommends redmine redmine-sqlite puma sqlite3 >/dev/null ||
		die "apt-get install redmine failed"
	# webrick is not in the bundle; bundler must re-resolve with puma
	echo 'gem "puma"' | $sudo tee "$SHARE/Gemfile.local" >/dev/null
	$sudo rm -f /var/lib/redmine/Gemfile.lock
	installed || die "redmine is still not usable after the install"
	log "redmine installed in $((SECONDS - start)) s"
}

# the installed instance's database (dbconfig-common's sqlite file)
source_db() {
	local f
	for f in /var/lib/dbconfig-common/sqlite3/redmine/instances/default/redmine_default /var/lib/dbconfig-common/sqlite3/redmine/instances/default/*; do
		[[ -f "$f" ]] && {
			echo "$f"
			return 0
		}
	done
	die "cannot find Redmine's SQLite database under /var/lib/dbconfig-common"
}

cmd_start() {
	[[ $# -eq 2 ]] || die "usage: redmine.sh start <workdir> <port>"
	local work=$1 port=$2
	[[ "$port" =~ ^[0-9]+$ ]] || die "port must be a number"
	installed || die "redmine is not installed; run: redmine.sh install"
	mkdir -p "$work"
	work="$(cd "$work" && pwd)"
	# A private Redmine instance (Redmine.root = /usr/share/redmine/instances/<name>)
	# whose config, database, logs and caches live in the workdir.
	local inst="caddyscim$$"
	local root="$work/instance"
	mkdir -p "$root/config" "$root/log" "$root/tmp/cache" "$root/files"
	cp "$(source_db)" "$work/redmine.sqlite3"
	cat >"$root/config/database.yml" <<EOF
production:
  adapter: sqlite3
  database: $work/redmine.sqlite3
EOF
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$root/config/secret_key.txt"
	ln -sfn "$SHARE/instances/default/public" "$root/public"
	ln -sfn "$root" "$SHARE/instances/$inst"
	echo "$inst" >"$work/instance-name"
	local out="$work/setup.log"
	local setup='Setting.rest_api_enabled = "1"
ext = UserCustomField.find_or_create_by!(name: "scim_external_id") { |f| f.field_format = "string"; f.visible = true; f.editable = false }
st = UserCustomField.find_or_create_by!(name: "scim_state") { |f| f.field_format = "string"; f.visible = true; f.editable = false }
gext = GroupCustomField.find_or_create_by!(name: "scim_external_id") { |f| f.field_format = "string"; f.visible = true }
gst = GroupCustomField.find_or_create_by!(name: "scim_state") { |f| f.field_format = "string"; f.visible = true }
puts "REDMINE_API_KEY=#{User.find_by_login("admin").api_key}"
puts "REDMINE_GROUP_EXTERNAL_ID_FIELD=#{gext.id}"
puts "REDMINE_GROUP_STATE_FIELD=#{gst.id}"
puts "REDMINE_EXTERNAL_ID_FIELD=#{ext.id}"
puts "REDMINE_STATE_FIELD=#{st.id}"'
	(cd "$SHARE" && RAILS_ENV=production X_DEBIAN_SITEID=$inst bin/rails runner "$setup") >"$work/setup.env" 2>"$out" ||
		die "redmine setup failed:
$(tail -n 30 "$out")"
	grep -q '^REDMINE_API_KEY=[0-9a-f]\{40\}$' "$work/setup.env" || die "no API key from the setup: $(tail -n 5 "$work/setup.env")"
	# exec: the pid is the server's; the redirections close the script's stdout, which
	# the caller waits on
	(cd "$SHARE" && RAILS_ENV=production X_DEBIAN_SITEID=$inst exec ruby -S rackup -s puma -E production \
		-o 127.0.0.1 -p "$port" config.ru) >"$work/server.log" 2>&1 </dev/null &
	local pid=$!
	echo "$pid" >"$work/redmine.pid"
	watch_owner "$pid"
	local url="http://127.0.0.1:$port"
	wait_ready redmine "$pid" "$url/" "$work/server.log" 60
	{
		echo "REDMINE_URL=$url"
		cat "$work/setup.env"
		echo "REDMINE_PID=$pid"
	} >"$work/env"
	chmod 600 "$work/env"
	echo "$url"
}


cmd_stop() {
	[[ $# -eq 1 ]] || die "usage: redmine.sh stop <workdir>"
	local work=$1
	stop_pidfile "$work/redmine.pid"
	if [[ -f "$work/instance-name" ]]; then
		local inst
		inst="$(cat "$work/instance-name")"
		[[ "$inst" == caddyscim* ]] && rm -f "$SHARE/instances/$inst"
		rm -f "$work/instance-name"
	fi
}

case "${1:-}" in
install) shift && cmd_install "$@" ;;
start) shift && cmd_start "$@" ;;
stop) shift && cmd_stop "$@" ;;
*) die "usage: redmine.sh install | start <workdir> <port> | stop <workdir>" ;;
esac
