"""Build the serving image with the resolved model version baked in, push it and record its digest.

The model's artifacts are downloaded into the build context, so a pod never needs the tracking server
to start. An image is identified by a *source key* — the model version plus a hash of the service
source — pushed as an extra tag; when that tag already exists the image is retagged with skopeo
instead of rebuilt, so a pipeline re-run or a docs-only commit costs seconds. The image follows the
model (`ci.image.requirements`): its base, requirements and system packages are part of that key.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType

from ci.clients.mlflow_api import MlflowApi
from ci.errors import CheckFailed, ConfigError, ToolError
from ci.image.artifacts import download_model
from ci.image.credentials import NO_CREDENTIALS, Credentials, registry_authfile
from ci.image.package_indexes import from_own_indexes
from ci.image.requirements import DEFAULT_BASE_IMAGE_PATTERN, MODEL_ENV_FILES, ImageSpec, image_spec
from ci.outputs import write_dotenv, write_json
from ci.project import SERVICE_DIR
from ci.registry.model_ref import ModelRef, image_tag, moving_tags, slug
from ci.tools import buildah, docker, kaniko, skopeo
from ci.tracing import step

log = logging.getLogger("ci.image.build")

# Layout of the build context (what service/Dockerfile copies from): the repository's service/
# directory and the downloaded model at build/model/.
CONTEXT_SERVICE = "service"
CONTEXT_MODEL = "build/model"
CONTEXT_IMAGE = "build/image"  # requirements.txt and system-packages.txt, generated for the model
# Private package indexes reach pip as build secrets (never a build arg, an ENV or a layer): secret id
# -> the job's environment variable. Only buildah passes secrets here.
PIP_SECRETS = {"pip_index_url": "PIP_INDEX_URL", "pip_extra_index_url": "PIP_EXTRA_INDEX_URL"}
IGNORED_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache"}
AUTH_MARKERS = ("unauthorized", "authentication required", "denied", "401")
# A registry that is down or out of reach (Go's net errors, as buildah, skopeo and docker print them).
UNREACHABLE_MARKERS = ("connection refused", "no such host", "i/o timeout", "network is unreachable",
                       "connection reset by peer", "tls handshake timeout", "no route to host")
# One seam per builder, each with `build_and_push(context, dockerfile=, image=, build_args=, authfile=, env=)
# -> digest`: buildah is daemonless; docker needs an engine (or podman's API); kaniko runs in its own
# image and pushes while it builds.
BUILDERS = {"buildah": buildah, "docker": docker, "kaniko": kaniko}
DEFAULT_BUILDER = "buildah"


@dataclass(frozen=True)
class BuildResult:
    repository: str
    tag: str
    tags: list[str]
    digest: str
    rebuilt: bool
    source_tag: str
    seconds: float
    dropped_requirements: list[str] = field(default_factory=list)  # IMAGE_DROP_REQUIREMENTS, as the model pinned them
    package_sources: list[str] = field(default_factory=list)  # taken from their own index (IMAGE_PACKAGE_INDEXES)

    @property
    def reference(self) -> str:
        """What a deployment should use: pinned by digest, so a moved tag cannot change it."""
        return f"{self.repository}@{self.digest}"

    def dotenv(self) -> dict[str, str]:
        return {"IMAGE_REPOSITORY": self.repository, "IMAGE_TAG": self.tag, "IMAGE_DIGEST": self.digest,
                "IMAGE_REF": self.reference, "IMAGE_REBUILT": str(self.rebuilt).lower()}


def service_hash(service_dir: Path) -> str:
    """Hash of every file under the service directory (paths and bytes), caches excluded."""
    digest = hashlib.sha256()
    files = sorted(p for p in service_dir.rglob("*")
                   if p.is_file() and not IGNORED_PARTS.intersection(p.parts) and p.suffix != ".pyc")
    if not files:
        raise ConfigError(f"no service source under {service_dir}: run from a checkout of the project")
    for path in files:
        digest.update(path.relative_to(service_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def source_tag(model: ModelRef, service_dir: Path, image_key: str = "") -> str:
    """The tag that says "this model version built from this service source" (run id included: two
    tracking servers can both have version 3 of a model) for this image spec (`ImageSpec.key`)."""
    text = f"{service_hash(service_dir)}\0{model.name}\0{model.version}\0{model.run_id}"
    key = hashlib.sha256((text + (f"\0{image_key}" if image_key else "")).encode()).hexdigest()
    return f"{slug(model.name)}-v{model.version}-src{key[:12]}"


def prepare_context(service_dir: Path, context: Path, spec: ImageSpec | None = None) -> Path:
    """Copy the service source next to the downloaded model and write the spec's files; return the
    Dockerfile path in it."""
    shutil.copytree(service_dir, context / CONTEXT_SERVICE,
                    ignore=shutil.ignore_patterns(*IGNORED_PARTS, "*.pyc"))
    if spec is not None:
        (context / CONTEXT_IMAGE).mkdir(parents=True, exist_ok=True)
        (context / CONTEXT_IMAGE / "requirements.txt").write_text(spec.requirements_text())
        (context / CONTEXT_IMAGE / "system-packages.txt").write_text(" ".join(spec.system_packages) + "\n")
    dockerfile = context / CONTEXT_SERVICE / "Dockerfile"
    if not dockerfile.is_file():
        raise ConfigError(f"{service_dir / 'Dockerfile'} is missing")
    return dockerfile


@contextlib.contextmanager
def _registry_errors(repository: str) -> Iterator[None]:
    """Turn a refused login, or a registry that does not answer (after the tools' own retries), into
    an error that says which registry and what to fix or check."""
    try:
        yield
    except ToolError as exc:
        text = str(exc).lower()
        if any(marker in text for marker in UNREACHABLE_MARKERS):
            named = re.search(r"pinging container registry ([^\s:\"]+(?::\d+)?)", str(exc))
            registry = named.group(1) if named else repository.split("/")[0]
            raise CheckFailed(
                f"registry {registry} does not answer (the builder and skopeo retried with backoff): check that "
                f"it is up and that this runner reaches it.\n{exc}") from exc
        if any(marker in text for marker in AUTH_MARKERS):
            raise CheckFailed(
                f"registry {repository.split('/')[0]} refused the credentials: check CI_REGISTRY_USER / "
                f"CI_REGISTRY_PASSWORD (or the docker config) and that they may push to {repository}."
                f"\n{exc}") from exc
        raise


def build(model: ModelRef, *, repository: str, commit: str, tracking_uri: str,
          credentials: Credentials = NO_CREDENTIALS, service_dir: Path = SERVICE_DIR,
          source_url: str = "", builder: str = DEFAULT_BUILDER, env: Mapping[str, str] | None = None,
          base_image_pattern: str = DEFAULT_BASE_IMAGE_PATTERN, system_packages: str = "",
          drop_requirements: str = "", package_indexes: str = "") -> BuildResult:
    """Build (or retag) and push with `builder` (a key of BUILDERS); return the tags and the digest the
    registry reports. The base image follows `base_image_pattern` for the model's Python;
    `system_packages` (Debian names) are added to those the model's wheels need."""
    started = time.monotonic()
    if builder not in BUILDERS:
        raise ConfigError(f"unknown image builder {builder!r}: choose one of {', '.join(BUILDERS)}")
    if not repository or ":" in repository.split("/")[-1] or "@" in repository:
        raise ConfigError(f"image repository {repository!r} must be REGISTRY/PATH without a tag")
    secrets = pip_secrets(builder, env)
    tag = image_tag(model, commit)
    targets = [tag, *moving_tags(model)]
    with tempfile.TemporaryDirectory(prefix="build-context-") as tmp, \
            registry_authfile(repository, credentials) as authfile, _registry_errors(repository):
        context = Path(tmp)
        spec = image_spec(_environment_files(model, tracking_uri), service_dir,
                          base_image_pattern=base_image_pattern, extra_system_packages=system_packages,
                          drop_requirements=drop_requirements)
        spec = from_own_indexes(spec, package_indexes, env=env)
        log.info("image for Python %s on %s with %s; system packages: %s%s%s%s", spec.python, spec.base_image,
                 spec.mlflow, " ".join(spec.system_packages) or "none",
                 "".join(f"; added {limit}" for limit in spec.limits),
                 f"; left out (IMAGE_DROP_REQUIREMENTS): {', '.join(spec.dropped)}" if spec.dropped else "",
                 "".join(f"; {source}" for source in spec.sources))
        key_tag = source_tag(model, service_dir, spec.key())
        existing = skopeo.inspect(f"{repository}:{key_tag}", authfile=authfile, env=env)
        if existing is not None:
            log.info("%s:%s exists: retagging instead of rebuilding", repository, key_tag)
            digest = existing["Digest"]
        else:  # only now the whole model: a retag needs none of it
            with step("build: download the model"):
                download_model(model, tracking_uri, context / CONTEXT_MODEL)
            digest = _build_and_push(model, context, spec, f"{repository}:{key_tag}", commit, service_dir,
                                     source_url, authfile, BUILDERS[builder], env, secrets)
        for target in targets:
            skopeo.copy(f"{repository}:{key_tag}", f"{repository}:{target}", authfile=authfile, env=env)
    result = BuildResult(repository=repository, tag=tag, tags=[*targets, key_tag], digest=digest,
                         rebuilt=existing is None, source_tag=key_tag,
                         seconds=round(time.monotonic() - started, 2), dropped_requirements=spec.dropped,
                         package_sources=spec.sources)
    log.info("image %s (%s) in %.1fs", result.reference,
             f"built with {builder}" if result.rebuilt else "retagged", result.seconds)
    return result


def _environment_files(model: ModelRef, tracking_uri: str) -> dict[str, str]:
    """The version's MLmodel and environment files, read from the registry without the model itself."""
    api = MlflowApi(tracking_uri)
    files = api.read_model_files(api.download_uri(model.name, model.version), MODEL_ENV_FILES)
    if "MLmodel" not in files:
        raise CheckFailed(f"model {model.name} version {model.version} has no MLmodel file: "
                          "it is not an MLflow model")
    return files


def pip_secrets(builder: str, env: Mapping[str, str] | None) -> dict[str, str]:
    """Secret id -> environment variable for the index variables set in the job."""
    present = {**os.environ, **(env or {})}
    secrets = {sid: var for sid, var in PIP_SECRETS.items() if present.get(var)}
    if secrets and builder != "buildah":
        raise ConfigError(f"{' / '.join(secrets.values())} reach the image build as build secrets, which "
                          f"only the buildah builder passes here: use --builder buildah, or unset them")
    return secrets


def _build_and_push(model: ModelRef, context: Path, spec: ImageSpec, image: str, commit: str,
                    service_dir: Path, source_url: str, authfile: Path | None, tool: ModuleType,
                    env: Mapping[str, str] | None, secrets: dict[str, str]) -> str:
    dockerfile = prepare_context(service_dir, context, spec)
    # the Dockerfile turns these into OCI labels and SERVICE_MODEL_* for /version
    build_args = {"BASE_IMAGE": spec.base_image, "MODEL_NAME": model.name, "MODEL_VERSION": model.version,
                  "MODEL_RUN_ID": model.run_id, "VCS_REF": commit, "SOURCE_URL": source_url}
    extra = {"secrets": secrets} if secrets else {}
    return tool.build_and_push(context, dockerfile=dockerfile, image=image, build_args=build_args,
                               authfile=authfile, env=env, **extra)


def build_and_report(model: ModelRef, output_dir: Path, **build_options) -> tuple[BuildResult, tuple[Path, Path]]:
    """`build`, then its reports (`write_outputs`)."""
    result = build(model, **build_options)
    return result, write_outputs(result, output_dir)


def write_outputs(result: BuildResult, output_dir: Path) -> tuple[Path, Path]:
    """`image.json` (everything) and `image.env` (GitLab `artifacts:reports:dotenv`)."""
    json_path = write_json(output_dir / "image.json", {**asdict(result), "reference": result.reference})
    return json_path, write_dotenv(output_dir / "image.env", result.dotenv())
