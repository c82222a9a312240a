"""`python -m ci <command>`: the command group, every command registered here in one place, and the
only place that turns errors into exit codes.

Every command calls a logic module that returns a value or raises `ci.errors.CiError`.
"""
from __future__ import annotations

import logging
import sys

import click

from ci import tracing
from ci.commands import build, canary, capacity, deploy, gate, loadtest, pipeline_image, registry
from ci.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CiError

SDK_LOGGERS = ("boto3", "botocore", "s3transfer", "urllib3")
EXIT_CODES_HELP = f"""\b
Exit codes (the contract .gitlab-ci.yml relies on):
  {EXIT_OK}  passed
  {EXIT_FAILED}  a gate, a rollout or a registry lookup failed (stop the pipeline)
  {EXIT_USAGE}  usage or configuration error (fix the job's variables)

A failed gate, deploy, promote or load test alerts the chat channels in ALERT_URLS
(and ALERT_WEBHOOK_URL); an alert that cannot be delivered never changes the exit code.
"""


@click.group(help="pyfunc-deploy pipeline commands.\n\n" + EXIT_CODES_HELP,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def cli(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for sdk in SDK_LOGGERS:  # their debug lines carry request headers: an S3 access key, signatures
        logging.getLogger(sdk).setLevel(logging.WARNING)


for command in (registry.resolve, registry.preflight, build.build_command, gate.gate, deploy.deploy_command,
                registry.promote, registry.rollback, loadtest.loadtest_command, canary.canary_group,
                capacity.capacity_command, pipeline_image.pipeline_image_command):
    cli.add_command(command)


def command_name(argv: list[str]) -> str:
    """`gate signature`, `build`, ...: what the job's span is named after."""
    words = [arg for arg in argv if not arg.startswith("-")]
    command = cli.commands.get(words[0]) if words else None
    if command is None:
        return "ci"
    if isinstance(command, click.Group) and len(words) > 1 and words[1] in command.commands:
        return f"{words[0]} {words[1]}"
    return words[0]


def main(argv: list[str] | None = None) -> int:
    """Run one command in its job span (exported when an OTLP endpoint is set); the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    with tracing.job_span(command_name(argv)) as span:
        code = _run(argv)
        span.set_attribute("ci.exit_code", code)
        if code != EXIT_OK:
            span.set_status(tracing.trace.StatusCode.ERROR)
    return code


def _run(argv: list[str]) -> int:
    try:
        cli.main(args=argv, prog_name="python -m ci", standalone_mode=False)
    except CiError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:  # bad option, missing argument: a usage error
        exc.show()
        return EXIT_USAGE
    except click.exceptions.Abort:
        return EXIT_USAGE
    return EXIT_OK
