"""Read-only queries on the run registry.

A list of values is passed as one JSON array parameter and expanded with `json_each`,
so a filter may hold any number of values without meeting SQLite's parameter limit.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

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


COMPLETED_ROWS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("dataset_id", pa.string()),
        ("prompt_id", pa.string()),
        ("shard", pa.string()),
        ("row", pa.int64()),
        ("labels", pa.string()),
    ]
)


def completed_rows(
    connection: sqlite3.Connection, dataset_ids: Sequence[str] | None, status: str
) -> pa.Table:
    """Return the storage locations and labels of runs with `status`, in insertion order.

    Columns follow `COMPLETED_ROWS_SCHEMA`, and `labels` stays JSON text so that 100k rows
    load without decoding each one. `shard` and `row` are null for runs never stored.
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
    aggregates = ", ".join(f"json_group_array({field.name})" for field in COMPLETED_ROWS_SCHEMA)
    row = connection.execute(f"SELECT {aggregates} FROM ({inner} ORDER BY rowid)", parameters).fetchone()
    return pa.table(
        [pa.array(json.loads(text), type=field.type) for text, field in zip(row, COMPLETED_ROWS_SCHEMA, strict=True)],
        schema=COMPLETED_ROWS_SCHEMA,
    )


def status_counts(connection: sqlite3.Connection) -> dict[str, dict[str, int]]:
    """Return `{dataset_id: {status: number of runs}}`; statuses with no run are left out."""
    counts: dict[str, dict[str, int]] = {}
    for dataset_id, status, count in connection.execute(
        "SELECT dataset_id, status, COUNT(*) FROM runs GROUP BY dataset_id, status ORDER BY dataset_id, status"
    ):
        counts.setdefault(dataset_id, {})[status] = count
    return counts
