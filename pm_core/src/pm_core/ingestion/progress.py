"""Progress bar and closing summary table of an ingestion run."""

from __future__ import annotations

import sys
from collections.abc import Iterable

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

#: Progress and summaries go to stderr, so stdout stays free for results.
console = Console(stderr=True)


class RateColumn(ProgressColumn):
    """Prompts per second over the task so far."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- prompts/s" if speed is None else f"{speed:.1f} prompts/s", style="cyan")


class ProgressReporter:
    """A progress bar for one dataset's prompts, a no-op when disabled or not on a terminal."""

    def __init__(self, description: str, total: int, enabled: bool = True) -> None:
        self.enabled = enabled
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            disable=not enabled,
            transient=False,
        )
        self.task = self.progress.add_task(description, total=total)

    def __enter__(self) -> ProgressReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.progress.stop()

    def advance(self, count: int) -> None:
        self.progress.advance(self.task, count)


def human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def print_summary(summaries: Iterable, stream=None) -> None:
    """Print one row per dataset: done before, completed, skipped, failed, rows, bytes, seconds."""
    table = Table(title="Ingestion summary")
    for column in ("dataset", "already done", "completed", "skipped", "failed", "rows", "bytes", "seconds"):
        table.add_column(column, justify="left" if column == "dataset" else "right")
    for summary in summaries:
        table.add_row(
            summary.dataset_id,
            str(summary.already_done),
            str(summary.completed),
            str(summary.skipped),
            str(summary.failed),
            str(summary.rows),
            human_bytes(summary.bytes),
            f"{summary.seconds:.1f}",
        )
    target = Console(file=stream) if stream is not None else console
    # Piped output keeps whole table rows rather than wrapping at 80 columns.
    if not target.is_terminal:
        target = Console(file=stream or sys.stderr, width=120)
    target.print(table)


def print_reasons(summaries: Iterable) -> None:
    """Print, per dataset, how many prompts were skipped or failed for each reason, with one example message."""
    rows = [(summary.dataset_id, reason, count, summary.examples.get(reason, ""))
            for summary in summaries for reason, count in sorted(summary.reasons.items())]
    if not rows:
        return
    table = Table(title="Skipped and failed prompts, by reason (see `pm status OUTPUT_DIR --details`)")
    for column in ("dataset", "reason", "count", "example"):
        table.add_column(column, justify="right" if column == "count" else "left")
    for dataset_id, reason, count, example in rows:
        table.add_row(dataset_id, reason, str(count), example)
    target = console if console.is_terminal else Console(file=sys.stderr, width=160)
    target.print(table)
