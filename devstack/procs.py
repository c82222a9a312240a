"""The local processes devstack owns: servers started and stopped by PID, and one-shot commands.

Every server devstack starts goes through `ManagedProcess`: it runs in its own process group,
logs to a file (so a failed start can show why), and is stopped by PID — never by name, so a
test run never touches a process it did not start.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

CACHE_DIR = Path(os.environ.get("PYFUNC_DEPLOY_CACHE", Path.home() / ".cache" / "pyfunc-deploy"))


class InfraError(RuntimeError):
    """A piece of real infrastructure could not be started: the test must fail, not skip."""


def free_port(preferred: int = 0) -> int:
    """A free port on 127.0.0.1: `preferred` when it is free (a URL that stays the same between runs),
    else any the kernel gives."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports on 127.0.0.1 for one server's listeners. Each socket stays bound until
    all are chosen: one after the other, `free_port()` may hand the same just-closed port out twice."""
    with contextlib.ExitStack() as held:
        socks = [held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2,
               log: Path | None = None, process: ManagedProcess | None = None) -> None:
    """Poll `check` until it is true; raise InfraError naming `what` (and the log tail) on timeout, or at
    once when `process`, the server being waited for, has exited."""
    deadline = time.monotonic() + timeout
    outcome = f"not ready after {timeout:.0f}s"
    while time.monotonic() < deadline:
        if process is not None and not process.alive():
            outcome = "exited before it was ready"
            break
        try:
            if check():
                return
        except Exception:  # noqa: BLE001, S110 - any failure of the probe means "not yet"
            pass
        time.sleep(interval)
    log = log or (process.log if process is not None else None)
    tail = ""
    if log is not None and log.exists():
        tail = "\n--- last log lines (" + str(log) + ") ---\n" + "\n".join(
            log.read_text(errors="replace").splitlines()[-30:])
    raise InfraError(f"{what} {outcome}{tail}")


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback only
            return 200 <= response.status < 300
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def run(*argv: str, check: bool = True) -> str:
    """Run a short command to its end and return its stdout; InfraError with its stderr if it fails."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise InfraError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return result.stdout


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on `path` (created with its parents): one builder of a cached thing at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


class ManagedProcess:
    """A child process in its own session, logging to `log`, stopped by PID in `stop()`."""

    def __init__(self, argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.argv = list(argv)
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        full_env = dict(os.environ)
        full_env.update(env or {})
        self._log_file = open(log, "ab")  # noqa: SIM115 - closed in stop()
        try:
            self.popen = subprocess.Popen(
                self.argv, stdout=self._log_file, stderr=subprocess.STDOUT, env=full_env,
                cwd=cwd, start_new_session=True)
        except FileNotFoundError as exc:
            self._log_file.close()
            raise InfraError(f"cannot start {argv[0]!r}: {exc}. Run `make test` (it installs it).") from exc

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace: float = 10.0, sig: int = signal.SIGTERM) -> None:
        """Signal our own process group, wait `grace` seconds, then SIGKILL it."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
        self._log_file.close()

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
