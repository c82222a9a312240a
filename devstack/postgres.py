"""A private PostgreSQL 15 cluster (Debian's server binaries) on 127.0.0.1 and a free port.

PostgreSQL refuses to run as root, so the data directory belongs to the `postgres` system user
(created by Debian's package) and every server command runs through `runuser`.
"""
from __future__ import annotations

import glob
import shutil
import subprocess
import tempfile
from pathlib import Path

from devstack.procs import InfraError, ManagedProcess, free_port, wait_until

DATABASE = "mlflow"


def _pg_bin(name: str) -> str:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        raise InfraError(f"PostgreSQL's {name} not found: install postgresql-15 (`make test` does).")
    return candidates[-1]


class Postgres:
    def __init__(self) -> None:
        # Not under pytest's tmp dirs: those are root-only (0700) and the server runs as `postgres`.
        self.workdir = Path(tempfile.mkdtemp(prefix="pyfunc-deploy-pg-"))
        self.datadir = self.workdir / "pgdata"
        self.sockdir = self.workdir / "pgsock"
        self.port = free_port()
        self.process: ManagedProcess | None = None

    @property
    def uri(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def _as_postgres(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv]

    def start(self) -> Postgres:
        for path in (self.workdir, self.sockdir):
            path.mkdir(parents=True, exist_ok=True)
            shutil.chown(path, "postgres", "postgres")
        subprocess.run(self._as_postgres([_pg_bin("initdb"), "-D", str(self.datadir), "-A", "trust",
                                          "-U", "postgres", "-E", "UTF8"]),
                       check=True, capture_output=True)
        argv = self._as_postgres([_pg_bin("postgres"), "-D", str(self.datadir), "-p", str(self.port),
                                  "-k", str(self.sockdir), "-c", "listen_addresses=127.0.0.1",
                                  "-c", "fsync=off"])
        log = self.workdir / "postgres.log"
        log.touch()
        self.process = ManagedProcess(argv, log)
        wait_until(self._accepts_connections, 30, f"postgres on port {self.port}", log=log)
        subprocess.run(self._as_postgres(["createdb", "-h", "127.0.0.1", "-p", str(self.port),
                                          "-U", "postgres", DATABASE]), check=True, capture_output=True)
        return self

    def _accepts_connections(self) -> bool:
        return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", str(self.port)],
                              capture_output=True).returncode == 0

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(sig=2)  # SIGINT: PostgreSQL's "fast" shutdown
            self.process = None
        shutil.rmtree(self.workdir, ignore_errors=True)
