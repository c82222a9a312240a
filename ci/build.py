"""Build the serving image with the resolved model version baked in, push it and record its digest.

The model's artifacts are downloaded into the build context, so a pod never needs the tracking server
to start. An image is identified by a *source key* — the model version plus a hash of the service
source — pushed as an extra tag; when that tag already exists the image is retagged with skopeo
instead of rebuilt, so a pipeline re-run or a docs-only commit costs seconds.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType

from ci.artifacts import download_model
from ci.credentials import NO_CREDENTIALS, Credentials, registry_authfile
from ci.errors import CheckFailed, ConfigError, ToolError
from ci.model_ref import ModelRef, image_tag, moving_tags, slug
from ci.outputs import write_dotenv, write_json
from ci.project import SERVICE_DIR
from ci.tools import buildah, docker, kaniko, skopeo

log = logging.getLogger("ci.build")

# Layout of the build context (what service/Dockerfile copies from): the repository's service/
# directory and the downloaded model at build/model/.
CONTEXT_SERVICE = "service"
CONTEXT_MODEL = "build/model"
IGNORED_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache"}
AUTH_MARKERS = ("unauthorized", "authentication required", "denied", "401")
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


def source_tag(model: ModelRef, service_dir: Path) -> str:
    """The tag that says "this model version built from this service source" (run id included: two
    tracking servers can both have version 3 of a model)."""
    key = hashlib.sha256(f"{service_hash(service_dir)}\0{model.name}\0{model.version}\0{model.run_id}"
                         .encode()).hexdigest()
    return f"{slug(model.name)}-v{model.version}-src{key[:12]}"


def prepare_context(service_dir: Path, context: Path) -> Path:
    """Copy the service source next to the downloaded model; return the Dockerfile path in it."""
    shutil.copytree(service_dir, context / CONTEXT_SERVICE,
                    ignore=shutil.ignore_patterns(*IGNORED_PARTS, "*.pyc"))
    dockerfile = context / CONTEXT_SERVICE / "Dockerfile"
    if not dockerfile.is_file():
        raise ConfigError(f"{service_dir / 'Dockerfile'} is missing")
    return dockerfile


@contextlib.contextmanager
def _registry_errors(repository: str) -> Iterator[None]:
    """Turn a refused login into an error that says which registry and which variables to fix."""
    try:
        yield
    except ToolError as exc:
        if any(marker in str(exc).lower() for marker in AUTH_MARKERS):
            raise CheckFailed(
                f"registry {repository.split('/')[0]} refused the credentials: check CI_REGISTRY_USER / "
                f"CI_REGISTRY_PASSWORD (or the docker config) and that they may push to {repository}."
                f"\n{exc}") from exc
        raise


def build(model: ModelRef, *, repository: str, commit: str, tracking_uri: str,
          credentials: Credentials = NO_CREDENTIALS, service_dir: Path = SERVICE_DIR,
          source_url: str = "", builder: str = DEFAULT_BUILDER,
          env: Mapping[str, str] | None = None) -> BuildResult:
    """Build (or retag) and push with `builder` (a key of BUILDERS); return the tags and the digest the
    registry reports."""
    started = time.monotonic()
    if builder not in BUILDERS:
        raise ConfigError(f"unknown image builder {builder!r}: choose one of {', '.join(BUILDERS)}")
    if not repository or ":" in repository.split("/")[-1] or "@" in repository:
        raise ConfigError(f"image repository {repository!r} must be REGISTRY/PATH without a tag")
    tag = image_tag(model, commit)
    key_tag = source_tag(model, service_dir)
    targets = [tag, *moving_tags(model)]
    with registry_authfile(repository, credentials) as authfile, _registry_errors(repository):
        existing = skopeo.inspect(f"{repository}:{key_tag}", authfile=authfile, env=env)
        if existing is not None:
            log.info("%s:%s exists: retagging instead of rebuilding", repository, key_tag)
            digest = existing["Digest"]
        else:
            digest = _build_and_push(model, repository, key_tag, commit, tracking_uri, service_dir,
                                     source_url, authfile, BUILDERS[builder], env)
        for target in targets:
            skopeo.copy(f"{repository}:{key_tag}", f"{repository}:{target}", authfile=authfile, env=env)
    result = BuildResult(repository=repository, tag=tag, tags=[*targets, key_tag], digest=digest,
                         rebuilt=existing is None, source_tag=key_tag,
                         seconds=round(time.monotonic() - started, 2))
    log.info("image %s (%s) in %.1fs", result.reference,
             f"built with {builder}" if result.rebuilt else "retagged", result.seconds)
    return result


def _build_and_push(model: ModelRef, repository: str, key_tag: str, commit: str, tracking_uri: str,
                    service_dir: Path, source_url: str, authfile: Path | None, tool: ModuleType,
                    env: Mapping[str, str] | None) -> str:
    with tempfile.TemporaryDirectory(prefix="build-context-") as tmp:
        context = Path(tmp)
        download_model(model, tracking_uri, context / CONTEXT_MODEL)
        dockerfile = prepare_context(service_dir, context)
        # the Dockerfile turns these into OCI labels and SERVICE_MODEL_* for /version
        build_args = {"MODEL_NAME": model.name, "MODEL_VERSION": model.version, "MODEL_RUN_ID": model.run_id,
                      "VCS_REF": commit, "SOURCE_URL": source_url}
        image = f"{repository}:{key_tag}"
        return tool.build_and_push(context, dockerfile=dockerfile, image=image, build_args=build_args,
                                   authfile=authfile, env=env)


def build_and_report(model: ModelRef, output_dir: Path, **build_options) -> tuple[BuildResult, tuple[Path, Path]]:
    """`build`, then its reports (`write_outputs`)."""
    result = build(model, **build_options)
    return result, write_outputs(result, output_dir)


def write_outputs(result: BuildResult, output_dir: Path) -> tuple[Path, Path]:
    """`image.json` (everything) and `image.env` (GitLab `artifacts:reports:dotenv`)."""
    json_path = write_json(output_dir / "image.json", {**asdict(result), "reference": result.reference})
    return json_path, write_dotenv(output_dir / "image.env", result.dotenv())
