"""The artifact store behind a model version's files, and its failures as errors that say what to set.

Production MLflow keeps artifacts in S3 or MinIO in one of two ways. *Proxied* (`mlflow-artifacts:`
URIs, the server started with `--artifacts-destination s3://…`): the tracking server reads the bucket
with its own keys, the job needs nothing. *Direct* (`s3://` URIs, `--default-artifact-root s3://…`):
the job reads the bucket itself with boto3, `MLFLOW_S3_ENDPOINT_URL` and the `AWS_*` keys. Without
this module a direct store's failure is a boto traceback, or is retried and reported as a tracking
server that does not answer. botocore's own text is never quoted: it can carry a key or a signature.
"""
from __future__ import annotations

import contextlib
import functools
import os
import re
from collections.abc import Callable, Iterator
from typing import TypeVar
from urllib.parse import urlparse

from ci.errors import CheckFailed, CiError, ConfigError
from ci.redact import redact

T = TypeVar("T")
DIRECT_SCHEMES = ("s3",)
S3_VARIABLES = ("MLFLOW_S3_ENDPOINT_URL (your S3/MinIO server; unset: AWS S3), AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (masked CI/CD variables)")
# S3 error codes (a HEAD answer has only the HTTP status) that mean: these keys may not read this bucket.
REFUSED = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken",
           "TokenRefreshRequired", "AuthorizationHeaderMalformed", "AllAccessDisabled", "AccountProblem",
           "InvalidClientTokenId", "403", "Forbidden"}
MISSING = {"NoSuchBucket": "the bucket does not exist", "NoSuchKey": "the version's files are not there",
           "404": "the version's files are not there", "NotFound": "the version's files are not there"}
_CODE = re.compile(r"An error occurred \(([A-Za-z0-9]+)\)")  # how botocore renders a ClientError


def is_direct(uri: str) -> bool:
    """Whether this job itself reads the store behind `uri` (else the tracking server proxies it)."""
    return urlparse(uri).scheme in DIRECT_SCHEMES


def describe(uri: str) -> str:
    """The store, named without its path: `S3 artifact store s3://B at http://host:port`."""
    parsed = urlparse(uri)
    endpoint = os.environ.get("MLFLOW_S3_ENDPOINT_URL") or "AWS S3 (MLFLOW_S3_ENDPOINT_URL is unset)"
    return f"S3 artifact store s3://{parsed.netloc} at {redact(endpoint)}"


@contextlib.contextmanager
def store_errors(uri: str) -> Iterator[None]:
    """Within: a direct store's failure, or a proxied store refusing the server's keys, is raised as a
    CiError naming the store and what to set; any other exception passes unchanged."""
    try:
        yield
    except CiError:
        raise
    except Exception as exc:
        error = translate(uri, exc) if is_direct(uri) else translate_proxied(exc)
        if error is None:
            raise
        raise error from None


def reading(uri: str, fn: Callable[..., T]) -> Callable[..., T]:
    """`fn` inside `store_errors(uri)`: for `MlflowApi.call`, which then neither retries the store's
    refusal nor reports it as the tracking server's."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs) -> T:
        with store_errors(uri):
            return fn(*args, **kwargs)

    return wrapped


def translate(uri: str, exc: BaseException) -> CiError | None:
    """The CiError for a direct S3 store's failure `exc` (raised by boto3 or wrapped by MLflow), or None."""
    store = describe(uri)
    if isinstance(exc, ImportError) and (exc.name or "").split(".")[0] in ("boto3", "botocore"):
        return ConfigError(f"{store}: this job reads it directly (the tracking server does not proxy "
                           "artifacts) and needs boto3: install the project's requirements.txt.")
    names = {type(e).__name__ for e in _chain(exc)}
    if names & {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"}:
        return ConfigError(f"{store}: no S3 credentials. This job reads the store directly: set {S3_VARIABLES}.")
    if names & {"EndpointConnectionError", "ConnectTimeoutError", "ProxyConnectionError"}:
        return CheckFailed(f"{store} is not answering: check that MLFLOW_S3_ENDPOINT_URL names your S3/MinIO "
                           "server and that it is up.")
    code = _error_code(exc)
    if code in REFUSED:
        return ConfigError(f"{store} refused the credentials ({code}): check AWS_ACCESS_KEY_ID and "
                           "AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN if you use one), that they may read "
                           "the bucket, and that MLFLOW_S3_ENDPOINT_URL names the server that issued them.")
    if code in MISSING:
        return CheckFailed(f"{store}: {MISSING[code]} ({code}, {uri}). Check MLFLOW_S3_ENDPOINT_URL: the "
                           "tracking server's artifact root must be on that server.")
    return None


def translate_proxied(exc: BaseException) -> CiError | None:
    """The tracking server's own S3 store refused the server's keys: MLflow answers 401/403 with the
    store's message, which would otherwise read as the job's tracking credentials being wrong."""
    status = getattr(exc, "get_http_status_code", lambda: None)()
    store = re.search(r"\bs3://([^/\s:]+)", str(exc))
    if status not in (401, 403) or store is None:
        return None
    return ConfigError(f"the tracking server could not read its own artifact store s3://{store.group(1)}: the "
                       "store refused the server's keys. Fix AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and "
                       "MLFLOW_S3_ENDPOINT_URL) where the MLflow server runs (its --artifacts-destination); "
                       "this job needs none.")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and the exceptions it was raised from or during (MLflow wraps botocore's)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _error_code(exc: BaseException) -> str | None:
    """The S3 error code of a ClientError in the chain, or in MLflow's text of a failed download."""
    for link in _chain(exc):
        response = getattr(link, "response", None)
        if isinstance(response, dict) and response.get("Error", {}).get("Code"):
            return str(response["Error"]["Code"])
    match = _CODE.search(str(exc))
    return match.group(1) if match else None
