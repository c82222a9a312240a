"""`python -m ci gate signature`: wiring only; the logic is `ci.gates.signature`."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from ci import model_meta, reports
from ci.commands import options
from ci.commands.gate import gate
from ci.commands.gate_latency import candidate_image, candidate_url, model_options
from ci.commands.gating import api_or_none, finish
from ci.gates import signature
from ci.gates.candidate import candidate


@gate.command("signature")
@model_options
@click.option("--live-url", envvar=["LIVE_URL", "PRODUCTION_URL"], show_envvar=True,
              help="The live service; its /version names the live model [unset or not answering: the alias].")
@click.option("--live-alias", envvar="PROMOTE_ALIAS", default="production", show_default=True,
              show_envvar=True,
              help="Registry alias of the live version, used when no live service answers.")
@click.option("--allow-breaking", envvar="SIGNATURE_ALLOW_BREAKING", is_flag=True, show_envvar=True,
              help="Let a breaking change through (after the clients are updated).")
@click.option("--batching/--no-batching", envvar="SERVICE_BATCHING_ENABLED", default=False, show_default=True,
              show_envvar=True, help="The service batches requests: check batched answers equal unbatched "
                                     "ones on the candidate (--url or --image).")
@candidate_url
@candidate_image
@options.container_cli
@options.output_dir
def signature_command(tracking_uri, model_uri, model_name, model_version, live_url, live_alias,
                      allow_breaking, batching, url, image, container_cli, output_dir) -> None:
    """Compare the candidate's signature with the live one: a removed or retyped input, a new required
    input or a changed output is breaking (exit 1); a new optional input is fine. The input example
    must validate. Writes signature.json and signature-junit.xml; records the verdict."""
    api = api_or_none(tracking_uri)
    meta = model_meta.load(model_uri, model_name, model_version, api)
    live = signature.find_live(api, model_name, live_url, live_alias)
    if batching:
        batched = {"SERVICE_BATCHING_ENABLED": "true"}
        with candidate(url, None if url else image, settings=batched, cli=container_cli) as base:
            result = signature.run_signature_gate(meta, live, allow_breaking=allow_breaking,
                                                  batching_url=base)
    else:
        result = signature.run_signature_gate(meta, live, allow_breaking=allow_breaking)
    reports.write_junit(Path(output_dir) / "signature-junit.xml", signature.GATE, result.checks)
    reports.write_summary(Path(output_dir) / "signature.json", signature.GATE, result.passed, result.checks,
                          candidate=result.candidate, live=result.live,
                          changes=[dataclasses.asdict(c) for c in result.changes])
    summary = {"passed": result.passed, "live": result.live, "changes": [str(c) for c in result.changes]}
    finish(signature.GATE, result.passed, result.checks, summary, api=api, model_name=model_name,
           model_version=model_version)
