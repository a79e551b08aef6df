"""Eight processes register overlapping run keys in one registry at the same time."""

from __future__ import annotations

import multiprocessing
import sqlite3
import traceback
from pathlib import Path

import pytest

from pm_core.errors import StorageError
from pm_core.registry import RunRegistry
from pm_core.registry import connection as connection_module
from pm_core.registry.connection import connect
from pm_core.storage import retry

N_PROCESSES = 8
CALLS_PER_PROCESS = 50
N_KEYS = 100


def key_for(process: int, call: int) -> str:
    """Return the key that `process` uses on its `call`-th call.

    Processes p and p + 4 walk the same sequence in step, and the four sequences overlap,
    so each of the 100 keys is used by four processes, two of them at the same moment.
    """
    return f"key-{(call + 25 * (process % 4)) % N_KEYS}"


def register_keys(path: str, process: int, barrier, results) -> None:
    try:
        barrier.wait(timeout=60)
        # Opening after the barrier makes the processes race on the migrations as well.
        registry = RunRegistry(path)
        handles = []
        for call in range(CALLS_PER_PROCESS):
            key = key_for(process, call)
            handle = registry.register_run(idempotency_key=key, processing_fingerprint="fp-1")
            handles.append((key, handle.run_id))
        results.put((process, handles, None))
    except BaseException:
        results.put((process, [], traceback.format_exc()))


def test_registry_concurrent_register_runs(tmp_path: Path) -> None:
    path = str(tmp_path / "registry.sqlite")
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(N_PROCESSES)
    results = context.Queue()
    processes = [
        context.Process(target=register_keys, args=(path, process, barrier, results)) for process in range(N_PROCESSES)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=180) for _ in processes]
    for process in processes:
        process.join(timeout=60)

    errors = [error for _, _, error in outcomes if error is not None]
    assert errors == []
    assert all(process.exitcode == 0 for process in processes)

    run_ids_by_key: dict[str, set[str]] = {}
    for _, handles, _ in outcomes:
        assert len(handles) == CALLS_PER_PROCESS
        for key, run_id in handles:
            run_ids_by_key.setdefault(key, set()).add(run_id)
    assert len(run_ids_by_key) == N_KEYS
    assert all(len(run_ids) == 1 for run_ids in run_ids_by_key.values())

    with sqlite3.connect(path) as check:
        assert check.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == N_KEYS
        assert check.execute("SELECT COUNT(DISTINCT run_key) FROM runs").fetchone()[0] == N_KEYS
        assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    connection = connect(Path(path))
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert connection.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    connection.close()


def test_key_schedule_overlaps() -> None:
    """Check the schedule itself: every key is used by at least two processes on the same call."""
    users: dict[tuple[str, int], set[int]] = {}
    for process in range(N_PROCESSES):
        for call in range(CALLS_PER_PROCESS):
            users.setdefault((key_for(process, call), call), set()).add(process)
    keys = {key for key, _ in users}
    assert len(keys) == N_KEYS
    for key in keys:
        assert any(len(processes) >= 2 for (k, _), processes in users.items() if k == key)


def test_lock_retry_bounded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A lock that never clears ends in StorageError after MAX_ATTEMPTS, not an endless wait."""
    monkeypatch.setattr(retry, "BACKOFF_BASE_S", 0.0)
    calls = []

    def locked() -> None:
        calls.append(1)
        raise sqlite3.OperationalError("database is locked")

    with pytest.raises(StorageError, match="stayed locked"):
        connection_module.retry_locked(locked, tmp_path / "registry.sqlite")
    assert len(calls) == connection_module.MAX_ATTEMPTS
