"""Run a step of the model in a forked child before the Gunicorn master forks its workers.

Why: a library that starts a native thread pool in the master (OpenMP in LightGBM, XGBoost and
scikit-learn builds, a BLAS) leaves every forked worker with the pool's locks but not its threads, and
the worker's next parallel prediction deadlocks (GNU libgomp is not fork-safe). OMP_NUM_THREADS=1 does
not prevent it: LightGBM passes the thread count its model was trained with. So what the master would
run before the fork (the priming prediction, the start-up batching proof) runs in a throw-away child
first, which says whether it stayed single-threaded.
"""
from __future__ import annotations

import json
import os
import select
import signal
import time
from collections.abc import Callable
from typing import Any


def native_threads() -> int:
    """Threads of this process, native ones included (Linux); 1 where that cannot be read."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


def in_child(step: Callable[[], Any], timeout: float = 120.0) -> tuple[Any, bool]:
    """(`step`'s JSON-able result in a forked child, or None when it raised, hung or died; whether the
    child was still single-threaded afterwards). Never raises for what the step does."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        code = 1
        try:
            answer = json.dumps({"result": step(), "threads": native_threads()})
            os.write(write_end, answer.encode())
            code = 0
        except BaseException:  # noqa: BLE001, S110 - the parent reads "no result"
            pass
        finally:
            os._exit(code)
    os.close(write_end)
    try:
        data = _read_all(read_end, time.monotonic() + timeout)
    finally:
        os.close(read_end)
        _reap(pid)
    try:
        answer = json.loads(data)
    except ValueError:
        return None, False
    return answer["result"], answer["threads"] == 1


def _read_all(fd: int, deadline: float) -> bytes:
    chunks = []
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
    return b""  # hung: no result


def _reap(pid: int, grace: float = 2.0) -> None:
    """Collect the child; kill it when it has not exited within `grace` (it hung)."""
    deadline = time.monotonic() + grace
    while not os.waitpid(pid, os.WNOHANG)[0]:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return
        time.sleep(0.01)
