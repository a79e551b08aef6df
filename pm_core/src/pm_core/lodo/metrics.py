"""Metrics of one held-out fold and their aggregates across folds.

Undefined values are `None`, never NaN and never a stand-in number. ROC-AUC and
PR-AUC (average precision) need both classes in the fold: on a single-class fold
scikit-learn 1.9.1 returns NaN for ROC-AUC and 1.0 for the AP of an all-positive
fold whatever the scores, and either would skew an average. Such a fold reports
`auc: None`, `reason: "single_class_test"` and its detection rate (all-malicious
fold) or false-positive rate (all-benign fold) at its threshold instead.

The curves are computed here with numpy and scipy, so they behave the same
whichever scikit-learn version is installed, or none.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import rankdata

#: Metrics averaged across folds; each may be None in a fold where it is undefined.
AVERAGED_METRICS = (
    "accuracy", "precision", "recall", "f1", "auc", "pr_auc", "detection_rate", "false_positive_rate",
)

SINGLE_CLASS_TEST = "single_class_test"


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator) / float(denominator) if denominator > 0 else None


def _class_counts(y: np.ndarray) -> tuple[int, int]:
    n_pos = int(np.count_nonzero(y == 1))
    return n_pos, int(len(y) - n_pos)


def roc_auc(y: np.ndarray, scores: np.ndarray) -> float | None:
    """Return the area under the ROC curve, or None when `y` has one class.

    Computed as the Mann-Whitney statistic with average ranks, so tied scores count half.
    """
    y = np.asarray(y)
    n_pos, n_neg = _class_counts(y)
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(np.asarray(scores, dtype=np.float64))
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _cumulative_counts(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return true and false positives at each distinct threshold, highest threshold first."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="mergesort")
    sorted_scores = np.asarray(scores, dtype=np.float64)[order]
    sorted_y = np.asarray(y)[order] == 1
    last_of_each_score = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(sorted_y) - 1]
    true_positives = np.cumsum(sorted_y)[last_of_each_score]
    false_positives = last_of_each_score + 1 - true_positives
    return true_positives, false_positives, sorted_scores[last_of_each_score]


def average_precision(y: np.ndarray, scores: np.ndarray) -> float | None:
    """Return the average precision (PR-AUC, step-wise as scikit-learn defines it), or None for one class."""
    n_pos, n_neg = _class_counts(np.asarray(y))
    if n_pos == 0 or n_neg == 0:
        return None
    true_positives, false_positives, _ = _cumulative_counts(y, scores)
    precision = true_positives / (true_positives + false_positives)
    recall = true_positives / n_pos
    recall_steps = np.diff(np.r_[0.0, recall])
    return float(np.sum(recall_steps * precision))


def roc_points(y: np.ndarray, scores: np.ndarray, max_points: int = 101) -> dict[str, list[float]] | None:
    """Return the ROC curve as `{"fpr", "tpr", "threshold"}` lists of at most `max_points`, or None for one class.

    Downsampling keeps the end points and the points nearest to evenly spaced steps along
    the curve, so the plotted shape is kept for large folds.
    """
    n_pos, n_neg = _class_counts(np.asarray(y))
    if n_pos == 0 or n_neg == 0:
        return None
    true_positives, false_positives, thresholds = _cumulative_counts(y, scores)
    fpr = np.r_[0.0, false_positives / n_neg]
    tpr = np.r_[0.0, true_positives / n_pos]
    threshold = np.r_[math.inf, thresholds]
    if len(fpr) > max_points:
        # Distance along the curve, so steep and flat parts both keep points.
        length = np.r_[0.0, np.cumsum(np.abs(np.diff(fpr)) + np.abs(np.diff(tpr)))]
        targets = np.linspace(0.0, length[-1], max_points)
        keep = np.unique(np.r_[0, np.searchsorted(length, targets).clip(0, len(fpr) - 1), len(fpr) - 1])
        fpr, tpr, threshold = fpr[keep], tpr[keep], threshold[keep]
    # JSON has no infinity, so the first point's threshold is written as None.
    thresholds_out = [None if math.isinf(value) else float(value) for value in threshold]
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "threshold": thresholds_out}


def fold_metrics(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, Any]:
    """Compute the metrics of one fold; a row is predicted malicious when its score is >= `threshold`.

    Every ratio whose denominator is zero is None. `reason` is `"single_class_test"` when the
    fold contains one class, else None.
    """
    y = np.asarray(y)
    scores = np.asarray(scores, dtype=np.float64)
    predicted = scores >= threshold
    actual = y == 1
    n_pos, n_neg = _class_counts(y)
    tp = int(np.count_nonzero(predicted & actual))
    fp = int(np.count_nonzero(predicted & ~actual))
    fn = n_pos - tp
    tn = n_neg - fp
    single_class = n_pos == 0 or n_neg == 0
    return {
        "n": int(len(y)),
        "n_pos": n_pos,
        "n_neg": n_neg,
        "threshold": float(threshold),
        "confusion": {"tp": tp, "fp": fp, "tn": tn, "fn": fn},
        "accuracy": _ratio(tp + tn, len(y)),
        # On a fold without malicious prompts every positive prediction is wrong, so
        # precision and F1 would be 0 whatever the classifier. Its false-positive rate
        # carries the information instead.
        "precision": _ratio(tp, tp + fp) if n_pos else None,
        "recall": _ratio(tp, n_pos),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn) if n_pos else None,
        "auc": None if single_class else roc_auc(y, scores),
        "pr_auc": None if single_class else average_precision(y, scores),
        "reason": SINGLE_CLASS_TEST if single_class and len(y) else None,
        "detection_rate": _ratio(tp, n_pos),
        "false_positive_rate": _ratio(fp, n_neg),
    }


def _average(values: Sequence[float | None], weights: Sequence[int]) -> dict[str, Any]:
    defined = [(value, weight) for value, weight in zip(values, weights, strict=True) if value is not None]
    summary: dict[str, Any] = {"macro": None, "weighted": None, "n_defined": len(defined), "n_folds": len(values)}
    if defined:
        summary["macro"] = float(np.mean([value for value, _ in defined]))
        total = sum(weight for _, weight in defined)
        summary["weighted"] = float(sum(value * weight for value, weight in defined) / total) if total else None
    return summary


def aggregate_folds(
    fold_results: Sequence[dict[str, Any]],
    labels: Sequence[np.ndarray],
    scores: Sequence[np.ndarray],
) -> dict[str, Any]:
    """Combine per-fold metrics three ways.

    `pooled` scores the concatenated predictions of all folds, each row judged at its own
    fold's threshold. Per metric, `macro` is the plain mean over the folds where it is
    defined and `weighted` weighs those folds by their prompt count. `n_defined` of
    `n_folds` counts the folds that took part.

    NOTE: the pooled AUC ranks scores from different fold models together, so it also
    drops when the folds' models are calibrated differently, even if each ranks its own
    fold well. The macro AUC has no such term.
    """
    if not fold_results:
        return {"pooled": None, "per_metric": {}, "n_folds": 0}
    predicted = [
        np.asarray(fold_scores, dtype=np.float64) >= fold["threshold"]
        for fold, fold_scores in zip(fold_results, scores, strict=True)
    ]
    all_labels = np.concatenate([np.asarray(fold_labels) for fold_labels in labels])
    all_scores = np.concatenate([np.asarray(fold_scores, dtype=np.float64) for fold_scores in scores])
    # Scoring the 0/1 predictions at 0.5 reproduces each fold's own decision.
    pooled = fold_metrics(all_labels, np.concatenate(predicted).astype(np.float64), 0.5)
    pooled["threshold"] = None
    pooled["auc"] = roc_auc(all_labels, all_scores)
    pooled["pr_auc"] = average_precision(all_labels, all_scores)
    weights = [fold["n"] for fold in fold_results]
    per_metric = {
        name: _average([fold[name] for fold in fold_results], weights) for name in AVERAGED_METRICS
    }
    return {"pooled": pooled, "per_metric": per_metric, "n_folds": len(fold_results)}
