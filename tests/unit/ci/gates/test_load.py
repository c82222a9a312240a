"""ci/gates/load.py: the failed-load classifier and the numeric comparison of answers."""
from __future__ import annotations

import pytest

from ci.capacity.pod_shape import PodShape
from ci.errors import CheckFailed
from ci.gates.answers import answer_precision, max_difference, summarise, unstable_paths
from ci.gates.load import LoadGateResult, memory_check, ready_timeout_for
from ci.gates.load_failures import classify
from service.precision import FLOAT32, FLOAT64

TRACEBACK = "Traceback (most recent call last):\n  File \"/opt/service/loading.py\", line 3\n"


@pytest.mark.parametrize(("log", "starts", "contains"), [
    pytest.param(TRACEBACK + "ModuleNotFoundError: No module named 'features.encode'\n", "code-paths: ",
                 ["module `features.encode`", 'code_paths=["path/to/features.encode.py"]'], id="code-paths"),
    pytest.param(TRACEBACK + '  File "/usr/local/lib/python3.11/dist-packages/mlflow/sklearn/__init__.py", line 564, '
                 "in _load_model_from_local_file\n    import skops.io\n    ^^^^^^^^^^^^^^^\n"
                 "ModuleNotFoundError: No module named 'skops'\n", "missing-package: ",
                 ["package `mlflow` imports `skops`", "pip_requirements"], id="missing-package"),
    pytest.param(TRACEBACK + '  File "/usr/local/lib/python3.11/dist-packages/mlflow/pyfunc/model.py", line 560, '
                 "in _load_context_model_and_signature\n    python_model = cloudpickle.load(f)\n"
                 "ModuleNotFoundError: No module named 'load_failures'\n", "code-paths: ",
                 ["module `load_failures`"], id="unpickled-by-a-library-is-code-paths"),
    pytest.param(TRACEBACK + "  in load_context\n    self.x = context.artifacts['vocab']\nKeyError: 'vocab'\n",
                 "artifact-key: ", ["artifact `vocab`", 'artifacts={"vocab": <path>}'], id="artifact-key"),
    pytest.param(TRACEBACK + "TypeError: code() argument 13 must be str, not int\n", "python-version: ",
                 ["(model: unknown; image: unknown)"], id="python-version-without-versions"),
    pytest.param(TRACEBACK + "ValueError: unsupported pickle protocol: 5\n", "python-version: ", [],
                 id="pickle-protocol"),
    pytest.param(TRACEBACK + "PermissionError: [Errno 13] Permission denied: '/opt/model/cache'\n",
                 "read-only-fs: ", ["(PermissionError: [Errno 13] Permission denied: '/opt/model/cache')"],
                 id="permission"),
    pytest.param(TRACEBACK + "OSError: [Errno 30] Read-only file system: '/root/.cache'\n", "read-only-fs: ",
                 ["([Errno 30] Read-only file system: '/root/.cache')"], id="read-only"),
    pytest.param("urllib3: Max retries exceeded with url: /api/2.0/mlflow/runs/get (Caused by ...)\n",
                 "tracking-server: ", ["(Max retries exceeded with url: /api/2.0/mlflow/runs/get (Caused by ...))"],
                 id="tracking-server"),
    pytest.param(TRACEBACK + "RuntimeError: weights corrupt\n",
                 "the model did not load for an unrecognised reason", [], id="unrecognised"),
    pytest.param("", "the model did not load for an unrecognised reason", [], id="empty-log"),
    pytest.param(TRACEBACK + "OSError: libgomp.so.1: cannot open shared object file: No such file or directory\n",
                 "shared-library: ", ["`libgomp.so.1`", 'IMAGE_SYSTEM_PACKAGES="libgomp1"'], id="libgomp"),
    pytest.param("ImportError: libGL.so.1: cannot open shared object file: No such file or directory\n",
                 "shared-library: ", ["`libGL.so.1`", "Debian package libgl1"], id="libgl"),
    pytest.param("ImportError: libglib-2.0.so.0: cannot open shared object file\n", "shared-library: ",
                 ['IMAGE_SYSTEM_PACKAGES="libglib2.0-0"'], id="libglib"),
    pytest.param("OSError: libfoo.so: cannot open shared object file\n", "shared-library: ",
                 ["`apt-file search libfoo.so`", "--system-packages"], id="unknown-library"),
])
def test_classify(log, starts, contains):
    cause = classify(log)
    assert cause.startswith(starts)
    for text in contains:
        assert text in cause
    assert ("\nFix: " in cause) is (starts != "the model did not load for an unrecognised reason")


