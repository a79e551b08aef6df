"""A tiny classifier and synthetic datasets with known outcomes for the LODO tests."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np


class TinyLogistic:
    """Logistic regression from scikit-learn behind the pm Classifier protocol.

    `columns` restricts the model to some feature columns, which lets a test train a
    model on the planted features alone.
    """

    def __init__(self, C: float = 1.0, columns: list[int] | None = None) -> None:
        self.C = C
        self.columns = columns
        self.model = None

    def _select(self, X):
        return X if self.columns is None else X[:, self.columns]

    def fit(self, X, y, groups=None) -> TinyLogistic:
        from sklearn.linear_model import LogisticRegression

        self.model = LogisticRegression(C=self.C, max_iter=1000).fit(self._select(X), y)
        return self

    def predict_scores(self, X) -> np.ndarray:
        return self.model.predict_proba(self._select(X))[:, 1]

    def clone(self) -> TinyLogistic:
        return TinyLogistic(C=self.C, columns=self.columns)

    def save(self, path: Path) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "model.pkl").write_bytes(pickle.dumps(self))

    @classmethod
    def load(cls, path: Path) -> TinyLogistic:
        return pickle.loads((Path(path) / "model.pkl").read_bytes())

    def __repr__(self) -> str:
        return f"TinyLogistic(C={self.C}, columns={self.columns})"


DATASET_NAMES = ("alpha", "beta", "delta", "gamma")
#: Column of the direction that separates the classes in every dataset.
REAL = 0
#: Per dataset, the column that is active only in that dataset, where it marks the malicious prompts.
SHORTCUTS = {name: 1 + index for index, name in enumerate(DATASET_NAMES)}


def planted_data(seed: int = 0, n_per_dataset: int = 80, n_noise: int = 6):
    """Return `X, y, datasets` with four datasets, one general feature and one shortcut per dataset.

    Column REAL is active (> 0) on 90% of the malicious prompts of every dataset and on
    10% of the benign ones. Column SHORTCUTS[name] is non-zero only in dataset `name`,
    where it fires on exactly its malicious prompts: within the pooled data it predicts
    the label well, but it carries no signal for a dataset never seen in training. The
    other columns are sparse noise.
    """
    rng = np.random.default_rng(seed)
    n_columns = 1 + len(DATASET_NAMES) + n_noise
    blocks, labels, sources = [], [], []
    for name in DATASET_NAMES:
        y = rng.permutation(np.r_[np.ones(n_per_dataset // 2), np.zeros(n_per_dataset // 2)]).astype(np.int8)
        X = np.zeros((n_per_dataset, n_columns))
        real_active = np.where(y == 1, rng.random(n_per_dataset) < 0.9, rng.random(n_per_dataset) < 0.1)
        X[:, REAL] = real_active * rng.uniform(1.0, 2.0, n_per_dataset)
        X[:, SHORTCUTS[name]] = (y == 1) * rng.uniform(1.0, 2.0, n_per_dataset)
        noise = rng.random((n_per_dataset, n_noise)) < 0.3
        X[:, -n_noise:] = noise * rng.uniform(0.5, 1.5, (n_per_dataset, n_noise))
        blocks.append(X)
        labels.append(y)
        sources += [name] * n_per_dataset
    return np.vstack(blocks), np.concatenate(labels), np.array(sources, dtype=object)


def c18_data(seed: int = 0):
    """Return the three datasets of the single-class case on seeded 8-dim features.

    A has 30 benign and 30 harmful prompts, B has 40 harmful only, C has 25 of each.
    Harmful rows are shifted along the first axis so the probe has something to learn.
    """
    rng = np.random.default_rng(seed)
    labels = np.r_[np.zeros(30), np.ones(30), np.ones(40), np.zeros(25), np.ones(25)].astype(np.int8)
    datasets = np.array(["A"] * 60 + ["B"] * 40 + ["C"] * 50, dtype=object)
    X = rng.normal(size=(len(labels), 8))
    X[:, 0] += 1.5 * labels
    return X, labels, datasets
