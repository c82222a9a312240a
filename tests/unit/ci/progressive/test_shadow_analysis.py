"""ci/progressive/shadow_analysis.py on what the real service's shadow counters expose (service.shadow)."""
from __future__ import annotations

import orjson
import pytest

from ci.progressive import shadow_analysis as sa
from ci.progressive.shadow_analysis import ShadowThresholds
from service.metrics import Metrics
from service.settings import Settings
from service.shadow import Shadow


def exposed(pairs: list[tuple[list, list]], outcomes: dict[str, int] | None = None) -> str:
    """The /metrics text of a stable pod that compared these (stable, candidate) predictions."""
    metrics = Metrics()
    shadow = Shadow(Settings(shadow_url="http://candidate"), metrics)
    for stable, candidate in pairs:
        shadow._record(orjson.dumps({"predictions": stable}), orjson.dumps({"predictions": candidate}))
    for outcome, n in (outcomes or {}).items():
        for _ in range(n):
            shadow._count(outcome)
    return metrics.exposition().decode()


def rows(n: int, changed_every: int = 0, moved: float = 0.0) -> list[tuple[list, list]]:
    """n one-row requests answered {label, score}; every `changed_every`-th row's class flipped, every
    score moved by `moved` (relative)."""
    pairs = []
    for i in range(n):
        label, score = i % 2, 0.25 + (i % 10) / 20
        flipped = changed_every and i % changed_every == 0
        pairs.append(([{"label": label, "score": score}],
                      [{"label": 1 - label if flipped else label, "score": score * (1 + moved)}]))
    return pairs


def judged(text: str, **limits) -> sa.ShadowAnalysis:
    return sa.analyse(sa.parse(text), ShadowThresholds(**limits))


def test_parse_reads_the_real_services_counters() -> None:
    scrape = sa.parse(exposed(rows(10, changed_every=5), {"dropped": 2}))
    assert scrape.copies == {"compared": 10, "dropped": 2}
    assert scrape.rows == 10 and scrape.changed == {"label": 2, "score": 0, sa.ANY: 2}
    assert set(scrape.differences) == {"absolute", "relative"} and scrape.differences["relative"]["score"][0.0] == 10


def test_a_candidate_that_answers_the_same_passes() -> None:
    analysis = judged(exposed(rows(300)))
    assert analysis.verdict == "pass", analysis.checks
    assert analysis.figures["outputs"]["label"]["kind"] == "class"
    assert analysis.figures["outputs"]["score"]["kind"] == "numeric"
    assert analysis.figures["outputs"]["score"]["relative"]["p99"] == 0.0


def test_changed_classes_past_the_limit_fail_with_the_share() -> None:
    analysis = judged(exposed(rows(300, changed_every=20)))  # 15 of 300: 5%
    assert analysis.verdict == "fail"
    assert analysis.failing.name == "changed[label]"
    assert "15 of 300 rows changed class (5.00%; limit <= 1.00%)" in analysis.failing.detail
    assert judged(exposed(rows(300, changed_every=20)), max_changed_share=0.06).verdict == "pass"


def test_numbers_moved_past_the_limit_fail_on_their_p99() -> None:
    analysis = judged(exposed(rows(300, moved=0.1)))
    assert analysis.verdict == "fail" and analysis.failing.name == "difference[score]", analysis.checks
    assert 0.05 < analysis.figures["outputs"]["score"]["relative"]["p99"] <= 0.2
    assert judged(exposed(rows(300, moved=0.01))).verdict == "pass"


def test_unanswered_copies_fail_and_dropped_ones_do_not_count() -> None:
    assert judged(exposed(rows(300), {"failed": 5, "refused": 1})).failing.name == "failed_copies"
    assert judged(exposed(rows(300), {"dropped": 500})).verdict == "pass"


def test_too_few_rows_is_inconclusive() -> None:
    analysis = judged(exposed(rows(50)))
    assert analysis.verdict == "inconclusive" and "50 (need 200" in analysis.failing.detail


def test_delta_and_total_over_pods_and_a_restart() -> None:
    before, after = sa.parse(exposed(rows(10))), sa.parse(exposed(rows(30, changed_every=10)))
    step = sa.delta(before, after)
    assert step.rows == 20 and step.changed[sa.ANY] == 3 and step.copies["compared"] == 20
    restarted = sa.delta(after, before)
    assert restarted.rows == 10  # a counter went down: the pod restarted, its figures are the delta
    summed = sa.total([step, restarted])
    assert summed.rows == 30 and summed.differences["relative"]["score"][0.0] == 30


@pytest.mark.parametrize("answers", [[0.5, 0.25], {"probabilities": [[0.5, 0.5]], "label": [1]}])
def test_every_answer_shape_is_judged(answers) -> None:
    stable = answers
    analysis = judged(exposed([(stable, stable)] * 200), min_rows=100)
    assert analysis.verdict == "pass", analysis.checks


def test_reports_carry_the_verdict_the_figures_and_a_histogram(tmp_path) -> None:
    import json
    import xml.etree.ElementTree as ET

    from ci.progressive import shadow_report

    analysis = judged(exposed(rows(300, changed_every=20, moved=0.02)))
    paths = shadow_report.write(tmp_path, analysis, 12.5, deployment="credit-risk", candidate="v2")
    assert [p.name for p in paths] == ["shadow.json", "shadow-junit.xml", "shadow.html"]
    summary = json.loads(paths[0].read_text())
    assert summary["verdict"] == "fail" and summary["figures"]["outputs"]["label"]["changed"] == 15
    cases = ET.parse(paths[1]).iter("testcase")  # noqa: S314 - written just above
    failures = [case.get("name") for case in cases if case.find("failure") is not None]
    assert failures == ["changed[label]"]
    page = paths[2].read_text()
    assert "<svg" in page and "15 (5.00%)" in page and "credit-risk" in page
    assert page.count("<rect") >= 1
