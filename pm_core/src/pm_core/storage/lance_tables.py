"""Batched appends to a LanceDB table that several processes share.

Every LanceDB `add` commits a new table version and writes at least one fragment, so
committing row by row from many workers multiplies versions, fragments and commit
conflicts. `BatchedTableWriter` buffers rows and commits them once per flush. Creating the
table tolerates another process creating it at the same moment, and a commit conflict is
retried with bounded exponential backoff. lancedb is imported on first use only, so
importing pm_core stays light.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa

from pm_core.errors import StorageError
from pm_core.storage.retry import retry_with_backoff

if TYPE_CHECKING:
    from lancedb.table import Table

logger = logging.getLogger(__name__)

T = TypeVar("T")

Rows = Mapping[str, Any] | Sequence[Mapping[str, Any]] | pa.Table | pa.RecordBatch
"""Rows for `BatchedTableWriter.add`: one mapping, a sequence of mappings, or an Arrow table or batch."""

# Each worker commits to several tables per flush, so races are frequent with many writers.
MAX_ATTEMPTS = 16

# Substrings of the lancedb 0.40 errors that mean "try again": a lost commit race, or a
# table that another process created between our check and our create.
_RETRYABLE = ("commit conflict", "retryable", "conflicting", "already exists")


def _is_retryable(error: Exception) -> bool:
    text = str(error).lower()
    return any(marker in text for marker in _RETRYABLE)


def retry_conflicts(operation: Callable[[], T], description: str) -> T:
    """Call `operation`, retrying with bounded exponential backoff while LanceDB reports a conflict."""

    def give_up(error: Exception) -> StorageError:
        msg = f"{description} failed after {MAX_ATTEMPTS} attempts because of concurrent writers: {error}"
        return StorageError(msg)

    return retry_with_backoff(
        operation,
        is_retryable=_is_retryable,
        give_up=give_up,
        description=f"{description} conflicted with another writer",
        catch=(OSError, RuntimeError, ValueError),
        max_attempts=MAX_ATTEMPTS,
    )


def open_table(database: str | os.PathLike[str], name: str, schema: pa.Schema, *, create: bool = True) -> Table:
    """Open table `name` of the LanceDB database at `database`, creating it empty with `schema` if missing.

    Raises StorageError if the table exists with another schema, or is missing and `create` is False.
    """
    import lancedb

    connection = lancedb.connect(str(database))

    def attempt() -> Table:
        if not create:
            return connection.open_table(name)
        # Two processes that both find the table missing would both create it, and
        # lancedb 0.40 turns the second creation into an Overwrite that conflicts with
        # (or could replace) the first process's appends. A blocking file lock makes the
        # check and the creation one step across processes.
        with _creation_lock(Path(database), name):
            return connection.create_table(name, schema=schema, exist_ok=True)

    try:
        table = retry_conflicts(attempt, f"opening LanceDB table {name!r} in {str(database)!r}")
    except ValueError as error:
        if "schema" in str(error).lower() and _add_missing_columns(connection, name, schema):
            logger.info("added the columns a newer pm writes to LanceDB table %r in %s", name, database)
            return connection.open_table(name)
        if "schema" in str(error).lower():
            existing = connection.open_table(name).schema
            msg = (
                f"LanceDB table {name!r} in {str(database)!r} has schema {existing}, expected {schema}; "
                "use another output directory"
            )
            raise StorageError(msg) from error
        if not create and "not found" in str(error).lower():
            msg = f"no LanceDB table {name!r} in {str(database)!r}"
            raise StorageError(msg) from error
        raise
    return table


def _add_missing_columns(connection: Any, name: str, schema: pa.Schema) -> bool:
    """Add `schema`'s trailing nullable fields that an older table lacks, as nulls; return whether it did.

    Only a table whose fields are the first fields of `schema`, unchanged, is upgraded.
    """
    table = connection.open_table(name)
    existing = table.schema
    if len(existing) >= len(schema) or list(existing) != list(schema)[: len(existing)]:
        return False
    missing = list(schema)[len(existing) :]
    if not all(field.nullable for field in missing):
        return False
    table.add_columns(missing)
    return True


@contextlib.contextmanager
def _creation_lock(database: Path, name: str) -> Iterator[None]:
    """Hold an exclusive `flock` on `<database>.<name>.create.lock` while a table is created."""
    lock_path = database.parent / f".{database.name}.{name}.create.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)


class BatchedTableWriter:
    """Buffers rows for one LanceDB table and commits them once per flush.

    Args:
        database: path of the LanceDB database (a folder such as `<output_dir>/features.lance`).
        table_name: the table to append to, created with `schema` if missing.
        schema: the pyarrow schema that every row must match exactly, field by field.
        flush_rows: number of buffered rows at which `add` commits them.
    """

    def __init__(
        self,
        database: str | os.PathLike[str],
        table_name: str,
        schema: pa.Schema,
        *,
        flush_rows: int = 1024,
    ) -> None:
        if flush_rows <= 0:
            msg = f"invalid flush_rows {flush_rows}: expected a positive int"
            raise ValueError(msg)
        self.database = Path(database)
        self.table_name = table_name
        self.schema = schema
        self.flush_rows = flush_rows
        self._table = open_table(self.database, table_name, schema)
        self._buffer: list[pa.Table] = []
        self.buffered_rows = 0
        self._committed: list[pa.Table] = []
        """Batches committed since the last `flush` call returned, waiting to be reported."""
        self.flushes = 0
        """Commits made so far by this writer."""

    def _to_table(self, rows: Rows) -> pa.Table:
        if isinstance(rows, Mapping):
            rows = [rows]
        if isinstance(rows, pa.RecordBatch):
            rows = pa.Table.from_batches([rows])
        if isinstance(rows, pa.Table):
            if rows.schema.names != self.schema.names:
                msg = (
                    f"rows for table {self.table_name!r} have columns {rows.schema.names}, expected {self.schema.names}"
                )
                raise ValueError(msg)
            return rows.cast(self.schema)
        names = set(self.schema.names)
        for row in rows:
            if set(row) != names:
                msg = (
                    f"row for table {self.table_name!r} has keys {sorted(row)}, expected {sorted(names)}: "
                    f"missing {sorted(names - set(row))}, unknown {sorted(set(row) - names)}"
                )
                raise ValueError(msg)
        return pa.Table.from_pylist(list(rows), schema=self.schema)

    def add(self, rows: Rows) -> None:
        """Buffer rows, and commit the buffer once it contains `flush_rows` rows.

        `rows` is one mapping or a sequence of mappings with exactly the schema's keys, or an
        Arrow table or record batch with the schema's columns. Rows committed here are
        returned by the next `flush`.
        """
        table = self._to_table(rows)
        if table.num_rows:
            self._buffer.append(table)
            self.buffered_rows += table.num_rows
        if self.buffered_rows >= self.flush_rows:
            self._commit_buffer()

    def flush(self) -> pa.Table:
        """Commit every buffered row as one append, then return all rows committed since the previous flush."""
        self._commit_buffer()
        committed, self._committed = self._committed, []
        return pa.concat_tables(committed) if committed else self.schema.empty_table()

    def _commit_buffer(self) -> None:
        if not self._buffer:
            return
        batch = pa.concat_tables(self._buffer).combine_chunks()
        retry_conflicts(
            lambda: self._table.add(batch),
            f"appending {batch.num_rows} rows to LanceDB table {self.table_name!r}",
        )
        self._buffer.clear()
        self.buffered_rows = 0
        self.flushes += 1
        self._committed.append(batch)
        logger.debug("committed %d rows to LanceDB table %s", batch.num_rows, self.table_name)

    def close(self) -> pa.Table:
        """Commit what is buffered and return what `flush` returns."""
        return self.flush()


def build_btree_index(table: Table, column: str) -> None:
    """Build (or rebuild) a BTREE scalar index on `column` of `table`."""
    import warnings

    # NOTE: lancedb 0.40 deprecates create_scalar_index in favour of create_index(config=BTree()),
    # whose first positional argument there is a vector metric, so the old call is kept for now.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="create_scalar_index is deprecated")
        table.create_scalar_index(column, index_type="BTREE", replace=True)
