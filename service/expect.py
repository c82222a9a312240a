"""`python -m service.expect`: the model's own answer to its serving input example, computed in-process in
this image (plain `mlflow.pyfunc.load_model(...).predict`, no HTTP and none of the service's serving code), for
the load gate to compare the served answer with.

Prints one JSON line on stdout: {"body": <serving_input_example.json>, "rows": N, "answers": [A1, A2]},
two predictions one second apart, so the gate can tell the fields that change from call to call (a
timestamp, a random id) from the model's answer. Anything the model prints goes to stderr. Exit 3 when
the model has no input example (before MLflow 2.15 the request body is built from it, as the service's
warm-up does). Runs on every Python and MLflow the images support.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import time

NO_EXAMPLE_EXIT = 3
PAUSE_S = 1.0  # long enough for a per-second timestamp to change between the two calls


def _answer(model, example) -> object:
    """What `mlflow.pyfunc.scoring_server.predictions_to_json` writes, through the compat module (that
    scoring server imports flask before MLflow 2.21)."""
    from service.mlflow_compat import NumpyEncoder, get_jsonable_obj

    return json.loads(json.dumps({"predictions": get_jsonable_obj(model.predict(example), pandas_orient="records")},
                                 cls=NumpyEncoder))


def main() -> int:
    model_dir = os.environ.get("SERVICE_MODEL_URI", "/opt/model")
    with contextlib.redirect_stdout(sys.stderr):  # only the JSON line goes to stdout
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
        time.sleep(PAUSE_S)
        second = _answer(model, example)
    rows = len(example) if hasattr(example, "__len__") else 1
    print(json.dumps({"body": text, "rows": rows, "answers": [first, second]}))
    return 0

if __name__ == "__main__":
    sys.exit(main())
