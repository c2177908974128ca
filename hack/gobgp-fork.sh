#!/usr/bin/env bash
# Rebuilds third_party/gobgp: the GoBGP module at the version go.mod requires,
# as the module proxy serves it, with the patches in third_party/gobgp-patches/
# applied in name order (NNN-name.patch). go.mod replaces GoBGP with that copy,
# so `go build` and `go test` need no step beyond a clone.
#
#   hack/gobgp-fork.sh          rewrite third_party/gobgp
#   hack/gobgp-fork.sh check    fail if third_party/gobgp differs from upstream + patches
#   hack/gobgp-fork.sh test     run GoBGP's own tests of the patched packages (the
#                               whole module + every patch, its tests included)
#
# The copy holds what building this repository needs, nothing else: the
# non-test Go files of every GoBGP package the module imports (with the e2e
# tag and tests), the module's go.mod, go.sum and LICENSE. To change a patch or
# add one: edit or add a file in third_party/gobgp-patches/ (a diff with a/ and
# b/ prefixes against the module root, `git diff` style), run this script, and
# commit the patch and the copy together. To move to another GoBGP version:
# change the version in go.mod's require and rerun; a patch that no longer
# applies stops the script.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH=/usr/local/go/bin:$PATH

MOD=github.com/osrg/gobgp/v3
COPY=third_party/gobgp
PATCHES=third_party/gobgp-patches
mode=${1:-update}
case $mode in update | check | test) ;; *)
	echo "usage: $0 [check|test]" >&2
	exit 2
	;;
esac

version=$(go mod edit -json | python3 -c '
import json, sys
for r in json.load(sys.stdin)["Require"]:
    if r["Path"] == sys.argv[1]:
        print(r["Version"])' "$MOD")
if [ -z "$version" ]; then
	echo "$0: go.mod does not require $MOD" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The upstream module from the module cache (downloaded if missing).
upstream=$(go mod download -json "$MOD@$version" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')

if [ "$mode" = test ]; then
	# The whole upstream module with every patch, tests included; the
	# packages the patches touch are tested. pkg/server's tests listen on
	# fixed 127.0.0.1 ports: run in a network namespace of their own.
	cp -r "$upstream" "$tmp/full"
	chmod -R u+w "$tmp/full"
	pkgs=""
	for patch in "$PATCHES"/*.patch; do
		[ -e "$patch" ] || continue
		(cd "$tmp/full" && git apply -p1 "$root/$patch") || {
			echo "$0: $patch does not apply to $MOD@$version" >&2
			exit 1
		}
		pkgs="$pkgs $(sed -n 's|^+++ b/\(.*\)/[^/]*$|./\1|p' "$patch")"
	done
	pkgs=$(printf '%s\n' $pkgs | sort -u)
	echo "testing $MOD@$version + patches:" $pkgs
	# The tests' modules are fetched here: the namespace has no network.
	(cd "$tmp/full" && go mod download)
	# Not exec: the EXIT trap removes $tmp.
	(cd "$tmp/full" && unshare -n sh -c 'ip link set lo up && go test -count=1 "$@"' sh $pkgs)
	exit $?
fi

# Which GoBGP packages this repository builds, asked of go.mod without the
# replace (the copy may be the thing being rebuilt).
cp go.mod go.sum "$tmp/"
go mod edit -modfile="$tmp/go.mod" -dropreplace="$MOD"
pkgs=$(go list -modfile="$tmp/go.mod" -deps -test -tags e2e ./... | sed -n "s|^$MOD/||p" | grep -v '\.test$' | sort -u)

out=$tmp/gobgp
mkdir -p "$out"
cp "$upstream/LICENSE" "$upstream/go.mod" "$upstream/go.sum" "$out/"
for p in $pkgs; do
	mkdir -p "$out/$p"
	for f in "$upstream/$p"/*.go; do
		case $f in *_test.go) continue ;; esac
		cp "$f" "$out/$p/"
	done
done
chmod -R u+w "$out"
# A patch may carry GoBGP unit tests for its change (for upstream, and for
# `hack/gobgp-fork.sh test`); the copy has no test files, so their hunks are
# left out here.
for patch in "$PATCHES"/*.patch; do
	[ -e "$patch" ] || continue
	if ! (cd "$out" && git apply -p1 --exclude='*_test.go' "$root/$patch"); then
		echo "$0: $patch does not apply to $MOD@$version" >&2
		exit 1
	fi
done

if [ "$mode" = check ]; then
	if ! diff -r "$out" "$COPY"; then
		echo "$0: $COPY is not $MOD@$version + $PATCHES/*.patch; run $0 and commit the result" >&2
		exit 1
	fi
	echo "$COPY is $MOD@$version + $(ls "$PATCHES"/*.patch 2>/dev/null | wc -l) patch(es)"
	exit 0
fi
rm -rf "$COPY"
mkdir -p "$(dirname "$COPY")"
cp -r "$out" "$COPY"
echo "wrote $COPY: $MOD@$version + $(ls "$PATCHES"/*.patch 2>/dev/null | wc -l) patch(es)"
