"""The `xgboost` classifier: sparse input and the native JSON model file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from classifier_helpers import FAST_OPTIONS, to_csr

from pm_core.errors import ConfigError
from pm_plugins_classifiers.boosted_trees import XGBoostClassifier


@pytest.mark.parametrize("train_sparse", [False, True], ids=["trained-dense", "trained-csr"])
def test_dense_and_csr_copies_score_the_same(planted, train_sparse: bool) -> None:
    X_train = to_csr(planted.X_train) if train_sparse else planted.X_train
    classifier = XGBoostClassifier(**FAST_OPTIONS["xgboost"]).fit(X_train, planted.y_train)

    dense_scores = classifier.predict_scores(planted.X_test)
    sparse_scores = classifier.predict_scores(to_csr(planted.X_test))

    assert classifier.trained_on_sparse_ is train_sparse
    np.testing.assert_array_equal(sparse_scores, dense_scores)


def test_subsample_repeats_for_seed(planted) -> None:
    options = {**FAST_OPTIONS["xgboost"], "subsample": 0.5, "seed": 7}
    first = XGBoostClassifier(**options).fit(planted.X_train, planted.y_train)
    second = XGBoostClassifier(**options).fit(planted.X_train, planted.y_train)

    np.testing.assert_array_equal(first.predict_scores(planted.X_test), second.predict_scores(planted.X_test))


def test_saved_model_is_native_json(planted, tmp_path) -> None:
    classifier = XGBoostClassifier(**FAST_OPTIONS["xgboost"], max_depth=3).fit(planted.X_train, planted.y_train)

    classifier.save(tmp_path)
    model = json.loads((tmp_path / "model.json").read_text())

    assert "learner" in model
    assert model["learner"]["gradient_booster"]["model"]["gbtree_model_param"]["num_trees"] == "50"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_estimators": 0}, r"invalid value 0 for `n_estimators`: expected an integer >= 1"),
        ({"subsample": 1.5}, r"invalid value 1.5 for `subsample`: expected a number in \(0, 1\]"),
        ({"learning_rate": -0.1}, r"invalid value -0.1 for `learning_rate`: expected a number > 0"),
        ({"n_jobs": 0}, r"invalid value 0 for `n_jobs`: expected an integer >= 1"),
    ],
)
def test_invalid_options_rejected(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"classifier 'xgboost': {message}"):
        XGBoostClassifier(**options)
