"""Zoo models (devstack/model_zoo.py: other Pythons, MLflow versions, flavors and signatures) carried
through the pipeline's own commands on the real stack: `python -m ci resolve`, `preflight`, `build` (each
image built once per module and shared), then `gate load`, `gate signature`, `gate latency` and `deploy`
to the test cluster, where the live `/version` names the version and a prediction through the API
server's proxy equals the model's own answer that the load gate compares with. The large model's pod
gets a 2 GiB memory limit (its overlay, named to the load gate as CAPACITY_MANIFESTS); with the
production overlay's 1 GiB the load gate fails it, before any rollout.

Two modules import these fixtures and tests, each naming its models in KEYS, so the two halves of the
zoo run in two workers side by side (tests/parallel.py): tests/ci/test_zoo_e2e.py (the classic
flavors) and tests/ci/test_zoo_e2e_neural.py (PyTorch, torch's capture, the 1.1 GB model)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from ci.clients.kube import Kube
from ci.errors import EXIT_OK
from ci.gates.answers import max_difference, unstable_paths
from ci.gates.load import expected_answer
from ci.tools import podman
from devstack.cluster import delete_namespace, new_namespace
from devstack.model_zoo import ZOO
from devstack.package_index import PackageIndex, local_wheel
from tests.ci.deploy_helpers import NAME, Run, edited_overlay, finish

# A module's first test pays for training and building its models (its fixtures): minutes, not seconds.
MARKS = [pytest.mark.zoo, pytest.mark.containers, pytest.mark.cluster, pytest.mark.timeout(3600)]

REPO = Path(__file__).resolve().parents[2]
# One replica, a small request and no autoscaler: seven models side by side on a 2-core node.
SMALL = [{"op": "replace", "path": "/spec/replicas", "value": 1},
         {"op": "replace", "path": "/spec/template/spec/containers/0/resources/requests/memory", "value": "128Mi"},
         {"op": "replace", "path": "/spec/template/spec/containers/0/resources/requests/cpu", "value": "50m"}]
# The large model's weights (1.1 GB, read whole) need more than the base's 1 GiB memory limit.
LARGE_POD = [{"op": "replace", "path": "/spec/template/spec/containers/0/resources/limits/memory", "value": "2Gi"}]
PRODUCTION = REPO / "manifests" / "overlays" / "production"
# Seconds, not minutes: the gate's mechanics on every model, not its capacity (test_gate_latency*.py).
# The warm-up takes a model's slow first requests of each batch size (torch's, while three gates and
# the rollouts share the machine: once none of 3 s of requests was answered after a 1 s warm-up).
LATENCY = ["--users", "2", "--rate", "10", "--warmup", "2s", "--duration", "3s", "--min-rps", "2",
           "--p95-ms", "2000", "--p99-ms", "4000"]


@dataclass(frozen=True)
class Built:
    """One zoo model after resolve, preflight and build: the job environment the next jobs read."""

    key: str
    name: str
    version: str
    image: str
    reports: Path
    env: dict[str, str]


def ci(*argv: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """One `python -m ci` job, as .gitlab-ci.yml runs it."""
    return subprocess.run([sys.executable, "-m", "ci", *argv], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def passed(done: subprocess.CompletedProcess[str], what: str) -> None:
    assert done.returncode == EXIT_OK, f"{what} exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"


def dotenv(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def through_build(key: str, ref, job_env: dict[str, str], registry: str, reports: Path) -> Built | str:
    """preflight → resolve → build (the pipeline's order) of one zoo model; a failed job: its message."""
    env = job_env | {"MODEL_NAME": ref.name, "MODEL_SELECTOR": ref.version}
    try:
        passed(ci("preflight", "--output-dir", str(reports), env=env), f"preflight {key}")
        passed(ci("resolve", "--commit-sha", "2c0ffee5", "--output-dir", str(reports), env=env), f"resolve {key}")
        env |= dotenv(reports / "model.env")
        passed(ci("build", "--image-repository", f"{registry}/zoo/{key}", "--commit", "2c0ffee5",
                  "--output-dir", str(reports), env=env, timeout=1500), f"build {key}")
    except AssertionError as exc:
        return str(exc)
    env |= dotenv(reports / "image.env")
    return Built(key, ref.name, ref.version, env["IMAGE_REF"], reports, env)


TORCH_ENV = "py311-torch-cpu"  # the models trained with torch's CPU build (devstack/model_envs.py)
# The torch index's port when free: IMAGE_PACKAGE_INDEXES writes the wheel's URL into the image's
# requirements, so a port that changed between runs misses the layer cache (pip installs torch again,
# three minutes per image). Below the kernel's ephemeral ports and Kubernetes' NodePort range.
TORCH_INDEX_PORT = 29517


@pytest.fixture(scope="session")
def torch_index(tmp_path_factory) -> Iterator[PackageIndex]:
    """PyTorch's CPU index, as a team names it (or its company mirror): here a local one holding the CPU
    wheel of torch that lies on this machine."""
    index = PackageIndex(tmp_path_factory.mktemp("torch-index"), port=TORCH_INDEX_PORT)
    index.add(local_wheel("torch-2.13.0+cpu-cp311-*.whl"))
    try:
        yield index.start()
    finally:
        index.stop()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The per-model tests run once per model of the importing module's KEYS."""
    if "key" in metafunc.fixturenames:
        metafunc.parametrize("key", metafunc.module.KEYS)


@pytest.fixture(scope="session")
def zoo_overlays(tmp_path_factory) -> dict[str, Path]:
    """Each model's overlay: one small replica, no autoscaler; the large model's with a 2 GiB limit."""
    root = tmp_path_factory.mktemp("zoo-overlays")
    small = edited_overlay(root / "small", deployment_ops=SMALL, drop=("hpa.yaml",))
    large = edited_overlay(root / "large", deployment_ops=SMALL + LARGE_POD, drop=("hpa.yaml",))
    return defaultdict(lambda: small, large=large)


@pytest.fixture(scope="module")
def zoo_images(request, zoo, mlflow_sqlite, oci_registry, zoo_overlays, tmp_path_factory) -> dict[str, Built | str]:
    """The module's zoo models built once, two at a time (pip's downloads overlap the other's
    work); a failed job fails every test of that model (naming the job), not the others'. A module with
    models trained with torch names the torch index for torch alone in IMAGE_PACKAGE_INDEXES, as a team
    with PyTorch models does: preflight and the build both take torch's file from it (one worker
    serves it, on its stable port)."""
    root = tmp_path_factory.mktemp("zoo-e2e")
    job_env = {k: v for k, v in os.environ.items() if not k.startswith(("CI_", "GITLAB_", "MLFLOW_"))}
    job_env |= {**oci_registry.env, "MLFLOW_TRACKING_URI": mlflow_sqlite.url, "PYTHONUNBUFFERED": "1"}
    if any(ZOO[key].env == TORCH_ENV for key in request.module.KEYS):
        job_env["IMAGE_PACKAGE_INDEXES"] = f"torch={request.getfixturevalue('torch_index').url}"
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(through_build, key, ref, job_env | {"CAPACITY_MANIFESTS": str(zoo_overlays[key])},
                                    oci_registry.address, root / key)
                   for key, ref in zoo.get(request.module.KEYS).items()}
        return {key: future.result() for key, future in futures.items()}


