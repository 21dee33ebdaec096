#!/usr/bin/env bash
# chromium.sh — a headless Chromium for the browser checks of the integration tests.
#
#   chromium.sh install   apt-get install Debian's chromium when no browser is on PATH (idempotent)
#   chromium.sh path      print the browser's path
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

find_browser() {
	local c
	for c in chromium chromium-browser google-chrome; do
		command -v "$c" 2>/dev/null && return 0
	done
	return 1
}

cmd_install() {
	find_browser >/dev/null && return 0
	local lock="${CADDY_SCIM_CACHE:-$HOME/.cache/caddy-scim}/chromium-install.lock"
	mkdir -p "$(dirname "$lock")"
	exec 9>"$lock"
	flock 9
	find_browser >/dev/null && return 0
	ensure_cmd chromium chromium
	find_browser >/dev/null || die "chromium is still not on PATH after the install"
}

case "${1:-}" in
install) cmd_install ;;
path) find_browser || die "no chromium on PATH; run: chromium.sh install" ;;
*) die "usage: chromium.sh install | path" ;;
esac
