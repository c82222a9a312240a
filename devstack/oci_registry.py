"""A real OCI registry on 127.0.0.1: Debian's `docker-registry` (distribution 2.8) with filesystem storage
in a temp dir, optionally behind htpasswd auth, optionally started from a seed storage that already
holds the stand-in bases (devstack.oci.seed_storage)."""
from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
import warnings
from pathlib import Path

from devstack.procs import InfraError, ManagedProcess, free_port, http_ok, wait_until

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # bcrypt hashes for htpasswd without apache2-utils (libxcrypt supports $2b$)


class OciRegistry:
    """`docker-registry serve` on 127.0.0.1:free port, storage under `root`, optional htpasswd auth."""

    def __init__(self, root: Path, seed: Path | None = None,
                 credentials: tuple[str, str] | None = None) -> None:
        self.root = root
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.credentials = credentials
        self.storage = root / "storage"
        self.process: ManagedProcess | None = None
        root.mkdir(parents=True, exist_ok=True)
        if seed is not None:
            shutil.copytree(seed, self.storage, symlinks=True)
        self.storage.mkdir(exist_ok=True)

    def start(self, timeout: float = 30) -> OciRegistry:
        config = [
            "version: 0.1",
            "log: {level: warn, accesslog: {disabled: true}}",
            f"storage: {{filesystem: {{rootdirectory: {json.dumps(str(self.storage))}}}, "
            "delete: {enabled: true}}",
            f"http: {{addr: {json.dumps(self.address)}}}",
        ]
        if self.credentials is not None:
            user, password = self.credentials
            salt = crypt.mksalt(crypt.METHOD_BLOWFISH)  # noqa: S324 - bcrypt, what htpasswd wants
            (self.root / "htpasswd").write_text(f"{user}:{crypt.crypt(password, salt)}\n")
            config.append(f"auth: {{htpasswd: {{realm: pyfunc-deploy, "
                          f"path: {json.dumps(str(self.root / 'htpasswd'))}}}}}")
        (self.root / "config.yml").write_text("\n".join(config) + "\n")
        self.process = ManagedProcess(["docker-registry", "serve", str(self.root / "config.yml")],
                                      log=self.root / "registry.log")
        wait_until(self._answers, timeout, f"docker-registry on {self.address}", log=self.process.log)
        return self

    def _answers(self) -> bool:
        if self.process is not None and not self.process.alive():
            raise InfraError(f"docker-registry exited:\n{self.process.log_tail()}")
        if self.credentials is None:
            return http_ok(f"http://{self.address}/v2/")
        try:
            urllib.request.urlopen(f"http://{self.address}/v2/", timeout=2)
        except urllib.error.HTTPError as exc:
            return exc.code == 401
        return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
        shutil.rmtree(self.root, ignore_errors=True)
