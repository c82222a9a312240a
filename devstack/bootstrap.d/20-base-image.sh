#!/usr/bin/env bash
# Stand-in `python:X.Y-slim` base images (devstack/base_image.sh): bookworm's 3.11 (the service's
# default base), bullseye's 3.9 and trixie's 3.13 (the model zoo's other Pythons). Each is built once
# (~30-50 s on 2 cores, the three side by side) and cached as
# $1/base-image/python-X.Y-slim-<recipe>.tar; a no-op when they are there.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pids=()
for minor in 3.11 3.9 3.13; do
  bash "$here/../base_image.sh" "${1:?usage: $0 CACHE_DIR}" "$minor" &
  pids+=("$!")
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
exit "$failed"
