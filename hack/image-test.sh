#!/usr/bin/env bash
# Tests the image `make image` built, without running it: `podman run` cannot
# create containers on these machines, so the image is created (not started),
# exported, unpacked and its binaries run with chroot, each inside a throwaway
# network namespace test-image-<pid>-<case> with /proc mounted privately.
#
#   1. router version names $VERSION; gobgp --version names v3.37.0; the bundled
#      bridge plugin says v1.9.0.
#   2. router install-cni installs the four plugins into an empty dir, and a
#      second run leaves all four unchanged.
#   3. the iptables wrapper: before its first run iptables leads to it; in each
#      case's fresh namespace it picks the backend the case set up, re-points the
#      alternatives, and its own rules land only in that backend.
#   4. the arm64 image ($IMAGE:$RELEASE-arm64, when IMAGE_ARCHES has arm64) is in
#      the manifest list $IMAGE:$RELEASE-multiarch, its binaries are aarch64 ELF
#      files, and run with qemu-aarch64-static (Debian's qemu-user-static, called
#      by name: no binfmt_misc) chrooted into the unpacked image: router version,
#      router install-cni --dry-run, gobgp --version, the four plugins, and the
#      arm64 iptables --version (legacy; nf_tables through iptables-nft-save,
#      since qemu-user cannot open the netlink socket iptables-nft opens first),
#      every library of both resolved by the arm64 loader; the alternatives lead
#      to the wrapper and know both backends. The wrapper itself (a shell script
#      that runs other binaries) cannot run under qemu without binfmt_misc.
#
# Needs root and podman. Environment: IMAGE (default ghcr.io/nodebgp/router),
# VERSION, RELEASE (default ./VERSION), IMAGE_ARCHES (default "amd64 arm64").
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
image="${IMAGE:-ghcr.io/nodebgp/router}"
version="${VERSION:-$(git -C "$repo_root" describe --tags --always --dirty 2>/dev/null || echo dev)}"
tag="$(printf '%s' "$version" | tr -c 'A-Za-z0-9_.-' '-')"
release="${RELEASE:-$(cat "$repo_root/VERSION")}"
arches="${IMAGE_ARCHES:-amd64 arm64}"
gobgp_version="$(sed -n 's/^gobgp_version=//p' "$repo_root/hack/build-tools.sh")"
cni_version="$(sed -n 's/^cni_version=//p' "$repo_root/hack/build-tools.sh")"
prefix=test-image-
run="$prefix$$"
tmp_root=/tmp/test-image
container=""
work=""

log() { echo "image-test: $*"; }
fail() {
	echo "image-test: FAIL: $*" >&2
	exit 1
}
pass() { echo "image-test: PASS: $*"; }

[ "$(id -u)" -eq 0 ] || fail "run as root (chroot, network namespaces)"
command -v podman >/dev/null 2>&1 || fail "podman missing (make image installs it)"

# remove_run removes one run's namespaces, container and unpacked tree. Mounts
# live only in the private mount namespaces of `ip netns exec`, so the tree holds
# none; rm refuses anyway if one is there.
remove_run() {
	local id="$1" ns
	for ns in $(ip netns list | awk -v p="$id-" 'index($1, p) == 1 { print $1 }'); do
		ip netns del "$ns" || true
	done
	podman rm -f "$id" >/dev/null 2>&1 || true
	if [ -d "$tmp_root/$id" ]; then
		if awk -v d="$tmp_root/$id/" 'index($2, d) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
			echo "image-test: $tmp_root/$id still has mounts; left in place" >&2
		else
			rm -rf "${tmp_root:?}/$id"
		fi
	fi
}

cleanup() {
	local rc=$?
	set +e
	remove_run "$run"
	rmdir "$tmp_root" 2>/dev/null
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "image-test: FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR

# Leftovers of an earlier run of this script that crashed: only runs whose
# process is gone, so a concurrent run is left alone.
remove_leftovers() {
	local id pid
	for id in $( (ip netns list | awk '{ print $1 }'; podman ps -a --format '{{.Names}}'; ls "$tmp_root" 2>/dev/null) |
		sed -n "s/^\($prefix[0-9][0-9]*\).*/\1/p" | sort -u); do
		pid="${id#"$prefix"}"
		kill -0 "$pid" 2>/dev/null && continue
		log "removing leftovers of run $id"
		remove_run "$id"
	done
}

# in_image <case> <command...> runs a command in the unpacked image, inside the
# namespace of <case> (made on first use), with a clean environment. With
# READ_ONLY=1 the image's root is read-only, as with readOnlyRootFilesystem.
in_image() {
	local ns="$run-$1" ro_mount=":"
	shift
	[ "${READ_ONLY:-}" = 1 ] && ro_mount='mount --bind "$0" "$0" && mount -o remount,bind,ro "$0"'
	[ -e "/var/run/netns/$ns" ] || ip netns add "$ns"
	ip netns exec "$ns" sh -c "$ro_mount"' && mount -t proc proc "$0/proc" && exec chroot "$0" "$@"' "$work" \
		env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

# expect <what> <output> <wanted substring>
expect() {
	case "$2" in
	*"$3"*) pass "$1" ;;
	*) fail "$1: got:
$2
want it to contain: $3" ;;
	esac
}

