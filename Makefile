# The two commands a new user runs (see README.md). Each does its own set-up and is idempotent.
SHELL := /bin/bash
VENV := $(shell bash devstack/bootstrap.sh venv-path)
PY := $(VENV)/bin/python
export MLFLOW_DISABLE_TELEMETRY := true

.PHONY: demo test test-fast test-zoo lint pipeline docs

demo:  ## train the example model into a local MLflow registry and serve it on 127.0.0.1
	bash devstack/bootstrap.sh demo
	$(PY) -m examples.demo

# The slow suite mostly waits (builds, pip, rollouts, servers starting): its module groups run in this
# many pytest-xdist workers at once (tests/parallel.py); TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 3

test: test-fast  ## the fast tier first, then the whole suite against real MLflow, registry, builder and cluster
	bash devstack/bootstrap.sh test
	$(PY) -m pytest --ignore=tests/unit -n $(TEST_WORKERS) $(PYTEST_ARGS)

test-zoo:  ## the zoo end-to-end module alone (it is part of `make test` too): every zoo model through resolve, preflight, build, the three gates and deploy
	bash devstack/bootstrap.sh test
	$(PY) -m pytest tests/ci/test_zoo_e2e.py tests/ci/test_zoo_e2e_neural.py $(PYTEST_ARGS)

test-fast:  ## pure logic, no servers, seconds (tests/unit)
	bash devstack/bootstrap.sh venv
	$(PY) -m pytest tests/unit -q $(PYTEST_ARGS)

pipeline:  ## the real .gitlab-ci.yml, run by gitlab-ci-local on a local MLflow, registry and cluster (Ctrl-C stops it)
	bash devstack/bootstrap.sh test
	$(PY) -m devstack.pipeline_box $(PIPELINE_ARGS)

docs:  ## serve the documentation site (docs/, mkdocs.yml) on 127.0.0.1:8000, rebuilt on every change
	bash devstack/bootstrap.sh venv
	$(PY) -m mkdocs serve -a 127.0.0.1:8000

lint:
	$(PY) -m ruff check .
