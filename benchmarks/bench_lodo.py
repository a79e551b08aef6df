"""Time a full LODO run (linear classifier, 18 held-out datasets, 100,000 x 576 synthetic rows).

The bare baseline fits the same scikit-learn logistic regression once per
held-out dataset and scores it, with nothing else: no thresholds, no random
split, no final model, no report. Both run in this process on the same data.
Writes `.bench/lodo.json`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
N_ROWS, WIDTH, N_DATASETS = 100_000, 576, 18


def synthetic(seed: int = 0):
    """Rows with one direction shared by every dataset and a per-dataset offset."""
    rng = np.random.default_rng(seed)
    datasets = np.array([f"d{index:02d}" for index in rng.integers(0, N_DATASETS, N_ROWS)], dtype=object)
    y = rng.integers(0, 2, N_ROWS).astype(np.int8)
    direction = rng.normal(size=WIDTH).astype(np.float32)
    offsets = {name: rng.normal(scale=0.5, size=WIDTH).astype(np.float32) for name in np.unique(datasets)}
    X = rng.normal(size=(N_ROWS, WIDTH)).astype(np.float32)
    X += np.outer(y * 2 - 1, direction) * 0.05
    X += np.stack([offsets[name] for name in datasets])
    return X, y, datasets


def bare_lodo(X, y, datasets) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    started = time.perf_counter()
    for name in np.unique(datasets):
        test = datasets == name
        scaler = StandardScaler().fit(X[~test])
        model = LogisticRegression(max_iter=1000).fit(scaler.transform(X[~test]), y[~test])
        model.predict_proba(scaler.transform(X[test]))
    return time.perf_counter() - started


def pm_lodo(X, y, datasets, n_jobs: int) -> float:
    from pm_core.lodo import run_lodo
    from pm_core.plugins import get_catalogue

    classifier = get_catalogue().create("classifiers", "linear")
    started = time.perf_counter()
    run_lodo(X, y, datasets, classifier, n_jobs=n_jobs)
    return time.perf_counter() - started


def main() -> None:
    X, y, datasets = synthetic()
    print(f"{N_ROWS} rows x {WIDTH}, {N_DATASETS} datasets")
    bare_seconds = bare_lodo(X, y, datasets)
    print(f"bare sklearn LODO (18 fits): {bare_seconds:.1f} s")
    pm_seconds = pm_lodo(X, y, datasets, n_jobs=1)
    print(f"pm LODO (18 folds + random split + final model): {pm_seconds:.1f} s")
    results = {
        "n_rows": N_ROWS,
        "width": WIDTH,
        "n_folds": N_DATASETS,
        "lodo_s": pm_seconds,
        "bare_lodo_s": bare_seconds,
        "ratio": bare_seconds / pm_seconds,
    }
    out = REPO_ROOT / ".bench"
    out.mkdir(exist_ok=True)
    (out / "lodo.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
