"""service/fork_safety.py: what the Gunicorn master would run before forking runs in a forked child first,
which says whether it started native threads (the real case, LightGBM's OpenMP pool, runs in
tests/ci/test_zoo_e2e.py)."""
from __future__ import annotations

import threading
import time

import pytest

from service import fork_safety


def start_a_thread() -> str:
    threading.Thread(target=time.sleep, args=(5,), daemon=True).start()
    return "started"


def fail() -> None:
    raise RuntimeError("the model failed")


@pytest.mark.parametrize(("step", "expected"), [
    pytest.param(lambda: [True, "3 rows"], ([True, "3 rows"], True), id="single-threaded"),
    pytest.param(start_a_thread, ("started", False), id="started-a-thread"),
    pytest.param(fail, (None, False), id="raised"),
])
def test_in_child_returns_the_result_and_whether_the_child_stayed_single_threaded(step, expected) -> None:
    assert fork_safety.in_child(step, timeout=30) == expected


def test_a_step_that_hangs_is_killed_at_the_timeout() -> None:
    started = time.monotonic()
    assert fork_safety.in_child(lambda: time.sleep(60), timeout=1) == (None, False)
    assert time.monotonic() - started < 10


def test_the_master_is_not_primed_when_a_prediction_starts_threads(toy_models, caplog) -> None:
    from service.app import create_app
    from service.settings import Settings

    model = toy_models["frame"]
    calls = []
    original = model.pyfunc.predict

    def predict_starting_a_pool(*args, **kwargs):
        calls.append(1)
        start_a_thread()
        return original(*args, **kwargs)

    model.pyfunc.predict = predict_starting_a_pool
    try:
        app = create_app(Settings(model_uri="x", batching_enabled=False), model)
        app.state.readiness.prime()
    finally:
        model.pyfunc.predict = original
    assert calls == []  # the child predicted, the master did not
    assert "no priming prediction in the master" in caplog.text
