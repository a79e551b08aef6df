"""NPMI feature selection and the stability of the selected features across LODO folds.

A feature is active on a prompt when its value is above `activity_threshold`, 0 by
default, which suits SAE features. Dense activations are binarised the same way.
Its normalised pointwise mutual information with the malicious label is

    NPMI = log(p(active, malicious) / (p(active) p(malicious))) / -log p(active, malicious)

in [-1, 1]: 1 when the feature fires on exactly the malicious prompts, 0 when it is
independent of the label, -1 when it never fires on a malicious prompt. Features are
ranked by |NPMI|, because a feature that marks benign prompts helps a classifier too.

Inside LODO the scores are computed per fold on that fold's training rows. A feature
whose signal is general stays in the top k of every fold with the same sign. A dataset
shortcut drops out of the top k, or flips sign, when one dataset leaves the training
set: its signal came from that dataset.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs
import numpy as np
import scipy.sparse

logger = logging.getLogger(__name__)


def active_counts(X, y: np.ndarray, activity_threshold: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Return, per feature, the rows where it is active and the malicious rows where it is active."""
    malicious = np.asarray(y) == 1
    if scipy.sparse.issparse(X):
        active = scipy.sparse.csr_matrix(activity_threshold < X, dtype=np.int64)
        return np.asarray(active.sum(axis=0)).ravel(), np.asarray(active[malicious].sum(axis=0)).ravel()
    active = np.asarray(X) > activity_threshold
    return active.sum(axis=0), active[malicious].sum(axis=0)


def npmi_scores(X, y: np.ndarray, min_active: int = 5, activity_threshold: float = 0.0) -> np.ndarray:
    """Return the NPMI of each feature's activity with `y == 1`, shape (n_features,).

    A feature active on fewer than `min_active` rows gets NaN, because its NPMI is
    dominated by chance (a feature that fires once on a benign prompt scores -1).
    A label with one class gives NaN everywhere.
    """
    n_rows = len(y)
    n_active, n_active_malicious = active_counts(X, y, activity_threshold)
    p_malicious = np.count_nonzero(np.asarray(y) == 1) / n_rows if n_rows else 0.0
    scores = np.full(n_active.shape, np.nan)
    if p_malicious in (0.0, 1.0):
        return scores
    p_active = n_active / n_rows
    p_joint = n_active_malicious / n_rows
    usable = n_active >= max(min_active, 1)
    never_joint = usable & (p_joint == 0)
    always_joint = usable & (p_joint == 1)
    regular = usable & ~never_joint & ~always_joint
    pmi = np.log(p_joint[regular] / (p_active[regular] * p_malicious))
    scores[regular] = pmi / -np.log(p_joint[regular])
    scores[never_joint] = -1.0
    scores[always_joint] = 1.0
    return scores


def rank_features(scores: np.ndarray) -> np.ndarray:
    """Return each feature's rank by |NPMI| (0 is strongest); NaN features rank last, ties by index."""
    strength = np.where(np.isnan(scores), -np.inf, np.abs(scores))
    order = np.lexsort((np.arange(len(scores)), -strength))
    ranks = np.empty(len(scores), dtype=np.int64)
    ranks[order] = np.arange(len(scores))
    return ranks


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Return the indices of the `k` features with the largest |NPMI|, strongest first, never a NaN one."""
    ranks = rank_features(scores)
    order = np.argsort(ranks)
    defined = order[~np.isnan(scores[order])]
    return defined[:k]


@attrs.define
class FeatureStability:
    """The NPMI of one feature across folds, keyed by each fold's held-out dataset."""

    feature: int
    status: str
    npmi_all: float | None
    rank_all: int | None
    npmi_by_fold: dict[str, float | None]
    rank_by_fold: dict[str, int]
    #: Folds whose top k contains the feature.
    n_top_k: int
    sign_flip: bool
    #: Held-out datasets of the folds where the feature left the top k: its signal needs them in training.
    needs_datasets: list[str]
    #: The dataset with the largest share of this feature's active rows, and that share.
    top_dataset: str | None
    top_dataset_share: float | None

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.define
class StabilityReport:
    """NPMI top-k features of every fold, each marked `stable` or `shortcut`."""

    k: int
    folds: list[str]
    features: list[FeatureStability]
    #: Share of the top-k features on all data that are shortcuts, or None without all-data scores.
    shortcut_share: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "folds": list(self.folds),
            "n_features": len(self.features),
            "n_stable": sum(feature.status == "stable" for feature in self.features),
            "n_shortcut": sum(feature.status == "shortcut" for feature in self.features),
            "shortcut_share": self.shortcut_share,
            "features": [feature.to_dict() for feature in self.features],
        }


