#!/usr/bin/env bash
# Build Caddy with caddy-scim from this working tree, run the demo, or run every test.
#
#   ./xcaddy.sh build [-o path]   build ./caddy (pinned xcaddy and Caddy)
#   ./xcaddy.sh demo              Caddy + caddy-scim in front of a real local Gitea
#   ./xcaddy.sh test [go test args]  every test: unit, fuzz seeds, integration
#   ./xcaddy.sh bench             the benchmark: plugin vs reverse_proxy vs Gitea, the list curve, micro benchmarks
#   ./xcaddy.sh load [2m]         10 tenants × 25 operations/s on one Caddy and Gitea, 5 % upstream
#                                 faults, then the invariant check (CADDY_SCIM_LOAD_* in integration/load)
#   ./xcaddy.sh fuzz [10m] [go test args]  every fuzz target for that long each (not in CI),
#                                 e.g. fuzz 10m -parallel=1 to leave a core free
#                                 (CADDY_SCIM_BENCH_USERS=10000, CADDY_SCIM_BENCH_DURATION=2s,
#                                 CADDY_SCIM_BENCH_PROFILE=dir, CADDY_SCIM_BENCH_OUT=file)
#
# Everything it needs (xcaddy, Gitea, Kratos, Redmine, redis-server, chromium) is installed on first use and
# cached under ${CADDY_SCIM_CACHE:-$HOME/.cache/caddy-scim}.
set -euo pipefail

XCADDY_VERSION=v0.4.5
CADDY_VERSION=${CADDY_VERSION:-v2.11.9}
MODULE=github.com/caddy-scim/caddy-scim
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${CADDY_SCIM_CACHE:-$HOME/.cache/caddy-scim}
export CADDY_SCIM_CACHE=$CACHE
mkdir -p "$CACHE/bin"

need_go() {
	if ! command -v go >/dev/null; then
		[ -x /usr/local/go/bin/go ] && export PATH=$PATH:/usr/local/go/bin
	fi
	command -v go >/dev/null || { echo "xcaddy.sh: Go is required (https://go.dev/dl)" >&2; exit 1; }
}

install_xcaddy() {
	if [ ! -x "$CACHE/bin/xcaddy-$XCADDY_VERSION" ]; then
		echo "installing xcaddy $XCADDY_VERSION" >&2
		GOBIN="$CACHE/bin/tmp" go install "github.com/caddyserver/xcaddy/cmd/xcaddy@$XCADDY_VERSION"
		mv "$CACHE/bin/tmp/xcaddy" "$CACHE/bin/xcaddy-$XCADDY_VERSION"
		rmdir "$CACHE/bin/tmp"
	fi
}

# build OUT: the zero pseudo-version is needed because the module proxy answers 403
# for modules it does not know, and xcaddy's go get stops there (design.md).
build() {
	local out=$1
	need_go
	install_xcaddy
	echo "building Caddy $CADDY_VERSION with $MODULE from $ROOT" >&2
	(cd "$ROOT" && "$CACHE/bin/xcaddy-$XCADDY_VERSION" build "$CADDY_VERSION" --output "$out" \
		--with "$MODULE@v0.0.0-00010101000000-000000000000=$ROOT" >"$CACHE/xcaddy-build.log" 2>&1) || {
		cat "$CACHE/xcaddy-build.log" >&2
		echo "xcaddy.sh: build failed" >&2
		exit 1
	}
	# a missing registration must fail the build, not the first request; the list is
	# read whole first (grep -q closing the pipe early fails it under pipefail)
	local mods
	mods=$("$out" list-modules)
	for m in http.handlers.scim http.handlers.scim_activity admin.api.scim admin.api.scim_links scim.adapters.gitea scim.adapters.gitlab; do
		grep -qx "$m" <<<"$mods" || { echo "xcaddy.sh: $m missing from the build" >&2; exit 1; }
	done
}

