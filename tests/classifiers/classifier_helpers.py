"""Synthetic prompt features with a planted malicious direction, and small options for fast fits."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse

N_TRAIN = 600
N_TEST = 300
N_FEATURES = 16
#: Shift of the malicious class along the planted unit direction, in units of the noise's standard deviation.
SIGNAL = 3.5
DATASETS = ("advbench", "dolly", "injecagent")

#: Small options that keep each fit well under a second on one CPU core.
FAST_OPTIONS = {
    "linear": {},
    "xgboost": {"n_estimators": 50, "n_jobs": 1},
    "dann": {"hidden": [32], "epochs": 15, "batch_size": 64},
    "prototype": {},
}


class PlantedData(NamedTuple):
    """Train and test rows, with `groups_*` naming each row's source dataset."""

    X_train: np.ndarray
    y_train: np.ndarray
    groups_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    groups_test: np.ndarray


def make_planted_data(seed: int = 0) -> PlantedData:
    """Build ReLU'd Gaussian rows (about half zeros) whose malicious rows are shifted along one direction.

    Each source dataset adds its own small offset, so the groups differ as real datasets do.
    """
    rng = np.random.default_rng(seed)
    n_rows = N_TRAIN + N_TEST
    direction = rng.normal(size=N_FEATURES)
    direction /= np.linalg.norm(direction)
    y = rng.integers(0, 2, size=n_rows)
    groups = rng.choice(np.array(DATASETS), size=n_rows)
    offsets = {name: rng.normal(scale=0.3, size=N_FEATURES) for name in DATASETS}
    X = rng.normal(size=(n_rows, N_FEATURES)) + np.array([offsets[name] for name in groups])
    X = np.maximum(X + SIGNAL * np.outer(y, direction), 0.0)
    train, test = slice(0, N_TRAIN), slice(N_TRAIN, None)
    return PlantedData(X[train], y[train], groups[train], X[test], y[test], groups[test])


def to_csr(X: np.ndarray) -> scipy.sparse.csr_matrix:
    return scipy.sparse.csr_matrix(X)
