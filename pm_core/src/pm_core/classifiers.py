"""The interface every classifier plugin implements.

A classifier is registered under a short name (`linear`, `xgboost`, `dann`,
`prototype`) with a factory that takes the classifier's options as keyword
arguments. The LODO protocol only uses the methods below, so any model that
scores prompts plugs in the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

#: Dense `np.ndarray` of shape (n_prompts, n_features), or a `scipy.sparse` matrix of that shape.
Matrix = Any


@runtime_checkable
class Classifier(Protocol):
    """A binary classifier of prompts: 1 is malicious, 0 is benign."""

    def fit(self, X: Matrix, y: np.ndarray, groups: np.ndarray | None = None) -> Classifier:
        """Train on `X` and 0/1 labels `y`; `groups` names each row's source dataset (used by DANN)."""

    def predict_scores(self, X: Matrix) -> np.ndarray:
        """Return one score per row, higher meaning more likely malicious (a probability where possible)."""

    def clone(self) -> Classifier:
        """Return an unfitted copy with the same options."""

    def save(self, path: Path) -> None:
        """Write the fitted classifier to `path` (a folder), so `load` can restore it."""

    @classmethod
    def load(cls, path: Path) -> Classifier:
        """Restore a classifier written by `save`."""
