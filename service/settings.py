"""All run-time configuration, read once from `SERVICE_*` environment variables by the entry point.

pydantic evaluates these annotations at run time, so they are written `Optional[...]`: the service
runs on Python 3.9, where `str | None` cannot be evaluated."""
from __future__ import annotations

import socket
from typing import Optional

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL_URI = "/opt/model"
DEFAULT_HOST = "0.0.0.0"  # noqa: S104 - a container serves on all its interfaces
DEFAULT_PORT = 8080
DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_ROWS = 10_000
DEFAULT_BATCH_MAX_ROWS = 256
DEFAULT_BATCH_MAX_WAIT_MS = 2.0
DEFAULT_DRAIN_SECONDS = 0.0
DEFAULT_KEEPALIVE_SECONDS = 75  # longer than the usual 60 s idle timeout of cloud load balancers
DEFAULT_GRACEFUL_TIMEOUT_SECONDS = 20  # fits terminationGracePeriodSeconds=30 minus a 5 s preStop
DEFAULT_MAX_REQUESTS = 1_000_000
DEFAULT_REQUEST_TIMEOUT_SECONDS = 10.0  # a blocked worker fails 2 liveness probes at most (3 restart it)
DEFAULT_LOG_LEVEL = "INFO"


class Settings(BaseSettings):
    """The service's settings; every field is `SERVICE_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="SERVICE_", extra="ignore", protected_namespaces=())

    model_uri: str = DEFAULT_MODEL_URI
    """Where the model is: a directory baked in the image, `models:/name@alias`, `models:/name/Stage`,
    `runs:/...` or any URI mlflow can load (`MLFLOW_TRACKING_URI` is read by mlflow itself)."""

    model_name: Optional[str] = None
    """Registered model name for /version and metrics; set by the image build, else resolved."""

    model_version: Optional[str] = None
    """Registered model version for /version and metrics; set by the image build, else resolved."""

    model_run_id: Optional[str] = None
    """MLflow run id of the model; set by the image build, else read from the MLmodel file."""

    instance: str = Field(default_factory=socket.gethostname)
    """This process's name in /version: by default the host name (the pod's name in Kubernetes); a gate
    that runs the image sets it, to know the service answering on its port is the one it started."""

    host: str = DEFAULT_HOST
    """Address to listen on."""

    port: int = Field(DEFAULT_PORT, ge=1, le=65535)
    """Port to listen on."""

    workers: Optional[int] = Field(None, ge=1)
    """Gunicorn worker processes; default: the container's CPU quota (cgroup), at least 1."""

    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, ge=1)
    """Largest accepted request body; larger bodies get 413 before they are parsed."""

    max_rows: int = Field(DEFAULT_MAX_ROWS, ge=1)
    """Most rows accepted in one request; more is a 400 that says the limit."""

    batching_enabled: bool = True
    """Coalesce concurrent requests of one worker into one `predict` call, for a model proven to
    answer the same batched (`service.batch_proof`; else off, and /version says why)."""

    batch_max_rows: int = Field(DEFAULT_BATCH_MAX_ROWS, ge=1)
    """A batch is run as soon as it holds this many rows."""

    batch_max_wait_ms: float = Field(DEFAULT_BATCH_MAX_WAIT_MS, ge=0)
    """Longest a request waits for others to join its batch."""

    request_timeout_seconds: float = Field(DEFAULT_REQUEST_TIMEOUT_SECONDS, gt=0)
    """Deadline of a request, from its arrival: past it the request is answered 503 with `Retry-After`
    (counted in `service_requests_timed_out_total`, logged with its id). One still queued is not
    predicted; a model call running past it is interrupted and its worker replaced (`service.deadline`).
    Keep it under the client's and the load balancer's timeouts and under Gunicorn's 60 s."""

    shadow_url: Optional[str] = None
    """Base URL of a shadow candidate (its Service): a sample of live requests is copied to it after
    they are answered and its answers compared with this pod's, row by row (`service.shadow`, figures
    in /metrics as `service_shadow_*`). Unset: no copies."""

    shadow_config: Optional[str] = None
    """A JSON file, `{"urls": [...], "sample_rate": 0.5}`, that turns the copies on and off while the
    pod runs: `ci deploy --strategy shadow` writes it into a ConfigMap mounted there (manifests/base).
    Read again within seconds of a change; while it names URLs they replace SERVICE_SHADOW_URL and its
    sample rate; absent, empty or unreadable: no copies (unless SERVICE_SHADOW_URL is set)."""

    shadow_sample_rate: float = Field(1.0, ge=0, le=1)
    """Share of answered requests copied to the shadow candidate."""

    shadow_max_in_flight: int = Field(32, ge=1)
    """Copies on their way at once per worker; past it a copy is dropped (counted), never queued."""

    shadow_timeout_seconds: float = Field(2.0, gt=0)
    """Longest a copy waits for the candidate's answer (a late answer counts as failed)."""

    drain_seconds: float = Field(DEFAULT_DRAIN_SECONDS, ge=0)
    """On SIGTERM keep serving this long with /readyz at 503 before closing the listener
    (0 when the pod's preStop hook already waits for the endpoints to update)."""

    keepalive_seconds: int = Field(DEFAULT_KEEPALIVE_SECONDS, ge=1)
    """Idle keep-alive; must be longer than the load balancer's idle timeout."""

    graceful_timeout_seconds: int = Field(DEFAULT_GRACEFUL_TIMEOUT_SECONDS, ge=1)
    """Time for in-flight requests after SIGTERM; drain + this must fit in
    terminationGracePeriodSeconds minus the preStop delay."""

    max_requests: int = Field(DEFAULT_MAX_REQUESTS, ge=0)
    """Recycle a worker after this many requests, plus up to 10% so workers do not recycle together
    (a guard against leaks in model code); 0 never recycles."""

    log_level: str = DEFAULT_LOG_LEVEL
    """Level of the `service` loggers."""
