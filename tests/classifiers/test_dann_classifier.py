"""The `dann` classifier: domains from groups, determinism, the reversal layer, and a missing torch."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from classifier_helpers import FAST_OPTIONS

from pm_core.errors import ConfigError
from pm_plugins_classifiers.base import MissingDependencyError

torch = pytest.importorskip("torch")

from pm_plugins_classifiers.dann import DANNClassifier  # noqa: E402
from pm_plugins_classifiers.dann_network import GradientReversal  # noqa: E402

#: Default of `fit_dann`'s `groups`: use the planted training groups.
TRAIN_GROUPS = object()


def fit_dann(planted, groups=TRAIN_GROUPS, **options) -> DANNClassifier:
    groups = planted.groups_train if groups is TRAIN_GROUPS else groups
    return DANNClassifier(**{**FAST_OPTIONS["dann"], **options}).fit(planted.X_train, planted.y_train, groups)


def test_groups_become_domains(planted) -> None:
    classifier = fit_dann(planted)

    assert classifier.domains_ == ["advbench", "dolly", "injecagent"]
    assert classifier.network_.domain_head[-1].out_features == 3


@pytest.mark.parametrize(
    "groups", [None, np.array(["dolly"] * 600)], ids=["no-groups", "one-group"]
)
def test_trains_without_domain_head(planted, groups) -> None:
    classifier = fit_dann(planted, groups=groups)

    assert classifier.network_.domain_head is None
    assert classifier.predict_scores(planted.X_test).shape == (planted.X_test.shape[0],)


def test_repeats_for_seed(planted) -> None:
    first = fit_dann(planted, seed=5).predict_scores(planted.X_test)
    second = fit_dann(planted, seed=5).predict_scores(planted.X_test)
    other_seed = fit_dann(planted, seed=6).predict_scores(planted.X_test)

    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other_seed)


def test_caller_rng_untouched(planted) -> None:
    state = torch.random.get_rng_state()

    fit_dann(planted, epochs=1)

    assert torch.equal(torch.random.get_rng_state(), state)


def test_domain_weight_changes_training(planted) -> None:
    without_reversal = fit_dann(planted, lambda_max=0.0).predict_scores(planted.X_test)
    with_reversal = fit_dann(planted, lambda_max=1.0).predict_scores(planted.X_test)

    assert not np.allclose(without_reversal, with_reversal)


def test_gradient_reversal_negates_and_scales() -> None:
    features = torch.ones(3, requires_grad=True)

    GradientReversal.apply(features, 0.25).sum().backward()

    assert torch.equal(features.grad, torch.full((3,), -0.25))


@pytest.mark.parametrize(
    ("schedule", "progress", "expected"),
    [("ganin", 0.0, 0.0), ("ganin", 0.5, 2.0 * (2 / (1 + np.exp(-5.0)) - 1)), ("constant", 0.0, 2.0)],
)
def test_reversal_weight_schedule(schedule: str, progress: float, expected: float) -> None:
    classifier = DANNClassifier(lambda_max=2.0, lambda_schedule=schedule)

    assert classifier.reversal_weight(progress) == pytest.approx(expected)


def test_missing_torch_names_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)

    with pytest.raises(MissingDependencyError, match=r"pip install 'pm-plugins-classifiers\[dann\]'"):
        DANNClassifier()


def test_missing_torch_is_import_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)

    with pytest.raises(ImportError):
        DANNClassifier()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"hidden": []}, r"invalid value \[\] for `hidden`: expected a non-empty list of integers >= 1"),
        ({"hidden": [32, 0]}, r"invalid value \[32, 0\] for `hidden`"),
        ({"lambda_schedule": "linear"}, r"invalid value 'linear' for `lambda_schedule`"),
        ({"batch_size": 0}, r"invalid value 0 for `batch_size`"),
        ({"device": ""}, r"invalid value '' for `device`: expected a non-empty string"),
    ],
)
def test_invalid_options_rejected(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"classifier 'dann': {message}"):
        DANNClassifier(**options)
