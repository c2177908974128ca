#!/usr/bin/env bash
# Installs the Debian packages the lab and the e2e tests need, only those that
# are missing; a fast no-op when everything is installed. Runs as root with no
# input (CI on a fresh Debian 12).
set -euo pipefail

packages=(etcd-server iptables ipset iproute2 iputils-ping tcpdump openssl procps kmod frr bird2 prometheus)
# make image-test runs the image's arm64 binaries with qemu-aarch64-static (no
# binfmt_misc registration needed: it is called by name).
packages+=(qemu-user-static)
# The cluster lab (make cluster): real worker nodes need a container runtime, and
# its pods an image built here (podman, buildah, debootstrap: see hack/image.sh).
# util-linux gives nsenter and unshare, conntrack what kube-proxy calls, busybox-static
# the test pods' tools (e2e/cluster/images.go).
if [ "${CLUSTER_DEPS:-0}" = 1 ] || [ "${1:-}" = --cluster ]; then
	packages+=(containerd runc podman buildah debootstrap util-linux conntrack busybox-static)
fi

missing=()
for pkg in "${packages[@]}"; do
	status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
	[ "$status" = "install ok installed" ] || missing+=("$pkg")
done

if [ "${#missing[@]}" -eq 0 ]; then
	echo "install-deps: all ${#packages[@]} packages installed"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}; run as root to install them" >&2
	exit 1
fi

# etcd-server, frr, bird2, prometheus and containerd ship services that their postinst scripts would
# start on the default ports (etcd 2379/2380, BGP 179). The lab runs its own
# etcd on other ports and its own routers inside namespaces, so it neither needs
# nor wants them: while installing, a policy-rc.d that denies every start keeps
# them stopped. An existing policy-rc.d (Docker images ship one) is left alone.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\n# written by nodebgp hack/install-deps.sh while installing packages\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q \
	-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
	"${missing[@]}" </dev/null
echo "install-deps: installed ${missing[*]}"
