"""run_lodo: generalising against shortcut features, fold grouping, leakage and determinism."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import scipy.sparse
from lodo_helpers import REAL, SHORTCUTS, TinyLogistic, c18_data, planted_data

from pm_core.errors import ConfigError
from pm_core.lodo import plan_folds, random_split, run_lodo


def test_real_feature_generalises() -> None:
    """A model on the planted general feature keeps its AUC on every held-out dataset."""
    X, y, datasets = planted_data()

    result = run_lodo(X, y, datasets, TinyLogistic(columns=[REAL]))

    assert [fold.name for fold in result.folds] == ["alpha", "beta", "delta", "gamma"]
    for fold in result.folds:
        assert fold.metrics["auc"] > 0.75, fold.name
    assert result.aggregate["pooled"]["auc"] > 0.8
    assert abs(result.gap["auc"]) < 0.1


def test_shortcut_model_collapses_under_lodo() -> None:
    """A model on the dataset-shortcut features is near perfect on a random split and at chance under LODO."""
    X, y, datasets = planted_data()

    result = run_lodo(X, y, datasets, TinyLogistic(columns=list(SHORTCUTS.values())))

    assert result.random_split.metrics["auc"] > 0.95
    for fold in result.folds:
        assert fold.metrics["auc"] == pytest.approx(0.5, abs=0.05), fold.name
    assert result.aggregate["pooled"]["auc"] < 0.6
    assert result.gap["auc"] > 0.35


def test_sparse_input_matches_dense() -> None:
    """A CSR matrix gives the same scores as the dense array."""
    X, y, datasets = planted_data()

    dense = run_lodo(X, y, datasets, TinyLogistic(), npmi_top_k=3)
    sparse = run_lodo(scipy.sparse.csr_matrix(X), y, datasets, TinyLogistic(), npmi_top_k=3)

    for dense_fold, sparse_fold in zip(dense.folds, sparse.folds, strict=True):
        np.testing.assert_allclose(dense_fold.test_scores, sparse_fold.test_scores, atol=1e-6)
    assert dense.npmi.to_dict()["features"] == sparse.npmi.to_dict()["features"]


def test_small_dataset_skipped_with_warning(caplog) -> None:
    """A dataset under min_size gets no fold, is listed as skipped, and still trains the other folds."""
    X, y, datasets = c18_data()
    datasets = datasets.copy()
    datasets[:6] = "tiny"

    with caplog.at_level(logging.WARNING):
        result = run_lodo(X, y, datasets, TinyLogistic(), min_size=10)

    assert "'tiny' has 6 prompts, fewer than min_size 10" in caplog.text
    assert [fold.name for fold in result.folds] == ["A", "B", "C"]
    assert result.skipped == [{"group": "tiny", "datasets": ["tiny"], "n": 6, "reason": "below_min_size"}]
    fold_c = next(fold for fold in result.folds if fold.name == "C")
    assert set(range(6)) <= set(fold_c.train_indices.tolist())


def test_small_dataset_merged_into_group(caplog) -> None:
    """With small_group, datasets under min_size are held out together."""
    X, y, datasets = c18_data()
    datasets = datasets.copy()
    datasets[:6] = "tiny1"
    datasets[6:12] = "tiny2"

    with caplog.at_level(logging.WARNING):
        result = run_lodo(X, y, datasets, TinyLogistic(), min_size=10, small_group="small")

    assert "merged into group 'small'" in caplog.text
    small = next(fold for fold in result.folds if fold.name == "small")
    assert small.datasets == ["tiny1", "tiny2"]
    assert small.metrics["n"] == 12
    assert result.skipped == []


def test_merge_joins_folds() -> None:
    """A merged dataset is held out together with its target."""
    X, y, datasets = c18_data()

    result = run_lodo(X, y, datasets, TinyLogistic(), merge={"B": "A"})

    assert [fold.name for fold in result.folds] == ["A", "C"]
    assert result.folds[0].datasets == ["A", "B"]
    assert result.folds[0].metrics["n"] == 100
    assert result.folds[0].metrics["n_pos"] == 70


def test_merge_unknown_dataset_rejected() -> None:
    """Merging a dataset that does not exist names it and the datasets that do."""
    _, _, datasets = c18_data()

    with pytest.raises(ConfigError, match=r"unknown dataset\(s\) \['Z'\]; datasets are \['A', 'B', 'C'\]"):
        plan_folds(datasets, merge={"Z": "A"})


def test_single_class_training_fold_skipped() -> None:
    """A fold whose training rows hold one class is skipped with a reason, not fitted."""
    y = np.r_[np.ones(20), np.zeros(20)].astype(np.int8)
    datasets = np.array(["harmful"] * 20 + ["benign"] * 20, dtype=object)
    X = np.random.default_rng(0).normal(size=(40, 3))

    result = run_lodo(X, y, datasets, TinyLogistic())

    assert [(fold.name, fold.status, fold.reason) for fold in result.folds] == [
        ("benign", "skipped", "single_class_train"), ("harmful", "skipped", "single_class_train"),
    ]
    assert result.aggregate["n_folds"] == 0
    assert json.dumps(result.to_dict(), allow_nan=False)


def test_held_out_labels_never_reach_training() -> None:
    """Flipping or shuffling a fold's held-out labels leaves its training scores and threshold unchanged."""
    X, y, datasets = planted_data()
    held_out = datasets == "beta"
    flipped = y.copy()
    flipped[held_out] = 1 - flipped[held_out]
    shuffled = y.copy()
    shuffled[held_out] = np.random.default_rng(5).permutation(shuffled[held_out])

    runs = [run_lodo(X, labels, datasets, TinyLogistic(), threshold="max_f1") for labels in (y, flipped, shuffled)]

    baseline = runs[0].folds[1]
    assert baseline.name == "beta"
    for poisoned in (runs[1].folds[1], runs[2].folds[1]):
        np.testing.assert_array_equal(poisoned.train_scores, baseline.train_scores)
        np.testing.assert_array_equal(poisoned.test_scores, baseline.test_scores)
        assert poisoned.threshold == baseline.threshold
    assert runs[1].folds[1].metrics["auc"] == pytest.approx(1 - baseline.metrics["auc"])


