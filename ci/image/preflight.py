"""Before any build: can the service image load this model at all?

Why: a pickled model fails at load time, inside a pod, when the serving image's Python or
cloudpickle/scikit-learn/numpy/pandas differ from the ones it was saved with. That is minutes into a
rollout; here it is a registry read and a pip dry run. The image follows the model's Python minor
(3.9–3.13, `ci.image.requirements`); its packages are what pip really resolves for that Python from the
model's pins, its MLflow and the service's ranges (`ci.image.resolve`), or a fixed image's pinned
requirements files when given. Mismatches that break loading are failures naming the package and both
versions; others (a newer patch release, a package the image does not pin) are warnings.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ci.clients.mlflow_api import MlflowApi, NotFound
from ci.errors import CheckFailed, ConfigError
from ci.image.package_indexes import from_own_indexes
from ci.image.requirements import (
    DEFAULT_BASE_IMAGE_PATTERN,
    MODEL_ENV_FILES,
    SUPPORTED_PYTHON,
    image_spec,
    model_environment,
    named,
    python_minor,
)
from ci.image.resolve import cuda_builds, resolved_pins
from ci.registry.resolution import resolve
from ci.registry.versions import REGISTRATION_TIMEOUT_S

# Package -> how many leading version parts must match for the model to load, and why.
LOAD_BREAKING = {
    "cloudpickle": (2, "cloudpickle only guarantees loading with the version that pickled"),
    "mlflow": (1, "MLmodel and pyfunc loaders change between MLflow major versions"),
    "scikit-learn": (2, "scikit-learn estimators do not unpickle across minor versions"),
    "numpy": (1, "numpy 1 and 2 pickles are not interchangeable (numpy.core became numpy._core)"),
    "pandas": (1, "pandas objects do not unpickle across major versions"),
}
MLFLOW_DISTRIBUTIONS = ("mlflow", "mlflow-skinny")


@dataclass
class Finding:
    check: str
    level: str  # "ok" | "warn" | "fail"
    message: str


@dataclass
class PreflightReport:
    tracking_uri: str
    server_version: str
    client_version: str
    model_name: str
    model_version: str
    model_python: str | None
    image_python: str | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "fail"]


def _parts(version: str, count: int) -> tuple:
    return Version(version).release[:count]


def read_pins(paths: list[Path]) -> dict[str, str]:
    """`name==version` pins from requirement files (following -r/-c); earlier files win."""
    pins: dict[str, str] = {}
    for path in paths:
        if not path.is_file():
            raise ConfigError(f"image requirements file {path} not found: run from the project checkout "
                              "or pass --image-requirements")
        for line in path.read_text().splitlines():
            line = line.split(" #")[0].strip()
            include = re.match(r"-[rc]\s+(\S+)|--(?:requirement|constraint)[=\s]+(\S+)", line)
            if include:
                included = path.parent / (include.group(1) or include.group(2))
                for name, version in read_pins([included]).items():
                    pins.setdefault(name, version)
                continue
            exact = _exact(line)
            if exact:
                pins.setdefault(*exact)
    return pins


def _exact(line: str) -> tuple[str, str] | None:
    try:
        req = Requirement(line)
    except InvalidRequirement:
        return None
    specs = list(req.specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "==="):
        return canonicalize_name(req.name), specs[0].version
    return None


def _named(line: str, names: str) -> bool:
    """Whether requirement `line` is one of `names` (IMAGE_DROP_REQUIREMENTS)."""
    try:
        return canonicalize_name(Requirement(line).name) in named(names)
    except InvalidRequirement:
        return False


def _image_version(name: str, pins: dict[str, str]) -> str | None:
    if name in MLFLOW_DISTRIBUTIONS:
        return next((pins[d] for d in MLFLOW_DISTRIBUTIONS if d in pins), None)
    return pins.get(name)


def compare(model_python: str | None, requirements: list[str], image_python: str,
            pins: dict[str, str]) -> list[Finding]:
    """Findings for the model's environment against the image's Python and pins."""
    findings = [_compare_python(model_python, image_python)]
    for line in requirements:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            findings.append(Finding(f"package:{line}", "warn", f"cannot parse model requirement {line!r}"))
            continue
        if req.marker and not req.marker.evaluate({"python_version": image_python}):
            continue
        findings.append(_compare_package(req, pins))
    return findings


def _compare_python(model_python: str | None, image_python: str) -> Finding:
    if not model_python:
        return Finding("python", "warn", f"the model does not record its Python version; the image has "
                                         f"{image_python}")
    try:
        minor = python_minor(model_python)
    except CheckFailed as exc:
        return Finding("python", "fail", f"python: {exc}")
    if minor != ".".join(image_python.split(".")[:2]):
        return Finding("python", "fail", f"python: model saved with {model_python}, image has "
                                         f"{image_python}: pickled code does not load across Python "
                                         "minor versions")
    return Finding("python", "ok", f"python: model {model_python}, image {image_python}")


def _compare_package(req: Requirement, pins: dict[str, str]) -> Finding:
    name = canonicalize_name(req.name)
    key = "mlflow" if name in MLFLOW_DISTRIBUTIONS else name
    check = f"package:{name}"
    image = _image_version(name, pins)
    wanted = str(req.specifier) or "(any version)"
    if image is None:
        return Finding(check, "warn", f"{name}{wanted if req.specifier else ''}: required by the model, not "
                                      "pinned in the image; the image build must install it")
    parts, why = LOAD_BREAKING.get(key, (0, ""))
    exact = _exact(str(req))
    try:
        if exact:
            breaking = parts and _parts(exact[1], parts) != _parts(image, parts)
            if breaking:
                return Finding(check, "fail", f"{name}: model needs {exact[1]}, image has {image}: {why}")
            if Version(exact[1]) != Version(image):
                return Finding(check, "warn", f"{name}: model needs {exact[1]}, image has {image}")
        elif image not in req.specifier:
            level = "fail" if parts else "warn"
            return Finding(check, level, f"{name}: model needs {wanted}, image has {image}"
                                         + (f": {why}" if parts else ""))
    except InvalidVersion:
        return Finding(check, "warn", f"{name}: cannot compare versions {wanted!r} and {image!r}")
    return Finding(check, "ok", f"{name}: model {wanted}, image {image}")


def cuda_libraries(pins: dict[str, str]) -> list[Finding]:
    """A warning when the image would install NVIDIA's CUDA wheels: PyPI's Linux torch (a plain
    `torch==X` pin) pulls ~4 GB of them into an image that serves on CPU nodes."""
    found = sorted(name for name in pins if name.startswith("nvidia-"))
    if not found:
        return []
    return [Finding("cuda", "warn", f"cuda: the image would install {len(found)} CUDA libraries ({', '.join(found[:3])}"
                    f"{', …' if len(found) > 3 else ''}), several GB that CPU nodes never use: PyPI's Linux torch is "
                    "the CUDA build. Name PyTorch's CPU index for torch: IMAGE_PACKAGE_INDEXES=\"torch torchvision "
                    "torchaudio=https://download.pytorch.org/whl/cpu\"")]


def _image_pins(files: dict[str, str], image_requirements: list[Path], service_dir: Path,
                resolver, drop_requirements: str = "", package_indexes: str = "") -> tuple[dict[str, str], Finding]:
    """The image's packages: a fixed image's pinned files, else what pip resolves for this model (less
    the requirements the build drops)."""
    if image_requirements:
        return read_pins(image_requirements), Finding("image", "ok", "image: packages pinned by "
                                                      + ", ".join(map(str, image_requirements)))
    spec = image_spec(files, service_dir, base_image_pattern=DEFAULT_BASE_IMAGE_PATTERN,
                      drop_requirements=drop_requirements)
    cuda = cuda_builds(spec)
    if cuda:
        raise CheckFailed(f"{', '.join(cuda)}: a CUDA build, and the image serves on CPU nodes (several GB of CUDA "
                          "libraries it would never use). Log the model with the CPU build (e.g. torch==X+cpu, with "
                          "PyTorch's CPU index or your mirror of it in IMAGE_PACKAGE_INDEXES)")
    spec = from_own_indexes(spec, package_indexes)
    pins = resolver(spec)
    limits = "".join(f"; added {limit}" for limit in spec.limits) + "".join(
        f"; left out {line} (IMAGE_DROP_REQUIREMENTS)" for line in spec.dropped) + "".join(
        f"; {source}" for source in spec.sources)
    return pins, Finding("image", "ok", f"image: Python {spec.python}, {spec.mlflow}, {len(pins)} packages "
                                        f"resolved by pip for it{limits}")


def preflight(name: str, selector: str | None, *, api: MlflowApi, image_requirements: list[Path] | None = None,
              service_dir: Path | None = None, resolver=resolved_pins,
              registration_timeout: float = REGISTRATION_TIMEOUT_S, drop_requirements: str = "",
              package_indexes: str = "") -> PreflightReport:
    """Server, registry and model-vs-image checks; the report lists every finding."""
    import mlflow

    from ci.project import SERVICE_DIR

    image_requirements = list(image_requirements or [])
    read_pins(image_requirements)  # a config error shows before any network call
    server = api.server_version()
    findings = [Finding("server", "ok", f"tracking server {api.safe_url} answers (MLflow {server})")]
    try:
        api.search_models()
        findings.append(Finding("registry", "ok", "model registry is enabled"))
    except NotFound:
        findings.append(Finding("registry", "fail", f"{api.safe_url} has no model registry: start the "
                                                    "server with a database backend store"))
        return PreflightReport(api.safe_url, server, mlflow.__version__, name, "", None, None, findings)
    level = "ok" if _parts(server, 1) == _parts(mlflow.__version__, 1) else "warn"
    findings.append(Finding("mlflow-version", level,
                            f"MLflow server {server}, client (this job) {mlflow.__version__}"))
    model = resolve(name, selector, api=api, registration_timeout=registration_timeout)
    files = api.read_model_files(model.artifact_uri, MODEL_ENV_FILES)
    model_python, requirements = model_environment(files)
    report = PreflightReport(api.safe_url, server, mlflow.__version__, name, model.version, model_python,
                             None, findings)
    try:
        image_python = python_minor(model_python)
    except CheckFailed as exc:
        findings.append(Finding("python", "fail" if model_python else "warn", f"python: {exc}"))
        return report
    try:
        pins, image = _image_pins(files, image_requirements, service_dir or SERVICE_DIR, resolver, drop_requirements,
                                  package_indexes)
    except CheckFailed as exc:
        findings.append(Finding("image", "fail", f"image: {exc}"))
        return report
    report.image_python = image_python
    kept = [line for line in requirements if not _named(line, drop_requirements)]
    findings += [image, *cuda_libraries(pins), *compare(model_python, kept, image_python, pins)]
    return report


__all__ = ["SUPPORTED_PYTHON", "Finding", "PreflightReport", "compare", "model_environment", "preflight",
           "read_pins"]