@pytest.fixture
def zoo_image(request, zoo_images) -> Built:
    built = zoo_images[request.node.callspec.params["key"]]
    if isinstance(built, str):
        pytest.fail(built)
    return built


# The three gates as the pipeline runs them, per model, and the large model's load gate in the
# production pod: argv after `ci gate`.
GATES = {"load": lambda built: ["load"],
         "signature": lambda built: ["signature", "--image", built.image],
         "latency": lambda built: ["latency", "--image", built.image, *LATENCY]}
PRODUCTION_POD = {"load-production-pod": lambda built: ["load", "--manifests", str(PRODUCTION)]}


@pytest.fixture(scope="module")
def zoo_gates(zoo_images, zoo_rollouts,
              tmp_path_factory) -> dict[tuple[str, str], tuple[subprocess.CompletedProcess[str], Path]]:
    """Every gate job of every built model, three at a time (most of a gate is waiting for its container
    to start and answer), while the deploys roll out: {(gate, key): (the finished job, its reports
    directory)}."""
    root = tmp_path_factory.mktemp("zoo-gates")
    jobs = [(gate, built, root / gate / built.key) for gate in GATES for built in zoo_images.values()
            if isinstance(built, Built)]
    if isinstance(zoo_images.get("large"), Built):  # the large model in the production pod: refused
        jobs.append(("load-production-pod", zoo_images["large"], root / "load-production-pod"))

    def run(gate: str, built: Built, reports: Path) -> subprocess.CompletedProcess[str]:
        return ci("gate", *(GATES | PRODUCTION_POD)[gate](built), "--output-dir", str(reports), env=built.env)

    with ThreadPoolExecutor(max_workers=3) as pool:
        done = list(pool.map(lambda job: run(*job), jobs))
    return {(gate, built.key): (job, reports) for (gate, built, reports), job in zip(jobs, done, strict=True)}


