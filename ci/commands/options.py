"""Options shared by several commands, defined once. Each falls back to the GitLab CI variable
a job would set, so `.gitlab-ci.yml` script lines stay one short command."""
from __future__ import annotations

import click

from ci.tools import podman

tracking_uri = click.option(
    "--tracking-uri", envvar="MLFLOW_TRACKING_URI", required=True, show_envvar=True,
    help="MLflow tracking server URL. Credentials come from MLFLOW_TRACKING_TOKEN or "
         "MLFLOW_TRACKING_USERNAME/PASSWORD and are never printed.")
model_name = click.option(
    "--model-name", envvar="MODEL_NAME", required=True, show_envvar=True,
    help="Registered model name.")
output_dir = click.option(
    "--output-dir", envvar="CI_REPORTS_DIR", default="reports", show_default=True, show_envvar=True,
    type=click.Path(file_okay=False), help="Where JSON, dotenv and report files are written.")
selector = click.option(
    "--selector", envvar="MODEL_SELECTOR", show_envvar=True,
    help="Which version: @alias (@production, @champion), a legacy stage (Production, Staging) or a "
         "version number. Unset: @production, falling back to stage Production (with a warning) "
         "only when that alias does not exist; an explicit selector never falls back.")
registration_timeout = click.option(
    "--registration-timeout", envvar="MODEL_REGISTRATION_TIMEOUT", type=click.FloatRange(min=0),
    default=300, show_default=True, show_envvar=True,
    help="Seconds to wait for a version that is still PENDING_REGISTRATION.")
promote_target = click.option(
    "--to", "target", envvar="PROMOTE_TARGET", default="@production", show_default=True, show_envvar=True,
    help="What to move: an alias (@production) or a legacy stage (Production; the old holder is archived).")
container_cli = click.option(
    "--container-cli", envvar="CONTAINER_CLI", type=click.Choice(podman.CLIS), default=podman.DEFAULT_CLI,
    show_default=True, show_envvar=True,
    help="What runs the built image: podman (daemonless) or the docker CLI (a Docker engine, or podman's "
         "API through DOCKER_HOST).")

# Kubernetes: `deploy` rolls out to these, `loadtest` reaches the live Service through them.
deployment = click.option(
    "--deployment", envvar="KUBE_DEPLOYMENT", default="pyfunc-model", show_default=True, show_envvar=True,
    help="Deployment name; also the container and Service name unless set.")
service = click.option(
    "--service", envvar="KUBE_SERVICE", show_envvar=True,
    help="The Service in front of the Deployment (the deploy's smoke and the load test go through it) "
         "[default: the Deployment's name].")
service_port = click.option(
    "--service-port", envvar="KUBE_SERVICE_PORT", show_envvar=True, default="http", show_default=True,
    help="The Service's port, by name or number.")
kubeconfig = click.option(
    "--kubeconfig", envvar="KUBECONFIG", show_envvar=True,
    help="kubeconfig file(s) [default: ~/.kube/config, or the in-cluster account].")
kube_context = click.option(
    "--context", envvar="KUBE_CONTEXT", show_envvar=True,
    help="kubeconfig context (GitLab agent: path/to/agent-project:agent-name) [default: current].")


def namespace(required: bool, help_text: str):
    """--namespace/KUBE_NAMESPACE: required by `deploy`; the load test needs it only without a URL."""
    return click.option("--namespace", envvar="KUBE_NAMESPACE", required=required, show_envvar=True,
                        help=help_text)
