#!/usr/bin/env bash
# gitlab-ci-local runs the real .gitlab-ci.yml with a shell executor (4.74+ needs Node 22).
set -euo pipefail
cache=$1
version=4.73.0
prefix="$cache/npm-gitlab-ci-local-$version"
if [ -x "$prefix/node_modules/.bin/gitlab-ci-local" ]; then exit 0; fi
command -v npm >/dev/null || { echo "npm is missing: install Node.js 20 with npm" >&2; exit 1; }
rm -rf "$prefix.tmp"
npm install --silent --no-audit --no-fund --prefix "$prefix.tmp" "gitlab-ci-local@$version" >/dev/null
rm -rf "$prefix" && mv "$prefix.tmp" "$prefix"
echo "[bootstrap] gitlab-ci-local $version in $prefix" >&2
