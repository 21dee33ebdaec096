#!/usr/bin/env bash
# redis.sh — install and run a throw-away Redis for the integration tests.
#
#   redis.sh install               apt-get install redis-server when it is missing (idempotent)
#   redis.sh start <dir> <port>    start redis on 127.0.0.1:<port>, no persistence; writes <dir>/env
#   redis.sh stop <dir>            stop the redis started in <dir>
#
# With WATCH_PID=<pid> in the environment, start also stops the server when that process exits.
# Debian's redis-server does not start by itself in a container, so it is started by hand.
set -euo pipefail

die() {
	echo "redis.sh: $*" >&2
	exit 1
}

cmd_install() {
	command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 && return 0
	command -v apt-get >/dev/null 2>&1 || die "redis-server is missing and apt-get is not available"
	local sudo=""
	[[ "$(id -u)" == 0 ]] || sudo="sudo"
	local lock="${CADDY_SCIM_CACHE:-$HOME/.cache/caddy-scim}/redis-install.lock"
	mkdir -p "$(dirname "$lock")"
	exec 9>"$lock"
	flock 9
	command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 && return 0
	echo "redis.sh: installing redis-server with apt-get" >&2
	# apt-get update only when the package lists do not know redis-server yet.
	if ! apt-cache show redis-server >/dev/null 2>&1; then
		DEBIAN_FRONTEND=noninteractive $sudo apt-get update -q >/dev/null || die "apt-get update failed"
	fi
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends redis-server >/dev/null ||
		die "apt-get install redis-server failed"
	command -v redis-server >/dev/null 2>&1 || die "redis-server still not on PATH after install"
}

cmd_start() {
	[[ $# -eq 2 ]] || die "usage: redis.sh start <dir> <port>"
	local dir=$1 port=$2
	[[ "$port" =~ ^[0-9]+$ ]] || die "port must be a number: $port"
	command -v redis-server >/dev/null 2>&1 || die "redis-server is not installed; run: redis.sh install"
	mkdir -p "$dir"
	dir="$(cd "$dir" && pwd)"
	local pidf="$dir/redis.pid"
	if [[ -f "$pidf" ]] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
		die "a redis is already running from $dir (pid $(cat "$pidf"))"
	fi
	rm -f "$pidf"
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
		--pidfile "$pidf" --dir "$dir" --logfile "$dir/redis.log" ||
		die "redis-server failed to start: $(tail -n 20 "$dir/redis.log" 2>/dev/null)"
	local i
	for ((i = 0; i < 100; i++)); do
		if [[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" == PONG ]]; then
			break
		fi
		sleep 0.05
	done
	((i < 100)) || die "redis did not answer PING on 127.0.0.1:$port within 5 s: $(tail -n 20 "$dir/redis.log" 2>/dev/null)"
	for ((i = 0; i < 50; i++)); do
		[[ -s "$pidf" ]] && break
		sleep 0.02
	done
	local pid
	pid="$(cat "$pidf")"
	if [[ -n "${WATCH_PID:-}" ]]; then
		(
			trap '' HUP
			while kill -0 "$WATCH_PID" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
			kill "$pid" 2>/dev/null || true
		) </dev/null >/dev/null 2>&1 &
		disown $! 2>/dev/null || true
	fi
	cat >"$dir/env" <<EOF
REDIS_ADDR=127.0.0.1:$port
REDIS_PID=$pid
EOF
	echo "127.0.0.1:$port"
}

cmd_stop() {
	[[ $# -eq 1 ]] || die "usage: redis.sh stop <dir>"
	local pidf="$1/redis.pid"
	[[ -f "$pidf" ]] || return 0
	local pid
	pid="$(cat "$pidf")"
	if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		local i
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$pidf"
}

case "${1:-}" in
install) shift && cmd_install "$@" ;;
start) shift && cmd_start "$@" ;;
stop) shift && cmd_stop "$@" ;;
*) die "usage: redis.sh install | start <dir> <port> | stop <dir>" ;;
esac
