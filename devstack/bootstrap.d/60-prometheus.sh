#!/usr/bin/env bash
# A real Prometheus for the canary's PROMETHEUS_URL test: Debian's own build, unpacked into the cache.
# Only the binary is used: the package itself is not installed (its postinst would start a system service).
set -euo pipefail
cache=$1
prefix="$cache/prometheus"
if [ -x "$prefix/usr/bin/prometheus" ]; then exit 0; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq && apt-get download prometheus >/dev/null 2>&1; }
rm -rf "$prefix.tmp" && mkdir -p "$prefix.tmp"
dpkg-deb -x prometheus_*.deb "$prefix.tmp"
rm -rf "$prefix" && mv "$prefix.tmp" "$prefix"
echo "[bootstrap] $("$prefix/usr/bin/prometheus" --version 2>&1 | head -n1) in $prefix" >&2