# expect_none <what> <output> <unwanted substring>
expect_none() {
	case "$2" in
	*"$3"*) fail "$1: got:
$2
want no: $3" ;;
	*) pass "$1" ;;
	esac
}

# unpack <image> <dir> creates a container from the image (never started),
# exports its filesystem into dir and removes it.
unpack_into() {
	local ref="$1" dir="$2"
	mkdir -p "$dir"
	container="$run"
	podman create --name "$container" "$ref" >/dev/null 2>"$tmp_root/$run/create.err" ||
		fail "podman create $ref: $(cat "$tmp_root/$run/create.err")"
	podman export "$container" | tar -C "$dir" -x
	podman rm "$container" >/dev/null
	[ -e "$dir/dev/null" ] || mknod -m 0666 "$dir/dev/null" c 1 3
	log "unpacked $ref into $dir ($(du -sh "$dir" | cut -f1))"
}

unpack() {
	work="$tmp_root/$run/amd64"
	unpack_into "$image:$tag" "$work"
}

test_binaries() {
	expect "router version names $version" "$(in_image main router version)" "router $version "
	expect "gobgp --version is ${gobgp_version#v}" "$(in_image main gobgp --version)" "gobgp version ${gobgp_version#v}"
	expect "bundled bridge plugin is $cni_version" "$(in_image main /opt/nodebgp/cni/bin/bridge 2>&1)" "CNI bridge plugin $cni_version"
}

test_install_cni() {
	local out p
	out="$(in_image main router install-cni --bin-dir /tmp/cni-test 2>&1)" || fail "install-cni: $out"
	for p in bridge host-local portmap loopback; do
		expect "install-cni installs $p" "$out" "$p: installed $cni_version"
		[ -x "$work/tmp/cni-test/$p" ] || fail "install-cni: $work/tmp/cni-test/$p missing"
	done
	out="$(in_image main router install-cni --bin-dir /tmp/cni-test 2>&1)" || fail "install-cni, second run: $out"
	for p in bridge host-local portmap loopback; do
		expect "install-cni run twice leaves $p unchanged" "$out" "$p: unchanged ($cni_version)"
	done
}

# reset_wrapper puts the alternatives back as the image ships them (auto mode
# picks the wrapper, priority 100), so every case starts undecided.
reset_wrapper() {
	local t cmd
	for t in iptables ip6tables; do
		in_image main update-alternatives --auto "$t" >/dev/null
		for cmd in "$t" "$t-save" "$t-restore"; do
			[ "$(in_image main readlink -f "/usr/sbin/$cmd")" = /usr/sbin/iptables-wrapper ] ||
				fail "/usr/sbin/$cmd does not lead to the wrapper"
		done
	done
}

# wrapper_case <case> <want: legacy|nft> <setup command run in the case's namespace>...
# The setup writes rules with an explicit backend; then the wrapped `iptables -V`
# must report the wanted one, both alternatives must now lead to it, and a chain
# made through the wrapped iptables-restore (stdin must reach it) must appear in
# the wanted backend and not in the other.
wrapper_case() {
	local name="$1" want="$2" other out version_word
	shift 2
	reset_wrapper
	[ "$#" -eq 0 ] || in_image "$name" sh -c "$*"
	case "$want" in
	legacy) other=nft version_word="(legacy)" ;;
	nft) other=legacy version_word="(nf_tables)" ;;
	esac
	out="$(in_image "$name" iptables -V 2>&1)" || fail "$name: iptables -V: $out"
	expect "$name: iptables -V reports $version_word" "$out" "$version_word"
	expect "$name: the wrapper says why it chose $want" "$out" "iptables-wrapper: using iptables-$want"
	[ "$(in_image main readlink -f /usr/sbin/ip6tables-save)" = "/usr/sbin/xtables-$want-multi" ] ||
		fail "$name: ip6tables-save does not lead to xtables-$want-multi"
	out="$(in_image "$name" ip6tables -V 2>&1)" || fail "$name: ip6tables -V: $out"
	expect "$name: ip6tables follows without asking the wrapper again" "$out" "$version_word"
	expect_none "$name: ... and the wrapper stays silent" "$out" "iptables-wrapper"
	out="$(printf '*filter\n:NODEBGP-IMAGE-TEST - [0:0]\nCOMMIT\n' | in_image "$name" iptables-restore --noflush 2>&1)" ||
		fail "$name: iptables-restore: $out"
	expect "$name: a chain made through the wrapper is in $want" "$(in_image "$name" "iptables-$want-save" -t filter 2>&1)" ":NODEBGP-IMAGE-TEST "
	expect_none "$name: ... and not in $other" "$(in_image "$name" "iptables-$other-save" 2>/dev/null)" "NODEBGP-IMAGE-TEST"
}

