"""The run registry: which prompts were processed, how, with what result, and where their rows live.

One SQLite file (`registry.sqlite` in the output directory) is shared by every worker
process. Each public call is one transaction, so batch calls are much cheaper per run
than single ones. See `connection` for how concurrent writers avoid "database is locked".
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pm_core.registry import queries
from pm_core.registry.connection import connect, write_transaction
from pm_core.registry.migrations import apply_migrations
from pm_core.registry.records import DONE_STATUSES, RunHandle, RunItem, RunRecord, UnknownRunError

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

REGISTRY_FILE = "registry.sqlite"

# The unary `+` keeps SQLite on the run_key index: planned on the status index, this
# lookup scans every completed run, which makes registering a batch quadratic.
SUPERSEDED_RUN_SQL = (
    "SELECT run_id FROM runs WHERE run_key = ? AND +status = 'completed' ORDER BY updated_at DESC, rowid DESC LIMIT 1"
)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _canonical_json(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class RunRegistry:
    """The run registry stored at `path`: a `*.sqlite` file, or an output directory.

    A `path` without a suffix is an output directory: it is created if missing, and the
    registry is its `registry.sqlite` file.

    A connection is opened on first use in each process, so an instance that reaches a
    child process through fork or pickling opens its own connection there.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        path = Path(path)
        if path.is_dir() or not path.suffix:
            path.mkdir(parents=True, exist_ok=True)
            path = path / REGISTRY_FILE
        self.path = path
        self._connection: sqlite3.Connection | None = None
        self._pid: int | None = None
        self._connect()

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path = state["path"]
        self._connection = None
        self._pid = None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None or self._pid != os.getpid():
            connection = connect(self.path)
            write_transaction(connection, self.path, apply_migrations)
            self._connection = connection
            self._pid = os.getpid()
        return self._connection

    def close(self) -> None:
        """Close this process's connection; the next call opens a new one."""
        if self._connection is not None and self._pid == os.getpid():
            self._connection.close()
        self._connection = None

    def _write(self, body: Any) -> Any:
        return write_transaction(self._connect(), self.path, body)

    # Registration ---------------------------------------------------------------------

    def register_runs(self, items: Sequence[RunItem]) -> list[RunHandle]:
        """Register every item in one transaction and return one handle per item, in order.

        An existing run with the same (run_key, processing_fingerprint) is returned as it is
        when completed or skipped. When it is pending, running or failed, it is reset to
        pending for a retry, keeping its run_id: there is never a second row for one pair.
        NOTE: a run that another live worker is still processing is reset as well.
        Otherwise a new pending run is inserted, and it supersedes the latest completed
        run with the same run_key and another fingerprint, if one exists.
        """

        def body(connection: sqlite3.Connection) -> list[RunHandle]:
            return [self._register_one(connection, item, _now()) for item in items]

        return self._write(body)

    def register_run(
        self,
        run_key: str | None = None,
        processing_fingerprint: str = "",
        *,
        prompt_id: str | None = None,
        dataset_id: str = "",
        labels: dict[str, Any] | None = None,
        config_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> RunHandle:
        """Register one run; `idempotency_key` is another name for `run_key`, and `prompt_id` defaults to it."""
        if run_key is None:
            if idempotency_key is None:
                msg = "register_run needs `run_key` (or its other name `idempotency_key`)"
                raise TypeError(msg)
            run_key = idempotency_key
        elif idempotency_key is not None:
            msg = "register_run takes one of `run_key` and `idempotency_key`, not both"
            raise TypeError(msg)
        item = RunItem(
            prompt_id=prompt_id if prompt_id is not None else run_key,
            dataset_id=dataset_id,
            run_key=run_key,
            processing_fingerprint=processing_fingerprint,
            labels=labels or {},
            config_id=config_id,
        )
        return self.register_runs([item])[0]

    @staticmethod
    def _register_one(connection: sqlite3.Connection, item: RunItem, now: str) -> RunHandle:
        existing = connection.execute(
            "SELECT run_id, status FROM runs WHERE run_key = ? AND processing_fingerprint = ?",
            (item.run_key, item.processing_fingerprint),
        ).fetchone()
        if existing is not None:
            run_id, status = existing
            if status in DONE_STATUSES:
                return RunHandle(run_id=run_id, status=status, is_done=True)
            connection.execute(
                "UPDATE runs SET status = 'pending', reason = NULL, message = NULL, labels = ?,"
                " config_id = ?, updated_at = ? WHERE run_id = ?",
                (_canonical_json(item.labels), item.config_id, now, run_id),
            )
            return RunHandle(run_id=run_id, status="pending", is_done=False)

        superseded = connection.execute(SUPERSEDED_RUN_SQL, (item.run_key,)).fetchone()
        run_id = uuid.uuid4().hex
        connection.execute(
            "INSERT INTO runs (run_id, prompt_id, dataset_id, run_key, processing_fingerprint, status,"
            " supersedes, labels, config_id, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)",
            (
                run_id,
                item.prompt_id,
                item.dataset_id,
                item.run_key,
                item.processing_fingerprint,
                superseded[0] if superseded else None,
                _canonical_json(item.labels),
                item.config_id,
                now,
                now,
            ),
        )
        return RunHandle(run_id=run_id, status="pending", is_done=False)

    # Status changes ---------------------------------------------------------------------

    def _update(self, sql: str, rows: list[tuple[Any, ...]], run_ids: list[str]) -> None:
        """Apply `sql` to each row of parameters in one transaction.

        Raises UnknownRunError, and changes nothing, if a run id matches no row.
        """

        def body(connection: sqlite3.Connection) -> None:
            changed = connection.executemany(sql, rows).rowcount
            missing = queries.missing_run_ids(connection, run_ids) if changed != len(rows) else []
            if missing:
                msg = f"run registry {str(self.path)!r} has no run with id {', '.join(map(repr, missing[:5]))}"
                if len(missing) > 5:
                    msg += f" and {len(missing) - 5} more"
                raise UnknownRunError(msg)

        self._write(body)

    def mark_running(self, run_ids: Iterable[str]) -> None:
        """Set the status of every run in `run_ids` to running."""
        ids = list(run_ids)
        now = _now()
        self._update(
            "UPDATE runs SET status = 'running', updated_at = ? WHERE run_id = ?", [(now, i) for i in ids], ids
        )

    def mark_completed(self, updates: Iterable[tuple[str, str, int, dict[str, Any] | None]]) -> None:
        """Mark runs completed from `(run_id, shard, row, metadata)` tuples.

        `metadata` is merged into the stored metadata as a JSON merge patch, so a key set to
        None is removed. Call it only after the rows are durable on disk (after the writer's flush returned them).
        """
        now = _now()
        rows = [
            (shard, int(row), _canonical_json(metadata or {}), now, run_id) for run_id, shard, row, metadata in updates
        ]
        self._update(
            "UPDATE runs SET status = 'completed', reason = NULL, message = NULL, shard = ?, row = ?,"
            " metadata = json_patch(metadata, ?), updated_at = ? WHERE run_id = ?",
            rows,
            [row[-1] for row in rows],
        )

    def mark_failed(self, run_id: str, reason: str, message: str, metadata: dict[str, Any] | None = None) -> None:
        """Mark one run failed with a short machine-readable `reason` and a human-readable `message`."""
        self._update(
            "UPDATE runs SET status = 'failed', reason = ?, message = ?,"
            " metadata = json_patch(metadata, ?), updated_at = ? WHERE run_id = ?",
            [(reason, message, _canonical_json(metadata or {}), _now(), run_id)],
            [run_id],
        )
        logger.debug("run %s failed (%s): %s", run_id, reason, message)

    def mark_skipped(self, run_id: str, reason: str, message: str) -> None:
        """Mark one run skipped: it will not be processed, and registering it again returns it as done."""
        self._update(
            "UPDATE runs SET status = 'skipped', reason = ?, message = ?, updated_at = ? WHERE run_id = ?",
            [(reason, message, _now(), run_id)],
            [run_id],
        )

    # Config snapshots --------------------------------------------------------------------

    def save_config(self, snapshot: dict[str, Any]) -> str:
        """Store a config snapshot once and return its id, the sha256 hex of its canonical JSON."""
        text = _canonical_json(snapshot)
        config_id = hashlib.sha256(text.encode("utf-8")).hexdigest()
        self._write(
            lambda connection: connection.execute(
                "INSERT OR IGNORE INTO configs (config_id, snapshot, created_at) VALUES (?, ?, ?)",
                (config_id, text, _now()),
            )
        )
        return config_id

    def config(self, config_id: str) -> dict[str, Any]:
        """Return the config snapshot stored under `config_id`."""
        row = self._connect().execute("SELECT snapshot FROM configs WHERE config_id = ?", (config_id,)).fetchone()
        if row is None:
            msg = f"run registry {str(self.path)!r} has no config with id {config_id!r}"
            raise UnknownRunError(msg)
        return json.loads(row[0])

    # Queries -----------------------------------------------------------------------------

    def get(self, run_id: str) -> RunRecord | None:
        """Return the run with id `run_id`, or None if there is none."""
        return queries.get(self._connect(), run_id)

    def runs(self, filters: dict[str, Any] | None = None) -> list[RunRecord]:
        """Return the runs whose columns equal the filter values; a list or tuple value matches any of its items."""
        return queries.runs(self._connect(), filters or {})

    def completed_rows(
        self, dataset_ids: Sequence[str] | None = None, status: str = "completed"
    ) -> dict[str, np.ndarray]:
        """Return numpy columns run_id, dataset_id, prompt_id, shard, row and labels (JSON text) of runs with `status`.

        `row` is -1 and `shard` is None for a run with no stored activation row.
        """
        return queries.completed_rows(self._connect(), dataset_ids, status)

    def status_counts(self) -> dict[str, dict[str, int]]:
        """Return the number of runs per dataset and status."""
        return queries.status_counts(self._connect())

    def reason_counts(self) -> dict[tuple[str, str, str | None], int]:
        """Return the number of failed and skipped runs per (dataset_id, status, reason)."""
        return queries.reason_counts(self._connect())
