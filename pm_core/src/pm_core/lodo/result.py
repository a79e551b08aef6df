"""Result types of a LODO run and their JSON form, where every undefined number is null."""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np

from pm_core.lodo.npmi import StabilityReport
from pm_core.lodo.thresholds import ThresholdChoice


@attrs.define
class FoldResult:
    """One held-out evaluation: a LODO fold, or the random split (`name == "random_split"`).

    The arrays stay in memory and are not written to JSON: `test_indices` index the rows of
    the `X` given to `run_lodo`, and `train_scores` are the fitted model's scores on its own
    training rows, in the order of `train_indices`.
    """

    name: str
    datasets: list[str]
    #: `ok`, or `skipped` with `reason` (`single_class_train`).
    status: str
    reason: str | None = None
    metrics: dict[str, Any] | None = None
    threshold: ThresholdChoice | None = None
    #: Downsampled ROC curve `{"fpr", "tpr", "threshold"}`, or None for a single-class fold.
    roc: dict[str, list] | None = None
    train_indices: np.ndarray = attrs.field(factory=lambda: np.array([], dtype=np.int64), repr=False)
    test_indices: np.ndarray = attrs.field(factory=lambda: np.array([], dtype=np.int64), repr=False)
    train_scores: np.ndarray = attrs.field(factory=lambda: np.array([]), repr=False)
    test_scores: np.ndarray = attrs.field(factory=lambda: np.array([]), repr=False)
    #: Feature columns the classifier was trained on when NPMI selection is on, else None.
    selected_features: np.ndarray | None = attrs.field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "datasets": list(self.datasets),
            "status": self.status,
            "reason": self.reason,
            "n_train": len(self.train_indices),
            "metrics": self.metrics,
            "threshold": None if self.threshold is None else self.threshold.to_dict(),
            "roc": self.roc,
            "selected_features": None if self.selected_features is None else self.selected_features.tolist(),
        }


@attrs.define
class LodoResult:
    """Per-fold results, their aggregates, the random-split comparison and the final model."""

    folds: list[FoldResult]
    #: Pooled, macro and prompt-weighted metrics over the folds with status `ok`.
    aggregate: dict[str, Any]
    random_split: FoldResult
    #: Random-split metric minus pooled LODO metric, for auc, accuracy and f1 (None when undefined).
    gap: dict[str, float | None]
    #: The classifier fitted on every row, with the threshold chosen for it.
    final_model: Any = attrs.field(repr=False)
    final_threshold: ThresholdChoice
    #: Columns of `X` the final model takes when NPMI selection is on, else None (all columns).
    final_features: np.ndarray | None
    #: Datasets that got no fold of their own, with their size and reason.
    skipped: list[dict]
    settings: dict[str, Any]
    npmi: StabilityReport | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form: plain types only, NaN and infinity as None."""
        return to_jsonable({
            "settings": self.settings,
            "folds": [fold.to_dict() for fold in self.folds],
            "skipped": self.skipped,
            "aggregate": self.aggregate,
            "random_split": self.random_split.to_dict(),
            "gap": self.gap,
            "final_threshold": self.final_threshold.to_dict(),
            "final_features": None if self.final_features is None else self.final_features.tolist(),
            "npmi": None if self.npmi is None else self.npmi.to_dict(),
        })


def to_jsonable(value: Any) -> Any:
    """Convert numpy scalars and arrays to Python types, and NaN or infinity to None, recursively."""
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    return value


def compute_gap(random_metrics: dict[str, Any] | None, pooled: dict[str, Any] | None) -> dict[str, float | None]:
    """Return random-split minus pooled LODO for auc, accuracy and f1; None where either side is undefined."""
    gap: dict[str, float | None] = {}
    for name in ("auc", "accuracy", "f1"):
        in_distribution = None if random_metrics is None else random_metrics.get(name)
        held_out = None if pooled is None else pooled.get(name)
        gap[name] = None if in_distribution is None or held_out is None else in_distribution - held_out
    return gap