def test_threshold_ignores_held_out_rows() -> None:
    """Replacing the held-out features and labels leaves the fold's threshold as it was."""
    X, y, datasets = planted_data()
    changed_X, changed_y = X.copy(), y.copy()
    held_out = datasets == "alpha"
    changed_X[held_out] = np.random.default_rng(3).normal(size=(held_out.sum(), X.shape[1]))
    changed_y[held_out] = 1

    for strategy in ("max_f1", "target_precision:0.9"):
        original = run_lodo(X, y, datasets, TinyLogistic(), threshold=strategy).folds[0]
        changed = run_lodo(changed_X, changed_y, datasets, TinyLogistic(), threshold=strategy).folds[0]

        assert original.name == "alpha"
        assert original.threshold.cv_folds == 5
        assert changed.threshold == original.threshold


def test_same_seed_same_result_in_parallel() -> None:
    """Two worker processes give the same JSON as one process, and a seed repeats exactly."""
    X, y, datasets = c18_data()

    serial = run_lodo(X, y, datasets, TinyLogistic(), threshold="max_f1", seed=7)
    parallel = run_lodo(X, y, datasets, TinyLogistic(), threshold="max_f1", seed=7, n_jobs=2)
    again = run_lodo(X, y, datasets, TinyLogistic(), threshold="max_f1", seed=7)

    assert json.dumps(parallel.to_dict()) == json.dumps(serial.to_dict())
    assert json.dumps(again.to_dict()) == json.dumps(serial.to_dict())
    assert parallel.final_model.predict_scores(X[:3]) == pytest.approx(serial.final_model.predict_scores(X[:3]))


def test_random_split_stratified_per_dataset() -> None:
    """The random split puts a fifth of every (dataset, label) stratum in test."""
    _, y, datasets = c18_data()

    train, test = random_split(datasets, y, 0.2, seed=0)

    assert len(np.intersect1d(train, test)) == 0
    assert len(train) + len(test) == len(y)
    for name, label, expected in (("A", 0, 6), ("A", 1, 6), ("B", 1, 8), ("C", 0, 5), ("C", 1, 5)):
        in_stratum = (datasets[test] == name) & (y[test] == label)
        assert in_stratum.sum() == expected, (name, label)


def test_npmi_selection_trains_on_top_k() -> None:
    """With npmi_select each fit is trained on its own top-k columns, chosen from training rows."""
    X, y, datasets = planted_data()

    result = run_lodo(X, y, datasets, TinyLogistic(), npmi_top_k=2, npmi_select=True)

    beta = next(fold for fold in result.folds if fold.name == "beta")
    assert REAL in beta.selected_features.tolist()
    assert SHORTCUTS["beta"] not in beta.selected_features.tolist()
    assert len(result.final_features) == 2
    assert result.to_dict()["final_features"] == result.final_features.tolist()
