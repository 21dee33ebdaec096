#!/usr/bin/env bash
# redis.sh — install and run a throw-away Redis for the integration tests.
#
#   redis.sh install               apt-get install redis-server when it is missing (idempotent)
#   redis.sh start <dir> <port> [redis-server options…]
#                                  start redis on 127.0.0.1:<port>, no persistence; writes <dir>/env
#   redis.sh stop <dir>            stop the redis started in <dir>
#   redis.sh start-cluster <dir> <port1> <port2> <port3> [<port4> <port5> <port6>]
#                                  three cluster masters (bus ports: port+10000, so ports < 55536),
#                                  slots spread over them; with six ports, the last three are one
#                                  replica each, so a master can be lost; waits for cluster_state:ok
#                                  on every node; writes <dir>/env with REDIS_CLUSTER_ADDRS
#                                  (comma-separated, masters first)
#   redis.sh stop-cluster <dir>    stop the cluster started in <dir>
#   redis.sh start-sentinel <dir> <master-port> <sentinel-port> [<replica-port>]
#                                  one master and one sentinel monitoring it as "mymaster", quorum 1,
#                                  and optionally a replica it can fail over to; waits until the
#                                  sentinel reports the master (and knows the replica); writes
#                                  <dir>/env with REDIS_SENTINEL_ADDRS, REDIS_MASTER_NAME,
#                                  REDIS_MASTER_ADDR (and REDIS_REPLICA_ADDR)
#   redis.sh stop-sentinel <dir>   stop the sentinel and the master started in <dir>
#
# With WATCH_PID=<pid> in the environment, every start command also stops its servers when that
# process exits.
# Debian's redis-server does not start by itself in a container, so it is started by hand.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"


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


