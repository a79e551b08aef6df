"""Fold metrics: curves against scikit-learn, undefined values as None, and aggregates."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from lodo_helpers import TinyLogistic, c18_data
from sklearn.metrics import average_precision_score, roc_auc_score

from pm_core.lodo import aggregate_folds, average_precision, fold_metrics, roc_auc, roc_points, run_lodo


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_curves_match_sklearn_with_ties(seed: int) -> None:
    """ROC-AUC and average precision equal scikit-learn's, tied scores included."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 200)
    scores = np.round(rng.random(200) + 0.3 * y, 1)

    assert roc_auc(y, scores) == pytest.approx(roc_auc_score(y, scores))
    assert average_precision(y, scores) == pytest.approx(average_precision_score(y, scores))


def test_single_class_fold_all_malicious() -> None:
    """An all-malicious fold has no AUC or PR-AUC, a reason and a detection rate."""
    y = np.ones(40, dtype=np.int8)
    scores = np.linspace(0.0, 1.0, 40)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metrics = fold_metrics(y, scores, 0.5)

    assert metrics["auc"] is None
    assert metrics["pr_auc"] is None
    assert metrics["reason"] == "single_class_test"
    assert metrics["detection_rate"] == pytest.approx(0.5)
    assert metrics["false_positive_rate"] is None


def test_single_class_fold_all_benign() -> None:
    """An all-benign fold reports its false-positive rate and no recall."""
    y = np.zeros(10, dtype=np.int8)
    scores = np.r_[np.full(3, 0.9), np.full(7, 0.1)]

    metrics = fold_metrics(y, scores, 0.5)

    assert metrics["auc"] is None
    assert metrics["reason"] == "single_class_test"
    assert metrics["false_positive_rate"] == pytest.approx(0.3)
    assert metrics["detection_rate"] is None
    assert metrics["recall"] is None
    assert metrics["accuracy"] == pytest.approx(0.7)


def test_fold_metrics_confusion_counts() -> None:
    """Scores at the threshold count as malicious."""
    y = np.array([1, 1, 0, 0, 1])
    scores = np.array([0.5, 0.2, 0.5, 0.1, 0.9])

    metrics = fold_metrics(y, scores, 0.5)

    assert metrics["confusion"] == {"tp": 2, "fp": 1, "tn": 1, "fn": 1}
    assert metrics["precision"] == pytest.approx(2 / 3)
    assert metrics["f1"] == pytest.approx(2 / 3)
    assert metrics["reason"] is None


def test_no_positive_predictions_precision_none() -> None:
    """Precision with no malicious prediction is None, not 0."""
    metrics = fold_metrics(np.array([1, 0]), np.array([0.1, 0.2]), 0.5)

    assert metrics["precision"] is None
    assert metrics["f1"] == 0.0


def test_roc_points_downsampled_keep_ends() -> None:
    """A long ROC curve is cut to max_points and keeps (0, 0) and (1, 1)."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 5000)
    scores = rng.random(5000) + 0.5 * y

    points = roc_points(y, scores, max_points=50)

    assert len(points["fpr"]) <= 51
    assert (points["fpr"][0], points["tpr"][0]) == (0.0, 0.0)
    assert (points["fpr"][-1], points["tpr"][-1]) == (1.0, 1.0)
    assert points["threshold"][0] is None
    assert np.all(np.diff(points["fpr"]) >= 0)
    assert roc_points(np.ones(5), np.ones(5)) is None


def test_aggregate_skips_undefined() -> None:
    """Averages use only folds where the metric is defined, and count them."""
    folds = [
        (np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.2, 0.8])),
        (np.array([1, 1, 1, 1, 1, 1]), np.array([0.9, 0.9, 0.1, 0.9, 0.9, 0.9])),
    ]
    metrics = [fold_metrics(labels, scores, 0.5) for labels, scores in folds]

    aggregate = aggregate_folds(metrics, [labels for labels, _ in folds], [scores for _, scores in folds])

    auc = aggregate["per_metric"]["auc"]
    assert auc["n_defined"] == 1
    assert auc["n_folds"] == 2
    assert auc["macro"] == pytest.approx(1.0)
    accuracy = aggregate["per_metric"]["accuracy"]
    assert accuracy["macro"] == pytest.approx((1.0 + 5 / 6) / 2)
    assert accuracy["weighted"] == pytest.approx((4 + 5) / 10)
    assert aggregate["pooled"]["n"] == 10
    assert aggregate["pooled"]["confusion"] == {"tp": 7, "fp": 0, "tn": 2, "fn": 1}


def test_c18_single_class_held_out_dataset() -> None:
    """A: 30/30, B: 40 harmful, C: 25/25 gives fold B a null AUC and n_defined 2 of 3."""
    X, y, datasets = c18_data()

    result = run_lodo(X, y, datasets, TinyLogistic())

    folds = {fold.name: fold.metrics for fold in result.folds}
    assert folds["B"]["auc"] is None
    assert folds["B"]["pr_auc"] is None
    assert folds["B"]["reason"] == "single_class_test"
    assert 0.0 <= folds["B"]["detection_rate"] <= 1.0
    assert folds["B"]["false_positive_rate"] is None
    for name in ("A", "C"):
        assert isinstance(folds[name]["auc"], float)
        assert folds[name]["reason"] is None
    auc = result.aggregate["per_metric"]["auc"]
    assert (auc["n_defined"], auc["n_folds"]) == (2, 3)
    assert auc["macro"] == pytest.approx((folds["A"]["auc"] + folds["C"]["auc"]) / 2)
    pr_auc = result.aggregate["per_metric"]["pr_auc"]
    assert pr_auc["n_defined"] == 2
    assert result.to_dict()["folds"][1]["metrics"]["auc"] is None
