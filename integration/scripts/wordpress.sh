#!/usr/bin/env bash
# wordpress.sh — install and run a real WordPress (6.1, Debian's package, on MariaDB) for
# the integration tests.
#
#   wordpress.sh install                 apt-get install wordpress, mariadb-server and php-cli, and
#                                        build the instance template (idempotent, locked; needs root
#                                        or sudo)
#   wordpress.sh start <workdir> [port]  start a private instance on 127.0.0.1:<port> (a free one
#                                        when absent); writes <workdir>/env
#   wordpress.sh stop <workdir>          stop the instance started in <workdir>
#
# With WATCH_PID=<pid> in the environment, start also stops the servers when that process exits.
#
# Debian's WordPress is one system-wide site (its wp-config.php reads
# /etc/wordpress/config-<host>.php, for Apache, which the package pulls in). The tests use
# neither Apache nor the system's MariaDB service: install copies Debian's WordPress code into the cache with a wp-config.php of
# its own, which reads the settings of the instance that serves it from the file
# $CADDY_SCIM_WORDPRESS_CONFIG names, and builds a template: a MariaDB data directory
# (mariadb-install-db) where WordPress is installed (wp_install(), from wp-admin's own
# install functions: Debian has no wp-cli), with an administrator "admin" and an application
# password for it (WP_Application_Passwords, what Users → Profile makes). start copies the
# template into <workdir>, runs a private mariadbd on a socket there (no TCP) and serves the copy
# with PHP's built-in server (one process) on 127.0.0.1:<port>. Every instance has
# WP_ENVIRONMENT_TYPE local, the condition under which WordPress accepts application passwords
# over plain http, WP-Cron off and no outside HTTP (no update checks).
# Cache: ${CADDY_SCIM_CACHE:-$HOME/.cache/caddy-scim}/wordpress/<versions>/{site,template}.
# Measured on 2 cores: install cold ~125 s (apt-get ~119 s, the template ~5 s), warm ~1 s;
# start ~2 s.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CACHE_ROOT="${CADDY_SCIM_CACHE:-$HOME/.cache/caddy-scim}"
DEST="$CACHE_ROOT/wordpress"
SHARE=/usr/share/wordpress
MARIADBD=/usr/sbin/mariadbd
ADMIN=admin
ADMIN_EMAIL=admin@wordpress.test

# versions names the installed wordpress and mariadb-server packages ("" when either is
# missing): the template is rebuilt when one changes.
versions() {
	local wp db
	wp="$(dpkg-query -W -f '${Status} ${Version}' wordpress 2>/dev/null | sed -n 's/^install ok installed //p')"
	db="$(dpkg-query -W -f '${Status} ${Version}' mariadb-server 2>/dev/null | sed -n 's/^install ok installed //p')"
	[[ -n "$wp" && -n "$db" ]] && echo "wp$wp-db$db" | tr ':~+' '___'
}

home() { echo "$DEST/$(versions)"; }

packaged() {
	[[ -f "$SHARE/wp-settings.php" && -x "$MARIADBD" && -n "$(versions)" ]] &&
		command -v php >/dev/null 2>&1 && php -m 2>/dev/null | grep -qx mysqli &&
		command -v mariadb-install-db >/dev/null 2>&1 && command -v curl >/dev/null 2>&1
}

installed() {
	packaged && [[ -s "$(home)/template/admin-password" && -f "$(home)/site/wp-config.php" ]]
}

