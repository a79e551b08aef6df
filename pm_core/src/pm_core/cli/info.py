"""`pm plugins`, `pm status` and `pm debug-info`: what is installed and what a run did."""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from pm_core.errors import StorageError


def _console() -> Console:
    # Piped output keeps whole table rows rather than wrapping at 80 columns.
    console = Console()
    return console if console.is_terminal else Console(width=160)


@click.command("plugins")
def plugins_command() -> None:
    """List every name the installed plugins register, with its distribution and version."""
    from pm_core.plugins import get_catalogue

    table = Table(title="Installed pm plugins")
    for column in ("kind", "name", "distribution", "version", "summary"):
        table.add_column(column)
    for entry in get_catalogue().all():
        table.add_row(entry.kind[:-1], entry.name, entry.distribution, entry.version, entry.summary)
    _console().print(table)


@click.command("status")
@click.argument("output_dir", type=click.Path(file_okay=False))
@click.option("--details", is_flag=True, help="Also list each skipped or failed prompt with its message.")
@click.option("--limit", default=50, show_default=True, help="Maximum prompts listed per status with --details.")
def status_command(output_dir: str, details: bool, limit: int) -> None:
    """Show how many prompts of each dataset are completed, skipped, failed or pending."""
    from pm_core.registry import RunRegistry

    path = Path(output_dir) / "registry.sqlite"
    if not path.is_file():
        msg = f"no run registry in {output_dir!r}: expected {path}. Is this the `output_dir` of a config?"
        raise StorageError(msg)
    registry = RunRegistry(path)
    statuses = ("completed", "skipped", "failed", "pending", "running")
    table = Table(title=f"Runs in {output_dir}")
    table.add_column("dataset")
    for status in statuses:
        table.add_column(status, justify="right")
    for dataset_id, counts in sorted(registry.status_counts().items()):
        table.add_row(dataset_id, *(str(counts.get(status, 0)) for status in statuses))
    _console().print(table)

    reasons = registry.reason_counts()
    if reasons:
        reason_table = Table(title="Skipped and failed, by reason")
        for column in ("dataset", "status", "reason", "count"):
            reason_table.add_column(column)
        for (dataset_id, status, reason), count in sorted(reasons.items(), key=str):
            reason_table.add_row(dataset_id, status, reason or "", str(count))
        _console().print(reason_table)

    if details:
        for status in ("failed", "skipped"):
            records = registry.runs({"status": status})
            if not records:
                continue
            detail_table = Table(title=f"{status.capitalize()} prompts ({min(limit, len(records))} of {len(records)})")
            for column in ("dataset", "prompt", "reason", "message"):
                detail_table.add_column(column)
            for record in records[:limit]:
                detail_table.add_row(record.dataset_id, record.prompt_id, record.reason or "", record.message or "")
            _console().print(detail_table)


@click.command("debug-info")
def debug_info_command() -> None:
    """Print the versions a bug report needs."""
    click.echo(f"python {platform.python_version()} on {platform.platform()}")
    for name in ("pm-core", "pm-plugins-backends", "pm-plugins-datasets", "pm-plugins-evaluators",
                 "pm-plugins-classifiers", "torch", "transformers", "zarr", "lancedb", "numpy", "scikit-learn"):
        try:
            click.echo(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            click.echo(f"{name} not installed")


def add_to(group: click.Group) -> None:
    group.add_command(plugins_command)
    group.add_command(status_command)
    group.add_command(debug_info_command)
