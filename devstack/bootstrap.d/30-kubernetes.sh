#!/usr/bin/env bash
# Build the Kubernetes server binaries for the single-node test cluster (devstack/cluster.py).
#
# Why from source: nothing installable here ships kube-apiserver/kubelet, but Debian bookworm's
# `kubernetes` source package is the full upstream tree (with vendor/) and builds with Debian's Go.
# Takes ~5 min on 2 cores; the result is cached in $1/kubernetes/$K8S_VERSION and reused.
#
#   30-kubernetes.sh CACHE_DIR
set -euo pipefail

cache=${1:?usage: $0 CACHE_DIR}
deb_version="1.20.5+really1.20.2-1.1+deb12u1"
k8s_version="v1.20.2"
out="$cache/kubernetes/$k8s_version"
binaries=(kube-apiserver kube-controller-manager kube-scheduler kubelet)

log() { printf '[30-kubernetes] %s\n' "$*" >&2; }

if [ -f "$out/.complete" ]; then
  log "cached: $out"
  exit 0
fi

# The build needs a C toolchain (the kubelet uses cgo; pause is C), which golang-go only recommends.
missing=()
for pkg in make gcc libc6-dev patch; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

start=$(date +%s)
mkdir -p "$cache/kubernetes"
work=$(mktemp -d "$cache/kubernetes-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# A private deb-src list so the machine's own apt configuration is left untouched.
debian_uri=$(grep -h -o -E 'https?://[^ ]+/debian/?$' /etc/apt/sources.list.d/*.sources \
  /etc/apt/sources.list 2>/dev/null | head -n1 || true)
if [ -z "$debian_uri" ]; then
  log "no Debian apt source configured on this machine (/etc/apt/sources.list*): cannot fetch the source"; exit 1
fi
apt_dir="$work/apt"
mkdir -p "$apt_dir/sources" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
cat >"$apt_dir/sources/debian-src.sources" <<EOF
Types: deb-src
URIs: $debian_uri
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
apt_opts=(-o APT::Sandbox::User=root -o Dir::Etc::sourcelist=/dev/null -o "Dir::Etc::sourceparts=$apt_dir/sources"
  -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache")

log "fetching source package kubernetes=$deb_version from $debian_uri"
apt-get "${apt_opts[@]}" update -qq
(cd "$work" && apt-get "${apt_opts[@]}" source -qq --download-only "kubernetes=$deb_version")

log "unpacking and applying debian/patches"
(cd "$work" && dpkg-source --no-check --skip-patches -x kubernetes_*.dsc src >/dev/null)
src="$work/src"
if [ -f "$src/debian/patches/series" ]; then
  grep -v -E '^\s*(#|$)' "$src/debian/patches/series" | while read -r patch _; do
    patch -d "$src" -p1 -s --forward <"$src/debian/patches/$patch"
  done
fi

# reflect2 1.0.1 in vendor/ breaks on Go >= 1.18; Debian ships the fixed 1.0.2.
reflect2="$src/vendor/github.com/modern-go/reflect2"
rm -f "$reflect2"/*.go "$reflect2"/*.s
cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.go \
  /usr/share/gocode/src/github.com/modern-go/reflect2/*.s "$reflect2/"

log "building ${binaries[*]} with $(go version | cut -d' ' -f3) (takes ~5 min on 2 cores)"
# GOPATH-mode tree: only the Makefile sets up the workspace; plain `go build` fails.
what=$(printf 'cmd/%s ' "${binaries[@]}")
(cd "$src" && GOCACHE="$work/gocache" GOFLAGS= KUBE_GIT_VERSION="$k8s_version" \
  KUBE_GIT_TREE_STATE=clean make WHAT="${what% }" >"$work/make.log" 2>&1) || {
  tail -n 40 "$work/make.log" >&2
  exit 1
}

log "building the static pause binary"
staging="$cache/kubernetes/.staging-$k8s_version"
rm -rf "$staging"
mkdir -p "$staging"
gcc -Os -static -o "$staging/pause" "$src/build/pause/linux/pause.c"
for bin in "${binaries[@]}"; do
  cp "$src/_output/local/bin/linux/amd64/$bin" "$staging/$bin"
done
touch "$staging/.complete"
rm -rf "$out"
mv "$staging" "$out"
log "done in $(($(date +%s) - start))s: $out ($(du -sh "$out" | cut -f1))"
