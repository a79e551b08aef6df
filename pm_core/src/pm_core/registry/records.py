"""Types that go into and come out of the run registry."""

from __future__ import annotations

import json
from typing import Any

import attrs

from pm_core.errors import PmError

STATUSES = ("pending", "running", "completed", "failed", "skipped")
"""Every value the `status` column may hold."""

DONE_STATUSES = ("completed", "skipped")
"""Statuses that a new registration of the same run returns as done instead of retrying."""

RUN_COLUMNS = (
    "run_id",
    "prompt_id",
    "dataset_id",
    "run_key",
    "processing_fingerprint",
    "status",
    "reason",
    "message",
    "supersedes",
    "labels",
    "metadata",
    "config_id",
    "shard",
    "row",
    "created_at",
    "updated_at",
)
"""Columns of the `runs` table, in the order `RunRecord.from_row` expects."""


class UnknownRunError(PmError, KeyError):
    """A run id or config id that the registry does not contain."""

    def __str__(self) -> str:
        # KeyError quotes its argument; this message is a sentence, so show it as is.
        return str(self.args[0]) if self.args else ""


@attrs.frozen
class RunItem:
    """One prompt to register for processing."""

    prompt_id: str
    dataset_id: str
    run_key: str
    """Identity of the work, independent of how it is processed (for example dataset, prompt and model)."""
    processing_fingerprint: str
    """Hash of every setting that changes the stored result; a new value supersedes a completed run."""
    labels: dict[str, Any] = attrs.field(factory=dict)
    config_id: str | None = None


@attrs.frozen
class RunHandle:
    """Result of registering one run."""

    run_id: str
    status: str
    is_done: bool
    """True when the run is completed or skipped, so the caller has nothing to do."""


@attrs.frozen
class RunRecord:
    """One row of the `runs` table, with `labels` and `metadata` decoded from JSON."""

    run_id: str
    prompt_id: str
    dataset_id: str
    run_key: str
    processing_fingerprint: str
    status: str
    reason: str | None
    message: str | None
    supersedes: str | None
    labels: dict[str, Any]
    metadata: dict[str, Any]
    config_id: str | None
    shard: str | None
    row: int | None
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> RunRecord:
        """Build a record from a row selected with the columns of `RUN_COLUMNS`, in order."""
        values = dict(zip(RUN_COLUMNS, row, strict=True))
        values["labels"] = json.loads(values["labels"])
        values["metadata"] = json.loads(values["metadata"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a plain dict keyed by column name."""
        return attrs.asdict(self, recurse=False)
