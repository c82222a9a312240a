"""The MLflow harness is real: a version registered through the server resolves by alias and stage."""
import mlflow.pyfunc
import pandas as pd
from mlflow.tracking import MlflowClient

from examples.credit_risk.data import input_example
from examples.credit_risk.train import train_and_register


def test_registered_version_resolves_by_alias_and_by_stage(mlflow_server):
    name = f"harness-{mlflow_server.backend_uri.split(':')[0]}"
    version = train_and_register(mlflow_server.url, "pyfunc", name=name)
    client = MlflowClient(mlflow_server.url)

    assert client.get_model_version_by_alias(name, "production").version == version.version
    latest = client.get_latest_versions(name, stages=["Production"])
    assert [v.version for v in latest] == [version.version]

    mlflow.set_tracking_uri(mlflow_server.url)
    by_alias = mlflow.pyfunc.load_model(f"models:/{name}@production")
    by_stage = mlflow.pyfunc.load_model(f"models:/{name}/Production")
    example = input_example()
    pd.testing.assert_frame_equal(by_alias.predict(example), by_stage.predict(example))
    assert set(by_alias.predict(example)["risk_level"]) <= {"low", "medium", "high"}


def test_postgres_backend_is_really_postgres(mlflow_postgres, postgres):
    assert mlflow_postgres.backend_uri.startswith("postgresql")
    assert str(postgres.port) in mlflow_postgres.backend_uri


def test_sklearn_flavor_logs_with_skops_and_predicts(credit_risk_versions, mlflow_sqlite):
    version = credit_risk_versions["sklearn"]
    mlflow.set_tracking_uri(mlflow_sqlite.url)
    model = mlflow.pyfunc.load_model(f"models:/{version.name}@production")
    assert len(model.predict(input_example())) == 3
    assert "skops" in "".join(model.metadata.get_model_info().flavors.keys()) or \
        model.metadata.flavors["sklearn"].get("serialization_format") == "skops"
