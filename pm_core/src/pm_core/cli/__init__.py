"""The `pm` command line: one module per command group, plugins add their own commands."""

from __future__ import annotations

import logging
import sys

import click

from pm_core.errors import PmError
from pm_core.secrets import RedactingFilter

LOG_LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}


def configure_logging(verbosity: int) -> None:
    """Attach pm's one log handler: stderr, secrets redacted, level from the count of -v."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(LOG_LEVELS.get(verbosity, logging.DEBUG))


class PmGroup(click.Group):
    """A click group that turns pm's own errors into one clear line and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except PmError as error:
            raise click.ClickException(str(error)) from error


@click.group(cls=PmGroup)
@click.option("-v", "--verbose", count=True, help="Log more: -v for progress notes, -vv for debugging.")
def cli(verbose: int) -> None:
    """Capture, store and classify LLM activations on prompt datasets."""
    configure_logging(verbose)


def _add_commands() -> None:
    from pm_core.cli import classify, datasets, info, lodo, run

    run.add_to(cli)
    info.add_to(cli)
    datasets.add_to(cli)
    lodo.add_to(cli)
    classify.add_to(cli)


def _add_plugin_commands() -> None:
    from pm_core.plugins import get_catalogue

    try:
        get_catalogue().manager.hook.pm_register_commands(cli=cli)
    except PmError as error:
        click.echo(f"warning: plugin commands not loaded: {error}", err=True)


def main() -> None:
    _add_commands()
    _add_plugin_commands()
    cli(prog_name="pm")


if __name__ == "__main__":
    main()
