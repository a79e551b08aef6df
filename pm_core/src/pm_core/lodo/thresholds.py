"""Decision thresholds chosen from cross-validated scores of the training rows only.

Strategies, written as on the command line:

- `constant` or `constant:T`: score >= T is malicious (T defaults to 0.5).
- `target_precision:P`: the lowest threshold whose precision of the malicious
  prediction reaches P on the out-of-fold training scores, which keeps the most recall.
- `max_f1`: the threshold with the highest F1 on the out-of-fold training scores.

The functions here take only training rows, so the held-out dataset cannot
influence the threshold.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs
import numpy as np

from pm_core.errors import ConfigError

logger = logging.getLogger(__name__)

STRATEGIES = ("constant", "target_precision", "max_f1")


@attrs.frozen
class ThresholdStrategy:
    """A rule for choosing a fold's decision threshold. `value` is T for constant and P for target_precision."""

    kind: str = "constant"
    value: float | None = 0.5

    @classmethod
    def parse(cls, text: str) -> ThresholdStrategy:
        """Parse `constant`, `constant:0.3`, `target_precision:0.95` or `max_f1`."""
        kind, _, argument = text.strip().partition(":")
        if kind not in STRATEGIES:
            msg = f"invalid threshold strategy {text!r}: expected one of {', '.join(STRATEGIES)}"
            raise ConfigError(msg)
        if kind == "max_f1":
            if argument:
                msg = f"invalid threshold strategy {text!r}: max_f1 takes no value"
                raise ConfigError(msg)
            return cls("max_f1", None)
        if not argument:
            if kind == "target_precision":
                msg = f"invalid threshold strategy {text!r}: give the precision, such as target_precision:0.95"
                raise ConfigError(msg)
            return cls("constant", 0.5)
        try:
            value = float(argument)
        except ValueError:
            msg = f"invalid threshold strategy {text!r}: {argument!r} is not a number"
            raise ConfigError(msg) from None
        if kind == "target_precision" and not 0.0 < value <= 1.0:
            msg = f"invalid threshold strategy {text!r}: the target precision must be in (0, 1]"
            raise ConfigError(msg)
        return cls(kind, value)

    @property
    def needs_scores(self) -> bool:
        """Whether choosing the threshold needs cross-validated training scores."""
        return self.kind != "constant"

    def __str__(self) -> str:
        return self.kind if self.value is None else f"{self.kind}:{self.value:g}"


@attrs.frozen
class ThresholdChoice:
    """A chosen threshold and how it was reached.

    `reached` is False when no threshold met the target precision, and `fallback` names why
    a strategy could not run (then the threshold is the constant 0.5).
    """

    threshold: float
    strategy: str
    cv_folds: int = 0
    reached: bool | None = None
    fallback: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def stratified_folds(y: np.ndarray, n_splits: int, seed: int) -> list[np.ndarray]:
    """Split row indices into `n_splits` test folds, shuffled with `seed`, keeping each class's share."""
    rng = np.random.default_rng(seed)
    folds: list[list[np.ndarray]] = [[] for _ in range(n_splits)]
    offset = 0
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        # Rotating the starting fold per class keeps fold sizes within one row of each other.
        assignment = (np.arange(len(members)) + offset) % n_splits
        for fold in range(n_splits):
            folds[fold].append(members[assignment == fold])
        offset += len(members)
    return [np.sort(np.concatenate(parts)) for parts in folds]


def cross_val_scores(prototype, X, y: np.ndarray, groups: np.ndarray | None, n_splits: int, seed: int) -> np.ndarray:
    """Return out-of-fold scores: each row scored by a clone of `prototype` fitted without it."""
    scores = np.empty(len(y), dtype=np.float64)
    for test in stratified_folds(y, n_splits, seed):
        train = np.setdiff1d(np.arange(len(y)), test, assume_unique=True)
        model = prototype.clone()
        model.fit(X[train], y[train], groups=None if groups is None else groups[train])
        scores[test] = model.predict_scores(X[test])
    return scores


def pick_threshold(strategy: ThresholdStrategy, y: np.ndarray, scores: np.ndarray) -> tuple[float, bool | None]:
    """Return the threshold `strategy` picks on labelled scores, and whether a target was reached.

    Candidates are the distinct scores, each meaning "score >= candidate is malicious".
    """
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores = scores[order]
    last = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(scores) - 1]
    true_positives = np.cumsum(y[order] == 1)[last]
    predicted_positives = last + 1
    candidates = sorted_scores[last]
    precision = true_positives / predicted_positives
    if strategy.kind == "target_precision":
        meets = np.flatnonzero(precision >= strategy.value)
        if len(meets):
            # Candidates run from high to low, so the last one that meets the target is the lowest.
            return float(candidates[meets[-1]]), True
        best = np.flatnonzero(precision == precision.max())[-1]
        return float(candidates[best]), False
    n_pos = max(int(np.count_nonzero(y == 1)), 1)
    f1 = 2 * true_positives / (predicted_positives + n_pos)
    best = np.flatnonzero(f1 == f1.max())[-1]
    return float(candidates[best]), None


def choose_threshold(
    strategy: ThresholdStrategy,
    prototype,
    X_train,
    y_train: np.ndarray,
    groups_train: np.ndarray | None = None,
    seed: int = 0,
    n_splits: int = 5,
) -> ThresholdChoice:
    """Choose a threshold from `n_splits`-fold cross-validated scores of the training rows.

    The number of splits shrinks to the size of the smaller class. With fewer than two
    rows of either class there is nothing to cross-validate, so the constant 0.5 is used
    and `fallback` records why.
    """
    if not strategy.needs_scores:
        return ThresholdChoice(threshold=float(strategy.value), strategy=str(strategy))
    smaller_class = min(np.count_nonzero(y_train == 1), np.count_nonzero(y_train == 0))
    splits = min(n_splits, int(smaller_class))
    if splits < 2:
        logger.warning(
            "threshold %s needs at least 2 training rows of each class; found %d, so the threshold is 0.5",
            strategy, smaller_class,
        )
        return ThresholdChoice(threshold=0.5, strategy=str(strategy), fallback="too_few_training_rows")

    scores = cross_val_scores(prototype, X_train, y_train, groups_train, splits, seed)
    threshold, reached = pick_threshold(strategy, np.asarray(y_train), scores)
    if reached is False:
        logger.warning(
            "no threshold reaches precision %.3f on cross-validated training scores; using the most precise one, %.4g",
            strategy.value, threshold,
        )
    return ThresholdChoice(threshold=threshold, strategy=str(strategy), cv_folds=splits, reached=reached)