def gate(zoo_gates, built: Built, name: str) -> dict:
    done, reports = zoo_gates[(name, built.key)]
    passed(done, f"gate {name} {built.key}")
    return json.loads((reports / f"{name}.json").read_text())


def test_load_gate(key, zoo_image, zoo_gates):
    report = gate(zoo_gates, zoo_image, "load")
    assert report["passed"] and report["model_version"] == zoo_image.version and report["rows"] > 0, report


def test_the_large_model_fits_its_own_pod_and_reports_its_memory_and_load_time(zoo_images, zoo_gates):
    built = zoo_images["large"]
    assert isinstance(built, Built), built
    report = gate(zoo_gates, built, "load")
    assert report["memory_limit"] == 2 * 2**30 and report["memory_bytes"] > 1_000_000_000, report  # weights in memory
    assert report["ready_seconds"] < report["startup_seconds"], report
    done, _ = zoo_gates[("load-production-pod", "large")]
    assert done.returncode == 1, done.stdout[-2000:]
    assert "Cause: pod-memory: " in done.stderr and "limit of 1,024 MiB" in done.stderr, done.stderr[-3000:]


def test_torch_captured_into_a_sklearn_model_is_reported_then_left_out(zoo_images, zoo_gates, oci_registry,
                                                                      tmp_path):
    """MLflow captured torch into the sklearn model's requirements: the load gate names it as never
    imported, with its size; built again with IMAGE_DROP_REQUIREMENTS=torch, the image has no torch,
    is smaller by its size and passes the load gate."""
    built = zoo_images["torch-env-sklearn"]
    assert isinstance(built, Built), built
    unused = {r["name"]: r for r in gate(zoo_gates, built, "load")["unused_requirements"]}
    assert unused["torch"]["version"] == "2.13.0+cpu" and unused["torch"]["bytes"] > 300_000_000, unused
    env = built.env | {"IMAGE_DROP_REQUIREMENTS": "torch"}
    passed(ci("build", "--image-repository", built.image.split("@")[0] + "-slim", "--commit", "2c0ffee5",
              "--output-dir", str(tmp_path), env=env, timeout=1500), "build without torch")
    assert json.loads((tmp_path / "image.json").read_text())["dropped_requirements"] == ["torch==2.13.0+cpu"]
    slim = env | dotenv(tmp_path / "image.env")
    done = ci("gate", "load", "--output-dir", str(tmp_path / "gate"), env=slim)
    passed(done, "gate load without torch")
    assert json.loads((tmp_path / "gate" / "load.json").read_text())["unused_requirements"] == []
    no_torch = "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is not None)"
    podman.run_once(slim["IMAGE_REF"], ["python", "-c", no_torch], env=oci_registry.env)
    sizes = [podman.image_size(image, env=oci_registry.env) for image in (built.image, slim["IMAGE_REF"])]
    assert sizes[0] - sizes[1] > unused["torch"]["bytes"] * 0.9, sizes


