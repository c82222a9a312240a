#!/usr/bin/env bash
# Stand-in `python:X.Y-slim` base images: no registry outside this machine is reachable, so a
# Dockerfile's `FROM python:X.Y-slim` is served by a Debian rootfs with that suite's python3 + pip +
# venv, which devstack/base_images.py imports and pushes to the local registry. One Debian suite per
# Python minor (no suite ships 3.10 or 3.12):
#
#   3.9 -> bullseye (3.9.2)    3.11 -> bookworm (3.11.2)    3.13 -> trixie (3.13.5)
#
# Usage: base_image.sh CACHE_DIR MINOR. Built once per version of this script and cached as
# CACHE_DIR/base-image/python-MINOR-slim-<script hash>.tar; a no-op when the tarball is there.
#
# Beyond the bare packages it mirrors what the real image offers a Dockerfile: /usr/local/bin/python
# and pip, `pip install` allowed system-wide (no PEP 668 marker), useradd (passwd), and the host's
# CA bundle (TLS to PyPI goes through a proxy CA on these machines; without it `RUN pip install` fails).
# Like the real python:X.Y-slim it has no libgomp1: a build that needs OpenMP adds it.
# pip is the real image's, from PyPI (bullseye's own is 20.3.4; the real python:3.9-slim ships 23.0.1),
# in /usr/local as there: Debian's pip has no RECORD file, so `pip install pip==X` (MLflow's
# environment step does it) could not replace it. /etc/pip.conf points it at the system CA bundle,
# as Debian's own pip does by itself.
set -euo pipefail

usage="usage: $0 CACHE_DIR MINOR (3.9, 3.11 or 3.13)"
cache=${1:?$usage}
minor=${2:?$usage}
case "$minor" in
  3.9) suite=bullseye; pip_pin=23.0.1 ;;
  3.11) suite=bookworm; pip_pin=24.0 ;;
  3.13) suite=trixie; pip_pin=25.1.1 ;;
  *) echo "[base-image] no Debian suite ships Python $minor; stand-ins exist for 3.9 (bullseye)," \
       "3.11 (bookworm) and 3.13 (trixie)" >&2; exit 2 ;;
esac
out="$cache/base-image/python-$minor-slim-$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-12).tar"
[ -s "$out" ] && exit 0

# The machine's own Debian mirrors (one-line and deb822 formats), not a hard-coded one; its bookworm
# entries name the suite, the same mirror serves bullseye and trixie under their own names.
mapfile -t sources < <(
  { grep -h -E '^deb .*/debian(-security)?/? ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true
    awk 'BEGIN{RS=""} /Types:[^\n]*deb( |$|\n)/ && /URIs:[^\n]*\/debian/ {
           split("", f); n=split($0, lines, "\n")
           for (i=1;i<=n;i++) { k=lines[i]; sub(/:.*/, "", k); v=lines[i]; sub(/^[^:]*:[ ]*/, "", v); f[k]=v }
           m=split(f["Suites"], suites, " ")
           for (j=1;j<=m;j++) print "deb " f["URIs"] " " suites[j] " " f["Components"] }' \
      /etc/apt/sources.list.d/*.sources 2>/dev/null || true; } | grep -E ' (bookworm|bookworm-updates|bookworm-security) ' \
    | awk -v s="$suite" '{ sub(/^bookworm/, s, $3); print }' | sort -u)
if [ ${#sources[@]} -eq 0 ]; then
  echo "[base-image] no Debian bookworm apt source configured on this machine (/etc/apt/sources.list*)" >&2; exit 1
fi

hooks=(
  --customize-hook='mkdir -p "$1/usr/local/share/ca-certificates"'
  --customize-hook='cp /usr/local/share/ca-certificates/*.crt "$1/usr/local/share/ca-certificates/" 2>/dev/null || true'
  --customize-hook='cp /etc/ssl/certs/ca-certificates.crt "$1/etc/ssl/certs/ca-certificates.crt"'
  --customize-hook='rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED'
  # --ignore-installed: a copy in /usr/local even where Debian's pip is already that version
  --customize-hook="chroot \"\$1\" python3 -m pip install -q --no-cache-dir --disable-pip-version-check --ignore-installed pip==$pip_pin"
  # PyPI's pip trusts its own certifi bundle, not the system one Debian's pip is patched to use.
  --customize-hook='printf "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n" > "$1/etc/pip.conf"'
  --customize-hook='ln -sf /usr/bin/python3 "$1/usr/local/bin/python"'
  --customize-hook='[ -e "$1/usr/local/bin/pip" ] || ln -s /usr/bin/pip3 "$1/usr/local/bin/pip"'
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/root/.cache'
)

mkdir -p "$(dirname "$out")"
tmp="$out.partial.$$"
trap 'rm -f "$tmp"' EXIT
start=$SECONDS
mmdebstrap --quiet --variant=apt --format=tar \
  --include=python3,python3-pip,python3-venv,ca-certificates,passwd \
  "${hooks[@]}" "$suite" "$tmp" "${sources[@]}"

mv "$tmp" "$out"
trap - EXIT
for old in "$cache/base-image/python-$minor-slim"*.tar; do [ "$old" = "$out" ] || rm -f "$old"; done
echo "[base-image] built $out from $suite in $((SECONDS - start)) s ($(du -h "$out" | cut -f1))" >&2
