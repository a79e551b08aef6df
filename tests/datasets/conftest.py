"""Fixtures for the dataset plugin tests; `data_root` comes from the repository's tests/conftest.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def write_jsonl(tmp_path: Path):
    """Return a function that writes records (dicts, or raw strings as whole lines) to a JSONL file."""

    def write(records: list, name: str = "rows.jsonl") -> Path:
        path = tmp_path / name
        lines = [record if isinstance(record, str) else json.dumps(record) for record in records]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return write
