"""The `linear` classifier: L2-regularised logistic regression on activations or features.

Training runs scikit-learn's LogisticRegression (lbfgs) or, for sparse or large
inputs, SGDClassifier with the log loss. After training, the standardisation is
folded into the weights, so scoring is `expit(X @ coef + intercept)` on raw X for
either solver and for dense or sparse X. Saved state, `linear.npz`:

    coef       (n_features,)  weights on raw X (on the unit-length row when normalization is `l2`)
    intercept  ()
    mean       (n_features,)  feature means used to centre X in training, zeros when X was sparse
    scale      (n_features,)  feature standard deviations used in training, ones unless `standard`
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
from scipy.special import expit
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.preprocessing import StandardScaler, normalize

from pm_plugins_classifiers.base import BaseClassifier, check_training_data
from pm_plugins_classifiers.options import LinearOptions

logger = logging.getLogger(__name__)

#: With `solver: auto`, sparse inputs with more rows than this train with SGD. lbfgs handles
#: dense 100k x 576 in about a second per fit, while SGD with the matching small alpha needs
#: many epochs, so dense inputs always use lbfgs.
SGD_MIN_ROWS = 200_000
STATE_FILE = "linear.npz"


class LinearClassifier(BaseClassifier):
    """Logistic regression. Scores are probabilities of the malicious class."""

    name = "linear"
    options_type = LinearOptions
    dependencies = ("scikit-learn", "scipy")

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.coef_: np.ndarray | None = None
        self.intercept_: float | None = None
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self.solver_: str | None = None

    def resolve_solver(self, X: np.ndarray | scipy.sparse.csr_matrix) -> str:
        """Return the solver that `fit` uses for `X`: the option, or for `auto` the rule on sparsity and size."""
        if self.options.solver != "auto":
            return self.options.solver
        if scipy.sparse.issparse(X) and X.shape[0] > SGD_MIN_ROWS:
            return "sgd"
        return "lbfgs"

    def fit(self, X: Any, y: Any, groups: Any = None) -> LinearClassifier:
        """Train on `X` and 0/1 labels `y`. `groups` is ignored."""
        X, y, _ = check_training_data(X, y, groups)
        started = time.perf_counter()
        options = self.options
        solver = self.resolve_solver(X)
        X_train, mean, scale = self._normalize_for_training(X)

        if solver == "lbfgs":
            model = LogisticRegression(
                C=options.C, class_weight=options.class_weight, max_iter=options.max_iter, solver="lbfgs"
            )
        else:
            # alpha = 1 / (C * n_rows) gives SGD the same objective as LogisticRegression with C.
            model = SGDClassifier(
                loss="log_loss",
                alpha=1.0 / (options.C * X.shape[0]),
                class_weight=options.class_weight,
                max_iter=options.max_iter,
                random_state=options.seed,
            )
        model.fit(X_train, y)

        coef = model.coef_.ravel().astype(np.float64) / scale
        self.coef_ = coef
        self.intercept_ = float(model.intercept_[0] - coef @ mean)
        self.mean_, self.scale_, self.solver_ = mean, scale, solver
        self.n_features_ = X.shape[1]
        logger.info(
            "fitted linear classifier (%s, %s) on %d rows x %d features in %.2fs",
            solver, "sparse" if scipy.sparse.issparse(X) else "dense", X.shape[0], X.shape[1],
            time.perf_counter() - started,
        )
        return self

    def _normalize_for_training(self, X: np.ndarray | scipy.sparse.csr_matrix) -> tuple[Any, np.ndarray, np.ndarray]:
        """Return the training matrix, the means subtracted from it and the scales it was divided by."""
        n_features = X.shape[1]
        if self.options.normalization == "l2":
            return normalize(X, norm="l2"), np.zeros(n_features), np.ones(n_features)
        if self.options.normalization == "none":
            return X, np.zeros(n_features), np.ones(n_features)

        # Centring a sparse matrix would make it dense, so sparse X is only scaled. The intercept
        # absorbs the missing centring because lbfgs does not penalise the intercept.
        sparse = scipy.sparse.issparse(X)
        scaler = StandardScaler(with_mean=not sparse).fit(X)
        mean = np.zeros(n_features) if sparse else scaler.mean_.astype(np.float64)
        return scaler.transform(X), mean, scaler.scale_.astype(np.float64)

    def decision_function(self, X: Any) -> np.ndarray:
        """Return the log-odds of the malicious class per row, shape (n_prompts,)."""
        X = self._check_predict_input(X)
        if self.options.normalization == "l2":
            X = normalize(X, norm="l2")
        return np.asarray(X @ self.coef_).ravel() + self.intercept_

    def predict_scores(self, X: Any) -> np.ndarray:
        """Return the probability of the malicious class per row, shape (n_prompts,)."""
        return expit(self.decision_function(X))

    def _state_metadata(self) -> dict[str, Any]:
        return {"solver": self.solver_}

    def _save_state(self, path: Path) -> None:
        np.savez(path / STATE_FILE, coef=self.coef_, intercept=np.float64(self.intercept_), mean=self.mean_,
                 scale=self.scale_)

    def _load_state(self, path: Path, state: dict[str, Any]) -> None:
        with np.load(path / STATE_FILE, allow_pickle=False) as arrays:
            self.coef_ = arrays["coef"]
            self.intercept_ = float(arrays["intercept"])
            self.mean_ = arrays["mean"]
            self.scale_ = arrays["scale"]
        self.solver_ = state["solver"]
