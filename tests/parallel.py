"""How the slow suite is shared among pytest-xdist workers (`make test` runs it with `-n 3`).

Most of the suite waits (on image builds, pip, rollouts, servers starting), so several workers finish
it sooner even on two cores. Each worker starts the session fixtures its tests ask for — its own
MLflow servers, OCI registry and, when it needs one, its own cluster in a slot of its own
(devstack/cluster.py) — and all of them build in the one layer cache (devstack/oci.py).

The unit of work is a group of modules, never a single test: a module's tests share its module
fixtures. Modules that share an expensive session fixture (the trained zoo, the pipeline image and
stack, the model servers) form one group, so it is made once. Groups are handed out longest first,
so the longest do not start last.

xdist's own `--dist loadgroup` reads `xdist_group` marks through an item attribute that pytest 9 no
longer has, so the grouping is this scheduler: xdist's `loadscope` with the group as the scope.
"""
from __future__ import annotations

import pytest

# Modules sharing an expensive session fixture, longest groups first; every other module is a group
# of its own, handed out after these in collection order. Times: the table tests/module_times.py prints.
GROUPS: dict[str, tuple[str, ...]] = {
    # the zoo's classic half, trained in its own environments and registered, then built and deployed
    "zoo": ("tests/ci/test_zoo_e2e.py", "tests/devstack/test_model_zoo.py", "tests/devstack/test_model_envs.py",
            "tests/devstack/test_base_images.py"),
    # the zoo's PyTorch, torch-capture and 1.1 GB models: trained, built and deployed beside the rest
    "zoo-neural": ("tests/ci/test_zoo_e2e_neural.py", "tests/devstack/test_model_zoo_neural.py"),
    # make_stack and pipeline_image: the pipeline image, gitlab-ci-local runs of the real .gitlab-ci.yml
    "pipeline": ("tests/pipeline/test_pipeline_e2e.py", "tests/pipeline/test_component_e2e.py",
                 "tests/pipeline/test_component.py", "tests/pipeline/test_gitlab_ci_rules.py",
                 "tests/ci/test_pipeline_image.py"),
    # model_servers, loaded_models and toy_models: the service under Gunicorn for every toy model
    "service": tuple(f"tests/service/test_{name}.py" for name in (
        "app", "bad_input", "batching", "core", "fastpath", "fork_safety", "fuzz", "protocol_fuzz", "gunicorn",
        "image", "mlflow_parity", "properties", "tracing", "loading", "mlflow_compat", "turns", "cgroup")),
}
GROUP_OF = {module: group for group, modules in GROUPS.items() for module in modules}
RANK = {group: rank for rank, group in enumerate(GROUPS)}


def group_of(nodeid: str) -> str:
    module = nodeid.split("::", 1)[0]
    return GROUP_OF.get(module, module)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ModuleGroupScheduling(LoadScopeScheduling):
        """xdist's loadscope (a work unit goes whole to one worker) with a module group as the unit."""

        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    config.option.loadscopereorder = False  # keep the order below: longest groups first
    return ModuleGroupScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In each worker (the controller collects nothing): the named groups first, longest first; the
    sort is stable, so every module's tests stay together and in their order."""
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: RANK.get(group_of(item.nodeid), len(RANK)))
