"""Behaviour every classifier shares: scores, clone, save and load, input checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from classifier_helpers import FAST_OPTIONS, to_csr
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from pm_core.classifiers import Classifier
from pm_core.errors import ConfigError, DataError, StorageError, UnknownNameError
from pm_plugins_classifiers.catalog import CLASSIFIERS, lazy_factory
from pm_plugins_classifiers.io import load_classifier

TARGETS = {name: target for name, target, _, _ in CLASSIFIERS}
NAMES = list(TARGETS)


def create(name: str, **options):
    if name == "dann":
        pytest.importorskip("torch")
    return lazy_factory(TARGETS[name])(**{**FAST_OPTIONS[name], **options})


@pytest.fixture(scope="module")
def fitted(planted):
    """One classifier of each kind fitted on the dense planted rows, with groups."""
    return {name: create(name).fit(planted.X_train, planted.y_train, planted.groups_train) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_implements_protocol(name: str) -> None:
    assert isinstance(create(name), Classifier)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_held_out_auc_above_0_9(planted, name: str, sparse: bool) -> None:
    convert = to_csr if sparse else np.asarray
    classifier = create(name).fit(convert(planted.X_train), planted.y_train, planted.groups_train)

    scores = classifier.predict_scores(convert(planted.X_test))

    assert scores.shape == (planted.X_test.shape[0],)
    assert np.all((scores >= 0) & (scores <= 1))
    assert roc_auc_score(planted.y_test, scores) > 0.9


@pytest.mark.parametrize("name", NAMES)
def test_clone_is_unfitted_with_same_options(fitted, name: str) -> None:
    original = fitted[name]

    copy = original.clone()

    assert type(copy) is type(original)
    assert copy.options == original.options
    assert not copy.is_fitted
    assert original.is_fitted
    with pytest.raises(NotFittedError, match="not fitted"):
        copy.predict_scores(np.zeros((1, original.n_features_)))


@pytest.mark.parametrize("name", NAMES)
def test_save_load_gives_identical_scores(fitted, planted, tmp_path, name: str) -> None:
    original = fitted[name]
    original.save(tmp_path / name)

    restored = load_classifier(tmp_path / name)

    assert type(restored) is type(original)
    assert restored.options == original.options
    np.testing.assert_array_equal(restored.predict_scores(planted.X_test), original.predict_scores(planted.X_test))


@pytest.mark.parametrize("name", NAMES)
def test_saved_folder_layout(fitted, tmp_path, name: str) -> None:
    fitted[name].save(tmp_path)

    metadata = json.loads((tmp_path / "classifier.json").read_text())
    files = {path.name for path in tmp_path.iterdir()}

    assert metadata["name"] == name
    assert metadata["format_version"] == 1
    assert metadata["state"]["n_features"] == fitted[name].n_features_
    assert metadata["versions"]["pm-plugins-classifiers"] == "0.1.0"
    assert metadata["versions"]["numpy"] == np.__version__
    assert len(files) == 2
    assert not any(file.endswith((".pkl", ".pickle", ".joblib")) for file in files)


@pytest.mark.parametrize("name", NAMES)
def test_wrong_feature_count_rejected(fitted, name: str) -> None:
    with pytest.raises(DataError, match=r"X has 3 features but this \w+ classifier was fitted on 16"):
        fitted[name].predict_scores(np.zeros((2, 3)))


@pytest.mark.parametrize("name", NAMES)
def test_unfitted_save_rejected(tmp_path, name: str) -> None:
    with pytest.raises(NotFittedError, match="call fit"):
        create(name).save(tmp_path)


@pytest.mark.parametrize("name", NAMES)
def test_unknown_option_rejected(name: str) -> None:
    with pytest.raises(ConfigError, match=rf"classifier '{name}': unknown options \['colour'\]; allowed: "):
        create(name, colour="red")


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([0, 0, 0, 0], r"y contains only the labels \[0\], but training needs both"),
        ([0, 1, 2, 1], r"y must hold 0 \(benign\) and 1 \(malicious\); got labels \[0, 1, 2\]"),
        ([0, 1, 1], r"y must be 1-D with one label per row of X \(4\)"),
    ],
    ids=["one-class", "three-labels", "wrong-length"],
)
def test_invalid_labels_rejected(labels: list[int], message: str) -> None:
    with pytest.raises(DataError, match=message):
        create("linear").fit(np.ones((4, 2)), np.array(labels))


def test_non_finite_x_rejected() -> None:
    X = np.ones((4, 2))
    X[1, 1] = np.nan

    with pytest.raises(DataError, match="NaN or infinite"):
        create("prototype").fit(X, np.array([0, 1, 0, 1]))


def test_groups_length_checked() -> None:
    with pytest.raises(DataError, match=r"groups must be 1-D with one dataset name per row of X \(4\)"):
        create("linear").fit(np.ones((4, 2)), np.array([0, 1, 0, 1]), groups=np.array(["a", "b"]))


def test_load_missing_folder_names_file(tmp_path) -> None:
    with pytest.raises(StorageError, match=r"classifier\.json: not found"):
        load_classifier(tmp_path)


def test_load_unknown_name_lists_known(tmp_path) -> None:
    metadata = {"name": "forest", "format_version": 1, "options": {}, "state": {}}
    (tmp_path / "classifier.json").write_text(json.dumps(metadata))

    expected = r"unknown classifier 'forest'; pm-plugins-classifiers loads dann, linear, prototype, xgboost"
    with pytest.raises(UnknownNameError, match=expected):
        load_classifier(tmp_path)


def test_load_other_format_version_rejected(fitted, tmp_path) -> None:
    fitted["linear"].save(tmp_path)
    metadata = json.loads((tmp_path / "classifier.json").read_text())
    metadata["format_version"] = 2
    (tmp_path / "classifier.json").write_text(json.dumps(metadata))

    with pytest.raises(StorageError, match="format_version 2 is not supported"):
        load_classifier(tmp_path)


def test_class_load_rejects_other_name(fitted, tmp_path) -> None:
    fitted["linear"].save(tmp_path)

    with pytest.raises(StorageError, match="holds a 'linear' classifier, not 'prototype'"):
        type(fitted["prototype"]).load(tmp_path)


@pytest.mark.parametrize("dtype", [np.int64, np.float16, bool])
def test_non_float_x_scored_as_float64(planted, dtype) -> None:
    classifier = create("linear").fit(planted.X_train, planted.y_train)
    X = planted.X_test.astype(dtype)

    scores = classifier.predict_scores(X)

    np.testing.assert_allclose(scores, classifier.predict_scores(X.astype(np.float64)))
