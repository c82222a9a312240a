"""`python -m ci canary promote|abort`: the pipeline's manual jobs while a canary runs (`ci deploy
--strategy canary`, ci/progressive/strategies.py, acts on the decision within seconds)."""
from __future__ import annotations

import click

from ci.clients import kube
from ci.commands import options
from ci.progressive import canary as logic


@click.group("canary")
def canary_group() -> None:
    """Decide a running canary by hand (`ci deploy --strategy canary` acts on it within seconds)."""


def _decision(choice: str, text: str):
    @canary_group.command(choice, help=text)
    @options.namespace(required=True, help_text="Namespace of the running canary.")
    @options.deployment
    @options.kubeconfig
    @options.kube_context
    def command(namespace: str, deployment: str, kubeconfig: str | None, context: str | None) -> None:
        client = kube.connect(namespace, kubeconfig=kubeconfig, context=context)
        click.echo(logic.decide(client, deployment, choice))
    return command


promote_now = _decision("promote", "Promote now: skip the remaining steps and roll the canary's image out.")
abort = _decision("abort", "Abort: delete the canary; the stable Deployment stays as it is (exit 1 in the canary job).")
