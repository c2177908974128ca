#!/usr/bin/env bash
# Builds the third-party tools the lab runs, at pinned versions, into
# $TOOLS_DIR (default <repo>/.cache/tools):
#   bin/kube-apiserver, bin/kubectl   Kubernetes v1.34.3 (module e2e/tools/kube)
#   bin/kubelet, bin/kube-controller-manager, bin/kube-scheduler, bin/kube-proxy
#                                     the same release, for the cluster lab (module
#                                     e2e/tools/kubecluster; only with --cluster or
#                                     BUILD_CLUSTER_TOOLS=1: ~3-8 min and ~2 GB RSS)
#   bin/gobgp, bin/gobgpd             gobgp CLI and daemon v3.37.0 (module e2e/tools/gobgp;
#                                     gobgpd is make bench's plain-GoBGP anchor)
#   cni/{bridge,host-local,portmap,loopback}  containernetworking/plugins v1.9.0
#   linux-arm64/{bin/gobgp,cni/*}     the same gobgp and plugins for linux/arm64
#                                     (static, CGO_ENABLED=0), for the image's arm64
#                                     half (hack/image.sh)
# A tool is rebuilt only when its binaries are missing or its stamp (version plus
# a hash of the module that builds it) differs, so a second run is a no-op.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_dir="${TOOLS_DIR:-$repo_root/.cache/tools}"
case "$tools_dir" in /*) ;; *) tools_dir="$repo_root/$tools_dir" ;; esac

kube_version=v1.34.3
gobgp_version=v3.37.0
cni_version=v1.9.0
cni_plugins=(main/bridge ipam/host-local meta/portmap main/loopback)

# CI's fresh machine has Go in /usr/local/go without it being on PATH.
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	PATH="/usr/local/go/bin:$PATH"
fi
command -v go >/dev/null 2>&1 || { echo "build-tools: go not found in PATH or /usr/local/go/bin" >&2; exit 1; }

mkdir -p "$tools_dir/bin" "$tools_dir/cni" "$tools_dir/stamps"

fail() {
	echo "build-tools: $1: build failed (see output above)" >&2
	exit 1
}

# module_hash prints a hash of every file of a tool module, so editing its
# go.mod or main packages invalidates the cached binaries.
module_hash() {
	(cd "$1" && find . -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) -print0 |
		LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
}

# up_to_date <stamp name> <wanted stamp> <binary>... succeeds when every binary
# exists and the recorded stamp matches.
up_to_date() {
	local name="$1" want="$2"
	shift 2
	local bin
	for bin in "$@"; do
		[ -x "$bin" ] || return 1
	done
	[ -f "$tools_dir/stamps/$name" ] && [ "$(cat "$tools_dir/stamps/$name")" = "$want" ]
}

record() {
	printf '%s\n' "$2" >"$tools_dir/stamps/$1"
}

# go_build <module dir> <output> <package> [ldflags]: builds to a temporary name
# first so an interrupted build never leaves a truncated binary under the final name.
go_build() {
	local dir="$1" out="$2" pkg="$3" ldflags="${4:-}"
	(cd "$dir" && GOFLAGS=-mod=mod go build -ldflags "$ldflags" -o "$out.tmp" "$pkg") && mv -f "$out.tmp" "$out"
}

# kube_ldflags stamps the release into both version packages, as Kubernetes' own
# build does; without it /version and `kubectl version` say v0.0.0-master.
kube_ldflags() {
	local minor="${kube_version#v1.}"
	minor="${minor%%.*}"
	local pkg flags=""
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		flags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
	done
	echo "${flags# }"
}

build_kube() {
	local dir="$repo_root/e2e/tools/kube"
	local ldflags
	ldflags="$(kube_ldflags)"
	local want="kube $kube_version $(module_hash "$dir") $ldflags"
	local apiserver="$tools_dir/bin/kube-apiserver" kubectl="$tools_dir/bin/kubectl"
	if up_to_date kube "$want" "$apiserver" "$kubectl"; then
		echo "kube-apiserver $kube_version: cached ($apiserver)"
		echo "kubectl $kube_version: cached ($kubectl)"
		return
	fi
	local start=$SECONDS
	go_build "$dir" "$apiserver" ./cmd/kube-apiserver "$ldflags" || fail kube-apiserver
	echo "kube-apiserver $kube_version: built in $((SECONDS - start))s ($apiserver)"
	start=$SECONDS
	go_build "$dir" "$kubectl" ./cmd/kubectl "$ldflags" || fail kubectl
	echo "kubectl $kube_version: built in $((SECONDS - start))s ($kubectl)"
	record kube "$want"
}

build_gobgp() {
	local dir="$repo_root/e2e/tools/gobgp"
	local want="gobgp $gobgp_version $(module_hash "$dir")"
	local bin="$tools_dir/bin/gobgp" daemon="$tools_dir/bin/gobgpd"
	if up_to_date gobgp "$want" "$bin" "$daemon"; then
		echo "gobgp, gobgpd $gobgp_version: cached ($bin, $daemon)"
		return
	fi
	local start=$SECONDS
	# `go install ...@v3.37.0` cannot work: the module proxy does not serve
	# gobgp/v3's version list. Built from a module that requires the exact version.
	go_build "$dir" "$bin" github.com/osrg/gobgp/v3/cmd/gobgp || fail gobgp
	go_build "$dir" "$daemon" github.com/osrg/gobgp/v3/cmd/gobgpd || fail gobgpd
	local got b
	for b in "$bin" "$daemon"; do
		got="$("$b" --version 2>&1)" || fail "$b --version"
		case "$got" in
		*"${gobgp_version#v}"*) ;;
		*) echo "build-tools: $b: built binary reports '$got', want ${gobgp_version#v}" >&2; exit 1 ;;
		esac
	done
	echo "gobgp, gobgpd $gobgp_version: built in $((SECONDS - start))s ($bin, $daemon)"
	record gobgp "$want"
}

build_cni() {
	local ldflags="-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$cni_version"
	local want="cni-plugins $cni_version $ldflags"
	local bins=() pkgs=() p
	for p in "${cni_plugins[@]}"; do
		bins+=("$tools_dir/cni/${p#*/}")
		pkgs+=("github.com/containernetworking/plugins/plugins/$p@$cni_version")
	done
	if up_to_date cni "$want" "${bins[@]}"; then
		echo "cni plugins $cni_version: cached ($tools_dir/cni: ${cni_plugins[*]#*/})"
		return
	fi
	local start=$SECONDS
	# go install pkg@version builds outside any module, so the root go.mod is
	# never consulted or changed.
	(cd "$tools_dir" && GOBIN="$tools_dir/cni" go install -ldflags "$ldflags" "${pkgs[@]}") ||
		fail "cni plugins ${cni_plugins[*]#*/}"
	echo "cni plugins $cni_version: built in $((SECONDS - start))s ($tools_dir/cni: ${cni_plugins[*]#*/})"
	record cni "$want"
}