def test_classify_takes_the_first_matching_class():
    log = "ModuleNotFoundError: No module named 'x'\nConnection refused\n"
    assert classify(log).startswith("code-paths: ")


@pytest.mark.parametrize(("log", "asked"), [
    pytest.param("AttributeError: Can't get attribute '_make_function' on cloudpickle", True, id="version-mismatch"),
    pytest.param("ModuleNotFoundError: No module named 'x'", False, id="other-class"),
])
def test_classify_asks_for_runtime_versions_only_on_a_version_mismatch(log, asked):
    calls = []

    def versions():
        calls.append(1)
        return {"model_runtime": "Python 3.9.18, cloudpickle 2.2.1",
                "image_runtime": "Python 3.11.9, cloudpickle 3.1.3"}

    cause = classify(log, versions)
    assert bool(calls) is asked
    if asked:
        assert "(model: Python 3.9.18, cloudpickle 2.2.1; image: Python 3.11.9, cloudpickle 3.1.3)" in cause


@pytest.mark.parametrize(("got", "want", "difference"), [
    pytest.param([0.5, 1.0], [0.5, 1.0], 0.0, id="equal"),
    pytest.param([1.0 + 1e-12], [1.0], 1e-12, id="within-tolerance"),
    pytest.param({"predictions": [{"score": 2, "label": "a"}]}, {"predictions": [{"score": 2.0, "label": "a"}]}, 0.0,
                 id="nested-int-vs-float"),
    pytest.param([], [], 0.0, id="empty-list"),
    pytest.param({}, {}, 0.0, id="empty-dict"),
    pytest.param(None, None, 0.0, id="null"),
    pytest.param(["x", True], ["x", True], 0.0, id="string-and-bool"),
])
def test_max_difference(got, want, difference):
    assert max_difference(got, want) == pytest.approx(difference, abs=1e-15)


@pytest.mark.parametrize(("got", "want", "where"), [
    pytest.param([0.5, 0.7], [0.5, 0.6], "predictions[1]: got 0.7, expected 0.6", id="value"),
    pytest.param([1.0 + 1e-6], [1.0], "predictions[0]", id="beyond-tolerance"),
    pytest.param([1, 2], [1, 2, 3], "predictions: got [1, 2], expected [1, 2, 3]", id="length"),
    pytest.param({"a": 1}, {"b": 1}, "predictions: got {\"a\": 1}", id="keys"),
    pytest.param({"predictions": [{"p": "b"}]}, {"predictions": [{"p": "a"}]},
                 'predictions.predictions[0].p: got "b", expected "a"', id="path-in-nested"),
    pytest.param("1", 1, 'predictions: got "1", expected 1', id="string-vs-number"),
    pytest.param(None, 0.0, "predictions: got null, expected 0.0", id="null-vs-number"),
])
def test_max_difference_raises_at_the_first_mismatch(got, want, where):
    with pytest.raises(CheckFailed, match="the image's answer differs from the model's own at ") as raised:
        max_difference(got, want)
    assert where in str(raised.value)


@pytest.mark.parametrize(("got", "want"), [pytest.param(1, True, id="int-for-bool"),
                                           pytest.param(True, 1, id="bool-for-int"),
                                           pytest.param(False, 0.0, id="bool-for-float")])
def test_max_difference_tells_bools_from_numbers(got, want):
    with pytest.raises(CheckFailed):
        max_difference(got, want)


def test_float32_answers_are_compared_at_float32_precision():
    """The ONNX model's case: the same float32 value printed two ways (orjson's shortest float32 form,
    MLflow's widened double) is one answer; a float64 model keeps its 16 digits."""
    want = {"probabilities": [[0.8175883293151855, 0.18241167068481445]], "label": [0]}
    assert answer_precision(want) == FLOAT32
    got = {"probabilities": [[0.8175883, 0.18241167]], "label": [0]}
    assert max_difference(got, want, precision=answer_precision(want)) < 1e-7
    with pytest.raises(CheckFailed, match=r"probabilities\[0\]\[0\].*compared at float64 precision"):
        max_difference(got, want)
    with pytest.raises(CheckFailed, match=r"compared at float32 precision \(relative 1e-06\)"):
        max_difference({"probabilities": [[0.81759, 0.18241167]], "label": [0]}, want, precision=FLOAT32)