cmd=${1:-build}
shift || true
case "$cmd" in
build)
	out="$ROOT/caddy"
	if [ "${1:-}" = "-o" ]; then out=$2; fi
	build "$out"
	echo "$out"
	;;
test)
	need_go
	bash "$ROOT/integration/scripts/gitea.sh" install
	bash "$ROOT/integration/scripts/kratos.sh" install
	bash "$ROOT/integration/scripts/redmine.sh" install
	bash "$ROOT/integration/scripts/pocketbase.sh" install
	bash "$ROOT/integration/scripts/keystone.sh" install
	bash "$ROOT/integration/scripts/directus.sh" install
	bash "$ROOT/integration/scripts/miniflux.sh" install
	bash "$ROOT/integration/scripts/wordpress.sh" install
	bash "$ROOT/integration/scripts/redis.sh" install
	bash "$ROOT/integration/scripts/chromium.sh" install
	build "$CACHE/bin/caddy-test"
	export CADDY_SCIM_CADDY_BIN="$CACHE/bin/caddy-test"
	cd "$ROOT"
	echo "go vet ./..." >&2
	go vet ./...
	unformatted=$(gofmt -l . | grep -v '^integration/testdata/' || true)
	if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi
	# -p 2: the machine has 2 cores and the integration packages each start real servers
	go test -count=1 -p 2 -timeout 40m "$@" ./...
	;;
bench)
	need_go
	bash "$ROOT/integration/scripts/gitea.sh" install
	bash "$ROOT/integration/scripts/redis.sh" install
	build "$CACHE/bin/caddy-bench"
	export CADDY_SCIM_CADDY_BIN="$CACHE/bin/caddy-bench" CADDY_SCIM_BENCH=1
	cd "$ROOT"
	echo "micro benchmarks (module/scim, -benchmem)" >&2
	go test -run '^$' -bench 'Core' -benchmem -count 1 ./module/scim/
	# one package, one process: the numbers are only comparable within a run
	go test -count=1 -v -timeout 120m -run '^(TestBench|TestBenchEmulator|TestListCurve|TestRestCost)$' "$@" ./integration/bench/
	;;
demo)
	need_go
	exec bash "$ROOT/integration/scripts/demo.sh"
	;;
load)
	need_go
	bash "$ROOT/integration/scripts/gitea.sh" install
	bash "$ROOT/integration/scripts/redis.sh" install
	build "$CACHE/bin/caddy-test"
	export CADDY_SCIM_CADDY_BIN="$CACHE/bin/caddy-test" CADDY_SCIM_LOAD_DURATION=${1:-2m}
	shift || true
	cd "$ROOT"
	go test -count=1 -v -timeout 120m -run '^TestLoad$' "$@" ./integration/load/
	;;
fuzz)
	# every fuzz target, one after the other, ${1:-10m} each; crashers land in
	# testdata/fuzz/<Target>/ of their package, and so do the inputs that found new
	# coverage (from Go's fuzz cache): the corpus is kept in git, and every
	# ./xcaddy.sh test runs it
	need_go
	cd "$ROOT"
	fuzztime=${1:-10m}
	shift || true
	status=0
	for pkg in $(go list ./...); do
		dir=$(go list -f '{{.Dir}}' "$pkg")
		for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
			echo "fuzz $pkg $target for $fuzztime" >&2
			go test -run '^$' -fuzz "^$target\$" -fuzztime "$fuzztime" "$@" "$pkg" || status=1
			cached="$(go env GOCACHE)/fuzz/$pkg/$target"
			if [ -d "$cached" ]; then
				mkdir -p "$dir/testdata/fuzz/$target"
				cp -n "$cached"/* "$dir/testdata/fuzz/$target/" 2>/dev/null || true
			fi
		done
	done
	exit $status
	;;
*)
	echo "usage: $0 build [-o path] | demo | test [go test args] | bench [go test args] | load [duration] | fuzz [duration per target] [go test args]" >&2
	exit 2
	;;
esac