# build_kube_cluster builds the worker and controller binaries of the cluster lab
# (make cluster). Kept apart from build_kube so that the netns lab, which needs
# none of them, never pays for the heavy kubelet build.
build_kube_cluster() {
	local dir="$repo_root/e2e/tools/kubecluster"
	local ldflags
	ldflags="$(kube_ldflags)"
	local want="kubecluster $kube_version $(module_hash "$dir") $ldflags"
	local names=(kubelet kube-controller-manager kube-scheduler kube-proxy) bins=() n
	for n in "${names[@]}"; do
		bins+=("$tools_dir/bin/$n")
	done
	if up_to_date kubecluster "$want" "${bins[@]}"; then
		echo "${names[*]} $kube_version: cached ($tools_dir/bin)"
		return
	fi
	local start
	for n in "${names[@]}"; do
		start=$SECONDS
		go_build "$dir" "$tools_dir/bin/$n" "./cmd/$n" "$ldflags" || fail "$n"
		echo "$n $kube_version: built in $((SECONDS - start))s ($tools_dir/bin/$n)"
	done
	record kubecluster "$want"
}

# build_arm64 cross-compiles the image's bundled tools for linux/arm64. Static
# (CGO_ENABLED=0): nothing to link against the arm64 base, and no cross C
# toolchain needed.
build_arm64() {
	# -s -w: the host's strip cannot read aarch64 files; the amd64 builds are
	# stripped by hack/image.sh instead.
	local out="$tools_dir/linux-arm64" ldflags="-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$cni_version -s -w"
	local want="arm64 gobgp $gobgp_version $(module_hash "$repo_root/e2e/tools/gobgp") cni-plugins $cni_version $ldflags"
	local bins=("$out/bin/gobgp") pkgs=() p
	for p in "${cni_plugins[@]}"; do
		bins+=("$out/cni/${p#*/}")
		pkgs+=("github.com/containernetworking/plugins/plugins/$p@$cni_version")
	done
	if up_to_date arm64 "$want" "${bins[@]}"; then
		echo "linux/arm64 gobgp $gobgp_version and cni plugins $cni_version: cached ($out)"
		return
	fi
	local start=$SECONDS gobin
	mkdir -p "$out/bin" "$out/cni"
	(export GOOS=linux GOARCH=arm64 CGO_ENABLED=0; go_build "$repo_root/e2e/tools/gobgp" "$out/bin/gobgp" github.com/osrg/gobgp/v3/cmd/gobgp "-s -w") ||
		fail "gobgp linux/arm64"
	# go install refuses GOBIN for a cross build; it installs into
	# $GOPATH/bin/linux_arm64 instead, from where the plugins are moved.
	gobin="$(go env GOPATH)/bin/linux_arm64"
	(cd "$tools_dir" && env -u GOBIN GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go install -ldflags "$ldflags" "${pkgs[@]}") ||
		fail "cni plugins linux/arm64"
	for p in "${cni_plugins[@]}"; do
		mv -f "$gobin/${p#*/}" "$out/cni/${p#*/}"
	done
	echo "linux/arm64 gobgp $gobgp_version and cni plugins $cni_version: built in $((SECONDS - start))s ($out)"
	record arm64 "$want"
}

cluster=${BUILD_CLUSTER_TOOLS:-0}
for arg in "$@"; do
	case "$arg" in
	--cluster) cluster=1 ;;
	*) echo "build-tools: unknown argument $arg (want --cluster)" >&2; exit 2 ;;
	esac
done

build_cni
build_gobgp
build_arm64
build_kube
if [ "$cluster" = 1 ]; then
	build_kube_cluster
fi
