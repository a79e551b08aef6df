"""SQLite connections for the run registry, shared safely by several worker processes.

Each process opens its own connection. The database runs in WAL mode, so readers and the
one writer do not block each other. Every transaction that writes starts with
`BEGIN IMMEDIATE`, which takes the write lock before the first read. A plain `BEGIN` would
start a read transaction, and when that transaction later tries to write, SQLite does not
wait for the busy timeout but fails it at once with "database is locked".
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pm_core.errors import StorageError
from pm_core.storage.retry import retry_with_backoff

logger = logging.getLogger(__name__)

T = TypeVar("T")

BUSY_TIMEOUT_MS = 30_000
"""How long SQLite itself waits for the write lock before it reports the database as locked."""

MAX_ATTEMPTS = 8
"""Attempts per transaction when SQLite still reports the database as locked or busy."""



def connect(path: Path) -> sqlite3.Connection:
    """Open the registry file in WAL mode with a busy timeout, creating it if missing."""
    try:
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except sqlite3.OperationalError as error:
        msg = f"cannot open the run registry {str(path)!r}: {error}; check that the folder exists and is writable"
        raise StorageError(msg) from error

    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    # Switching to WAL needs a moment of exclusive access, so it can meet a lock too.
    mode = retry_locked(lambda: connection.execute("PRAGMA journal_mode = WAL").fetchone()[0], path)
    if mode.lower() != "wal":
        msg = (
            f"the run registry {str(path)!r} cannot use WAL mode (SQLite kept {mode!r}); "
            "put the output directory on a local file system"
        )
        raise StorageError(msg)
    # In WAL mode, NORMAL loses no committed transaction when a process is killed, only on
    # power loss, and then the runs concerned are simply processed again.
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


def _is_locked(error: sqlite3.OperationalError) -> bool:
    text = str(error).lower()
    return "database is locked" in text or "database is busy" in text


def retry_locked(operation: Callable[[], T], path: Path) -> T:
    """Call `operation`, retrying with bounded exponential backoff while SQLite reports a lock."""

    def give_up(error: Exception) -> StorageError:
        msg = (
            f"the run registry {str(path)!r} stayed locked through {MAX_ATTEMPTS} attempts "
            f"of {BUSY_TIMEOUT_MS} ms each; another process may hold a long transaction"
        )
        return StorageError(msg)

    return retry_with_backoff(
        operation,
        is_retryable=lambda error: _is_locked(error),
        give_up=give_up,
        description=f"run registry {path} is locked",
        catch=(sqlite3.OperationalError,),
        max_attempts=MAX_ATTEMPTS,
    )


def write_transaction(connection: sqlite3.Connection, path: Path, body: Callable[[sqlite3.Connection], T]) -> T:
    """Run `body` inside `BEGIN IMMEDIATE` ... `COMMIT`, retrying the whole transaction on a lock.

    `body` may run more than once, so it must not change anything outside the database.
    Any other exception rolls the transaction back and propagates.
    """

    def attempt() -> T:
        connection.execute("BEGIN IMMEDIATE")
        try:
            result = body(connection)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return result

    return retry_locked(attempt, path)
