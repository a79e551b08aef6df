"""The `xgboost` classifier: gradient-boosted trees with xgboost's `hist` tree method.

xgboost reads CSR input directly. Saved state is `model.json`, the model in
xgboost's own JSON format (`save_model`), so loading needs no pickle.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from pm_plugins_classifiers.base import BaseClassifier, check_training_data
from pm_plugins_classifiers.options import XGBoostOptions

logger = logging.getLogger(__name__)

STATE_FILE = "model.json"


class XGBoostClassifier(BaseClassifier):
    """Boosted trees with the logistic objective. Scores are probabilities of the malicious class.

    xgboost treats the entries a CSR matrix does not store as missing, whereas a
    dense zero is a value. So the classifier records whether it was trained on
    sparse or dense X and converts X at scoring time to the same kind. The
    scores of a dense and a sparse copy of the same rows are then identical.
    """

    name = "xgboost"
    options_type = XGBoostOptions
    dependencies = ("xgboost", "scipy")

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.model_ = None
        self.trained_on_sparse_: bool | None = None

    def _new_model(self):
        from xgboost import XGBClassifier

        options = self.options
        return XGBClassifier(
            n_estimators=options.n_estimators,
            max_depth=options.max_depth,
            learning_rate=options.learning_rate,
            subsample=options.subsample,
            n_jobs=options.n_jobs,
            random_state=options.seed,
            tree_method="hist",
            objective="binary:logistic",
            eval_metric="logloss",
        )

    def fit(self, X: Any, y: Any, groups: Any = None) -> XGBoostClassifier:
        """Train on `X` and 0/1 labels `y`. `groups` is ignored."""
        X, y, _ = check_training_data(X, y, groups)
        started = time.perf_counter()
        model = self._new_model()
        model.fit(X, y)
        self.model_ = model
        self.trained_on_sparse_ = scipy.sparse.issparse(X)
        self.n_features_ = X.shape[1]
        logger.info(
            "fitted xgboost classifier (%d trees) on %d rows x %d features in %.2fs",
            self.options.n_estimators, X.shape[0], X.shape[1], time.perf_counter() - started,
        )
        return self

    def predict_scores(self, X: Any) -> np.ndarray:
        """Return the probability of the malicious class per row, shape (n_prompts,)."""
        X = self._check_predict_input(X)
        if self.trained_on_sparse_ and not scipy.sparse.issparse(X):
            X = scipy.sparse.csr_matrix(X)
        elif not self.trained_on_sparse_ and scipy.sparse.issparse(X):
            # NOTE: this densifies the whole of X, so score a large sparse X in row batches.
            X = X.toarray()
        return self.model_.predict_proba(X)[:, 1].astype(np.float64)

    def _state_metadata(self) -> dict[str, Any]:
        return {"trained_on_sparse": self.trained_on_sparse_}

    def _save_state(self, path: Path) -> None:
        self.model_.save_model(path / STATE_FILE)

    def _load_state(self, path: Path, state: dict[str, Any]) -> None:
        model = self._new_model()
        model.load_model(path / STATE_FILE)
        self.model_ = model
        self.trained_on_sparse_ = bool(state["trained_on_sparse"])
