"""Four processes append activation blocks for one site at the same time, each to its own shard."""

from __future__ import annotations

import multiprocessing
import traceback
from pathlib import Path

import numpy as np

from pm_core.registry import RunItem, RunRegistry
from pm_core.storage import ActivationReader, ActivationWriter

N_WORKERS = 4
BLOCKS_PER_WORKER = 25
BLOCK_ROWS = 10
D_MODEL = 16
SITE = ("resid_post", 2)


def sample_id(worker: int, block: int, index: int) -> str:
    return f"w{worker}-b{block:02d}-{index}"


def write_blocks(output_dir: str, worker: int, barrier, results) -> None:
    try:
        registry = RunRegistry(output_dir)
        barrier.wait(timeout=60)
        # flush_rows=25 makes append write rows on its own between the explicit flushes below.
        writer = ActivationWriter(output_dir, f"worker-{worker}", [SITE], (-1,), D_MODEL, flush_rows=25)
        for block in range(BLOCKS_PER_WORKER):
            ids = [sample_id(worker, block, index) for index in range(BLOCK_ROWS)]
            handles = registry.register_runs(
                [RunItem(prompt_id=i, dataset_id=f"d{worker}", run_key=i, processing_fingerprint="fp") for i in ids]
            )
            value = worker * 1000 + block
            activations = np.full((BLOCK_ROWS, 1, D_MODEL), value, dtype=np.float32)
            writer.append(
                [handle.run_id for handle in handles],
                {SITE: activations},
                valid=np.ones((BLOCK_ROWS, 1), dtype=bool),
                token_positions=np.full((BLOCK_ROWS, 1), 7),
            )
            if block % 4 == 3:
                locations = writer.flush()
                registry.mark_completed([(loc.run_id, loc.shard, loc.row, None) for loc in locations])
        locations = writer.close()
        registry.mark_completed([(loc.run_id, loc.shard, loc.row, None) for loc in locations])
        results.put((worker, None))
    except BaseException:
        results.put((worker, traceback.format_exc()))


def test_parallel_writers_keep_every_block(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(N_WORKERS)
    results = context.Queue()
    processes = [
        context.Process(target=write_blocks, args=(str(tmp_path), worker, barrier, results))
        for worker in range(N_WORKERS)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=180) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    assert [error for _, error in outcomes if error is not None] == []

    registry = RunRegistry(tmp_path)
    columns = registry.completed_rows()
    assert len(columns["run_id"]) == N_WORKERS * BLOCKS_PER_WORKER * BLOCK_ROWS

    # The sample index: each sample id maps to exactly one (shard, row).
    index = {
        prompt_id: (shard, row)
        for prompt_id, shard, row in zip(columns["prompt_id"], columns["shard"], columns["row"].tolist(), strict=True)
    }
    ordered = [
        sample_id(worker, block, i)
        for worker in range(N_WORKERS)
        for block in range(BLOCKS_PER_WORKER)
        for i in range(BLOCK_ROWS)
    ]
    assert sorted(index) == sorted(ordered)
    assert len(set(index.values())) == len(ordered)

    reader = ActivationReader(tmp_path)
    assert reader.shards() == [f"worker-{worker}" for worker in range(N_WORKERS)]
    assert sum(reader.n_rows(shard) for shard in reader.shards()) == len(ordered)
    shards = [index[sample][0] for sample in ordered]
    rows = [index[sample][1] for sample in ordered]
    X, valid = reader.read(SITE, [-1], shards, rows)
    assert X.shape == (len(ordered), 1, D_MODEL)
    assert valid.all()

    values = X[:, 0, :]
    assert np.all(values == values[:, :1])
    expected_values = {worker * 1000 + block for worker in range(N_WORKERS) for block in range(BLOCKS_PER_WORKER)}
    assert set(np.unique(values[:, 0]).tolist()) == expected_values
    for value in expected_values:
        found = np.flatnonzero(values[:, 0] == value)
        assert len(found) == BLOCK_ROWS, value
        assert found[-1] - found[0] == BLOCK_ROWS - 1, value

    # Each shard stores the run id of every row, matching what the registry recorded.
    run_ids = dict(zip(columns["prompt_id"], columns["run_id"], strict=True))
    stored = {shard: reader.run_ids(shard) for shard in reader.shards()}
    for sample in ordered:
        shard, row = index[sample]
        assert stored[shard][row] == run_ids[sample]
