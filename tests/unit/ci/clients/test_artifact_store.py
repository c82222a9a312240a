"""ci/clients/artifact_store.py: a direct S3 store's failures, as boto3 raises them or MLflow wraps them, become
errors naming the store and what to set, without botocore's text; a proxied store's are left alone."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, PERMISSION_DENIED, UNAUTHENTICATED

from ci.clients.artifact_store import describe, store_errors, translate
from ci.errors import CheckFailed, ConfigError

URI = "s3://models-bucket/team/3/models/m-1/artifacts"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture(autouse=True)
def _endpoint(monkeypatch):
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://minio.internal:9000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)


def client_error(code: str, message: str = f"the key {SECRET} is wrong") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "ListObjectsV2")


def wrapped_by_mlflow(error: Exception) -> MlflowException:
    """As MLflow's S3 repository raises it: a new exception while handling botocore's."""
    try:
        raise error
    except Exception:  # noqa: BLE001
        try:
            raise MlflowException(f"Failed to list artifacts in {URI}: {error}")
        except MlflowException as wrapped:
            return wrapped


@pytest.mark.parametrize("code", ["SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied", "403"])
@pytest.mark.parametrize("wrap", [lambda e: e, wrapped_by_mlflow], ids=["raw", "wrapped"])
def test_refused_keys_are_a_config_error_naming_the_store_and_the_variables(code, wrap):
    error = translate(URI, wrap(client_error(code)))
    assert isinstance(error, ConfigError)
    message = str(error)
    assert message.startswith(f"S3 artifact store s3://models-bucket at http://minio.internal:9000 refused the "
                              f"credentials ({code})")
    assert "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in message and SECRET not in message


def test_a_failed_download_is_read_from_mlflows_text():
    failures = MlflowException(f"The following failures occurred while downloading one or more artifacts from "
                               f"{URI}:\n##### File MLmodel #####\nAn error occurred (403) when calling the "
                               "HeadObject operation: Forbidden")
    assert "refused the credentials (403)" in str(translate(URI, failures))


@pytest.mark.parametrize(("exc", "kind", "words"), [
    (NoCredentialsError(), ConfigError, "no S3 credentials"),
    (EndpointConnectionError(endpoint_url="http://minio.internal:9000/x"), CheckFailed, "is not answering"),
    (client_error("NoSuchBucket"), CheckFailed, "the bucket does not exist"),
    (ModuleNotFoundError("No module named 'boto3'", name="boto3"), ConfigError, "needs boto3"),
])
def test_other_store_failures(exc, kind, words):
    error = translate(URI, exc)
    assert isinstance(error, kind) and words in str(error)


def test_unknown_failures_are_left_alone():
    assert translate(URI, ValueError("something else")) is None
    assert translate(URI, client_error("SlowDown")) is None
    with pytest.raises(ConfigError, match="refused the credentials"), store_errors(URI):
        raise wrapped_by_mlflow(client_error("SignatureDoesNotMatch"))


PROXIED = "mlflow-artifacts:/3/models/m-1/artifacts"


@pytest.mark.parametrize(("code", "status"), [(UNAUTHENTICATED, 401), (PERMISSION_DENIED, 403)])
def test_a_proxied_store_refusing_the_servers_keys_points_at_the_server(code, status):
    """What the job's client raises when the server's own S3 store refused it (the server's answer)."""
    answer = MlflowException(f"Failed to list artifacts in {URI}: The request signature we calculated does not "
                             "match the signature you provided.", error_code=code)
    assert answer.get_http_status_code() == status
    with pytest.raises(ConfigError) as raised, store_errors(PROXIED):
        raise answer
    message = str(raised.value)
    assert "could not read its own artifact store s3://models-bucket" in message
    assert "where the MLflow server runs" in message and "this job needs none" in message


def test_other_proxied_failures_are_left_alone():
    """The job's own tracking credentials refused (no s3:// in the answer), or the server failing."""
    for answer in (MlflowException("Unauthorized", error_code=UNAUTHENTICATED),
                   MlflowException(f"Failed to list artifacts in {URI}: timeout", error_code=INTERNAL_ERROR)):
        with pytest.raises(MlflowException), store_errors(PROXIED):
            raise answer


def test_describe_without_an_endpoint_says_aws_and_hides_userinfo(monkeypatch):
    monkeypatch.delenv("MLFLOW_S3_ENDPOINT_URL")
    assert describe(URI) == "S3 artifact store s3://models-bucket at AWS S3 (MLFLOW_S3_ENDPOINT_URL is unset)"
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://user:pw@minio:9000")
    assert describe(URI).endswith("at http://***@minio:9000")
