"""The `linear` classifier: solvers, normalisations, and dense versus sparse input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
from classifier_helpers import to_csr
from scipy.special import logit
from sklearn.metrics import roc_auc_score

from pm_core.errors import ConfigError
from pm_plugins_classifiers import linear
from pm_plugins_classifiers.linear import LinearClassifier


@pytest.mark.parametrize("normalization", ["standard", "l2", "none"])
def test_dense_and_sparse_scores_match(planted, normalization: str) -> None:
    """lbfgs reaches the same optimum whether X is dense (centred) or CSR (scaled only)."""
    dense = LinearClassifier(solver="lbfgs", normalization=normalization).fit(planted.X_train, planted.y_train)
    sparse = LinearClassifier(solver="lbfgs", normalization=normalization).fit(
        to_csr(planted.X_train), planted.y_train
    )

    dense_scores = dense.predict_scores(planted.X_test)
    sparse_scores = sparse.predict_scores(to_csr(planted.X_test))

    np.testing.assert_allclose(sparse_scores, dense_scores, atol=1e-2)
    np.testing.assert_allclose(dense.predict_scores(to_csr(planted.X_test)), dense_scores, rtol=1e-12)


def test_sparse_input_never_densified(planted, monkeypatch) -> None:
    def fail_on_densify(self, *args, **kwargs):
        raise AssertionError("a sparse matrix was densified")

    for sparse_type in (scipy.sparse.csr_matrix, scipy.sparse.csr_array):
        monkeypatch.setattr(sparse_type, "toarray", fail_on_densify)
        monkeypatch.setattr(sparse_type, "todense", fail_on_densify)

    classifier = LinearClassifier(normalization="standard").fit(to_csr(planted.X_train), planted.y_train)
    scores = classifier.predict_scores(to_csr(planted.X_test))

    assert scores.shape == (planted.X_test.shape[0],)


@pytest.mark.parametrize(
    ("solver", "sparse", "n_rows", "expected"),
    [
        ("auto", False, 600, "lbfgs"),
        ("auto", True, 600, "lbfgs"),
        ("auto", True, 601, "sgd"),
        ("auto", False, 601, "lbfgs"),
        ("lbfgs", True, 600, "lbfgs"),
        ("sgd", False, 600, "sgd"),
    ],
)
def test_solver_resolution(monkeypatch, solver: str, sparse: bool, n_rows: int, expected: str) -> None:
    monkeypatch.setattr(linear, "SGD_MIN_ROWS", 600)
    X = np.zeros((n_rows, 2))

    resolved = LinearClassifier(solver=solver).resolve_solver(to_csr(X) if sparse else X)

    assert resolved == expected


def test_sgd_dense_reaches_auc(planted) -> None:
    classifier = LinearClassifier(solver="sgd").fit(planted.X_train, planted.y_train)

    assert classifier.solver_ == "sgd"
    assert roc_auc_score(planted.y_test, classifier.predict_scores(planted.X_test)) > 0.9


def test_sgd_repeats_for_seed(planted) -> None:
    first = LinearClassifier(solver="sgd", seed=3).fit(planted.X_train, planted.y_train)
    second = LinearClassifier(solver="sgd", seed=3).fit(planted.X_train, planted.y_train)

    np.testing.assert_array_equal(first.predict_scores(planted.X_test), second.predict_scores(planted.X_test))


def test_standard_scores_ignore_feature_units(planted) -> None:
    """Folding the standardisation into the weights makes scores independent of each feature's unit."""
    units = np.geomspace(1e-3, 1e3, planted.X_train.shape[1])
    plain = LinearClassifier(solver="lbfgs").fit(planted.X_train, planted.y_train)
    rescaled = LinearClassifier(solver="lbfgs").fit(planted.X_train * units, planted.y_train)

    np.testing.assert_allclose(
        rescaled.predict_scores(planted.X_test * units), plain.predict_scores(planted.X_test), atol=1e-3
    )


def test_decision_function_is_logit_of_scores(planted) -> None:
    classifier = LinearClassifier().fit(planted.X_train, planted.y_train)

    np.testing.assert_allclose(
        classifier.decision_function(planted.X_test), logit(classifier.predict_scores(planted.X_test)), atol=1e-8
    )


def test_balanced_class_weight_accepted(planted) -> None:
    keep = np.concatenate([np.flatnonzero(planted.y_train == 0), np.flatnonzero(planted.y_train == 1)[:40]])
    classifier = LinearClassifier(class_weight="balanced").fit(planted.X_train[keep], planted.y_train[keep])

    assert roc_auc_score(planted.y_test, classifier.predict_scores(planted.X_test)) > 0.9


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"C": 0}, r"invalid value 0 for `C`: expected a number > 0"),
        ({"C": True}, r"invalid value True for `C`"),
        ({"normalization": "minmax"}, r"invalid value 'minmax' for `normalization`: expected one of 'standard'"),
        ({"solver": "saga"}, r"invalid value 'saga' for `solver`"),
        ({"max_iter": 0}, r"invalid value 0 for `max_iter`: expected an integer >= 1"),
        ({"class_weight": "auto"}, r"invalid value 'auto' for `class_weight`"),
    ],
)
def test_invalid_options_rejected(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"classifier 'linear': {message}"):
        LinearClassifier(**options)