@pytest.mark.parametrize(("answer", "precision"), [
    pytest.param([0.8175883293151855, 0.5], FLOAT32, id="float32-values"),
    pytest.param([0.8175883, 0.5], FLOAT64, id="shortest-float32-form-is-not-a-float32-value"),
    pytest.param([0.1, 0.5], FLOAT64, id="float64"),
    pytest.param([1.0, 2.0, 3], FLOAT64, id="whole-numbers"),
    pytest.param([0.10000000149011612, 0.1], FLOAT64, id="one-float64-value"),
    pytest.param({"p": [float("nan"), 0.30000001192092896], "s": "x"}, FLOAT32, id="nan-and-strings-left-out"),
    pytest.param([1e-50, 0.5], FLOAT64, id="below-float32-range"),
    pytest.param([], FLOAT64, id="empty"),
])
def test_answer_precision(answer, precision):
    assert answer_precision(answer) == precision


def test_max_difference_names_the_caller_path():
    with pytest.raises(CheckFailed, match=r"at concurrent\[0\]: got 2"):
        max_difference([2], [1], "concurrent")


TIMESTAMPED = {"predictions": [{"score": 0.5, "risk_level": "low", "timestamp": "2026-12-02T05:00:00.1"},
                               {"score": 0.9, "risk_level": "high", "timestamp": "2026-12-02T05:00:00.1"}]}


def _later(payload: dict, stamp: str = "2026-12-02T05:00:01.3") -> dict:
    return {"predictions": [{**row, "timestamp": stamp} for row in payload["predictions"]]}


def test_unstable_paths_are_the_fields_that_change_between_two_calls():
    paths = unstable_paths(TIMESTAMPED, _later(TIMESTAMPED))
    assert paths == ["predictions.predictions[0].timestamp", "predictions.predictions[1].timestamp"]
    assert summarise(paths) == ["predictions.predictions[*].timestamp"]
    assert unstable_paths(TIMESTAMPED, TIMESTAMPED) == []
    assert unstable_paths([1.0, [1, 2]], [1.0, [1, 2, 3]]) == ["predictions[1]"]  # shape change: whole node


def test_unstable_paths_are_left_out_and_everything_else_must_match():
    served = _later(TIMESTAMPED, "2026-12-02T05:00:07.9")
    ignore = set(unstable_paths(TIMESTAMPED, _later(TIMESTAMPED)))
    assert max_difference(served, TIMESTAMPED, ignore=ignore) == 0.0
    served["predictions"][1]["risk_level"] = "low"
    with pytest.raises(CheckFailed, match=r"predictions\.predictions\[1\]\.risk_level"):
        max_difference(served, TIMESTAMPED, ignore=ignore)


def _measured(memory_bytes, memory_limit):
    return LoadGateResult("img", 3.0, "1", 3, 0.0, memory_bytes=memory_bytes, memory_limit=memory_limit)


def test_the_working_set_is_held_to_nine_tenths_of_the_pods_limit():
    fits = memory_check(_measured(700 * 2**20, 1024 * 2**20))
    assert fits.passed and fits.detail == ("working set 700 MiB after a prediction, 68% of the pod's memory "
                                           "limit of 1,024 MiB")
    tight = memory_check(_measured(950 * 2**20, 1024 * 2**20))
    assert not tight.passed and "93% of the pod's memory limit of 1,024 MiB: over 90%" in tight.detail
    assert "raise resources.limits.memory" in tight.detail
    assert memory_check(_measured(950 * 2**20, None)) is None  # no limit: nothing to hold it to


def test_the_ready_timeout_is_the_startup_probes_unless_given():
    pod = PodShape(0.5, 1.0, 2**30, None, startup_seconds=125.0)
    assert ready_timeout_for(pod) == 125.0
    assert ready_timeout_for(pod, 30.0) == 30.0
    assert ready_timeout_for(PodShape(0.5, 1.0, 2**30, None)) == ready_timeout_for(None) == 120.0
