"""The end-to-end pipelines' stack: the session's MLflow, registry (with the pipeline image) and
cluster, wired together by a LocalStack per test module (its own namespaces if it asks)."""
import pytest

from devstack.stack import LocalStack


@pytest.fixture(scope="session")
def make_stack(tmp_path_factory, mlflow_sqlite, oci_registry, k8s_cluster, pipeline_image):
    """`make_stack(**LocalStack fields)`; `pipeline_image`: this project's pipeline-image job then
    finds its inputs' hash in the registry and only tags it."""
    made = []

    def make(**fields) -> LocalStack:
        made.append(LocalStack(tmp_path_factory.mktemp("stack"), mlflow=mlflow_sqlite, registry=oci_registry.registry,
                               tools=oci_registry.tools, cluster=k8s_cluster, **fields).start())
        return made[-1]

    yield make
    for stack in made:
        stack.stop()
