"""Eight processes append single-row batches to one LanceDB table that they create at the same moment."""

from __future__ import annotations

import multiprocessing
import traceback
from pathlib import Path

import pyarrow as pa

from pm_core.storage.lance_tables import BatchedTableWriter, open_table

N_PROCESSES = 8
ROWS_PER_PROCESS = 50
FLUSH_ROWS = 25

FEATURES_SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("layer", pa.int32()),
        ("feat_idx", pa.list_(pa.int32())),
        ("feat_val", pa.list_(pa.float32())),
    ]
)


def write_rows(database: str, process: int, barrier, results) -> None:
    try:
        barrier.wait(timeout=60)
        # Every process creates the table right after the barrier, so creations race.
        writer = BatchedTableWriter(database, "features", FEATURES_SCHEMA, flush_rows=FLUSH_ROWS)
        for index in range(ROWS_PER_PROCESS):
            row = {
                "sample_id": f"p{process}-s{index}",
                "layer": index % 3,
                "feat_idx": [index, index + 1],
                "feat_val": [0.5, 1.5],
            }
            writer.add([row])
        writer.close()
        results.put((process, writer.flushes, None))
    except BaseException:
        results.put((process, 0, traceback.format_exc()))


def test_parallel_batched_appends(tmp_path: Path) -> None:
    database = str(tmp_path / "features.lance")
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(N_PROCESSES)
    results = context.Queue()
    processes = [
        context.Process(target=write_rows, args=(database, process, barrier, results)) for process in range(N_PROCESSES)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=300) for _ in processes]
    for process in processes:
        process.join(timeout=60)

    assert [error for _, _, error in outcomes if error is not None] == []
    flushes = sum(count for _, count, _ in outcomes)
    assert flushes == N_PROCESSES * ROWS_PER_PROCESS // FLUSH_ROWS

    table = open_table(database, "features", FEATURES_SCHEMA, create=False)
    rows = table.to_arrow().to_pylist()
    assert len(rows) == N_PROCESSES * ROWS_PER_PROCESS
    keys = [(row["sample_id"], row["layer"]) for row in rows]
    assert len(set(keys)) == len(keys)
    expected = {(f"p{p}-s{i}", i % 3) for p in range(N_PROCESSES) for i in range(ROWS_PER_PROCESS)}
    assert set(keys) == expected

    fragments = table.stats()["fragment_stats"]["num_fragments"]
    assert fragments <= flushes
    assert len(table.list_versions()) <= flushes + 1
