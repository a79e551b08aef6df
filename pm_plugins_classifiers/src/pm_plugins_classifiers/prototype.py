"""The `prototype` classifier: a training-free baseline that scores rows by distance to class centroids.

`fit` only computes statistics: the benign centroid mu_0 and the malicious
centroid mu_1. For the Mahalanobis metric it also computes the precision matrix P
of the pooled within-class covariance, shrunk towards a scaled identity by
Ledoit-Wolf or by the `shrinkage` option. A row x gets the margin

    mahalanobis:  m(x) = d_P(x, mu_0) - d_P(x, mu_1),  d_P(x, mu) = sqrt((x - mu)^T P (x - mu))
    cosine:       m(x) = cos(x, mu_1) - cos(x, mu_0)

and the score expit(m(x) / t), t being the standard deviation of the margins of
the training rows, so scores spread over (0, 1) instead of saturating. Saved
state, `prototype.npz`: `centroids` (2, n_features), `precision` (n_features,
n_features), written for the mahalanobis metric only, and `temperature` ().
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse
from scipy.special import expit
from sklearn.covariance import LedoitWolf, ShrunkCovariance

from pm_plugins_classifiers.base import BaseClassifier, check_training_data
from pm_plugins_classifiers.options import PrototypeOptions

logger = logging.getLogger(__name__)

STATE_FILE = "prototype.npz"


class PrototypeClassifier(BaseClassifier):
    """Nearest-centroid margin squashed by a logistic. Higher means closer to the malicious centroid."""

    name = "prototype"
    options_type = PrototypeOptions
    dependencies = ("scikit-learn", "scipy")

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.centroids_: np.ndarray | None = None
        self.precision_: np.ndarray | None = None
        self.temperature_: float | None = None
        self.shrinkage_: float | None = None

    def fit(self, X: Any, y: Any, groups: Any = None) -> PrototypeClassifier:
        """Compute the class centroids (and shared precision) of `X` under 0/1 labels `y`. `groups` is ignored."""
        X, y, _ = check_training_data(X, y, groups)
        started = time.perf_counter()
        self.centroids_ = np.vstack([np.asarray(X[y == label].mean(axis=0)).ravel() for label in (0, 1)])
        if self.options.metric == "mahalanobis":
            self.precision_ = self._fit_precision(X, y)
        self.n_features_ = X.shape[1]

        margins = self._margins(X)
        spread = float(np.std(margins))
        self.temperature_ = spread if spread > 0 else 1.0
        logger.info(
            "fitted prototype classifier (%s) on %d rows x %d features in %.2fs",
            self.options.metric, X.shape[0], X.shape[1], time.perf_counter() - started,
        )
        return self

    def _fit_precision(self, X: np.ndarray | scipy.sparse.csr_matrix, y: np.ndarray) -> np.ndarray:
        # NOTE: the covariance is a dense (n_features, n_features) matrix and the sparse X is
        # densified here, so memory grows with n_features ** 2 + n_rows * n_features.
        dense = X.toarray() if scipy.sparse.issparse(X) else np.asarray(X, dtype=np.float64)
        within_class = dense - self.centroids_[y]
        if self.options.shrinkage is None:
            estimator = LedoitWolf(assume_centered=True, store_precision=False).fit(within_class)
            self.shrinkage_ = float(estimator.shrinkage_)
        else:
            estimator = ShrunkCovariance(assume_centered=True, store_precision=False,
                                         shrinkage=self.options.shrinkage).fit(within_class)
            self.shrinkage_ = float(self.options.shrinkage)

        # Cholesky is several times faster than the eigendecomposition (pinvh) scikit-learn uses for
        # `precision_`. Only a singular covariance (shrinkage 0 and fewer rows than features) needs pinvh.
        covariance = estimator.covariance_
        try:
            return scipy.linalg.cho_solve(scipy.linalg.cho_factor(covariance), np.eye(covariance.shape[0]))
        except np.linalg.LinAlgError:
            logger.info("prototype: the shared covariance is singular, so its pseudo-inverse is used")
            return scipy.linalg.pinvh(covariance)

    def _margins(self, X: np.ndarray | scipy.sparse.csr_matrix) -> np.ndarray:
        if self.options.metric == "cosine":
            similarities = _cosine_similarities(X, self.centroids_)
            return similarities[:, 1] - similarities[:, 0]
        distances = _mahalanobis_distances(X, self.centroids_, self.precision_)
        return distances[:, 0] - distances[:, 1]

    def predict_scores(self, X: Any) -> np.ndarray:
        """Return scores in (0, 1) per row, shape (n_prompts,). A score of 0.5 is equidistant from both centroids."""
        X = self._check_predict_input(X)
        return expit(self._margins(X) / self.temperature_)

    def _state_metadata(self) -> dict[str, Any]:
        return {"shrinkage": self.shrinkage_}

    def _save_state(self, path: Path) -> None:
        arrays = {"centroids": self.centroids_, "temperature": np.float64(self.temperature_)}
        if self.precision_ is not None:
            arrays["precision"] = self.precision_
        np.savez(path / STATE_FILE, **arrays)

    def _load_state(self, path: Path, state: dict[str, Any]) -> None:
        with np.load(path / STATE_FILE, allow_pickle=False) as arrays:
            self.centroids_ = arrays["centroids"]
            self.temperature_ = float(arrays["temperature"])
            self.precision_ = arrays.get("precision")
        self.shrinkage_ = state["shrinkage"]


def _mahalanobis_distances(X: Any, centroids: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """Return d_P(x, mu) for every row and centroid, shape (n_prompts, n_centroids).

    Expands (x - mu)^T P (x - mu) = x^T P x - 2 mu^T P x + mu^T P mu, so sparse X is never densified
    beyond the (n_prompts, n_features) product X P.
    """
    XP = np.asarray(X @ precision)
    if scipy.sparse.issparse(X):
        quadratic = np.asarray(X.multiply(XP).sum(axis=1)).ravel()
    else:
        quadratic = np.einsum("ij,ij->i", XP, X)
    cross = XP @ centroids.T
    centroid_terms = np.sum((centroids @ precision) * centroids, axis=1)
    squared = quadratic[:, None] - 2 * cross + centroid_terms[None, :]
    # Rounding can make a distance of about zero slightly negative.
    return np.sqrt(np.maximum(squared, 0.0))


def _cosine_similarities(X: Any, centroids: np.ndarray) -> np.ndarray:
    """Return cos(x, mu) for every row and centroid, shape (n_prompts, n_centroids), and 0 for an all-zero row."""
    if scipy.sparse.issparse(X):
        row_norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    else:
        row_norms = np.linalg.norm(X, axis=1)
    centroid_norms = np.linalg.norm(centroids, axis=1)
    dots = np.asarray(X @ centroids.T)
    denominator = np.outer(row_norms, centroid_norms)
    return np.divide(dots, denominator, out=np.zeros_like(dots, dtype=np.float64), where=denominator > 0)
