"""Lazy record readers for JSONL, JSON, CSV and Parquet files.

Each reader yields one dict per row, or a `RowIssue` for a row that cannot be
read, and reads no further than its consumer requests. A JSON file is the
exception: it contains one array, which is parsed whole.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pm_core.errors import ConfigError, DataError
from pm_plugins_datasets.base import RowIssue

FORMATS_BY_SUFFIX = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
}
FORMATS = ("jsonl", "json", "csv", "parquet")

PARQUET_BATCH_ROWS = 1024


def infer_format(path: Path, format: str | None = None) -> str:
    """Return `format` after checking it, or the format that the file suffix names."""
    if format is not None:
        if format not in FORMATS:
            msg = f"unknown file format {format!r} for {path}: expected one of {', '.join(FORMATS)}"
            raise ConfigError(msg)
        return format

    suffix = path.suffix.lower()
    if suffix not in FORMATS_BY_SUFFIX:
        known = ", ".join(FORMATS_BY_SUFFIX)
        msg = f"cannot infer the format of {path} from its suffix {suffix!r}: expected one of {known}, or set `format`"
        raise ConfigError(msg)
    return FORMATS_BY_SUFFIX[suffix]


def iter_file_records(path: Path, format: str) -> Iterator[dict[str, Any] | RowIssue]:
    """Yield the rows of one file as dicts, or a `RowIssue` for each unreadable row."""
    readers = {"jsonl": _iter_jsonl, "json": _iter_json, "csv": _iter_csv, "parquet": _iter_parquet}
    yield from readers[format](path)


def iter_files_records(paths: Iterable[Path], format: str | None = None) -> Iterator[dict[str, Any] | RowIssue]:
    """Yield the rows of several files in order, inferring each file's format unless `format` is set."""
    for path in paths:
        yield from iter_file_records(path, infer_format(path, format))


def _iter_jsonl(path: Path) -> Iterator[dict[str, Any] | RowIssue]:
    # Blank lines separate nothing in JSONL, so they are not rows.
    with path.open(encoding="utf-8") as lines:
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                yield RowIssue("invalid_json", f"{path} line {line_number}: invalid JSON ({error})")
                continue
            if isinstance(record, dict):
                yield record
            else:
                message = f"{path} line {line_number}: expected a JSON object, got {type(record).__name__}"
                yield RowIssue("invalid_record", message)


def _iter_json(path: Path) -> Iterator[dict[str, Any] | RowIssue]:
    try:
        with path.open(encoding="utf-8") as file:
            records = json.load(file)
    except json.JSONDecodeError as error:
        msg = f"{path} is not valid JSON ({error}). A file with one object per line needs the .jsonl suffix."
        raise DataError(msg) from error
    if not isinstance(records, list):
        msg = f"{path} holds a JSON {type(records).__name__}: expected an array of objects, one per row"
        raise DataError(msg)

    for position, record in enumerate(records):
        if isinstance(record, dict):
            yield record
        else:
            yield RowIssue(
                "invalid_record", f"{path} item {position}: expected a JSON object, got {type(record).__name__}"
            )


def _iter_csv(path: Path) -> Iterator[dict[str, Any] | RowIssue]:
    with path.open(encoding="utf-8", newline="") as file:
        reader = csv.DictReader(file)
        for record in reader:
            # DictReader puts surplus cells under the key None.
            if None in record:
                n_columns = len(reader.fieldnames or ())
                message = f"{path} line {reader.line_num}: more cells than the {n_columns} columns of the header"
                yield RowIssue("invalid_record", message)
            else:
                yield record


def _iter_parquet(path: Path) -> Iterator[dict[str, Any] | RowIssue]:
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as parquet_file:
        for batch in parquet_file.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            yield from batch.to_pylist()
