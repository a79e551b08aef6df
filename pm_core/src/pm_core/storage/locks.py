"""Lock files that keep a second writer off a shard of an output directory.

The lock is an advisory `flock` on `<output_dir>/.locks/<name>.lock`. The kernel drops it
when the holding process exits, even when it is killed, so a crash leaves no stale lock.
NOTE: `flock` is POSIX only, and network file systems may not enforce it between machines.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from pm_core.errors import StorageError
from pm_core.storage.layout import LOCKS_DIR


def acquire_writer_lock(output_dir: Path, name: str) -> int:
    """Take the lock `name` in `output_dir` without waiting and return its file descriptor.

    Raises StorageError if another writer, in this process or another one, holds the lock.
    """
    locks = output_dir / LOCKS_DIR
    locks.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(locks / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        msg = f"{name!r} in {str(output_dir)!r} is open in another writer; give each writer its own shard id"
        raise StorageError(msg) from None
    return descriptor


def release_writer_lock(descriptor: int) -> None:
    """Release a lock taken by `acquire_writer_lock`."""
    os.close(descriptor)