test_iptables_wrapper() {
	wrapper_case empty-host nft
	wrapper_case legacy-rule legacy "iptables-legacy -A FORWARD -s 192.0.2.1/32 -j ACCEPT"
	# kubelet's hint outweighs a count of rules, in both directions.
	wrapper_case kubelet-nft nft "iptables-nft -t mangle -N KUBE-IPTABLES-HINT
		for i in \$(seq 1 12); do iptables-legacy -A FORWARD -s 192.0.2.\$i/32 -j ACCEPT; done"
	wrapper_case kubelet-legacy legacy "iptables-legacy -t mangle -N KUBE-KUBELET-CANARY
		for i in 1 2 3; do iptables-nft -A FORWARD -s 192.0.2.\$i/32 -j ACCEPT; done"
	wrapper_case more-nft-rules nft "iptables-legacy -A FORWARD -s 192.0.2.1/32 -j ACCEPT
		for i in 2 3; do ip6tables-nft -A FORWARD -s 2001:db8::\$i/128 -j ACCEPT; done"
}

# On a read-only root the wrapper cannot switch the alternatives: every call
# must still reach the host's backend (through xtables-<mode>-multi), stdin too,
# and the links must still lead to the wrapper.
test_iptables_wrapper_read_only() {
	local name=read-only-root out
	reset_wrapper
	in_image "$name" iptables-legacy -A FORWARD -s 192.0.2.1/32 -j ACCEPT
	out="$(READ_ONLY=1 in_image "$name" iptables -V 2>&1)" || fail "$name: iptables -V: $out"
	expect "$name: iptables -V reports (legacy)" "$out" "(legacy)"
	expect "$name: the wrapper says it could not switch" "$out" "could not switch the alternatives"
	out="$(printf '*filter\n:NODEBGP-IMAGE-TEST - [0:0]\nCOMMIT\n' | READ_ONLY=1 in_image "$name" iptables-restore --noflush 2>&1)" ||
		fail "$name: iptables-restore: $out"
	expect "$name: a chain made through the wrapper is in legacy" "$(in_image "$name" iptables-legacy-save -t filter)" ":NODEBGP-IMAGE-TEST "
	[ "$(in_image main readlink -f /usr/sbin/iptables)" = /usr/sbin/iptables-wrapper ] ||
		fail "$name: /usr/sbin/iptables no longer leads to the wrapper"
	pass "$name: the links still lead to the wrapper"
}

# in_arm64 <command...> runs an arm64 command of the unpacked arm64 image under
# qemu-aarch64-static, chrooted into it (so that dynamically linked binaries
# find the image's arm64 libraries), in a throwaway network namespace.
in_arm64() {
	local ns="$run-arm64"
	[ -e "/var/run/netns/$ns" ] || ip netns add "$ns"
	ip netns exec "$ns" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		chroot "$work_arm64" /qemu-aarch64-static "$@"
}

# is_aarch64 <file>: an ELF file whose e_machine is 183 (EM_AARCH64).
is_aarch64() {
	[ "$(od -An -tx1 -j0 -N4 "$1" | tr -d ' ')" = 7f454c46 ] && [ "$(od -An -tx1 -j18 -N2 "$1" | tr -d ' ')" = b700 ]
}

