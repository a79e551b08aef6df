"""The synthetic store builder that storage benchmarks use."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pm_core.registry import RunRegistry
from pm_core.storage import ActivationReader
from pm_core.storage.bench import time_load, write_synthetic


def test_synthetic_store_loads(tmp_path: Path) -> None:
    summary = write_synthetic(tmp_path, n_rows=5000, d=8, offsets=(-3, -1), n_shards=2, n_datasets=3)
    assert summary["n_rows"] == 5000

    registry = RunRegistry(tmp_path)
    assert registry.status_counts() == {
        "synthetic-0": {"completed": 1667},
        "synthetic-1": {"completed": 1667},
        "synthetic-2": {"completed": 1666},
    }
    reader = ActivationReader(tmp_path)
    assert reader.shards() == ["synthetic-0", "synthetic-1"]
    assert reader.offsets() == (-3, -1)
    assert [reader.n_rows(shard) for shard in reader.shards()] == [4096, 904]

    timings = time_load(tmp_path, offsets=(-1,))
    assert timings["n_rows"] == 5000
    assert timings["total_s"] > 0

    columns = registry.completed_rows()
    X, valid = reader.read(("resid_post", 0), [-1], columns["shard"], columns["row"])
    assert X.shape == (5000, 1, 8)
    assert valid.all()
    assert np.isfinite(X).all()
    assert len(np.unique(X[:, 0, 0])) == 5000