# wait_ping <port> <log>: wait up to 5 s for PONG.
wait_ping() {
	local port=$1 log=$2 i
	for ((i = 0; i < 100; i++)); do
		[[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" == PONG ]] && return 0
		sleep 0.05
	done
	die "redis did not answer PING on 127.0.0.1:$port within 5 s: $(tail -n 20 "$log" 2>/dev/null)"
}

# wait_synced <port…>: wait up to 10 s until every replica has finished its first sync
# (before it, a replica cannot take over its master).
wait_synced() {
	local i port ok
	for ((i = 0; i < 200; i++)); do
		ok=1
		for port in "$@"; do
			redis-cli -h 127.0.0.1 -p "$port" info replication 2>/dev/null | grep -q '^master_link_status:up' || ok=0
		done
		((ok)) && return 0
		sleep 0.05
	done
	die "the replicas on $* did not sync with their masters within 10 s"
}

# wait_pidfile <file>: redis writes its pid file just after it starts listening.
wait_pidfile() {
	local i
	for ((i = 0; i < 50; i++)); do
		[[ -s "$1" ]] && return 0
		sleep 0.02
	done
	die "no pid file at $1"
}

# alive <pid>: running and not a zombie. A daemonized redis is a child of PID 1, and in a
# container PID 1 may reap it seconds late; kill -0 alone would wait for that.


check_port() {
	[[ "$1" =~ ^[0-9]+$ ]] || die "port must be a number: $1"
}

need_redis() {
	command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 ||
		die "redis-server is not installed; run: redis.sh install"
}

# start_node <dir> <port> [redis-server options…]: one throw-away server, no persistence;
# DEBUG is allowed from loopback so that fault tests can stall a replica (DEBUG SLEEP).
start_node() {
	local dir=$1 port=$2
	shift 2
	check_port "$port"
	mkdir -p "$dir"
	local pidf="$dir/redis.pid"
	if [[ -f "$pidf" ]] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
		die "a redis is already running from $dir (pid $(cat "$pidf"))"
	fi
	rm -f "$pidf"
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
		--pidfile "$pidf" --dir "$dir" --logfile "$dir/redis.log" --enable-debug-command local "$@" ||
		die "redis-server failed to start: $(tail -n 20 "$dir/redis.log" 2>/dev/null)"
	wait_ping "$port" "$dir/redis.log"
	wait_pidfile "$pidf"
	watch_owner "$(cat "$pidf")"
}

cmd_start_cluster() {
	[[ $# -eq 4 || $# -eq 7 ]] || die "usage: redis.sh start-cluster <dir> <port1> <port2> <port3> [<port4> <port5> <port6>]"
	local dir=$1 replicas=0
	shift
	(($# == 6)) && replicas=1
	need_redis
	mkdir -p "$dir"
	dir="$(cd "$dir" && pwd)"
	local port addrs=()
	for port in "$@"; do
		check_port "$port"
		((port + 10000 <= 65535)) || die "cluster bus port $((port + 10000)) is out of range; use ports below 55536"
	done
	for port in "$@"; do
		start_node "$dir/node-$port" "$port" --cluster-enabled yes \
			--cluster-config-file "$dir/node-$port/nodes.conf" --cluster-node-timeout 2000
		addrs+=("127.0.0.1:$port")
	done
	redis-cli --cluster create "${addrs[@]}" --cluster-replicas "$replicas" --cluster-yes >"$dir/create.log" 2>&1 ||
		die "redis-cli --cluster create failed: $(tail -n 20 "$dir/create.log")"
	# Every node must agree before a client gets the addresses, or its first commands
	# meet CLUSTERDOWN.
	local i ok=0
	for ((i = 0; i < 200; i++)); do
		ok=1
		for port in "$@"; do
			redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || ok=0
		done
		((ok)) && break
		sleep 0.05
	done
	((ok)) || die "cluster did not reach cluster_state:ok within 10 s: $(redis-cli -h 127.0.0.1 -p "$1" cluster info 2>&1 | head -n 3)"
	((replicas == 0)) || wait_synced "${@:4}"
	local joined
	joined="$(
		IFS=,
		echo "${addrs[*]}"
	)"
	printf 'REDIS_CLUSTER_ADDRS=%s\n' "$joined" >"$dir/env"
	echo "$joined"
}

cmd_start_sentinel() {
	[[ $# -eq 3 || $# -eq 4 ]] || die "usage: redis.sh start-sentinel <dir> <master-port> <sentinel-port> [<replica-port>]"
	local dir=$1 mport=$2 sport=$3 rport=${4:-}
	check_port "$mport"
	check_port "$sport"
	[[ -z "$rport" ]] || check_port "$rport"
	need_redis
	mkdir -p "$dir/sentinel"
	dir="$(cd "$dir" && pwd)"
	local pidf="$dir/sentinel/sentinel.pid" conf="$dir/sentinel/sentinel.conf"
	if [[ -f "$pidf" ]] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
		die "a sentinel is already running from $dir (pid $(cat "$pidf"))"
	fi
	rm -f "$pidf"
	start_node "$dir/master" "$mport"
	# the replica starts before the sentinel, whose first INFO of the master then lists
	# it (later ones come every 10 s)
	if [[ -n "$rport" ]]; then
		start_node "$dir/replica" "$rport" --replicaof 127.0.0.1 "$mport"
		wait_synced "$rport"
	fi
	# Sentinel rewrites its config file, so it gets its own writable one.
	printf '%s\n' "port $sport" "bind 127.0.0.1" "daemonize yes" "pidfile $pidf" \
		"logfile $dir/sentinel/sentinel.log" "dir $dir/sentinel" \
		"sentinel monitor mymaster 127.0.0.1 $mport 1" \
		"sentinel down-after-milliseconds mymaster 1000" \
		"sentinel failover-timeout mymaster 5000" >"$conf"
	# Debian's redis-sentinel binary is a separate package; the server binary is a
	# sentinel with --sentinel.
	redis-server "$conf" --sentinel ||
		die "sentinel failed to start: $(tail -n 20 "$dir/sentinel/sentinel.log" 2>/dev/null)"
	wait_ping "$sport" "$dir/sentinel/sentinel.log"
	wait_pidfile "$pidf"
	watch_owner "$(cat "$pidf")"
	local i got=""
	for ((i = 0; i < 200; i++)); do
		got="$(redis-cli -h 127.0.0.1 -p "$sport" sentinel get-master-addr-by-name mymaster 2>/dev/null | tr '\n' ' ')"
		[[ "$got" == "127.0.0.1 $mport " ]] && break
		sleep 0.05
	done
	[[ "$got" == "127.0.0.1 $mport " ]] ||
		die "sentinel does not report mymaster at 127.0.0.1:$mport within 10 s (got: $got)"
	if [[ -n "$rport" ]]; then
		for ((i = 0; i < 300; i++)); do
			redis-cli -h 127.0.0.1 -p "$sport" sentinel replicas mymaster 2>/dev/null | grep -qx "127.0.0.1:$rport" && break
			sleep 0.05
		done
		((i < 300)) || die "sentinel does not know the replica on $rport within 15 s"
	fi
	printf '%s\n' "REDIS_SENTINEL_ADDRS=127.0.0.1:$sport" "REDIS_MASTER_NAME=mymaster" \
		"REDIS_MASTER_ADDR=127.0.0.1:$mport" >"$dir/env"
	[[ -z "$rport" ]] || echo "REDIS_REPLICA_ADDR=127.0.0.1:$rport" >>"$dir/env"
	echo "127.0.0.1:$sport"
}

# cmd_stop_many <dir>: stops the sentinel first (so it does not see its master go down),
# then every node started under <dir>.
cmd_stop_many() {
	[[ $# -eq 1 ]] || die "usage: redis.sh stop-cluster|stop-sentinel <dir>"
	[[ -d "$1" ]] || return 0
	local f
	for f in "$1"/sentinel/sentinel.pid "$1"/*/redis.pid; do
		[[ -e "$f" ]] && stop_pidfile "$f"
	done
	return 0
}

cmd_start() {
	[[ $# -ge 2 ]] || die "usage: redis.sh start <dir> <port> [redis-server options…]"
	local dir=$1 port=$2
	shift 2
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
		--pidfile "$pidf" --dir "$dir" --logfile "$dir/redis.log" "$@" ||
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
	stop_pidfile "$1/redis.pid"
}

case "${1:-}" in
install) shift && cmd_install "$@" ;;
start) shift && cmd_start "$@" ;;
stop) shift && cmd_stop "$@" ;;
start-cluster) shift && cmd_start_cluster "$@" ;;
stop-cluster) shift && cmd_stop_many "$@" ;;
start-sentinel) shift && cmd_start_sentinel "$@" ;;
stop-sentinel) shift && cmd_stop_many "$@" ;;
*) die "usage: redis.sh install | start <dir> <port> [options…] | stop <dir> | start-cluster <dir> <p1> <p2> <p3> | stop-cluster <dir> | start-sentinel <dir> <master-port> <sentinel-port> | stop-sentinel <dir>" ;;
esac
