#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine (root): apt packages, the Python venv and the
# slow, cached builds. Everything slow lands in $PYFUNC_DEPLOY_CACHE (default ~/.cache/pyfunc-deploy)
# and is reused on the next run.
#
#   bootstrap.sh venv-path   print the venv directory for these requirements (no side effects)
#   bootstrap.sh venv        the venv alone (what the fast tier, `make test-fast`, needs)
#   bootstrap.sh demo        what `make demo` needs: apt basics + venv
#   bootstrap.sh test        what `make test` needs: demo + containers + cluster + gitlab-ci-local
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cache=${PYFUNC_DEPLOY_CACHE:-$HOME/.cache/pyfunc-deploy}
# Keyed on every requirements list (development, and the locks the pipeline image installs), so a
# changed pin anywhere gives a fresh venv.
req_hash=$(cat "$repo/requirements.txt" "$repo/requirements/ci.in" "$repo/requirements/ci.txt" \
  | sha256sum | cut -c1-12)
venv="$cache/venv-$req_hash"

log() { printf '[bootstrap] %s\n' "$*" >&2; }

apt_ensure() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_venv() {
  if [ -f "$venv/.complete" ]; then return 0; fi
  log "creating venv $venv"
  rm -rf "$venv"
  mkdir -p "$cache"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip==25.3
  "$venv/bin/pip" install -q -r "$repo/requirements.txt"
  touch "$venv/.complete"
}

# Packages every profile needs: PostgreSQL for the production-shaped MLflow backend.
base_packages=(postgresql-15 wrk)
# Containers without a Docker engine: buildah, podman and skopeo are daemonless.
container_packages=(docker-registry buildah podman skopeo runc mmdebstrap uidmap fuse-overlayfs)
# The docker CLI (the builder tests drive it against `podman system service`, never a Docker engine).
# Kept if one is on PATH; otherwise Debian's docker.io supplies it. Its dockerd is never started.
ensure_docker_cli() {
  command -v docker >/dev/null && return 0
  apt_ensure docker.io
}
# A single-node Kubernetes cluster built from Debian's source package.
# make, gcc, libc6-dev and patch build the binaries (the kubelet uses cgo; pause is C): installed here,
# before the steps run side by side, so that no step takes apt's locks while another runs.
cluster_packages=(golang-go golang-github-modern-go-reflect2-dev rsync etcd-server containerd
  containernetworking-plugins busybox-static iptables dpkg-dev make gcc libc6-dev patch)

# The cached builds of bootstrap.d/ are independent of each other: they run side by side (the
# Kubernetes compile keeps both cores busy while the others mostly wait on downloads), each line of
# their output that names no source prefixed with the step's name, and each step's time is logged.
run_steps() {
  local step name pids=() names=() failed=0 i
  for step in "$here"/bootstrap.d/*.sh; do
    [ -e "$step" ] || continue
    name=$(basename "$step" .sh)
    (
      start=$SECONDS
      rc=0
      bash "$step" "$cache" > >(sed -u "/^\[/!s/^/[$name] /") 2> >(sed -u "/^\[/!s/^/[$name] /" >&2) || rc=$?
      log "step $name: exit $rc after $((SECONDS - start)) s"
      exit "$rc"
    ) &
    pids+=("$!")
    names+=("$name")
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { log "step ${names[$i]} failed (its lines above say why)"; failed=1; }
  done
  return "$failed"
}

case "${1:-}" in
  venv-path)
    echo "$venv" ;;
  venv)
    ensure_venv ;;
  demo)
    apt_ensure "${base_packages[@]}"
    ensure_venv ;;
  test)
    apt_ensure "${base_packages[@]}" "${container_packages[@]}" "${cluster_packages[@]}"
    ensure_venv
    ensure_docker_cli
    run_steps ;;
  *)
    echo "usage: $0 venv-path|venv|demo|test" >&2; exit 2 ;;
esac
