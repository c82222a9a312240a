"""Zoo trainer: a PyTorch `nn.Module` logged with `mlflow.pytorch` from a venv with torch's CPU build.

As a CPU-only training box logs it: its requirements pin `torch==2.13.0+cpu`, a build PyPI does not
publish (the image build needs PyTorch's CPU index, or a mirror of it). Standard modules only
(`nn.Sequential`, the scaling folded into the first layer), so the model loads wherever torch does;
float32 tensors in and out. `ZOO_TORCH_REQUIREMENT` (e.g. `torch==2.13.0`), when set, replaces the torch pin:
the same model as a team logs it that names PyPI's (CUDA) build (benchmarks/torch_image.py).
"""
from __future__ import annotations

import os

from devstack.zoo.common import log_kwargs, make_data, parse_args, pins, train_and_register


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(__doc__, "zoo-torch", argv)
    import mlflow.pytorch
    import numpy as np
    import torch
    from mlflow.models import infer_signature

    torch.manual_seed(args.seed)
    frame, labels = make_data(args.seed)
    x = frame.to_numpy(dtype=np.float32)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scaling = torch.nn.Linear(x.shape[1], x.shape[1])
    with torch.no_grad():
        scaling.weight.copy_(torch.diag(torch.from_numpy(1 / scale)))
        scaling.bias.copy_(torch.from_numpy(-mean / scale))
    scaling.requires_grad_(False)
    model = torch.nn.Sequential(scaling, torch.nn.Linear(x.shape[1], 8), torch.nn.Tanh(), torch.nn.Linear(8, 1),
                                torch.nn.Sigmoid())
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.05)
    inputs, targets = torch.from_numpy(x), torch.from_numpy(labels.astype(np.float32)).unsqueeze(1)
    for _ in range(80):
        optimizer.zero_grad()
        torch.nn.functional.binary_cross_entropy(model(inputs), targets).backward()
        optimizer.step()
    model.eval()
    example = x[:3]
    with torch.no_grad():
        output = model(torch.from_numpy(example)).numpy()

    requirements = pins("mlflow", "torch", "numpy", "cloudpickle")
    override = os.environ.get("ZOO_TORCH_REQUIREMENT")
    requirements = [override if override and line.startswith("torch==") else line for line in requirements]

    def log():
        return mlflow.pytorch.log_model(model, **log_kwargs(
            mlflow.pytorch.log_model, name="model", signature=infer_signature(example, output),
            input_example=example, pip_requirements=requirements))

    return train_and_register(args, log)


if __name__ == "__main__":
    main()
