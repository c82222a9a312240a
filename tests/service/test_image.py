"""The service image, built with buildah from service/Dockerfile on the stand-in base and run with
podman the way Kubernetes runs it: numeric non-root user, read-only root, a tmpfs /tmp. Slow:
one build for the module."""
from __future__ import annotations

import json
import secrets
import shutil
import time

import pytest
import requests

from devstack.model_servers import REPO
from devstack.oci import MODEL_LABEL
from devstack.procs import free_port, http_ok, wait_until

pytestmark = pytest.mark.containers
BUILD_ARGS = {"MODEL_NAME": "credit-risk", "MODEL_VERSION": "42", "MODEL_RUN_ID": "run-abc",
              "VCS_REF": "0123abc", "SOURCE_URL": "https://example.invalid/pyfunc-deploy"}


@pytest.fixture(scope="module")
def image(oci_registry, model_dirs, tmp_path_factory) -> str:
    """Context laid out like the repository root: service/, build/model/ and build/image/ (what the image
    installs for this model, as `ci build` writes it)."""
    from ci.image.build import prepare_context
    from ci.image.requirements import image_spec, read_model_files

    context = tmp_path_factory.mktemp("image-context")
    shutil.copytree(model_dirs["pyfunc"], context / "build" / "model")
    spec = image_spec(read_model_files(context / "build" / "model"), REPO / "service")
    prepare_context(REPO / "service", context, spec)
    tag = f"{oci_registry.address}/pyfunc-service:test"
    build_args = {**BUILD_ARGS, "BASE_IMAGE": spec.base_image}
    args = [arg for key, value in build_args.items() for arg in ("--build-arg", f"{key}={value}")]
    oci_registry.run("buildah", "bud", "--layers", "-f", str(context / "service" / "Dockerfile"), *args,
                     "-t", tag, str(context), timeout=1800)
    return tag


def test_image_labels_user_and_command(oci_registry, image):
    config = json.loads(oci_registry.run("buildah", "inspect", "--type", "image", image).stdout)
    labels = config["OCIv1"]["config"]["Labels"]
    assert labels["io.pyfunc-deploy.model.name"] == "credit-risk"
    assert labels["io.pyfunc-deploy.model.version"] == "42"
    assert labels["org.opencontainers.image.revision"] == "0123abc"
    assert labels["org.opencontainers.image.source"] == "https://example.invalid/pyfunc-deploy"
    assert config["OCIv1"]["config"]["User"] == "10001:10001"
    assert config["OCIv1"]["config"]["Cmd"] == ["python", "-m", "service"]


def test_the_images_a_model_version_adds_carry_its_label_and_the_pip_layer_does_not(oci_registry, image):
    """A builder's layer cache (a runner's, the test runs' own: devstack/oci.py) drops an earlier model
    version's images by this label and keeps the pip layer under them. An image of a model version left
    unlabeled (each is unique: the run id) stays in the cache for good: 1,600 of them once made every
    listing of the cache take minutes."""
    def inspect(image_id: str) -> tuple[list[str], str | None]:
        found = json.loads(oci_registry.run("podman", "image", "inspect", image_id).stdout)[0]
        return [step.get("created_by", "") for step in found["History"]], (found["Labels"] or {}).get(MODEL_LABEL)

    steps, _ = inspect(image)
    names_step = next(i for i, created_by in enumerate(steps) if 'echo "model name: ' in created_by)
    layers = oci_registry.run("podman", "history", "--quiet", image).stdout.split()
    found = [inspect(image_id) for image_id in layers if image_id != "<missing>"]
    ours = [label for steps, label in found if len(steps) > names_step + 1]
    under = [label for steps, label in found if len(steps) <= names_step + 1]
    assert len(ours) >= 4 and set(ours) == {"credit-risk"}, ours  # version and run id, model, service, proof
    assert len(under) >= 3 and set(under) == {None}, under  # the model name's, pip's, apt's: kept for the next


def test_image_serves_with_a_read_only_root(oci_registry, image, otlp_receiver):
    """Run by hand: batching as the image's build proved it, traces exported when an endpoint is set."""
    port = free_port()
    name = f"svc-{port}"
    started = time.monotonic()
    oci_registry.run("podman", "run", "-d", "--name", name, "--network", "host", "--read-only",
                     "--tmpfs", "/tmp:rw,size=256m", "-e", f"SERVICE_PORT={port}",
                     "-e", "SERVICE_HOST=127.0.0.1", "-e", f"OTEL_EXPORTER_OTLP_ENDPOINT={otlp_receiver.endpoint}",
                     "-e", "OTEL_BSP_SCHEDULE_DELAY=100",
                     "-e", "SERVICE_WORKERS=2", "-e", "IMAGE_TAG=test", image)
    try:
        try:
            wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/readyz"), 120, "service container ready")
        except Exception:
            print(oci_registry.run("podman", "logs", name, check=False).stdout[-3000:])
            raise
        ready_seconds = time.monotonic() - started
        version = requests.get(f"http://127.0.0.1:{port}/version", timeout=10).json()
        assert (version["model_name"], version["model_version"], version["run_id"]) == \
            ("credit-risk", "42", "run-abc")
        assert version["image_tag"] == "test" and version["model_source"] == "/opt/model"
        assert version["batching"]["enabled"] is True and version["batching"]["decided_by"] == "image proof"
        trace_id = secrets.token_hex(16)
        answer = requests.post(f"http://127.0.0.1:{port}/invocations", timeout=10,
                               headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}, json={
            "dataframe_records": [{"age": 30.0, "income": 50000.0, "employment_status": "employed",
                                   "num_credit_cards": 1}]})
        assert answer.status_code == 200 and set(answer.json()["predictions"][0]) == {"score", "risk_level"}
        logs = oci_registry.run("podman", "logs", name).stdout
        assert '"logger":"service.access"' in logs and f'"trace_id":"{trace_id}"' in logs
        [span] = otlp_receiver.wait_for(lambda s: s.trace_id == trace_id)
        assert span.name == "POST /invocations" and span.attributes["pyfunc.model.version"] == "42"
        print(f"container start-to-ready: {ready_seconds:.1f}s")
    finally:
        oci_registry.run("podman", "rm", "-f", "-t", "5", name, check=False)
