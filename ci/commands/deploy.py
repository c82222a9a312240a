"""`python -m ci deploy`: the options of every strategy (ci/progressive/strategies.py: rolling, canary, shadow,
shadow-canary), parsed here; the chosen strategy deploys."""
from __future__ import annotations

from pathlib import Path

import click

from ci.clients import kube
from ci.commands import options
from ci.commands.failure_alert import alert_on_failure
from ci.deploy import rolling as logic
from ci.deploy.smoke import Smoke, request_body
from ci.progressive import strategies


@click.command("deploy")
@options.namespace(required=True, help_text="Target namespace.")
@options.deployment
@click.option("--container", help="Container whose image is set [default: the Deployment's name].")
@options.kubeconfig
@options.kube_context
@options.image("Image to roll out, by digest (`ci build`'s image.env).")
@click.option("--image-tag", envvar="IMAGE_TAG", default="", show_envvar=True,
              help="The image's human-readable tag, shown by the pods' /version (`ci build`'s image.env).")
@options.model_name
@options.model_version("The version the image serves; /version must name it after the rollout.")
@click.option("--pipeline-url", envvar="CI_PIPELINE_URL", default="", show_envvar=True,
              help="Recorded in the annotations and the change cause.")
@click.option("--manifests", envvar="KUBE_MANIFESTS", show_envvar=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Kustomize overlay rendered and applied (server-side apply) on every deploy, with the "
                   "image set on its Deployment (needs kubectl); without one only the image is set "
                   "[default: manifests/overlays/$CI_ENVIRONMENT_NAME when it exists].")
@click.option("--prune/--no-prune", envvar="DEPLOY_PRUNE", default=False, show_default=True, show_envvar=True,
              help="Delete the objects an earlier deploy applied that the overlay no longer renders "
                   "(without it they are only reported).")
@click.option("--lock-timeout", envvar="DEPLOY_LOCK_TIMEOUT", type=click.FloatRange(min=0), default=600,
              show_default=True, show_envvar=True,
              help="Seconds to wait for another deploy of this Deployment (its Lease) before refusing.")
@click.option("--timeout", envvar="ROLLOUT_TIMEOUT_SECONDS", type=click.FloatRange(min=1), default=600,
              show_default=True, show_envvar=True, help="Overall limit for the rollout (and for the undo).")
@click.option("--readiness-timeout", envvar="ROLLOUT_READINESS_SECONDS", type=click.FloatRange(min=0),
              default=120, show_default=True, show_envvar=True,
              help="A started container that stays unready this long fails the rollout.")
@click.option("--max-restarts", envvar="ROLLOUT_MAX_RESTARTS", type=click.IntRange(min=0), default=2,
              show_default=True, show_envvar=True, help="More restarts of a new container fail the rollout.")
@click.option("--smoke/--no-smoke", default=True, show_default=True,
              help="After the rollout: a prediction and /version through the Service (API server proxy).")
@click.option("--smoke-input", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON request body for /invocations [default: the version's serving input example].")
@click.option("--smoke-timeout", envvar="SMOKE_TIMEOUT_SECONDS", type=click.FloatRange(min=1), default=60,
              show_default=True, show_envvar=True, help="Time for /version to name the new version.")
@options.service
@options.service_port
@options.output_dir
@options.canary_options
@options.shadow_options
@alert_on_failure(lambda params: f"{params['strategy']} deploy failed" if params["strategy"] != "rolling"
                  else "deploy failed",
                  environment=lambda params: params["namespace"])
def deploy_command(namespace: str, deployment: str, container: str | None, kubeconfig: str | None,
                   context: str | None, image: str, image_tag: str,
                   model_name: str, model_version: str, pipeline_url: str, manifests: Path | None,
                   prune: bool, lock_timeout: float, timeout: float, readiness_timeout: float,
                   max_restarts: int, smoke: bool, smoke_input: Path | None, smoke_timeout: float,
                   service: str | None, service_port: str, output_dir: str, strategy: str,
                   **settings) -> None:
    """Under the Deployment's Lease (one deploy at a time): apply the overlay with the image set
    (or, without an overlay, set the image), watch the rollout, smoke the Service; on a failure undo
    the template like `kubectl rollout undo` and exit 1; exit 1 too, without undoing, when someone
    else changes the Deployment meanwhile. Refuses to start while another rollout is in progress.
    Writes deploy.json (with the fields each object changed).

    With --strategy canary: a <deployment>-canary Deployment with the new image behind the same
    Service, grown through --canary-steps; after each --canary-interval its pods' /metrics are
    compared with stable's (error rate, p95/p99, prediction drift), topped up with its own requests
    when traffic is short. Every step passed: the rollout above; otherwise the canary is deleted, the
    stable Deployment never changed, exit 1 naming the failing check. Writes canary.json,
    canary-junit.xml and canary.html. A first deploy (no Deployment yet) rolls out either way.

    With --strategy shadow: a <deployment>-shadow Deployment with the new image that no Service
    selects; the stable pods copy their requests to it (its pod IPs, through the ConfigMap their
    `shadow` volume mounts) and count what it answers differently, row by row; judged after
    --shadow-duration with --shadow-min-rows rows (the step's own requests to the stable pods when
    traffic is short): changed classes, numeric differences, failed copies. Passed: the rollout above;
    otherwise the shadow is deleted and exit 1. Writes shadow.json, shadow-junit.xml and shadow.html.

    With --strategy shadow-canary: the shadow step, then, only if it passed, the canary (no user gets
    an answer from a version whose answers already differ); its figures are in the canary's reports."""
    target = logic.Target(namespace=namespace, deployment=deployment, container=container or deployment,
                          image=image, image_tag=image_tag, model_name=model_name, model_version=model_version,
                          pipeline_url=pipeline_url, overlay=logic.default_overlay(manifests), prune=prune)
    own_input = strategies.needs_own_requests(strategy, settings)
    body = request_body(smoke_input, model_name, model_version) if smoke or own_input else None
    check = Smoke(service or deployment, service_port, body, timeout=smoke_timeout) if smoke else None
    chosen = strategies.choose(strategy, settings, body, service or deployment)
    client = kube.connect(namespace, kubeconfig=kubeconfig, context=context)
    limits = logic.Limits(timeout=timeout, readiness=readiness_timeout, max_restarts=max_restarts,
                          lock_timeout=lock_timeout)
    chosen = strategies.for_live(chosen, client, deployment)
    click.echo(chosen.run(client, target, limits, check, Path(output_dir)))
