"""`dictionaries.json`: which SAE each stored dictionary name came from.

Ingestion and `pm sae encode` record the identity of every dictionary they write
(source, hook, widths, a digest of the weights), so features of two different
SAEs never end up mixed under one name unnoticed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pm_core.storage.layout import LOCKS_DIR

DICTIONARIES_FILE = "dictionaries.json"


def recorded_dictionaries(output_dir: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Return `{name: identity}` of the dictionaries written to `output_dir`."""
    path = Path(output_dir) / DICTIONARIES_FILE
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def record_dictionary(output_dir: str | os.PathLike[str], name: str, identity: dict[str, Any]) -> dict[str, Any] | None:
    """Record `identity` under `name`; return the identity it replaced when the weights differ, else None."""
    output_dir = Path(output_dir)
    with _locked(output_dir):
        recorded = recorded_dictionaries(output_dir)
        previous = recorded.get(name)
        recorded[name] = identity
        _write(output_dir, recorded)
    if previous is not None and previous.get("weights_sha256") != identity.get("weights_sha256"):
        return previous
    return None


def forget_dictionary(output_dir: str | os.PathLike[str], name: str) -> None:
    """Remove `name` from the record."""
    output_dir = Path(output_dir)
    with _locked(output_dir):
        recorded = recorded_dictionaries(output_dir)
        recorded.pop(name, None)
        _write(output_dir, recorded)


def _write(output_dir: Path, recorded: dict[str, Any]) -> None:
    temporary = output_dir / f".{DICTIONARIES_FILE}.tmp"
    temporary.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, output_dir / DICTIONARIES_FILE)


@contextlib.contextmanager
def _locked(output_dir: Path) -> Iterator[None]:
    """Hold an exclusive flock on `.locks/dictionaries.lock` while the record is read and rewritten."""
    path = output_dir / LOCKS_DIR / "dictionaries.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)