test_arm64() {
	local list="$image:$release-multiarch" out f p qemu
	qemu="$(command -v qemu-aarch64-static)" || fail "qemu-aarch64-static missing (make deps installs qemu-user-static)"
	out="$(podman manifest inspect "$list")" || fail "no manifest list $list (make image)"
	expect "manifest list $list has linux/amd64" "$out" '"architecture": "amd64"'
	expect "manifest list $list has linux/arm64" "$out" '"architecture": "arm64"'
	expect "image $image:$release-arm64 is linux/arm64" \
		"$(podman image inspect --format '{{.Os}}/{{.Architecture}}' "$image:$release-arm64")" "linux/arm64"
	work_arm64="$tmp_root/$run/arm64"
	unpack_into "$image:$release-arm64" "$work_arm64"
	for f in usr/local/bin/router usr/local/bin/gobgp opt/nodebgp/cni/bin/bridge opt/nodebgp/cni/bin/host-local \
		opt/nodebgp/cni/bin/portmap opt/nodebgp/cni/bin/loopback usr/sbin/xtables-nft-multi usr/sbin/xtables-legacy-multi; do
		is_aarch64 "$work_arm64/$f" || fail "arm64: /$f is not an aarch64 ELF file"
	done
	pass "arm64: router, gobgp, the plugins and iptables are aarch64 binaries"
	cp "$qemu" "$work_arm64/qemu-aarch64-static"
	expect "arm64: router version names $version" "$(in_arm64 /usr/local/bin/router version)" "router $version "
	# install-cni reads a bundled plugin's version by running it; under
	# qemu-user without binfmt_misc an arm64 process cannot exec another
	# (exec format error), so here the versions are read below, one by one.
	out="$(in_arm64 /usr/local/bin/router install-cni --dry-run --bin-dir /tmp/cni-test 2>&1)" || fail "arm64: install-cni --dry-run: $out"
	for p in bridge host-local portmap loopback; do
		expect "arm64: install-cni --dry-run would install $p" "$out" "$p: would install"
	done
	[ ! -e "$work_arm64/tmp/cni-test" ] || fail "arm64: install-cni --dry-run made /tmp/cni-test"
	expect "arm64: gobgp --version is ${gobgp_version#v}" "$(in_arm64 /usr/local/bin/gobgp --version)" "gobgp version ${gobgp_version#v}"
	for p in bridge host-local portmap loopback; do
		expect "arm64: bundled $p plugin is $cni_version" "$(in_arm64 "/opt/nodebgp/cni/bin/$p" 2>&1)" "CNI $p plugin $cni_version"
	done
	# argv[0] picks the command inside xtables-*-multi, as the symlinks do.
	# qemu-user opens no netfilter netlink socket (it emulates NETLINK_ROUTE,
	# _AUDIT and _KOBJECT_UEVENT only), and iptables-nft opens one even for
	# --version; iptables-nft-save --version does not, and is the same binary.
	expect "arm64: iptables --version (legacy)" "$(in_arm64 /usr/sbin/iptables-legacy --version 2>&1)" "iptables v1.8.9 (legacy)"
	expect "arm64: iptables-save --version (nf_tables)" "$(in_arm64 /usr/sbin/iptables-nft-save --version 2>&1)" "v1.8.9 (nf_tables)"
	for f in xtables-nft-multi xtables-legacy-multi; do
		out="$(in_arm64 /lib/ld-linux-aarch64.so.1 --list "/usr/sbin/$f" 2>&1)" || fail "arm64: the loader cannot resolve $f: $out"
		expect_none "arm64: every library of $f is in the image" "$out" "not found"
	done
	for p in iptables ip6tables; do
		[ "$(readlink "$work_arm64/usr/sbin/$p")" = "/etc/alternatives/$p" ] &&
			[ "$(readlink "$work_arm64/etc/alternatives/$p")" = /usr/sbin/iptables-wrapper ] ||
			fail "arm64: /usr/sbin/$p does not lead to the wrapper"
		out="$(update-alternatives --root "$work_arm64" --query "$p")"
		expect "arm64: $p alternatives: the wrapper" "$out" "Alternative: /usr/sbin/iptables-wrapper"
		expect "arm64: $p alternatives: nft, for the wrapper to switch to" "$out" "Alternative: /usr/sbin/$p-nft"
		expect "arm64: $p alternatives: legacy" "$out" "Alternative: /usr/sbin/$p-legacy"
	done
}

main() {
	local start=$SECONDS
	remove_leftovers
	unpack
	test_binaries
	test_install_cni
	test_iptables_wrapper
	test_iptables_wrapper_read_only
	case " $arches " in *" arm64 "*) test_arm64 ;; esac
	log "all passed in $((SECONDS - start))s"
}

main "$@"
