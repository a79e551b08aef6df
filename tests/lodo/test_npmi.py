"""NPMI scores on known tables, and the stability report on planted features."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
from lodo_helpers import REAL, SHORTCUTS, TinyLogistic, planted_data

from pm_core.lodo import npmi_scores, run_lodo, stability_report, top_k


def test_npmi_known_values() -> None:
    """A feature on exactly the malicious rows scores 1, one never on them -1, an independent one 0."""
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    X = np.zeros((8, 4))
    X[:4, 0] = 1.0
    X[4:, 1] = 2.0
    X[[0, 1, 4, 5], 2] = 0.5
    X[0, 3] = 1.0

    scores = npmi_scores(X, y, min_active=2)

    assert scores[0] == pytest.approx(1.0)
    assert scores[1] == pytest.approx(-1.0)
    assert scores[2] == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(scores[3])


def test_npmi_sparse_matches_dense() -> None:
    """A CSR matrix gives the same NPMI as its dense form."""
    X, y, _ = planted_data()

    np.testing.assert_allclose(npmi_scores(scipy.sparse.csr_matrix(X), y), npmi_scores(X, y))


def test_npmi_single_class_all_nan() -> None:
    """A label with one class has no NPMI."""
    assert np.isnan(npmi_scores(np.ones((6, 2)), np.ones(6))).all()


def test_top_k_orders_by_magnitude_and_skips_nan() -> None:
    """top_k ranks by |NPMI| and never returns an undefined feature."""
    scores = np.array([0.2, np.nan, -0.9, 0.5])

    assert top_k(scores, 3).tolist() == [2, 3, 0]
    assert top_k(scores, 10).tolist() == [2, 3, 0]


def test_stability_flags_planted_shortcuts() -> None:
    """The general feature is stable; each dataset's shortcut needs exactly that dataset in training."""
    X, y, datasets = planted_data()

    result = run_lodo(X, y, datasets, TinyLogistic(), npmi_top_k=5)

    features = {item.feature: item for item in result.npmi.features}
    assert features[REAL].status == "stable"
    assert features[REAL].needs_datasets == []
    assert features[REAL].n_top_k == 4
    for name, column in SHORTCUTS.items():
        assert features[column].status == "shortcut", name
        assert features[column].needs_datasets == [name]
        assert features[column].npmi_by_fold[name] is None
        assert features[column].top_dataset == name
        assert features[column].top_dataset_share == 1.0
    assert result.npmi.shortcut_share == pytest.approx(0.8)


def test_stability_sign_flip_is_shortcut() -> None:
    """A feature whose NPMI changes sign between folds is a shortcut even while it stays in the top k."""
    fold_scores = {"a": np.array([0.8, 0.5, 0.1]), "b": np.array([0.7, -0.6, 0.1])}

    report = stability_report(fold_scores, k=2, all_scores=np.array([0.75, 0.1, 0.0]))

    features = {item.feature: item for item in report.features}
    assert features[0].status == "stable"
    assert features[1].sign_flip is True
    assert features[1].status == "shortcut"
    assert features[1].needs_datasets == []
    assert report.to_dict()["n_shortcut"] == 1
