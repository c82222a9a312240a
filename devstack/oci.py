"""A real OCI registry and daemonless image tools (buildah, podman, skopeo) on 127.0.0.1.

There is no Docker engine and no outside registry on a test machine, so:
- `ContainerTools` gives buildah/podman/skopeo a private configuration (storage, runtime, registries)
  as an `env` dict; any subprocess — a test or `python -m ci build` — uses the same storage with it.
  A test session (each of its xdist workers) and `make pipeline` build in the layer cache kept under
  ~/.cache (`with_layer_cache`): a pip layer built once is reused by every later build, of this run
  and of the next, and so is pip's wheel cache where the index lets pip cache (PyPI does).
- `OciRegistry` (devstack/oci_registry.py) runs Debian's `docker-registry` with filesystem storage.
- `seed_storage()` builds, once per set of base tarballs, a registry storage directory that already holds
  the stand-in `library/python:3.9-slim`, `3.11-slim` and `3.13-slim` (devstack/base_images.py); every
  registry starts from a copy of it, so a session does not re-import and re-push them.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TextIO

from devstack import base_images
from devstack.oci_registry import OciRegistry
from devstack.procs import CACHE_DIR, InfraError, file_lock

# The service's default base (3.11); devstack/base_images.py has the others.
BASE_IMAGE_REPO = base_images.repo(base_images.DEFAULT_MINOR)
BASE_IMAGE_TAR = base_images.tarball(base_images.DEFAULT_MINOR)
BASE_IMAGE_CHANGES = base_images.changes(base_images.DEFAULT_MINOR)
# The builder storage kept between runs (test sessions, `make pipeline`): ~10 GB after a full test run;
# wiped when it outgrows this, or when the stand-in bases change.
LAYER_CACHE = CACHE_DIR / "builder-storage"
LAYER_CACHE_BYTES = 25 * 10**9
# service/Dockerfile labels every image after its model's name step (just above it: the pip layer): those
# are one model version's, never built again by a later run (its models are trained anew: a new run id),
# and up to 1.1 GB each.
MODEL_LABEL = "io.pyfunc-deploy.model.name"
# Where the layer cache keeps the builds' cache mounts (pip's wheels: service/Dockerfile).
BUILD_CACHE_MOUNTS = "build-cache-mounts"


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(item) for item in items) + "]"


class ContainerTools:
    """Private buildah/podman/skopeo configuration under `root`; `env` selects it for any subprocess.

    The image storage is under `root` too, and dropped by `close()`, unless it is the layer cache
    (`with_layer_cache`)."""

    def __init__(self, root: Path, storage: Path | None = None) -> None:
        self.root = root
        self.storage = storage or root
        self._cache_lock: TextIO | None = None  # held while `storage` is the shared layer cache
        self.registries: list[str] = []
        self.storage_conf = root / "storage.conf"
        self.containers_conf = root / "containers.conf"
        self.registries_conf = root / "registries.conf"
        for sub in ("tmp", "net"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self._make_storage_dirs()
        # podman refuses a storage whose database names other graph/run/tmp paths: all three live
        # with the storage, the rest of the configuration is this object's
        self.storage_conf.write_text(
            "[storage]\n"
            'driver = "overlay"\n'
            f"graphroot = {json.dumps(str(self.storage / 'graph'))}\n"
            f"runroot = {json.dumps(str(self.storage / 'run'))}\n")
        self.containers_conf.write_text(
            "[containers]\n"
            f"default_ulimits = {_toml_list(['nofile=20000:20000', 'nproc=4096:4096'])}\n"
            'netns = "host"\n'
            "[engine]\n"
            'runtime = "runc"\n'
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f"events_logfile_path = {json.dumps(str(root / 'events.log'))}\n"
            f"tmp_dir = {json.dumps(str(self.storage / 'podman-tmp'))}\n"
            "[network]\n"
            f"network_config_dir = {json.dumps(str(root / 'net'))}\n")
        self._write_registries()
        (root / "auth.json").write_text("{}")
        self.env = {
            "CONTAINERS_STORAGE_CONF": str(self.storage_conf),
            "CONTAINERS_CONF": str(self.containers_conf),
            "CONTAINERS_REGISTRIES_CONF": str(self.registries_conf),
            "REGISTRY_AUTH_FILE": str(root / "auth.json"),
            "BUILDAH_ISOLATION": "chroot",
            "TMPDIR": str(root / "tmp"),
        }

    def _write_registries(self) -> None:
        """The first trusted registry also answers for docker.io, so `FROM python:3.11-slim` is local."""
        lines = ['unqualified-search-registries = ["docker.io"]', 'short-name-mode = "permissive"']
        for address in self.registries:
            lines += ["[[registry]]", f'location = "{address}"', "insecure = true"]
        if self.registries:
            lines += ["[[registry]]", 'prefix = "docker.io"', f'location = "{self.registries[0]}"',
                      "insecure = true"]
        self.registries_conf.write_text("\n".join(lines) + "\n")

    def trust(self, address: str) -> None:
        """Allow plain HTTP to `address` ("127.0.0.1:PORT")."""
        if address not in self.registries:
            self.registries.append(address)
            self._write_registries()

    def run(self, *argv: str, timeout: float = 600, check: bool = True,
            input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a tool with this configuration; on failure raise InfraError with its stderr."""
        env = dict(os.environ)
        env.update(self.env)
        result = subprocess.run(list(argv), env=env, capture_output=True, text=True,
                                timeout=timeout, input=input_text, check=False)
        if check and result.returncode != 0:
            raise InfraError(f"{' '.join(argv[:3])} ... exited {result.returncode}:\n"
                             f"{result.stderr[-3000:]}")
        return result

    @classmethod
    def with_layer_cache(cls, root: Path, cache: Path = LAYER_CACHE) -> ContainerTools:
        """Tools whose image storage is the layer cache under ~/.cache, kept between runs so that a
        build whose pip layer was built before skips the install, and whose `RUN --mount=type=cache`
        directories (pip's wheel cache) are kept there too.

        Several processes share it at once (containers/storage locks its own files; the test
        session's xdist workers each hold it): each holds a shared flock. The first holder, alone
        with an exclusive lock for a moment, clears what a killed run left and wipes a stale cache."""
        cache.mkdir(parents=True, exist_ok=True)
        lock = open(cache / "lock", "a")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            alone = True
        except BlockingIOError:
            fcntl.flock(lock, fcntl.LOCK_SH)  # waits while the first holder clears up
            alone = False
        tools = cls(root, storage=cache)
        tools._cache_lock = lock
        if alone:
            tools._forget_runtime_state()
            seed = seed_storage().name  # a new stand-in base: the cached `python:X.Y-slim` would be stale
            marker = cache / "seed"
            tools._drop_model_images()
            if (marker.read_text() if marker.exists() else "") != seed or _size(cache) > LAYER_CACHE_BYTES:
                for sub in ("graph", BUILD_CACHE_MOUNTS):
                    shutil.rmtree(cache / sub, ignore_errors=True)
                tools._make_storage_dirs()
                marker.write_text(seed)
            fcntl.flock(lock, fcntl.LOCK_SH)  # from now on, shared with the holders that come
        tools._link_build_cache_mounts()
        return tools

    def _drop_model_images(self) -> None:
        """Remove the images of earlier runs' model versions (MODEL_LABEL), keeping their parents: the
        bases and the pip layers a later build reuses. Without it every run adds its models' layers
        until the cache outgrows LAYER_CACHE_BYTES and is wiped whole, pip layers and all (a cold run)."""
        listed = self.run("podman", "images", "--all", "--quiet", "--filter", f"label={MODEL_LABEL}", check=False)
        ids = list(dict.fromkeys(listed.stdout.split()))
        if ids:
            self.run("podman", "rmi", "--force", "--no-prune", *ids, timeout=1200, check=False)

    def _link_build_cache_mounts(self) -> None:
        """buildah keeps `RUN --mount=type=cache` directories in $TMPDIR/buildah-cache: that name
        points into the layer cache, so they outlive this holder (TMPDIR itself stays private)."""
        kept = self.storage / BUILD_CACHE_MOUNTS
        kept.mkdir(exist_ok=True)
        (self.root / "tmp" / "buildah-cache").symlink_to(kept, target_is_directory=True)

    def _make_storage_dirs(self) -> None:
        for sub in ("graph", "run", "podman-tmp"):
            (self.storage / sub).mkdir(parents=True, exist_ok=True)

    def _remove_containers(self) -> None:
        for argv in (("podman", "rm", "--all", "--force", "--time", "0"), ("buildah", "rm", "--all")):
            with contextlib.suppress(Exception):
                self.run(*argv, timeout=120, check=False)

    def _forget_runtime_state(self) -> None:
        """What a killed run left in the layer cache: its containers, mounts and runtime state (as a
        reboot would: the run directories are not on a tmpfs here)."""
        self._remove_containers()
        _unmount_under(self.storage)
        for sub in ("run", "podman-tmp"):
            shutil.rmtree(self.storage / sub, ignore_errors=True)
        self._make_storage_dirs()

    def close(self) -> None:
        """Drop everything this configuration stored: containers, images, leftover overlay mounts;
        of the layer cache, only the containers (its images are the cache), and only when no other
        holder is left."""
        if self.storage != self.root:
            if self._cache_lock is not None:
                try:  # the last holder out clears the containers; others may still be running theirs
                    fcntl.flock(self._cache_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    pass
                else:
                    self._remove_containers()
                    _unmount_under(self.storage)
                self._cache_lock.close()
                self._cache_lock = None
        else:
            with contextlib.suppress(Exception):
                self.run("podman", "system", "reset", "--force", timeout=120, check=False)
        _unmount_under(self.root)
        shutil.rmtree(self.root, ignore_errors=True)


def _unmount_under(directory: Path) -> None:
    root = str(directory.resolve())
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(root + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], check=False, capture_output=True)


