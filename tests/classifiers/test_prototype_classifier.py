"""The `prototype` classifier: Mahalanobis and cosine margins, shrinkage, sparse input."""

from __future__ import annotations

import numpy as np
import pytest
from classifier_helpers import to_csr
from scipy.spatial.distance import cosine, mahalanobis
from sklearn.covariance import LedoitWolf

from pm_core.errors import ConfigError
from pm_plugins_classifiers.prototype import PrototypeClassifier


@pytest.mark.parametrize("metric", ["mahalanobis", "cosine"])
def test_dense_and_sparse_scores_match(planted, metric: str) -> None:
    dense = PrototypeClassifier(metric=metric).fit(planted.X_train, planted.y_train)
    sparse = PrototypeClassifier(metric=metric).fit(to_csr(planted.X_train), planted.y_train)

    np.testing.assert_allclose(sparse.predict_scores(to_csr(planted.X_test)), dense.predict_scores(planted.X_test),
                               rtol=1e-9, atol=1e-12)


def test_mahalanobis_margin_matches_scipy(planted) -> None:
    classifier = PrototypeClassifier(shrinkage=0.2).fit(planted.X_train, planted.y_train)
    benign, malicious = classifier.centroids_
    row = planted.X_test[0]

    expected_margin = (mahalanobis(row, benign, classifier.precision_)
                       - mahalanobis(row, malicious, classifier.precision_))
    expected = 1 / (1 + np.exp(-expected_margin / classifier.temperature_))

    assert classifier.predict_scores(planted.X_test[:1])[0] == pytest.approx(expected, rel=1e-9)


def test_cosine_margin_matches_scipy(planted) -> None:
    classifier = PrototypeClassifier(metric="cosine").fit(planted.X_train, planted.y_train)
    benign, malicious = classifier.centroids_
    row = planted.X_test[0]

    # scipy's `cosine` is the cosine distance, 1 - cos.
    expected_margin = cosine(row, benign) - cosine(row, malicious)
    expected = 1 / (1 + np.exp(-expected_margin / classifier.temperature_))

    assert classifier.precision_ is None
    assert classifier.predict_scores(planted.X_test[:1])[0] == pytest.approx(expected, rel=1e-9)


def test_ledoit_wolf_estimates_shrinkage(planted) -> None:
    classifier = PrototypeClassifier().fit(planted.X_train, planted.y_train)

    assert 0 < classifier.shrinkage_ < 1


def test_precision_matches_scikit_learn(planted) -> None:
    classifier = PrototypeClassifier().fit(planted.X_train, planted.y_train)
    within_class = planted.X_train - classifier.centroids_[planted.y_train]

    expected = LedoitWolf(assume_centered=True).fit(within_class).precision_

    np.testing.assert_allclose(classifier.precision_, expected, rtol=1e-8, atol=1e-10)


def test_singular_covariance_uses_pseudo_inverse() -> None:
    """Without shrinkage, 10 rows of 30 features give a singular covariance, which Cholesky rejects."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 30))
    y = np.array([0, 1] * 5)

    classifier = PrototypeClassifier(shrinkage=0.0).fit(X, y)
    within_class = X - classifier.centroids_[y]

    np.testing.assert_allclose(classifier.precision_, np.linalg.pinv(within_class.T @ within_class / 10), atol=1e-8)
    assert np.all(np.isfinite(classifier.predict_scores(X)))


def test_all_zero_row_scores_without_nan(planted) -> None:
    classifier = PrototypeClassifier(metric="cosine").fit(planted.X_train, planted.y_train)

    scores = classifier.predict_scores(np.zeros((1, planted.X_train.shape[1])))

    assert scores[0] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"metric": "euclidean"}, r"invalid value 'euclidean' for `metric`"),
        ({"shrinkage": 1.5}, r"invalid value 1.5 for `shrinkage`: expected null \(Ledoit-Wolf\) or a number"),
        ({"metric": "cosine", "shrinkage": 0.1}, r"`shrinkage` is set to 0.1 but `metric` is 'cosine'"),
    ],
)
def test_invalid_options_rejected(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"classifier 'prototype': {message}"):
        PrototypeClassifier(**options)
