"""Threshold strategies: parsing, picking on labelled scores, and cross-validation on training rows."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from lodo_helpers import TinyLogistic, planted_data

from pm_core.errors import ConfigError
from pm_core.lodo import ThresholdStrategy, choose_threshold
from pm_core.lodo.thresholds import pick_threshold, stratified_folds


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [("constant", "constant", 0.5), ("constant:0.3", "constant", 0.3), ("max_f1", "max_f1", None),
     ("target_precision:0.95", "target_precision", 0.95)],
)
def test_parse_strategies(text: str, kind: str, value: float | None) -> None:
    """Each documented spelling parses to its kind and value."""
    strategy = ThresholdStrategy.parse(text)

    assert (strategy.kind, strategy.value) == (kind, value)


@pytest.mark.parametrize(
    ("text", "message"),
    [("median", "expected one of constant, target_precision, max_f1"),
     ("target_precision", "give the precision"),
     ("target_precision:1.5", r"must be in \(0, 1\]"),
     ("constant:high", "'high' is not a number"),
     ("max_f1:0.2", "max_f1 takes no value")],
)
def test_parse_rejects_invalid(text: str, message: str) -> None:
    """Invalid strategies raise ConfigError naming the problem."""
    with pytest.raises(ConfigError, match=message):
        ThresholdStrategy.parse(text)


def test_target_precision_picks_lowest_threshold() -> None:
    """The lowest threshold that reaches the precision is chosen, keeping the most recall."""
    y = np.array([1, 1, 0, 1, 0, 1, 0, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])

    threshold, reached = pick_threshold(ThresholdStrategy("target_precision", 0.75), y, scores)

    assert threshold == pytest.approx(0.6)
    assert reached is True


def test_target_precision_unreachable_reports_it() -> None:
    """When no threshold reaches the target, the most precise one is used and reached is False."""
    y = np.array([0, 1, 0, 1])
    scores = np.array([0.9, 0.8, 0.7, 0.6])

    threshold, reached = pick_threshold(ThresholdStrategy("target_precision", 0.99), y, scores)

    assert threshold == pytest.approx(0.6)
    assert reached is False


def test_max_f1_picks_best_split() -> None:
    """max_f1 picks the threshold with the best F1 on the given scores."""
    y = np.array([1, 1, 1, 0, 1, 1, 0])
    scores = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.55, 0.1])

    threshold, _ = pick_threshold(ThresholdStrategy("max_f1", None), y, scores)

    assert threshold == pytest.approx(0.55)


def test_stratified_folds_keep_class_shares() -> None:
    """Every fold gets its share of each class, and the folds partition the rows."""
    y = np.r_[np.ones(20), np.zeros(30)]

    folds = stratified_folds(y, 5, seed=1)

    assert sorted(np.concatenate(folds).tolist()) == list(range(50))
    for fold in folds:
        assert (y[fold] == 1).sum() == 4
        assert (y[fold] == 0).sum() == 6


def test_choose_threshold_cross_validates_training_rows() -> None:
    """The threshold comes from 5-fold out-of-fold scores and repeats for a seed."""
    X, y, _ = planted_data()
    strategy = ThresholdStrategy.parse("max_f1")

    first = choose_threshold(strategy, TinyLogistic(), X, y, seed=3)
    second = choose_threshold(strategy, TinyLogistic(), X, y, seed=3)

    assert first == second
    assert first.cv_folds == 5
    assert 0.0 < first.threshold < 1.0


def test_choose_threshold_too_few_rows_falls_back(caplog) -> None:
    """With one row of a class there is no cross-validation, so 0.5 is used and the fallback is named."""
    X = np.arange(10, dtype=float).reshape(5, 2)
    y = np.array([1, 0, 0, 0, 0])

    with caplog.at_level(logging.WARNING):
        choice = choose_threshold(ThresholdStrategy.parse("max_f1"), TinyLogistic(), X, y)

    assert choice.threshold == 0.5
    assert choice.fallback == "too_few_training_rows"
    assert "needs at least 2 training rows of each class" in caplog.text