def _optional(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _top_dataset(X, datasets: np.ndarray, feature: int, activity_threshold: float) -> tuple[str | None, float | None]:
    column = X[:, feature]
    active = (column.toarray().ravel() if scipy.sparse.issparse(column) else np.asarray(column)) > activity_threshold
    if not active.any():
        return None, None
    names, counts = np.unique(datasets[active], return_counts=True)
    best = int(np.argmax(counts))
    return str(names[best]), float(counts[best] / counts.sum())


def stability_report(
    fold_scores: dict[str, np.ndarray],
    k: int,
    all_scores: np.ndarray | None = None,
    X=None,
    datasets: np.ndarray | None = None,
    activity_threshold: float = 0.0,
) -> StabilityReport:
    """Mark each feature in any fold's top `k` (or the all-data top `k`) as stable or a shortcut.

    `fold_scores` maps each held-out dataset to the NPMI computed on that fold's training
    rows. A feature is `stable` when it is in the top k of every fold and its NPMI has the
    same sign in all of them. Any other feature is a `shortcut`. With `X` and `datasets`, each
    feature also reports the dataset that contributes most of its active rows.
    """
    names = list(fold_scores)
    ranks = {name: rank_features(scores) for name, scores in fold_scores.items()}
    candidates: set[int] = set()
    for scores in fold_scores.values():
        candidates.update(top_k(scores, k).tolist())
    all_ranks = rank_features(all_scores) if all_scores is not None else None
    all_top = set(top_k(all_scores, k).tolist()) if all_scores is not None else set()
    candidates |= all_top

    features = []
    for feature in sorted(candidates):
        values = {name: _optional(fold_scores[name][feature]) for name in names}
        in_top = {name: bool(ranks[name][feature] < k and values[name] is not None) for name in names}
        signs = {np.sign(value) for value in values.values() if value is not None and value != 0}
        sign_flip = len(signs) > 1
        needs = [name for name in names if not in_top[name]]
        stable = not needs and not sign_flip
        top_dataset, share = (None, None)
        if X is not None and datasets is not None:
            top_dataset, share = _top_dataset(X, datasets, feature, activity_threshold)
        features.append(FeatureStability(
            feature=int(feature),
            status="stable" if stable else "shortcut",
            npmi_all=None if all_scores is None else _optional(all_scores[feature]),
            rank_all=None if all_ranks is None else int(all_ranks[feature]),
            npmi_by_fold=values,
            rank_by_fold={name: int(ranks[name][feature]) for name in names},
            n_top_k=sum(in_top.values()),
            sign_flip=sign_flip,
            needs_datasets=needs,
            top_dataset=top_dataset,
            top_dataset_share=share,
        ))
    features.sort(key=lambda item: (item.rank_all if item.rank_all is not None else 0, -item.n_top_k, item.feature))

    shortcut_share = None
    if all_top:
        shortcut_share = sum(item.status == "shortcut" for item in features if item.feature in all_top) / len(all_top)
    logger.info(
        "npmi stability: %d candidate features over %d folds, %d shortcuts",
        len(features), len(names), sum(item.status == "shortcut" for item in features),
    )
    return StabilityReport(k=k, folds=names, features=features, shortcut_share=shortcut_share)
