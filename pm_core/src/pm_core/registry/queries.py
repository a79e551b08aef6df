"""Read-only queries on the run registry.

A list of values is passed as one JSON array parameter and expanded with `json_each`,
so a filter may hold any number of values without meeting SQLite's parameter limit.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

import numpy as np

from pm_core.registry.records import RUN_COLUMNS, STATUSES, RunRecord

_SELECT_RUNS = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs"

FILTER_COLUMNS = tuple(column for column in RUN_COLUMNS if column not in ("labels", "metadata"))
"""Columns that `runs` can filter on; labels and metadata are JSON text and are not compared."""


def _check_status(status: str) -> None:
    if status not in STATUSES:
        msg = f"invalid run status {status!r}: expected one of {', '.join(STATUSES)}"
        raise ValueError(msg)


def get(connection: sqlite3.Connection, run_id: str) -> RunRecord | None:
    """Return the run with id `run_id`, or None."""
    row = connection.execute(f"{_SELECT_RUNS} WHERE run_id = ?", (run_id,)).fetchone()
    return RunRecord.from_row(row) if row is not None else None


def runs(connection: sqlite3.Connection, filters: dict[str, Any]) -> list[RunRecord]:
    """Return the runs matching every filter, in insertion order.

    A scalar value matches equal values, None matches NULL, and a list, tuple or set
    matches any of its items.
    """
    clauses: list[str] = []
    parameters: list[Any] = []
    for column, value in filters.items():
        if column not in FILTER_COLUMNS:
            msg = f"cannot filter runs on {column!r}: expected one of {', '.join(FILTER_COLUMNS)}"
            raise ValueError(msg)
        if column == "status":
            for status in value if isinstance(value, list | tuple | set) else [value]:
                _check_status(status)
        if value is None:
            clauses.append(f"{column} IS NULL")
        elif isinstance(value, list | tuple | set):
            clauses.append(f"{column} IN (SELECT value FROM json_each(?))")
            parameters.append(json.dumps(list(value)))
        else:
            clauses.append(f"{column} = ?")
            parameters.append(value)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = connection.execute(f"{_SELECT_RUNS}{where} ORDER BY rowid", parameters).fetchall()
    return [RunRecord.from_row(row) for row in rows]


def missing_run_ids(connection: sqlite3.Connection, run_ids: Sequence[str]) -> list[str]:
    """Return the ids in `run_ids` that no run has, in their first order."""
    found = {
        run_id
        for (run_id,) in connection.execute(
            "SELECT run_id FROM runs WHERE run_id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(run_ids)),),
        )
    }
    return [run_id for run_id in dict.fromkeys(run_ids) if run_id not in found]


COMPLETED_ROWS_COLUMNS = ("run_id", "dataset_id", "prompt_id", "shard", "row", "labels")


def completed_rows(
    connection: sqlite3.Connection, dataset_ids: Sequence[str] | None, status: str
) -> dict[str, np.ndarray]:
    """Return the storage locations and labels of runs with `status`, in insertion order.

    Every column of `COMPLETED_ROWS_COLUMNS` is a numpy array: `row` is int64 and -1 for a
    run with no stored row, the others hold Python objects (`shard` is None for a run with
    no stored row). `labels` stays JSON text, so that 100k rows load without decoding each one.
    """
    _check_status(status)
    # One JSON array per column, built in a single scan, loads about twice as fast as
    # fetching 100k row tuples. The unary `+` keeps SQLite from using the status index,
    # because a plain scan is faster when most runs match.
    inner = "SELECT * FROM runs WHERE +status = ?"
    parameters: list[Any] = [status]
    if dataset_ids is not None:
        inner += " AND dataset_id IN (SELECT value FROM json_each(?))"
        parameters.append(json.dumps(list(dataset_ids)))
    aggregates = ", ".join(
        "json_group_array(coalesce(row, -1))" if column == "row" else f"json_group_array({column})"
        for column in COMPLETED_ROWS_COLUMNS
    )
    texts = connection.execute(f"SELECT {aggregates} FROM ({inner} ORDER BY rowid)", parameters).fetchone()
    columns: dict[str, np.ndarray] = {}
    for column, text in zip(COMPLETED_ROWS_COLUMNS, texts, strict=True):
        values = json.loads(text)
        if column == "row":
            columns[column] = np.array(values, dtype=np.int64)
        else:
            columns[column] = np.empty(len(values), dtype=object)
            columns[column][:] = values
    return columns


def reason_counts(connection: sqlite3.Connection) -> dict[tuple[str, str, str | None], int]:
    """Return `{(dataset_id, status, reason): number of runs}` for failed and skipped runs."""
    rows = connection.execute(
        "SELECT dataset_id, status, reason, COUNT(*) FROM runs WHERE status IN ('failed', 'skipped')"
        " GROUP BY dataset_id, status, reason"
    )
    return {(dataset_id, status, reason): count for dataset_id, status, reason, count in rows}


def status_counts(connection: sqlite3.Connection) -> dict[str, dict[str, int]]:
    """Return `{dataset_id: {status: number of runs}}`; statuses with no run are left out."""
    counts: dict[str, dict[str, int]] = {}
    for dataset_id, status, count in connection.execute(
        "SELECT dataset_id, status, COUNT(*) FROM runs GROUP BY dataset_id, status ORDER BY dataset_id, status"
    ):
        counts.setdefault(dataset_id, {})[status] = count
    return counts
