"""`python -m ci <command>`: the command group, every command registered here in one place, and the
only place that turns errors into exit codes.

Every command calls a logic module that returns a value or raises `ci.errors.CiError`.
"""
from __future__ import annotations

import logging
import sys

import click

from ci.commands import build, deploy, gate, loadtest, pipeline_image, registry
from ci.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CiError

EXIT_CODES_HELP = f"""\b
Exit codes (the contract .gitlab-ci.yml relies on):
  {EXIT_OK}  passed
  {EXIT_FAILED}  a gate, a rollout or a registry lookup failed (stop the pipeline)
  {EXIT_USAGE}  usage or configuration error (fix the job's variables)
"""


@click.group(help="pyfunc-deploy pipeline commands.\n\n" + EXIT_CODES_HELP,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def cli(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


for command in (registry.resolve, registry.preflight, build.build_command, gate.gate, deploy.deploy_command,
                registry.promote, registry.rollback, loadtest.loadtest_command,
                pipeline_image.pipeline_image_command):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> int:
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
