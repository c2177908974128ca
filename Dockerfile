# nodebgp's image: `router` (run, install-cni, cleanup, version), the CNI plugins
# bridge, host-local, portmap and loopback for `router install-cni`, the gobgp CLI
# for debugging, and iptables with both backends behind a wrapper that picks the
# host's. Build it with `make image` (hack/image.sh); docs/image.md explains it.
#
# Where the Go build happens: on the host, not in a stage of this file. The
# machines this project is built and tested on reach no container registry, so a
# `FROM golang:1.24 AS build` stage cannot be pulled. The build stage is therefore
# `make build` (router) and hack/build-tools.sh (gobgp v3.37.0, CNI plugins v1.9.0
# with their BuildVersion stamp); hack/image.sh copies their output into a build
# context and runs this file on it. The base is Debian bookworm made here with
# debootstrap and `podman import` (hack/image.sh), named by BASE_IMAGE.
# Dockerfile.multistage is the same image with the Go build as a stage, for
# machines that can pull golang and debian; it is not tested here.
#
# The build context (made by hack/image.sh):
#   bin/router  bin/gobgp  cni/{bridge,host-local,portmap,loopback}  iptables-wrapper

ARG BASE_IMAGE=localhost/nodebgp-base:bookworm

# Stage bins: gather the binaries and prove, on the base itself, that each one
# runs (the host-built binaries link the base's glibc) and is the version it must
# be: a stale _output/bin/router or an unstamped plugin fails the build here
# instead of on a node.
FROM ${BASE_IMAGE} AS bins
ARG VERSION
ARG GOBGP_VERSION
ARG CNI_VERSION
COPY bin/router bin/gobgp /out/usr/local/bin/
COPY cni/ /out/opt/nodebgp/cni/bin/
COPY iptables-wrapper /out/usr/sbin/iptables-wrapper
RUN set -eu; \
	: "${VERSION:?} ${GOBGP_VERSION:?} ${CNI_VERSION:?}"; \
	check() { case "$2" in *"$3"*) echo "ok: $1: $2" ;; *) echo "$1 prints '$2', want '$3'" >&2; exit 1 ;; esac; }; \
	check router "$(/out/usr/local/bin/router version)" "router $VERSION "; \
	check gobgp "$(/out/usr/local/bin/gobgp --version)" "version ${GOBGP_VERSION#v}"; \
	for p in bridge host-local portmap loopback; do \
		check "$p" "$(/out/opt/nodebgp/cni/bin/$p 2>&1 | head -n 1)" "CNI $p plugin $CNI_VERSION"; \
	done; \
	chmod 0755 /out/usr/local/bin/* /out/opt/nodebgp/cni/bin/* /out/usr/sbin/iptables-wrapper

# The image: the base plus the checked binaries, one layer.
FROM ${BASE_IMAGE}
ARG VERSION
COPY --from=bins /out/ /
# The wrapper joins Debian's alternatives above iptables-nft (20) and
# iptables-legacy (10), with the same slaves, so iptables, iptables-save and
# iptables-restore (and ip6tables') lead to it until its first run switches them
# to the host's backend. Nothing here may run iptables: that would make the
# choice on the build machine and bake it into the image.
RUN set -eu; \
	for t in iptables ip6tables; do \
		update-alternatives --install /usr/sbin/$t $t /usr/sbin/iptables-wrapper 100 \
			--slave /usr/sbin/$t-restore $t-restore /usr/sbin/iptables-wrapper \
			--slave /usr/sbin/$t-save $t-save /usr/sbin/iptables-wrapper; \
		for cmd in $t $t-save $t-restore; do \
			test "$(readlink -f /usr/sbin/$cmd)" = /usr/sbin/iptables-wrapper || { echo "/usr/sbin/$cmd does not lead to the wrapper" >&2; exit 1; }; \
		done; \
	done
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL org.opencontainers.image.title="nodebgp router" \
	org.opencontainers.image.description="nodebgp: BGP pod networking agent, CNI plugins, gobgp CLI" \
	org.opencontainers.image.source="https://github.com/nodebgp/router" \
	org.opencontainers.image.version="${VERSION}"
# The DaemonSet names its commands (`router install-cni`, `router run ...`).
CMD ["router", "run"]
