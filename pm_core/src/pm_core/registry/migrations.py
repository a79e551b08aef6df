"""Numbered schema migrations of the run registry.

Each migration is a plain function named `mNNN_<what>` that takes a connection, and the
`migration` decorator appends it to `MIGRATIONS` in file order. Applied names are recorded
in `_migrations`, so `apply_migrations` runs each one once per database. Never edit or
reorder a migration that has shipped: add a new one.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

logger = logging.getLogger(__name__)

Migration = Callable[[sqlite3.Connection], None]

MIGRATIONS: list[Migration] = []


def migration(function: Migration) -> Migration:
    """Register `function` as the next migration."""
    MIGRATIONS.append(function)
    return function


@migration
def m001_create_configs(connection: sqlite3.Connection) -> None:
    connection.execute(
        """
        CREATE TABLE configs (
            config_id TEXT PRIMARY KEY,  -- sha256 hex of the canonical JSON snapshot
            snapshot TEXT NOT NULL,
            created_at TEXT NOT NULL
        )
        """
    )


@migration
def m002_create_runs(connection: sqlite3.Connection) -> None:
    connection.execute(
        """
        CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            prompt_id TEXT NOT NULL,
            dataset_id TEXT NOT NULL,
            run_key TEXT NOT NULL,
            processing_fingerprint TEXT NOT NULL,
            status TEXT NOT NULL
                CHECK (status IN ('pending', 'running', 'completed', 'failed', 'skipped')),
            reason TEXT,
            message TEXT,
            supersedes TEXT REFERENCES runs (run_id),
            labels TEXT NOT NULL DEFAULT '{}',
            metadata TEXT NOT NULL DEFAULT '{}',
            config_id TEXT REFERENCES configs (config_id),
            shard TEXT,
            row INTEGER,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )


@migration
def m003_index_runs(connection: sqlite3.Connection) -> None:
    # The unique index makes a second row for one (run_key, fingerprint) impossible, even if
    # a caller bypasses `RunRegistry.register_runs`. Its run_key prefix serves supersede lookups.
    connection.execute("CREATE UNIQUE INDEX runs_by_key ON runs (run_key, processing_fingerprint)")
    connection.execute("CREATE INDEX runs_by_dataset ON runs (dataset_id, status)")
    connection.execute("CREATE INDEX runs_by_status ON runs (status)")


def applied_migrations(connection: sqlite3.Connection) -> list[str]:
    """Return the names of the migrations already applied, in the order they ran."""
    rows = connection.execute("SELECT name FROM _migrations ORDER BY applied_order").fetchall()
    return [name for (name,) in rows]


def apply_migrations(connection: sqlite3.Connection) -> list[str]:
    """Apply every migration not yet recorded and return their names.

    The caller must hold a write transaction (`BEGIN IMMEDIATE`), so that two processes
    opening a new registry at once cannot both apply the same migration.
    """
    connection.execute(
        """
        CREATE TABLE IF NOT EXISTS _migrations (
            name TEXT PRIMARY KEY,
            applied_order INTEGER NOT NULL,
            applied_at TEXT NOT NULL
        )
        """
    )
    done = set(applied_migrations(connection))
    applied: list[str] = []
    for order, function in enumerate(MIGRATIONS, start=1):
        name = function.__name__
        if name in done:
            continue
        function(connection)
        connection.execute(
            "INSERT INTO _migrations (name, applied_order, applied_at) VALUES (?, ?, ?)",
            (name, order, datetime.now(UTC).isoformat()),
        )
        applied.append(name)
        logger.info("applied run registry migration %s", name)
    return applied