def _size(directory: Path) -> int:
    done = subprocess.run(["du", "-sb", str(directory)], capture_output=True, text=True, check=False)
    return int(done.stdout.split()[0]) if done.stdout else 0


def ensure_base_tarball(minor: str = base_images.DEFAULT_MINOR) -> Path:
    """Build the stand-in base rootfs for `minor` if it is not cached (the bootstrap step is a no-op then)."""
    return base_images.ensure_tarball(minor)


def seed_storage(minors: tuple[str, ...] = base_images.MINORS) -> Path:
    """Registry storage holding `library/python:X.Y-slim` for `minors`, built once per tarballs and recipe."""
    tarballs = {minor: ensure_base_tarball(minor) for minor in minors}
    stats = {minor: tarball.stat() for minor, tarball in tarballs.items()}
    key = hashlib.sha256(repr([(minor, stats[minor].st_size, stats[minor].st_mtime_ns, base_images.changes(minor))
                               for minor in minors]).encode()).hexdigest()
    seed = CACHE_DIR / f"registry-seed-{key[:12]}"
    with file_lock(CACHE_DIR / "registry-seed.lock"):
        if seed.is_dir():
            return seed
        work = Path(tempfile.mkdtemp(prefix="oci-seed-", dir=CACHE_DIR))
        registry = OciRegistry(work / "registry")
        tools = ContainerTools(work / "tools")
        try:
            registry.start()
            tools.trust(registry.address)
            for minor, tarball in tarballs.items():
                image = f"{registry.address}/{base_images.repo(minor)}"
                changes = [arg for change in base_images.changes(minor) for arg in ("--change", change)]
                tools.run("podman", "import", *changes, str(tarball), image)
                tools.run("podman", "push", "--tls-verify=false", image)
            registry.process.stop()  # type: ignore[union-attr]
            registry.process = None
            registry.storage.rename(seed)  # atomic: a seed directory is always complete
        finally:
            tools.close()
            registry.stop()
            shutil.rmtree(work, ignore_errors=True)
    return seed
