"""Shadow traffic on real servers: a stable server (Gunicorn, two workers) copies its answered
requests to a candidate server and counts, row by row, what the candidate answers differently; a
candidate that is down, slow or answers no rows never touches a live answer."""
from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from devstack.model_servers import start_service
from devstack.procs import free_port, wait_until
from tests.service.toy_models import DictModel, ScoresModel
from tests.service.toy_models import save as save_toy_model

REQUESTS = 100


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """Start a server per (name, model, settings) on first use; all stopped at the end."""
    root = tmp_path_factory.mktemp("shadow")
    started = []

    def start(name: str, model, workers: int = 1, **settings):
        server = start_service(save_toy_model(model, root / name), root / f"{name}.log", workers=workers, **settings)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def predict(url: str, x: float, session=requests) -> requests.Response:
    return session.post(f"{url}/invocations", json={"dataframe_split": {"columns": ["x", "label"],
                                                                         "data": [[x, "a"]]}}, timeout=30)


def shadow_figures(url: str) -> dict[str, float]:
    text = requests.get(f"{url}/metrics", timeout=10).text
    return {name + labels: float(value) for name, labels, value in
            re.findall(r"^(service_shadow_\w+)(\{[^}]*\})? (\S+)$", text, re.MULTILINE)}


def send_all(url: str, values) -> list[requests.Response]:
    with requests.Session() as session:
        return [predict(url, x, session) for x in values]


def test_the_candidates_changed_rows_are_counted_per_output_and_the_live_answers_are_stables(servers):
    candidate = servers("candidate", ScoresModel(every=10, shift=0.05))
    stable = servers("stable", ScoresModel(), workers=2, shadow_url=candidate.url)
    answers = send_all(stable.url, range(REQUESTS))
    assert [a.status_code for a in answers] == [200] * REQUESTS
    assert [a.json()["predictions"][0]["label"] for a in answers] == [int(x > 5) for x in range(REQUESTS)]
    wait_until(lambda: shadow_figures(stable.url).get('service_shadow_requests_total{outcome="compared"}')
               == REQUESTS, 20, "every copy compared")
    figures = shadow_figures(stable.url)
    assert figures["service_shadow_rows_total"] == REQUESTS
    # x = 0, 10, ..., 90: the class flipped and the score moved by 0.05
    assert figures['service_shadow_rows_changed_total{output="*"}'] == 10
    assert figures['service_shadow_rows_changed_total{output="label"}'] == 10
    assert figures['service_shadow_rows_changed_total{output="score"}'] == 10
    absolute = 'service_shadow_difference_bucket{kind="absolute",le="%s",output="score"}'
    assert figures[absolute % "0.0"] == 90 and figures[absolute % "0.1"] == REQUESTS
    assert figures[absolute % "0.02"] == 90  # the 10 moved rows lie in (0.02, 0.1]: 0.05 give or take a bit
    # the candidate logs each copy under the live request's id
    ids = {a.headers["x-request-id"] for a in answers}
    logged = set(re.findall(r'"request_id":"([^"]+)"', candidate.process.log.read_text()))
    assert ids <= logged


def test_a_candidate_that_is_down_slow_or_rowless_never_touches_a_live_answer(servers):
    down = f"http://127.0.0.1:{free_port()}"
    slow = servers("slow", ScoresModel(delay=1.0))
    rowless = servers("rowless", DictModel())
    cases = {"failed": down, "dropped": slow.url, "mismatched": rowless.url}
    for outcome, url in cases.items():
        stable = servers(f"stable-{outcome}", ScoresModel(), shadow_url=url, shadow_max_in_flight=2)
        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda x: predict(stable.url, x), range(20)))  # noqa: B023
        assert [a.status_code for a in answers] == [200] * 20, outcome
        assert time.monotonic() - started < 3.0, outcome  # the slow candidate's 1 s is nobody's wait
        wait_until(lambda: copies(stable.url) == 20, 20, f"every copy counted ({outcome})")  # noqa: B023
        figures = shadow_figures(stable.url)
        assert figures[f'service_shadow_requests_total{{outcome="{outcome}"}}'] >= (10 if outcome == "dropped" else 1)
        assert figures.get("service_shadow_rows_total", 0) == figures.get(
            'service_shadow_requests_total{outcome="compared"}', 0), figures


def copies(url: str) -> float:
    """Copies counted, whatever their outcome."""
    return sum(value for key, value in shadow_figures(url).items() if key.startswith("service_shadow_requests_total"))
