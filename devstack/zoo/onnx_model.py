"""Zoo trainer: an ONNX graph logged with `mlflow.onnx`, served by onnxruntime, float32 in and out.

A logistic regression fitted with scikit-learn, written out as an ONNX graph by hand (`onnx.helper`:
scale, MatMul, Add, Sigmoid, and both classes' probabilities concatenated), as an exporter writes one.
Its output is a dict of float32 tensors (`probabilities`, shape (n, 2)): the answers a client compares
digit by digit with `mlflow models serve`.
"""
from __future__ import annotations

from devstack.zoo.common import log_kwargs, make_data, parse_args, pins, train_and_register


def graph(mean, scale, coef, intercept):
    """The fitted regression as an ONNX model: features float32 (n, 4) -> probabilities float32 (n, 2)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    constants = {"mean": mean, "scale": scale, "coef": coef.reshape(-1, 1), "intercept": intercept.reshape(1)}
    initializers = [numpy_helper.from_array(np.asarray(value, dtype=np.float32), name)
                    for name, value in constants.items()]
    nodes = [helper.make_node("Sub", ["features", "mean"], ["centred"]),
             helper.make_node("Div", ["centred", "scale"], ["scaled"]),
             helper.make_node("MatMul", ["scaled", "coef"], ["product"]),
             helper.make_node("Add", ["product", "intercept"], ["logit"]),
             helper.make_node("Sigmoid", ["logit"], ["positive"]),
             helper.make_node("Neg", ["logit"], ["negated"]),
             helper.make_node("Sigmoid", ["negated"], ["negative"]),
             helper.make_node("Concat", ["negative", "positive"], ["probabilities"], axis=1)]
    inputs = [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, len(mean)])]
    outputs = [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])]
    model = helper.make_model(helper.make_graph(nodes, "loan-risk", inputs, outputs, initializers),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by every onnxruntime of the last years
    onnx.checker.check_model(model)
    return model


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(__doc__, "zoo-onnx", argv)
    import mlflow.onnx
    import numpy as np
    import onnxruntime
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    frame, labels = make_data(args.seed)
    x = frame.to_numpy(dtype=np.float32)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    fitted = LogisticRegression().fit((x - mean) / scale, labels)
    model = graph(mean, scale, fitted.coef_[0], fitted.intercept_)
    example = x[:3]
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    output = {"probabilities": session.run(None, {"features": example})[0]}

    def log():
        return mlflow.onnx.log_model(model, **log_kwargs(
            mlflow.onnx.log_model, name="model", signature=infer_signature(example, output),
            input_example=example, pip_requirements=pins("mlflow", "onnx", "onnxruntime", "numpy")))

    return train_and_register(args, log)


if __name__ == "__main__":
    main()
