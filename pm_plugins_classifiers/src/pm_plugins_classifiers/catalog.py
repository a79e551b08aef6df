"""The classifiers this package provides: name, implementing class, summary and options class.

Only attrs and this package's options module are imported here, so registering
and `load_classifier` import scikit-learn, xgboost or torch only for the class
they actually create.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from pm_plugins_classifiers.options import DANNOptions, LinearOptions, PrototypeOptions, XGBoostOptions

#: (registered name, "module:Class", summary, options class)
CLASSIFIERS: tuple[tuple[str, str, str, type], ...] = (
    ("linear", "pm_plugins_classifiers.linear:LinearClassifier",
     "logistic regression (scikit-learn lbfgs, or SGD for sparse or large X)", LinearOptions),
    ("xgboost", "pm_plugins_classifiers.boosted_trees:XGBoostClassifier",
     "gradient-boosted trees (xgboost, hist tree method)", XGBoostOptions),
    ("dann", "pm_plugins_classifiers.dann:DANNClassifier",
     "domain-adversarial MLP that uses source datasets as domains (needs torch: the `dann` extra)", DANNOptions),
    ("prototype", "pm_plugins_classifiers.prototype:PrototypeClassifier",
     "training-free baseline: Mahalanobis or cosine distance to the class centroids", PrototypeOptions),
)


def import_class(target: str) -> type:
    """Import `module:Class` and return the class."""
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def lazy_factory(target: str) -> Callable[..., Any]:
    """Return a factory that imports `target` only when called and passes its keyword options to the class."""

    def create(**options: Any) -> Any:
        return import_class(target)(**options)

    create.__qualname__ = create.__name__ = f"create_{target.rsplit(':', 1)[1]}"
    return create