cmd_install() {
	installed && return 0
	packaged || command -v apt-get >/dev/null 2>&1 || die "wordpress is missing and apt-get is not available"
	mkdir -p "$DEST"
	exec 9>"$DEST/.install.lock"
	flock 9
	installed && return 0
	local start=$SECONDS
	if ! packaged; then
		local sudo=""
		[[ "$(id -u)" == 0 ]] || sudo="sudo"
		export DEBIAN_FRONTEND=noninteractive
		log "installing wordpress, mariadb-server and php-cli with apt-get"
		# the lists may be stale (an old version's .deb answers 404): always update first
		$sudo apt-get -o DPkg::Lock::Timeout=900 update -q >/dev/null || die "apt-get update failed"
		$sudo apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends \
			wordpress mariadb-server php-cli php-mysql curl >/dev/null || die "apt-get install wordpress failed"
		packaged || die "wordpress is still not usable after the install"
		log "packages installed in $((SECONDS - start)) s"
	fi
	build_template
	log "wordpress installed in $((SECONDS - start)) s"
}

# write_settings <file> <dir> <sock> <url>: the settings of the instance whose data is in
# dir, whose database answers on sock and which answers at url. DB_PASSWORD and the salts
# come from <dir>/secrets.
write_settings() {
	local file=$1 dir=$2 sock=$3 url=$4
	# shellcheck disable=SC1091
	. "$dir/secrets"
	cat >"$file" <<EOF
<?php
// Written by wordpress.sh for the instance in $dir.
define('DB_NAME', 'wordpress');
define('DB_USER', 'wordpress');
define('DB_PASSWORD', '$DB_PASSWORD');
define('DB_HOST', 'localhost:$sock');
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
define('WP_HOME', '$url');
define('WP_SITEURL', '$url');
// application passwords over plain http (wp_is_application_passwords_supported())
define('WP_ENVIRONMENT_TYPE', 'local');
define('DISABLE_WP_CRON', true);
define('WP_HTTP_BLOCK_EXTERNAL', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_AUTO_UPDATE_CORE', false);
define('AUTH_KEY', '$SALT');
define('SECURE_AUTH_KEY', '$SALT-secure');
define('LOGGED_IN_KEY', '$SALT-logged-in');
define('NONCE_KEY', '$SALT-nonce');
define('AUTH_SALT', '$SALT-auth-salt');
define('SECURE_AUTH_SALT', '$SALT-secure-salt');
define('LOGGED_IN_SALT', '$SALT-logged-in-salt');
define('NONCE_SALT', '$SALT-nonce-salt');
\$table_prefix = 'wp_';
EOF
	chmod 600 "$file"
}

# start_db <dir> <sock>: run mariadbd on the data directory <dir>/db, on the socket sock
# (its path must fit in 107 bytes), no TCP; its pid in <dir>/mariadb.pid.
start_db() {
	local dir=$1 sock=$2
	"$MARIADBD" --no-defaults --user="$(id -un)" --datadir="$dir/db" --socket="$sock" \
		--pid-file="$dir/mariadbd.pid" --log-error="$dir/mariadb.log" --skip-networking \
		--innodb-buffer-pool-size=32M --innodb-log-file-size=8M --performance-schema=OFF \
		--skip-name-resolve --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
		</dev/null >/dev/null 2>&1 &
	local pid=$! i
	echo "$pid" >"$dir/mariadb.pid"
	watch_owner "$pid"
	for ((i = 0; i < 300; i++)); do
		alive "$pid" || die "mariadbd exited during start-up:
$(tail -n 30 "$dir/mariadb.log")"
		[[ -S "$sock" ]] && mariadb --no-defaults --socket="$sock" -u "$(id -un)" -e 'SELECT 1' >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "mariadbd did not answer on $sock within 30 s:
$(tail -n 30 "$dir/mariadb.log")"
}

# build_template makes the cache's copy of the code and the instance template: a
# MariaDB data directory with WordPress installed, its administrator and application
# password.
build_template() {
	local h tmp start=$SECONDS
	h="$(home)"
	tmp="$h.tmp$$"
	rm -rf "$tmp"
	mkdir -p "$tmp/template"
	# a build that fails leaves no database running and no half-made template
	trap 'stop_pidfile "$tmp/template/mariadb.pid"; rm -rf "$tmp" "${sockdir:-}"' EXIT
	log "building the wordpress template in $h"
	cp -a "$SHARE" "$tmp/site"
	rm -f "$tmp/site/wp-config.php" "$tmp/site/.htaccess"
	cat >"$tmp/site/wp-config.php" <<'EOF'
<?php
// caddy-scim's test instances share this copy of Debian's WordPress; each one's own
// settings (database, URL) are in the file CADDY_SCIM_WORDPRESS_CONFIG names, which
// wordpress.sh start writes.
$caddy_scim_settings = getenv('CADDY_SCIM_WORDPRESS_CONFIG');
if (!$caddy_scim_settings || !is_readable($caddy_scim_settings)) {
	header('HTTP/1.0 500 Internal Server Error');
	exit("CADDY_SCIM_WORDPRESS_CONFIG names no readable settings file\n");
}
require $caddy_scim_settings;
if (!defined('ABSPATH')) {
	define('ABSPATH', __DIR__ . '/');
}
require_once ABSPATH . 'wp-settings.php';
EOF
	local t="$tmp/template" sockdir=""
	{
		echo "DB_PASSWORD=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
		echo "SALT=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	} >"$t/secrets"
	chmod 600 "$t/secrets"
	mariadb-install-db --no-defaults --user="$(id -un)" --datadir="$t/db" --auth-root-authentication-method=socket \
		--skip-test-db --innodb-log-file-size=8M >"$t/install-db.log" 2>&1 ||
		die "mariadb-install-db failed:
$(tail -n 30 "$t/install-db.log")"
	# the cache's path may be too long for a socket
	sockdir="$(mktemp -d /tmp/caddy-scim-wp.XXXXXX)"
	start_db "$t" "$sockdir/mysql.sock"
	# shellcheck disable=SC1091
	. "$t/secrets"
	mariadb --no-defaults --socket="$sockdir/mysql.sock" -u "$(id -un)" -e "CREATE DATABASE wordpress CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER 'wordpress'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
GRANT ALL ON wordpress.* TO 'wordpress'@'localhost';" || die "creating the database failed"
	write_settings "$t/settings.php" "$t" "$sockdir/mysql.sock" "http://127.0.0.1"
	local pass
	pass="$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	# wp_install() is what wp-admin/install.php runs; the application password is what
	# Users → Profile → Application Passwords makes
	CADDY_SCIM_WORDPRESS_CONFIG="$t/settings.php" ADMIN_PASSWORD="$pass" php -d display_errors=stderr -d sendmail_path=/bin/true -r '
		define("WP_INSTALLING", true);
		$_SERVER["HTTP_HOST"] = "127.0.0.1";
		require $argv[1] . "/wp-load.php";
		require_once ABSPATH . "wp-admin/includes/upgrade.php";
		$r = wp_install("caddy-scim test", $argv[2], $argv[3], false, "", getenv("ADMIN_PASSWORD"));
		$app = WP_Application_Passwords::create_new_application_password($r["user_id"], array("name" => "caddy-scim"));
		if (is_wp_error($app)) { fwrite(STDERR, $app->get_error_message() . "\n"); exit(1); }
		echo "WORDPRESS_ADMIN_ID=", $r["user_id"], "\n", "WORDPRESS_APP_PASSWORD=", $app[0], "\n";
	' "$tmp/site" "$ADMIN" "$ADMIN_EMAIL" >"$t/admin.env" 2>"$t/install.log" ||
		die "wp_install failed:
$(tail -n 30 "$t/install.log")"
	grep -q '^WORDPRESS_APP_PASSWORD=[A-Za-z0-9]\{24\}$' "$t/admin.env" || die "no application password from wp_install: $(tail -n 5 "$t/install.log")"
	echo "$pass" >"$t/admin-password"
	chmod 600 "$t/admin-password" "$t/admin.env"
	mariadb-admin --no-defaults --socket="$sockdir/mysql.sock" -u "$(id -un)" shutdown >/dev/null 2>&1 || true
	stop_pidfile "$t/mariadb.pid"
	rm -rf "$sockdir"
	rm -f "$t/mariadbd.pid" "$t/settings.php"
	rm -rf "$h"
	mv "$tmp" "$h"
	trap - EXIT
	log "template built in $((SECONDS - start)) s"
}

cmd_start() {
	[[ $# -ge 1 && $# -le 2 ]] || die "usage: wordpress.sh start <workdir> [port]"
	local work=$1 port=${2:-}
	[[ -n "$port" ]] || port="$(free_port)"
	[[ "$port" =~ ^[0-9]+$ ]] || die "port must be a number"
	installed || die "wordpress is not installed; run: wordpress.sh install"
	mkdir -p "$work"
	work="$(cd "$work" && pwd)"
	# the socket's path must fit in sun_path (108 bytes)
	((${#work} < 90)) || die "workdir path too long for mariadb's socket: $work"
	if [[ -f "$work/php.pid" ]] && alive "$(cat "$work/php.pid")"; then
		die "a wordpress is already running from $work"
	fi
	local h
	h="$(home)"
	rm -rf "$work/db"
	cp -a "$h/template/db" "$work/db"
	cp "$h/template/secrets" "$work/secrets"
	local url="http://127.0.0.1:$port"
	# a start that fails stops what it started (the database, the server)
	trap 'cmd_stop "$work"' EXIT
	write_settings "$work/settings.php" "$work" "$work/mysql.sock" "$url"
	start_db "$work" "$work/mysql.sock"
	# exec: the pid is the server's; the redirections close the script's stdout, which
	# the caller waits on
	# one process: with PHP_CLI_SERVER_WORKERS its workers would outlive a stopped server
	(CADDY_SCIM_WORDPRESS_CONFIG="$work/settings.php" exec php \
		-d display_errors=stderr -d log_errors=Off -d memory_limit=256M -d sendmail_path=/bin/true \
		-S "127.0.0.1:$port" -t "$h/site") >"$work/php.log" 2>&1 </dev/null &
	local pid=$!
	echo "$pid" >"$work/php.pid"
	watch_owner "$pid"
	wait_ready wordpress "$pid" "$url/?rest_route=/" "$work/php.log" 60
	local app
	app="$(sed -n 's/^WORDPRESS_APP_PASSWORD=//p' "$h/template/admin.env")"
	# shellcheck disable=SC1091
	. "$work/secrets"
	{
		echo "WORDPRESS_URL=$url"
		echo "WORDPRESS_ADMIN=$ADMIN"
		grep '^WORDPRESS_ADMIN_ID=' "$h/template/admin.env"
		echo "WORDPRESS_ADMIN_PASSWORD=$(cat "$h/template/admin-password")"
		echo "WORDPRESS_APP_PASSWORD=$app"
		echo "WORDPRESS_AUTHORIZATION=Basic $(printf '%s:%s' "$ADMIN" "$app" | base64 -w0)"
		echo "WORDPRESS_DB_SOCKET=$work/mysql.sock"
		echo "WORDPRESS_DB_USER=wordpress"
		echo "WORDPRESS_DB_PASSWORD=$DB_PASSWORD"
		echo "WORDPRESS_PID=$pid"
	} >"$work/env"
	chmod 600 "$work/env"
	trap - EXIT
	echo "$url"
}

cmd_stop() {
	[[ $# -eq 1 ]] || die "usage: wordpress.sh stop <workdir>"
	stop_pidfile "$1/php.pid"
	stop_pidfile "$1/mariadb.pid"
}

case "${1:-}" in
install) shift && cmd_install "$@" ;;
start) shift && cmd_start "$@" ;;
stop) shift && cmd_stop "$@" ;;
*) die "usage: wordpress.sh install | start <workdir> [port] | stop <workdir>" ;;
esac
