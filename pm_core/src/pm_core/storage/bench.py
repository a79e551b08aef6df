"""Build a synthetic output directory and time loading it, for storage benchmarks.

The data is random normal float32 activations with registry rows marked completed, in the
same layout that a real run writes, so load times measured here match real stores of the
same size. Not used by `pm run`.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from pm_core.registry import RunItem, RunRegistry
from pm_core.storage.activation_reader import ActivationReader
from pm_core.storage.activations import ActivationWriter
from pm_core.storage.layout import Site

logger = logging.getLogger(__name__)

DEFAULT_SITE: Site = ("resid_post", 0)
BLOCK_ROWS = 4096


def write_synthetic(
    output_dir: str | os.PathLike[str],
    n_rows: int = 100_000,
    d: int = 576,
    offsets: tuple[int, ...] = (-1,),
    *,
    site: Site = DEFAULT_SITE,
    n_shards: int = 1,
    n_datasets: int = 4,
    seed: int = 0,
) -> dict[str, Any]:
    """Write `n_rows` random rows of width `d` for `site` at `offsets`, and register them as completed.

    Rows go to `n_shards` shards in blocks of 4096 taken in turn, so with several shards the
    registry order interleaves shards the way parallel workers do. Prompt i belongs to
    dataset `synthetic-{i % n_datasets}` and has labels `{"malicious": i % 2}`.

    Returns:
        Timings in seconds (`write_s`, `register_s`) and the sizes used.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    registry = RunRegistry(output_dir)
    writers = [
        ActivationWriter(output_dir, f"synthetic-{index}", [site], offsets, d, flush_rows=BLOCK_ROWS)
        for index in range(n_shards)
    ]
    write_s = register_s = 0.0
    n_positions = len(offsets)

    for block, start in enumerate(range(0, n_rows, BLOCK_ROWS)):
        stop = min(n_rows, start + BLOCK_ROWS)
        items = synthetic_run_items(start, stop, n_datasets)
        began = time.perf_counter()
        handles = registry.register_runs(items)
        register_s += time.perf_counter() - began

        activations = rng.standard_normal((stop - start, n_positions, d), dtype=np.float32)
        valid = np.ones((stop - start, n_positions), dtype=bool)
        positions = np.tile(np.arange(n_positions, dtype=np.int32) + 20, (stop - start, 1))
        writer = writers[block % n_shards]
        began = time.perf_counter()
        writer.append([handle.run_id for handle in handles], {site: activations}, valid, positions)
        locations = writer.flush()
        write_s += time.perf_counter() - began

        began = time.perf_counter()
        registry.mark_completed([(loc.run_id, loc.shard, loc.row, {"n_tokens": 24}) for loc in locations])
        register_s += time.perf_counter() - began

    for writer in writers:
        writer.close()
    registry.close()
    summary = {
        "n_rows": n_rows,
        "d": d,
        "offsets": offsets,
        "n_shards": n_shards,
        "write_s": write_s,
        "register_s": register_s,
    }
    logger.info("wrote synthetic store %s: %s", output_dir, summary)
    return summary


def time_load(
    output_dir: str | os.PathLike[str],
    site: Site = DEFAULT_SITE,
    offsets: tuple[int, ...] = (-1,),
) -> dict[str, float]:
    """Load X for every completed run the way a classification reader does, and time each step in seconds."""
    began = time.perf_counter()
    registry = RunRegistry(output_dir)
    columns = registry.completed_rows()
    rows_s = time.perf_counter() - began

    began = time.perf_counter()
    X, valid = ActivationReader(output_dir).read(site, offsets, columns["shard"], columns["row"])
    read_s = time.perf_counter() - began
    registry.close()
    return {"completed_rows_s": rows_s, "read_s": read_s, "total_s": rows_s + read_s, "n_rows": float(X.shape[0])}


def synthetic_run_items(start: int, stop: int, n_datasets: int) -> list[RunItem]:
    """Return registry items for synthetic prompts `start` to `stop - 1`, spread over `n_datasets` datasets."""
    return [
        RunItem(
            prompt_id=f"prompt-{i}",
            dataset_id=f"synthetic-{i % n_datasets}",
            run_key=f"synthetic-{i}",
            processing_fingerprint="synthetic",
            labels={"malicious": i % 2},
        )
        for i in range(start, stop)
    ]
