#!/usr/bin/env bash
# Builds nodebgp's image from the Dockerfile and tags it $IMAGE:$RELEASE (the
# release in ./VERSION, the tag the manifests name) and $IMAGE:$VERSION (this
# exact build, from git describe). IMAGE defaults to ghcr.io/nodebgp/router,
# the reference in daemonset/, so a node that imports the image runs it as is.
# No `latest`: manifests pin a version (docs/install.md, "Pinning the image").
# `make image` runs it after
# `make build tools`, whose binaries it packs: these machines reach no registry,
# so the Go build happens on the host (see the Dockerfile's header).
#
#   1. builder: podman, else buildah, else docker; podman, buildah and debootstrap
#      are apt-installed when missing.
#   2. base: Debian bookworm (minbase + iptables + ca-certificates) made once with
#      debootstrap from the mirror apt uses, trimmed and cached as
#      .cache/image/base-bookworm.tar, imported as nodebgp-base:bookworm whenever
#      that image is missing or was imported from another tarball.
#   3. context: .cache/image/context gets router, gobgp, the four CNI plugins
#      (stripped of debug symbols) and hack/iptables-wrapper.
#   4. build, with the versions the Dockerfile's check stage must find.
#   5. linux/arm64 (IMAGE_ARCHES, default "amd64 arm64"): an arm64 base made with
#      `debootstrap --foreign --arch=arm64` and finished on the host (below), the
#      arm64 binaries (`make image` cross-compiles router; build-tools.sh the
#      rest) and the wrapper's alternatives put in place with the host's
#      update-alternatives --root, imported as $IMAGE:$RELEASE-arm64. No
#      Dockerfile RUN step can run arm64 code here (no binfmt_misc), so the
#      checks the amd64 build makes in its RUN steps are hack/image-test.sh's,
#      under qemu-aarch64-static. Then the manifest list $IMAGE:$RELEASE-multiarch
#      (amd64 + arm64) for `podman manifest push --all` (docs/image.md).
#
# Environment: IMAGE, VERSION, TOOLS_DIR, DEBIAN_MIRROR (else apt's bookworm
# mirror), IMAGE_ISOLATION (podman/buildah RUN isolation, default chroot: crun
# cannot create containers in this sandbox, a chroot can).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_dir="${TOOLS_DIR:-$repo_root/.cache/tools}"
case "$tools_dir" in /*) ;; *) tools_dir="$repo_root/$tools_dir" ;; esac
cache_dir="$repo_root/.cache/image"
image="${IMAGE:-ghcr.io/nodebgp/router}"
version="${VERSION:-$(git -C "$repo_root" describe --tags --always --dirty 2>/dev/null || echo dev)}"
release="${RELEASE:-$(cat "$repo_root/VERSION")}"
isolation="${IMAGE_ISOLATION:-chroot}"

suite=bookworm
base_packages=iptables,ca-certificates
base_image="nodebgp-base:$suite"
base_tar="$cache_dir/base-$suite.tar"
# The recipe of the cached tarball: a change here makes a new one.
base_recipe="debootstrap --variant=minbase --include=$base_packages $suite; trim v1"

arches="${IMAGE_ARCHES:-amd64 arm64}"
base_tar_arm64="$cache_dir/base-$suite-arm64.tar"
base_recipe_arm64="debootstrap --foreign --arch=arm64 --variant=minbase --include=$base_packages $suite; host second stage v1; trim v1"

# One source of truth for the bundled versions: hack/build-tools.sh.
pinned() { sed -n "s/^$1=//p" "$repo_root/hack/build-tools.sh"; }
gobgp_version="$(pinned gobgp_version)"
cni_version="$(pinned cni_version)"

log() { echo "image: $*"; }
fail() {
	echo "image: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || fail "run as root (debootstrap and the builder need it)"
[ -n "$gobgp_version" ] && [ -n "$cni_version" ] || fail "cannot read gobgp_version/cni_version from hack/build-tools.sh"

# install_missing installs the packages whose command is missing, as
# hack/install-deps.sh does: dpkg-query first, apt only when something is absent.
install_missing() {
	local missing=() pkg status
	for pkg in podman buildah debootstrap; do
		command -v "$pkg" >/dev/null 2>&1 && continue
		status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
		[ "$status" = "install ok installed" ] || missing+=("$pkg")
	done
	[ "${#missing[@]}" -eq 0 ] && return
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q "${missing[@]}" </dev/null
}

pick_builder() {
	local b
	for b in podman buildah docker; do
		if command -v "$b" >/dev/null 2>&1; then
			echo "$b"
			return
		fi
	done
	fail "no podman, buildah or docker"
}

# debian_mirror prints the URI apt fetches $suite from: the first enabled deb
# source, deb822 (*.sources) or one-line (*.list), whose suites include $suite
# itself (not $suite-security or $suite-updates).
debian_mirror() {
	if [ -n "${DEBIAN_MIRROR:-}" ]; then
		echo "$DEBIAN_MIRROR"
		return
	fi
	local f uri=""
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		uri="$(awk -v suite="$suite" '
			function flush() { if (!found && deb && has && enabled && uri != "") { print uri; found = 1 } deb = has = 0; enabled = 1; uri = "" }
			BEGIN { enabled = 1 }
			/^[[:space:]]*$/ { flush(); next }
			tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
			tolower($1) == "uris:" { uri = $2 }
			tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) has = 1 }
			tolower($1) == "enabled:" && tolower($2) == "no" { enabled = 0 }
			END { flush() }' "$f")"
		[ -n "$uri" ] && break
	done
	if [ -z "$uri" ]; then
		for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
			[ -f "$f" ] || continue
			uri="$(awk -v suite="$suite" '
				$1 == "deb" { i = 2; if ($i ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ } if ($(i + 1) == suite) { print $i; exit } }' "$f")"
			[ -n "$uri" ] && break
		done
	fi
	[ -n "$uri" ] || fail "no apt source for $suite in /etc/apt; set DEBIAN_MIRROR"
	echo "$uri"
}

# unmount_under unmounts whatever a crashed debootstrap left mounted (proc, sys)
# below a directory, deepest first, so removing it can never reach the host's.
unmount_under() {
	local dir="$1" m
	awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
		umount "$m" || umount -l "$m"
	done
	if awk -v d="$dir/" 'index($2, d) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
		fail "$dir still has mounts; not removing it"
	fi
}

make_base_tar() {
	if [ -f "$base_tar" ] && [ "$(cat "$base_tar.recipe" 2>/dev/null)" = "$base_recipe" ]; then
		log "base rootfs: cached ($base_tar)"
		return
	fi
	local mirror rootfs="$cache_dir/rootfs.tmp" start=$SECONDS
	mirror="$(debian_mirror)"
	unmount_under "$rootfs"
	rm -rf "$rootfs"
	log "debootstrap $suite from $mirror (log: $cache_dir/debootstrap.log)"
	debootstrap --variant=minbase --include="$base_packages" "$suite" "$rootfs" "$mirror" >"$cache_dir/debootstrap.log" 2>&1 ||
		{ tail -n 20 "$cache_dir/debootstrap.log" >&2; unmount_under "$rootfs"; fail "debootstrap failed"; }
	unmount_under "$rootfs"
	trim_rootfs "$rootfs"
	tar --numeric-owner -C "$rootfs" -cf "$base_tar.tmp" .
	mv -f "$base_tar.tmp" "$base_tar"
	printf '%s\n' "$base_recipe" >"$base_tar.recipe"
	rm -rf "$rootfs"
	log "base rootfs: made in $((SECONDS - start))s ($base_tar, $(du -h "$base_tar" | cut -f1))"
}

# trim_rootfs removes what a container never uses: downloaded .debs, apt
# lists (the image installs nothing later), manuals, locales, docs but their
# copyright files. The build machine's hostname and resolver are not the
# image's; the runtime provides both.
trim_rootfs() {
	local rootfs="$1"
	rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
		"$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
	find "$rootfs/usr/share/doc" -type f ! -name copyright -delete
	rm -f "$rootfs/etc/resolv.conf"
	echo localhost >"$rootfs/etc/hostname"
}

# iptables_alternatives registers Debian's iptables alternatives in rootfs, as
# the iptables package's postinst does (legacy 10, nft 20), with the host's
# update-alternatives working on rootfs's files.
iptables_alternatives() {
	local rootfs="$1" t mode prio
	for t in iptables ip6tables; do
		for mode in legacy:10 nft:20; do
			prio="${mode#*:}"
			mode="${mode%:*}"
			update-alternatives --root "$rootfs" --quiet --install "/usr/sbin/$t" "$t" "/usr/sbin/$t-$mode" "$prio" \
				--slave "/usr/sbin/$t-restore" "$t-restore" "/usr/sbin/$t-$mode-restore" \
				--slave "/usr/sbin/$t-save" "$t-save" "/usr/sbin/$t-$mode-save"
		done
	done
}

# make_base_tar_arm64 makes the arm64 base. debootstrap's first stage (--foreign)
# downloads every package and unpacks the required ones; its second stage would
# run arm64 maintainer scripts, which cannot run here. What those scripts do
# that the image needs is done on the host instead: unpack the rest (iptables,
# its libraries, ca-certificates, openssl), /etc/passwd and /etc/group from
# base-passwd's masters, the iptables alternatives, and the CA bundle taken from
# the amd64 base (ca-certificates is Architecture: all, the same version).
# dpkg's status database is left as the first stage wrote it: nothing installs
# packages into the image later.
make_base_tar_arm64() {
	if [ -f "$base_tar_arm64" ] && [ "$(cat "$base_tar_arm64.recipe" 2>/dev/null)" = "$base_recipe_arm64" ]; then
		log "arm64 base rootfs: cached ($base_tar_arm64)"
		return
	fi
	local mirror rootfs="$cache_dir/rootfs-arm64.tmp" start=$SECONDS pkg deb
	mirror="$(debian_mirror)"
	unmount_under "$rootfs"
	rm -rf "$rootfs"
	log "debootstrap --foreign --arch=arm64 $suite from $mirror (log: $cache_dir/debootstrap-arm64.log)"
	debootstrap --foreign --arch=arm64 --variant=minbase --include="$base_packages" "$suite" "$rootfs" "$mirror" \
		>"$cache_dir/debootstrap-arm64.log" 2>&1 ||
		{ tail -n 20 "$cache_dir/debootstrap-arm64.log" >&2; unmount_under "$rootfs"; fail "debootstrap (arm64, first stage) failed"; }
	unmount_under "$rootfs"
	for pkg in $(cat "$rootfs/debootstrap/base"); do
		deb="$(awk -v p="$pkg" '$1 == p { print $2 }' "$rootfs/debootstrap/debpaths")"
		[ -n "$deb" ] && [ -f "$rootfs$deb" ] || fail "arm64 base: no .deb for $pkg in $rootfs/debootstrap/debpaths"
		dpkg-deb -x "$rootfs$deb" "$rootfs"
	done
	[ -f "$rootfs/etc/passwd" ] || cp "$rootfs/usr/share/base-passwd/passwd.master" "$rootfs/etc/passwd"
	[ -f "$rootfs/etc/group" ] || cp "$rootfs/usr/share/base-passwd/group.master" "$rootfs/etc/group"
	iptables_alternatives "$rootfs"
	tar -C "$rootfs" -xf "$base_tar" ./etc/ssl/certs ./etc/ca-certificates.conf
	[ -x "$rootfs/usr/sbin/xtables-nft-multi" ] && [ -s "$rootfs/etc/ssl/certs/ca-certificates.crt" ] ||
		fail "arm64 base: iptables or the CA bundle missing after unpacking"
	rm -rf "$rootfs/debootstrap"
	trim_rootfs "$rootfs"
	tar --numeric-owner -C "$rootfs" -cf "$base_tar_arm64.tmp" .
	mv -f "$base_tar_arm64.tmp" "$base_tar_arm64"
	printf '%s\n' "$base_recipe_arm64" >"$base_tar_arm64.recipe"
	rm -rf "$rootfs"
	log "arm64 base rootfs: made in $((SECONDS - start))s ($base_tar_arm64, $(du -h "$base_tar_arm64" | cut -f1))"
}

# build_arm64 assembles the arm64 image on the host: the arm64 base, the same
# files the Dockerfile copies (arm64 builds), the wrapper registered as the
# Dockerfile's RUN step registers it, and the Dockerfile's ENV, LABELs and CMD.
build_arm64() {
	local tag="$1" rootfs="$cache_dir/image-arm64.tmp" src p t cmd old
	local router="$repo_root/_output/bin/linux-arm64/router" tools="$tools_dir/linux-arm64"
	for src in "$router" "$tools/bin/gobgp"; do
		[ -x "$src" ] || fail "$src missing: run make image (it cross-compiles router) and make tools"
	done
	rm -rf "$rootfs"
	mkdir -p "$rootfs"
	tar -C "$rootfs" -xf "$base_tar_arm64"
	install -D -m 0755 "$router" "$rootfs/usr/local/bin/router"
	install -D -m 0755 "$tools/bin/gobgp" "$rootfs/usr/local/bin/gobgp"
	for p in bridge host-local portmap loopback; do
		[ -x "$tools/cni/$p" ] || fail "$tools/cni/$p missing: run make tools"
		install -D -m 0755 "$tools/cni/$p" "$rootfs/opt/nodebgp/cni/bin/$p"
	done
	install -D -m 0755 "$repo_root/hack/iptables-wrapper" "$rootfs/usr/sbin/iptables-wrapper"
	for t in iptables ip6tables; do
		update-alternatives --root "$rootfs" --quiet --install "/usr/sbin/$t" "$t" /usr/sbin/iptables-wrapper 100 \
			--slave "/usr/sbin/$t-restore" "$t-restore" /usr/sbin/iptables-wrapper \
			--slave "/usr/sbin/$t-save" "$t-save" /usr/sbin/iptables-wrapper
		for cmd in $t $t-save $t-restore; do
			# readlink -f would follow the absolute links into the host's /etc.
			[ "$(readlink "$rootfs/etc/alternatives/$cmd")" = /usr/sbin/iptables-wrapper ] ||
				fail "arm64: /usr/sbin/$cmd does not lead to the wrapper"
		done
	done
	tar --numeric-owner -C "$rootfs" -cf "$rootfs.tar" .
	old="$(podman image inspect --format '{{.Id}}' "$image:$release-arm64" 2>/dev/null || true)"
	podman import --os linux --arch arm64 \
		--change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
		--change 'LABEL org.opencontainers.image.title="nodebgp router"' \
		--change 'LABEL org.opencontainers.image.description="nodebgp: BGP pod networking agent, CNI plugins, gobgp CLI"' \
		--change 'LABEL org.opencontainers.image.source="https://github.com/nodebgp/router"' \
		--change "LABEL org.opencontainers.image.version=$version" \
		--change 'CMD ["router", "run"]' \
		"$rootfs.tar" "$image:$release-arm64" >/dev/null
	podman tag "$image:$release-arm64" "$image:$tag-arm64"
	# The previous build, now untagged (it fails while a tag or container still
	# holds it, which is fine), so that rebuilds leave no dangling images.
	[ -z "$old" ] || podman rmi "$old" >/dev/null 2>&1 || true
	rm -rf "$rootfs" "$rootfs.tar"
	log "built $image:$release-arm64 and $image:$tag-arm64"
}

# make_manifest_list puts the amd64 and arm64 images into one manifest list, the
# form a registry serves both under one tag.
make_manifest_list() {
	local list="$image:$release-multiarch"
	podman manifest rm "$list" >/dev/null 2>&1 || true
	podman manifest create "$list" >/dev/null
	podman manifest add "$list" "containers-storage:$image:$release" >/dev/null
	podman manifest add "$list" "containers-storage:$image:$release-arm64" >/dev/null
	log "manifest list $list: $(podman manifest inspect "$list" | awk -F'"' '/"architecture"/ { printf "%s%s", sep, $4; sep = " + " }')"
}

# import_base imports the tarball unless the image exists and carries the
# tarball's hash in its label; the builder's storage may have been wiped while
# .cache survived, or the other way round.
import_base() {
	local builder="$1" sum have cli="$1"
	[ "$builder" = buildah ] && cli=podman # buildah shares podman's storage; buildah has no import
	[ "$builder" = buildah ] && ! command -v podman >/dev/null 2>&1 && fail "importing the base needs podman next to buildah"
	sum="$(sha256sum "$base_tar" | cut -d' ' -f1)"
	have="$("$cli" image inspect --format '{{index .Config.Labels "io.nodebgp.base.sha256"}}' "$base_image" 2>/dev/null || true)"
	if [ "$have" = "$sum" ]; then
		log "base image: $base_image up to date"
		return
	fi
	"$cli" import --change "LABEL io.nodebgp.base.sha256=$sum" "$base_tar" "$base_image" >/dev/null
	log "base image: imported $base_image"
}

# make_context copies the binaries `make build` and hack/build-tools.sh made.
make_context() {
	local ctx="$cache_dir/context" src p
	rm -rf "$ctx"
	mkdir -p "$ctx/bin" "$ctx/cni"
	for src in "$repo_root/_output/bin/router" "$tools_dir/bin/gobgp"; do
		[ -x "$src" ] || fail "$src missing: run make build tools"
		cp "$src" "$ctx/bin/"
	done
	for p in bridge host-local portmap loopback; do
		[ -x "$tools_dir/cni/$p" ] || fail "$tools_dir/cni/$p missing: run make tools"
		cp "$tools_dir/cni/$p" "$ctx/cni/"
	done
	cp "$repo_root/hack/iptables-wrapper" "$ctx/"
	# The host builds keep DWARF and the symbol table (a third of router's size);
	# Go's panics and stack traces use their own tables, not these. Without
	# binutils the binaries go in as built.
	if command -v strip >/dev/null 2>&1; then
		strip "$ctx"/bin/* "$ctx"/cni/*
	fi
	echo "$ctx"
}

main() {
	local start=$SECONDS builder ctx base_ref tag
	mkdir -p "$cache_dir"
	install_missing
	builder="$(pick_builder)"
	make_base_tar
	import_base "$builder"
	ctx="$(make_context)"
	# A tag allows [A-Za-z0-9_.-]; git describe may give more (a '+', say).
	tag="$(printf '%s' "$version" | tr -c 'A-Za-z0-9_.-' '-')"
	local args=(-f "$repo_root/Dockerfile"
		--build-arg "VERSION=$version" --build-arg "GOBGP_VERSION=$gobgp_version" --build-arg "CNI_VERSION=$cni_version"
		-t "$image:$release" -t "$image:$tag")
	# --layers=false: the build takes seconds, and cached layers would leave a
	# dangling image per stage and per rebuild in the builder's storage.
	case "$builder" in
	podman) podman build --isolation "$isolation" --pull=never --layers=false --build-arg "BASE_IMAGE=localhost/$base_image" "${args[@]}" "$ctx" ;;
	buildah) buildah bud --isolation "$isolation" --pull=never --layers=false --build-arg "BASE_IMAGE=localhost/$base_image" "${args[@]}" "$ctx" ;;
	docker) docker build --build-arg "BASE_IMAGE=$base_image" "${args[@]}" "$ctx" ;;
	esac
	log "built $image:$release and $image:$tag with $builder in $((SECONDS - start))s"
	case " $arches " in
	*" arm64 "*)
		[ "$builder" = podman ] || fail "the arm64 image and the manifest list need podman"
		make_base_tar_arm64
		build_arm64 "$tag"
		make_manifest_list
		;;
	esac
	log "done in $((SECONDS - start))s"
}

main "$@"
