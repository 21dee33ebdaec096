# lib.sh — what the service scripts share; sourced, not run.
#
#   die <msg>, log <msg>        messages prefixed with the script's name
#   ensure_cmd <cmd> <pkg…>     apt-get install the packages when cmd is missing
#   watch_owner <pid>           with WATCH_PID set, stop pid once that process exits
#   alive <pid>                 the process runs (and is no zombie)
#   stop_pidfile <file>         TERM the pid in file, KILL it after 5 s, remove the file
#   curl_ok <url>               the URL answers 2xx
#   wait_ready <name> <pid> <url> <log> <seconds>
#                               wait until url answers; die (with the log's tail) when
#                               pid exits or the time runs out

SCRIPT_NAME=${SCRIPT_NAME:-${0##*/}}

die() {
	echo "$SCRIPT_NAME: $*" >&2
	exit 1
}

log() { echo "$SCRIPT_NAME: $*" >&2; }

# apt-get update runs only when the first install attempt fails (stale or empty lists).
ensure_cmd() {
	local cmd=$1
	shift
	command -v "$cmd" >/dev/null 2>&1 && return 0
	command -v apt-get >/dev/null 2>&1 || die "$cmd is required on PATH and apt-get is not available"
	log "installing $* with apt-get"
	local sudo=""
	[[ "$(id -u)" == 0 ]] || sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1 ||
		{ $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q --no-install-recommends "$@" >/dev/null; } ||
		die "could not install $*"
}

# watch_owner stops pid once the process WATCH_PID (the test binary) is gone, so a test
# binary killed by a timeout or a signal leaves no server behind.
watch_owner() {
	local pid=$1 owner=${WATCH_PID:-}
	[[ -n "$owner" ]] || return 0
	(
		trap '' HUP
		while kill -0 "$owner" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
		kill "$pid" 2>/dev/null || true
	) </dev/null >/dev/null 2>&1 &
	disown $! 2>/dev/null || true
}

alive() {
	kill -0 "$1" 2>/dev/null || return 1
	local st
	st="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)"
	[[ "$st" != Z && "$st" != X ]]
}

stop_pidfile() {
	local pidf=$1
	[[ -f "$pidf" ]] || return 0
	local pid
	pid="$(cat "$pidf")"
	if [[ -n "$pid" ]] && alive "$pid"; then
		kill "$pid" 2>/dev/null || true
		local i
		for ((i = 0; i < 100; i++)); do
			alive "$pid" || break
			sleep 0.05
		done
		alive "$pid" && kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$pidf"
}

# curl_ok probes a URL; bash's /dev/tcp is the fallback where curl is missing.
curl_ok() {
	if command -v curl >/dev/null 2>&1; then
		curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null
		return
	fi
	local hostport=${1#http://}
	hostport=${hostport%%/*}
	local path=/${1#http://*/}
	exec 8<>"/dev/tcp/${hostport%:*}/${hostport#*:}" 2>/dev/null || return 1
	printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hostport" >&8
	local status
	IFS= read -r -t 2 status <&8 || true
	exec 8>&-
	[[ "$status" == *" 200 "* ]]
}

wait_ready() {
	local name=$1 pid=$2 url=$3 logf=$4 secs=$5
	local i
	for ((i = 0; i < secs * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || die "$name exited during start-up:
$(tail -n 30 "$logf")"
		curl_ok "$url" && return 0
		sleep 0.1
	done
	kill "$pid" 2>/dev/null || true
	die "$name did not answer on $url within $secs s:
$(tail -n 30 "$logf")"
}

# free_port prints a loopback port nothing listens on (another process may take it
# before the server binds it: the caller retries a failed start).
free_port() {
	local p i
	for ((i = 0; i < 50; i++)); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}
