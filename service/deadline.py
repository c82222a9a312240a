"""Every request answered within the deadline (`SERVICE_REQUEST_TIMEOUT_SECONDS`): 503 with
`Retry-After` past it (DeadlineExceeded; the app's error handler counts and logs it with the request's id).

A request runs late in one of two ways:
- it waited: queued behind other predictions under overload. Checked when its prediction would
  start; it is not predicted (its client has likely given up) and is answered at once.
- its prediction runs past the deadline: a model that hangs or is far slower than usual. A timer
  signal (SIGALRM) armed around the model's call interrupts it between two Python bytecodes (a
  `sleep` too; a single long call into C is interrupted when it returns), and every request of the
  call is answered. The model may then hold half-updated state, so the worker is replaced
  (`on_interrupt`: it stops accepting and a fresh one forks from the master's clean copy).

The timer is armed only on the main thread, where Gunicorn's worker runs its event loop; elsewhere
(a test client's thread) only waiting is checked. Cost: two `setitimer` calls per model call.
"""
from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from service.errors import DeadlineExceeded

T = TypeVar("T")


class _Interrupted(BaseException):
    """Raised into the model's call by the timer: a BaseException, so the model's and the predictor's
    `except Exception` do not take it for the model's own error."""


class Deadline:
    def __init__(self, seconds: float, on_interrupt: Callable[[], None] = lambda: None) -> None:
        self.seconds = seconds
        self.on_interrupt = on_interrupt
        self._armed = False
        self._handler_installed = False

    def late(self, arrived: float | None) -> DeadlineExceeded | None:
        """DeadlineExceeded for a request that arrived (`time.perf_counter()`) longer ago than the
        deadline; None when it is on time."""
        if arrived is None:
            return None
        waited = time.perf_counter() - arrived
        return DeadlineExceeded(waited, self.seconds, "queued") if waited > self.seconds else None

    def call(self, arrived: float | None, predict: Callable[[], T]) -> T:
        """`predict()`, interrupted by DeadlineExceeded once the request that arrived first
        (`arrived`) reaches the deadline."""
        if arrived is None or self._armed or not self._can_arm():
            return predict()
        remaining = arrived + self.seconds - time.perf_counter()
        if remaining <= 0:
            raise DeadlineExceeded(time.perf_counter() - arrived, self.seconds, "queued")
        signal.setitimer(signal.ITIMER_REAL, remaining)
        self._armed = True
        try:
            return predict()
        except _Interrupted:
            self.on_interrupt()
            raise DeadlineExceeded(time.perf_counter() - arrived, self.seconds, "predicting") from None
        finally:
            self._armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)

    def _can_arm(self) -> bool:
        if threading.current_thread() is not threading.main_thread():
            return False
        if not self._handler_installed:
            signal.signal(signal.SIGALRM, self._alarm)
            self._handler_installed = True
        return True

    def _alarm(self, signum: int, frame: Any) -> None:
        if self._armed:  # a late alarm, after the call returned, is ignored
            self._armed = False
            raise _Interrupted
