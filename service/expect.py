"""`python -m service.expect`: the model's own answer to its serving input example, computed in-process in
this image (plain `mlflow.pyfunc.load_model(...).predict`, no HTTP and none of the service's serving code), for
the load gate to compare the served answer with.

Prints one JSON line on stdout: {"body": <serving_input_example.json>, "rows": N, "answers": [A1, A2],
"requirements": [...]}: two predictions one second apart, so the gate can tell the fields that change
from call to call (a timestamp, a random id) from the model's answer, and each of the model's
requirements with its installed size, whether loading and predicting imported it and, for the large
ones it imported, whether the model loads and answers the same without it (`--without NAME`, a fresh
process where NAME's modules cannot be imported: scikit-learn's array API support imports torch
wherever torch is installed, which is no need of the model). Anything the model prints goes to
stderr. Exit 3 when the model has no input example (before MLflow 2.15 the request body is built from
it, as the service's warm-up does). Runs on every Python and MLflow the images support.
"""
from __future__ import annotations

import contextlib
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

NO_EXAMPLE_EXIT = 3
PAUSE_S = 1.0  # long enough for a per-second timestamp to change between the two calls
TRIAL_FROM = 50_000_000  # bytes: an imported requirement this large is tried without (the largest TRIALS)
TRIALS = 3
ALWAYS_NEEDED = ("mlflow", "mlflow-skinny")


def _answer(model, example) -> object:
    """What `mlflow.pyfunc.scoring_server.predictions_to_json` writes, through the compat module (that
    scoring server imports flask before MLflow 2.21)."""
    from service.mlflow_compat import NumpyEncoder, get_jsonable_obj

    return json.loads(json.dumps({"predictions": get_jsonable_obj(model.predict(example), pandas_orient="records")},
                                 cls=NumpyEncoder))


def _top_level_modules(dist) -> set:
    """The importable names a distribution installs (its packages and modules, from its RECORD)."""
    names = set()
    for file in dist.files or ():
        top = file.parts[0] if file.parts else ""
        if not top or top.endswith((".dist-info", ".egg-info", ".data")) or top in ("..", "__pycache__"):
            continue
        names.add(top[:-3] if top.endswith(".py") else top)
    return names


class _Unimportable:
    """A meta path finder for which `modules` (top-level names) do not exist, as if not installed."""

    def __init__(self, modules: set) -> None:
        self.modules = modules

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.modules:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def _answers_without(name: str, answers: list) -> bool:
    """Whether the model, loaded in a fresh process where distribution `name` cannot be imported, answers
    its example as it did here (fields that changed between the two answers here left out)."""
    from service.precision import differences

    done = subprocess.run([sys.executable, "-m", "service.expect", "--without", name], capture_output=True,
                          text=True, timeout=600, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        return False
    trial = json.loads(done.stdout.splitlines()[-1])["answers"][0]
    return set(differences(trial, answers[0])) <= set(differences(answers[1], answers[0]))


def tried_without(requirements: list, answers: list) -> list:
    """`requirements` with `needed` set on the largest imported ones (not MLflow): False where the
    model loads and answers the same without it."""
    candidates = sorted((r for r in requirements if r["imported"] and r["bytes"] >= TRIAL_FROM
                         and r["name"].lower() not in ALWAYS_NEEDED), key=lambda r: -r["bytes"])[:TRIALS]
    for requirement in candidates:
        requirement["needed"] = not _answers_without(requirement["name"], answers)
    return requirements


def requirement_use(model_dir: str) -> list:
    """Each of the model's requirements as installed in this image, its size, and whether loading and
    predicting imported it (call after both): what a team's notebook environment added, the model never
    uses ("torch 2.13.0: 780 MB, not imported by this model")."""
    import importlib.metadata as metadata
    import re

    path = Path(model_dir, "requirements.txt")
    lines = path.read_text().splitlines() if path.is_file() else []
    names = [re.split(r"[\s<>=!~;\[@]", line.strip(), maxsplit=1)[0] for line in lines]
    used = []
    for name in dict.fromkeys(n for n in names if n and not n.startswith(("-", "#"))):
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        size = sum(path.stat().st_size for path in (Path(f.locate()) for f in dist.files or ()) if path.is_file())
        imported = any(module in sys.modules for module in _top_level_modules(dist))
        used.append({"name": dist.metadata["Name"], "version": dist.version, "bytes": size, "imported": imported})
    return used


def main(argv: list) -> int:
    model_dir = os.environ.get("SERVICE_MODEL_URI", "/opt/model")
    without = argv[1] if argv[:1] == ["--without"] else None
    answers_only = argv[:1] == ["--answers-only"]  # no requirement report (and none of its trials)
    with contextlib.redirect_stdout(sys.stderr):  # only the JSON line goes to stdout
        if without is not None:
            import importlib.metadata

            sys.meta_path.insert(0, _Unimportable(_top_level_modules(importlib.metadata.distribution(without))))
        import mlflow.pyfunc
        from mlflow.models import Model

        from service.mlflow_compat import load_serving_input_example

        metadata = Model.load(model_dir)
        text = load_serving_input_example(metadata, model_dir)  # built from the input example before 2.15
        if not text:
            print("the model has no serving input example: log it with `input_example=`", file=sys.stderr)
            return NO_EXAMPLE_EXIT
        example = metadata.load_input_example(model_dir)
        model = mlflow.pyfunc.load_model(model_dir)
        first = _answer(model, example)
        if without is not None:
            print(json.dumps({"answers": [first]}), file=sys.__stdout__)
            return 0
        time.sleep(PAUSE_S)
        second = _answer(model, example)
        requirements = [] if answers_only else requirement_use(model_dir)
        del model  # the trials load it again, each in its own process
        gc.collect()
        requirements = tried_without(requirements, [first, second])
    rows = len(example) if hasattr(example, "__len__") else 1
    print(json.dumps({"body": text, "rows": rows, "answers": [first, second], "requirements": requirements}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
