"""The model zoo's trainers: one small script per model, each run inside its own model environment.

    $ENV/bin/python -m devstack.zoo.<trainer> --tracking-uri URL --name NAME [--seed N]

Each trains on generated data (no downloads), logs the model the way its users do (signature, input
example, pinned `pip_requirements` of the env it runs in), registers a new version and prints one
`ZOO-RESULT {json}` line. They run on MLflow 2.10 under Python 3.9 as well as on the newest MLflow, so
this package imports nothing beyond the standard library; devstack/model_zoo.py says which trainer
runs in which environment (devstack/model_envs.py).
"""
