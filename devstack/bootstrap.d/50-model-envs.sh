#!/usr/bin/env bash
# The model zoo's training environments (devstack/model_envs.py): one venv per Python/MLflow spec under
# $1/model-envs/, created side by side once (several minutes cold: mlflow and its dependencies for
# three Pythons) and reused afterwards; seconds when they are there. Built here rather than inside a
# test so pytest's per-test timeout never covers a cold pip install.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv=$(bash "$here/../bootstrap.sh" venv-path)
cd "$here/../.."
PYFUNC_DEPLOY_CACHE="${1:?usage: $0 CACHE_DIR}" "$venv/bin/python" -m devstack.model_envs