def test_signature_gate(key, zoo_image, zoo_gates):
    report = gate(zoo_gates, zoo_image, "signature")
    assert report["passed"], report


def test_latency_gate(key, zoo_image, zoo_gates):
    report = gate(zoo_gates, zoo_image, "latency")
    assert report["passed"] and report["stats"]["failures"] == 0 and report["stats"]["requests"] > 0, report


@pytest.fixture(scope="module")
def zoo_rollouts(zoo_images, zoo_overlays, k8s_cluster, tmp_path_factory) -> Iterator[dict[str, tuple[str, Run | str]]]:
    """`python -m ci deploy` of every built model, started at once, each to its own namespace (one small
    replica): {key: (namespace, its running deploy)}; the smoke reads each version's serving input
    example. They roll out while the gates run (zoo_gates asks for this fixture): in the pipeline the
    gates come first, here the jobs are independent and the cluster's pulls overlap the gates' work."""
    root = tmp_path_factory.mktemp("zoo-deploys")
    runs: dict[str, tuple[str, Run | str]] = {}
    try:
        for key, built in zoo_images.items():
            if isinstance(built, str):
                runs[key] = ("", built)
                continue
            namespace = new_namespace(k8s_cluster, f"zoo-{key}")
            out = root / key
            out.mkdir()
            argv = [sys.executable, "-m", "ci", "deploy", "--kubeconfig", str(k8s_cluster.kubeconfig),
                    "--namespace", namespace, "--manifests", str(zoo_overlays[key]), "--timeout", "300",
                    "--readiness-timeout", "180", "--smoke-timeout", "60", "--output-dir", str(out)]
            with open(out / "stderr.txt", "wb") as stderr:
                process = subprocess.Popen(argv, cwd=REPO, env=built.env, stdout=subprocess.DEVNULL, stderr=stderr)
            runs[key] = (namespace, Run(key, process, out))
        yield runs
    finally:
        for _, run in runs.values():
            if isinstance(run, Run) and run.process.poll() is None:
                run.process.kill()
        for namespace, _ in runs.values():
            if namespace:
                delete_namespace(k8s_cluster, namespace)


@pytest.fixture(scope="module")
def zoo_deploys(zoo_rollouts, zoo_gates) -> dict[str, tuple[str, Run | str]]:
    """The deploys of zoo_rollouts, finished (after the gates, which ran meanwhile)."""
    finish(*(run for _, run in zoo_rollouts.values() if isinstance(run, Run)), timeout=600)
    return zoo_rollouts


def test_deploy_serves_the_version_and_the_models_answer(key, zoo_image, zoo_deploys, k8s_cluster, oci_registry):
    namespace, run = zoo_deploys[key]
    assert run.process.returncode == EXIT_OK, f"deploy {key} exited {run.process.returncode}\n{run.stderr[-5000:]}"
    assert run.report()["smoke"]["ok"], run.report()
    own = expected_answer(zoo_image.image, env=oci_registry.env, requirements=False)
    body, (want, again) = own.body, own.answers
    with k8s_cluster.api_client() as api_client:
        kube = Kube(api_client, namespace)
        status, version = kube.proxy("GET", NAME, "http", "version")
        assert status == 200 and json.loads(version)["model_version"] == zoo_image.version, version
        status, got = kube.proxy("POST", NAME, "http", "invocations", body)
    assert status == 200, got[:500]
    assert max_difference(json.loads(got), want, ignore=set(unstable_paths(want, again))) == 0.0
