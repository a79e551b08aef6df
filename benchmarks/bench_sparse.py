"""Time loading stored sparse features as a CSR matrix, and the top prompts of one feature.

Writes synthetic stores in a temporary folder, with registry rows marked completed as a
real run leaves them, then measures:

- `csr_100k_s`: `ClassificationDataset.load(space="sae", return_sparse=True)` of 100,000
  prompts x 16,384 features with 64 active per prompt (registry read included);
- `bare_csr_100k_s`: `scipy.sparse.csr_matrix((data, (rows, cols)))` on the same entries
  already in memory, the floor that a reader cannot beat;
- `top100_ms`: `ClassificationDataset.top_prompts(k=100)` for one feature over 1,000,000
  stored feature rows (8 active features each, so about 490 rows per feature), the median of
  `TOP_REPEATS` calls after one warm-up call, with the BTREE indexes on `feat_idx` and
  `outputs.run_id` built by `index_output_dir`, as at the end of `pm run`. The store also
  has an `outputs` row with a prompt text per run, and the 100 texts are looked up;
  `top100_without_text_ms` leaves that lookup out.

Prints the figures and writes them to `.bench/sparse.json`. Sizes can be reduced with
`--scale 0.1` for a quick check.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from pm_core.readers.classification import ClassificationDataset
from pm_core.registry import RunRegistry
from pm_core.storage.bench import synthetic_run_items
from pm_core.storage.features import SparseFeatureWriter
from pm_core.storage.indexes import index_output_dir
from pm_core.storage.outputs import OutputWriter

REPO_ROOT = Path(__file__).resolve().parent.parent
BLOCK_ROWS = 4096
D_SAE = 16_384
LAYER = 12
DICTIONARY = "synthetic/sae-12"
TOP_REPEATS = 20


def synthetic_indices(rng: np.random.Generator, n_rows: int, n_active: int) -> np.ndarray:
    """Return (n_rows, n_active) distinct feature indices per row: one per equal slice of [0, D_SAE), shifted."""
    width = D_SAE // n_active
    jitter = rng.integers(0, width, (n_rows, n_active))
    shift = rng.integers(0, D_SAE, (n_rows, 1))
    return ((np.arange(n_active) * width + jitter + shift) % D_SAE).astype(np.int32)


def synthetic_output(run_id: str, number: int) -> dict:
    """Return an `outputs` row whose prompt text has the length of a short chat prompt."""
    text = f"<|im_start|>user\nSynthetic prompt number {number}: summarise the attached document.<|im_end|>"
    return {
        "run_id": run_id,
        "shard": "synthetic-0",
        "generated_text": "",
        "generated_ids": [],
        "topk_ids": [],
        "topk_values": [],
        "input_ids": [],
        "prompt_text": text,
    }


def write_store(
    output_dir: Path, n_rows: int, n_active: int, *, write_index: bool, seed: int = 0, with_outputs: bool = False
) -> dict:
    """Write `n_rows` completed runs with `n_active` random features each; return timings in seconds."""
    rng = np.random.default_rng(seed)
    registry = RunRegistry(output_dir)
    outputs = OutputWriter(output_dir, flush_rows=2**62) if with_outputs else None
    writer = SparseFeatureWriter(output_dir, "synthetic-0", flush_rows=BLOCK_ROWS, write_index=write_index)
    writer.declare_dictionary(DICTIONARY, D_SAE)
    register_s = write_s = 0.0
    for start in range(0, n_rows, BLOCK_ROWS):
        stop = min(n_rows, start + BLOCK_ROWS)
        items = synthetic_run_items(start, stop, n_datasets=4)
        began = time.perf_counter()
        run_ids = [handle.run_id for handle in registry.register_runs(items)]
        register_s += time.perf_counter() - began

        indices = synthetic_indices(rng, stop - start, n_active)
        values = rng.exponential(1.0, (stop - start, n_active)).astype(np.float32)
        began = time.perf_counter()
        for run_id, row_indices, row_values in zip(run_ids, indices, values, strict=True):
            writer.add(run_id, DICTIONARY, LAYER, -1, row_indices, row_values)
        committed = writer.flush()
        if outputs is not None:
            outputs.add([synthetic_output(run_id, start + offset) for offset, run_id in enumerate(run_ids)])
            outputs.flush()
        write_s += time.perf_counter() - began

        began = time.perf_counter()
        registry.mark_completed([(run_id, "synthetic-0", -1, None) for run_id in committed])
        register_s += time.perf_counter() - began
    registry.close()
    return {"register_s": register_s, "write_s": write_s}


def bench_csr(root: Path, n_rows: int) -> dict:
    output_dir = root / "csr"
    written = write_store(output_dir, n_rows, 64, write_index=False)
    dataset = ClassificationDataset(output_dir)
    began = time.perf_counter()
    data = dataset.load(layer=LAYER, space="sae", position=-1, return_sparse=True)
    csr_s = time.perf_counter() - began
    assert data.X.shape == (n_rows, D_SAE), data.X.shape

    coo = data.X.tocoo()
    rows, cols, values = coo.row.copy(), coo.col.copy(), coo.data.copy()
    began = time.perf_counter()
    bare = sp.csr_matrix((values, (rows, cols)), shape=(n_rows, D_SAE))
    bare_s = time.perf_counter() - began
    assert bare.nnz == data.X.nnz
    return {"csr_100k_s": csr_s, "bare_csr_100k_s": bare_s, "csr_write": written, "csr_nnz": int(data.X.nnz)}


def bench_top(root: Path, n_rows: int) -> dict:
    output_dir = root / "top"
    written = write_store(output_dir, n_rows, 8, write_index=True, seed=1, with_outputs=True)
    began = time.perf_counter()
    index_output_dir(output_dir)
    index_s = time.perf_counter() - began
    dataset = ClassificationDataset(output_dir)
    top = dataset.top_prompts(feature=123, layer=LAYER, k=100)
    # About n_rows * 8 / D_SAE rows contain one feature, so a reduced --scale finds fewer than 100.
    assert 0 < len(top) <= 100, len(top)
    assert all(a["value"] >= b["value"] for a, b in zip(top, top[1:], strict=False))
    assert all(item["text"].startswith("<|im_start|>user") for item in top)
    times, without_text = [], []
    for feature in range(TOP_REPEATS):
        began = time.perf_counter()
        dataset.top_prompts(feature=1000 + feature, layer=LAYER, k=100)
        times.append(time.perf_counter() - began)
        began = time.perf_counter()
        dataset.top_prompts(feature=2000 + feature, layer=LAYER, k=100, with_text=False)
        without_text.append(time.perf_counter() - began)
    return {
        "top100_ms": statistics.median(times) * 1000,
        "top100_without_text_ms": statistics.median(without_text) * 1000,
        "top_found": len(top),
        "top_index_s": index_s,
        "top_write": written,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the default sizes to write")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        result = bench_csr(root, int(100_000 * args.scale))
        result |= bench_top(root, int(1_000_000 * args.scale))
    result["csr_ratio"] = result["csr_100k_s"] / result["bare_csr_100k_s"]
    result["scale"] = args.scale
    print(json.dumps(result, indent=2))
    out = REPO_ROOT / ".bench" / "sparse.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
