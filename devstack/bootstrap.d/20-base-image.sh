#!/usr/bin/env bash
# Stand-in for the `python:3.11-slim` base image: no registry outside this machine is reachable, so
# the service Dockerfile's FROM line is served by a Debian bookworm rootfs with python3 + pip + venv
# that devstack/oci.py imports and pushes to the local registry. Built once (~45 s) and cached
# as $1/base-image/python-3.11-slim.tar; a no-op when the tarball is there.
#
# Beyond the bare packages it mirrors what the real image offers a Dockerfile: /usr/local/bin/python
# and pip, `pip install` allowed system-wide (no PEP 668 marker), useradd (passwd), and the host's
# CA bundle (TLS to PyPI goes through a proxy CA on these machines; without it `RUN pip install` fails).
set -euo pipefail

cache=${1:?usage: $0 CACHE_DIR}
out="$cache/base-image/python-3.11-slim.tar"
[ -s "$out" ] && exit 0

# The machine's own Debian mirrors (one-line and deb822 formats), not a hard-coded one.
mapfile -t sources < <(
  { grep -h -E '^deb .*/debian(-security)?/? ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true
    awk 'BEGIN{RS=""} /Types:[^\n]*deb( |$|\n)/ && /URIs:[^\n]*\/debian/ {
           split("", f); n=split($0, lines, "\n")
           for (i=1;i<=n;i++) { k=lines[i]; sub(/:.*/, "", k); v=lines[i]; sub(/^[^:]*:[ ]*/, "", v); f[k]=v }
           m=split(f["Suites"], suites, " ")
           for (j=1;j<=m;j++) print "deb " f["URIs"] " " suites[j] " " f["Components"] }' \
      /etc/apt/sources.list.d/*.sources 2>/dev/null || true; } | grep -E ' (bookworm|bookworm-updates|bookworm-security) ' | sort -u)
if [ ${#sources[@]} -eq 0 ]; then
  echo "[base-image] no Debian bookworm apt source configured on this machine (/etc/apt/sources.list*)" >&2; exit 1
fi

mkdir -p "$(dirname "$out")"
tmp="$out.partial.$$"
trap 'rm -f "$tmp"' EXIT

mmdebstrap --quiet --variant=apt --format=tar \
  --include=python3,python3-pip,python3-venv,ca-certificates,passwd \
  --customize-hook='mkdir -p "$1/usr/local/share/ca-certificates"' \
  --customize-hook='cp /usr/local/share/ca-certificates/*.crt "$1/usr/local/share/ca-certificates/" 2>/dev/null || true' \
  --customize-hook='cp /etc/ssl/certs/ca-certificates.crt "$1/etc/ssl/certs/ca-certificates.crt"' \
  --customize-hook='ln -sf /usr/bin/python3 "$1/usr/local/bin/python"' \
  --customize-hook='ln -sf /usr/bin/pip3 "$1/usr/local/bin/pip"' \
  --customize-hook='rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
  bookworm "$tmp" "${sources[@]}"

mv "$tmp" "$out"
trap - EXIT
echo "[base-image] built $out ($(du -h "$out" | cut -f1))" >&2
