"""The parts every classifier here shares: options, input checks, and the folder a classifier is saved in.

A saved classifier is a folder holding `classifier.json` and the fitted state::

    classifier.json  {"name", "format_version", "options", "versions", "state"}
    <state files>    written by the classifier: .npz arrays, xgboost's JSON model, a torch state_dict

`versions` records the packages the state was written with. `state` contains the
small fitted values (number of features, resolved solver, domain names).
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse
from sklearn.exceptions import NotFittedError

from pm_core.errors import DataError, PmError, StorageError
from pm_plugins_classifiers.options import build_options, options_to_dict

logger = logging.getLogger(__name__)

METADATA_FILE = "classifier.json"
FORMAT_VERSION = 1


class MissingDependencyError(PmError, ImportError):
    """An optional package that a classifier needs is not installed. The message names the install command."""


class BaseClassifier:
    """Option handling, `clone`, `save` and `load` for the classifiers of this package.

    Subclasses set `name`, `options_type` and `dependencies`, and implement `fit`,
    `predict_scores`, `_state_metadata`, `_save_state` and `_load_state`.
    """

    name: ClassVar[str]
    options_type: ClassVar[type]
    #: Distributions whose versions `save` records, besides this package and numpy.
    dependencies: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **options: Any) -> None:
        self.options = build_options(self.options_type, self.name, options)
        self.n_features_: int | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.options!r}, fitted={self.is_fitted})"

    @property
    def is_fitted(self) -> bool:
        return self.n_features_ is not None

    def clone(self) -> BaseClassifier:
        """Return an unfitted copy with the same options."""
        return type(self)(**options_to_dict(self.options))

    def save(self, path: Path) -> None:
        """Write the fitted classifier into the folder `path`, creating it if needed."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self._save_state(path)
        metadata = {
            "name": self.name,
            "format_version": FORMAT_VERSION,
            "options": options_to_dict(self.options),
            "versions": package_versions(("pm-plugins-classifiers", "numpy", *self.dependencies)),
            "state": {"n_features": self.n_features_, **self._state_metadata()},
        }
        (path / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
        logger.info("saved %s classifier to %s", self.name, path)

    @classmethod
    def load(cls, path: Path) -> BaseClassifier:
        """Restore a classifier that `save` wrote into the folder `path`."""
        path = Path(path)
        metadata = read_metadata(path)
        if metadata["name"] != cls.name:
            msg = f"{path / METADATA_FILE}: holds a {metadata['name']!r} classifier, not {cls.name!r}"
            raise StorageError(msg)
        classifier = cls(**metadata["options"])
        state = metadata["state"]
        classifier.n_features_ = int(state["n_features"])
        classifier._load_state(path, state)
        return classifier

    def _state_metadata(self) -> dict[str, Any]:
        return {}

    def _save_state(self, path: Path) -> None:
        raise NotImplementedError

    def _load_state(self, path: Path, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            msg = f"this {self.name} classifier is not fitted yet: call fit(X, y) first"
            raise NotFittedError(msg)

    def _check_predict_input(self, X: Any) -> np.ndarray | scipy.sparse.csr_matrix:
        self._check_fitted()
        X = as_matrix(X)
        if X.shape[1] != self.n_features_:
            msg = f"X has {X.shape[1]} features but this {self.name} classifier was fitted on {self.n_features_}"
            raise DataError(msg)
        return X


def read_metadata(path: Path) -> dict[str, Any]:
    """Read and check `classifier.json` in the folder `path`."""
    metadata_path = Path(path) / METADATA_FILE
    try:
        metadata = json.loads(metadata_path.read_text())
    except FileNotFoundError as error:
        msg = f"{metadata_path}: not found; is {path} a folder written by Classifier.save?"
        raise StorageError(msg) from error
    except json.JSONDecodeError as error:
        msg = f"{metadata_path}: invalid JSON ({error})"
        raise StorageError(msg) from error
    missing = [key for key in ("name", "format_version", "options", "state") if key not in metadata]
    if missing:
        msg = f"{metadata_path}: missing keys {missing}"
        raise StorageError(msg)
    if metadata["format_version"] != FORMAT_VERSION:
        msg = (f"{metadata_path}: format_version {metadata['format_version']!r} is not supported; "
               f"this pm-plugins-classifiers reads version {FORMAT_VERSION}")
        raise StorageError(msg)
    return metadata


def package_versions(distributions: tuple[str, ...]) -> dict[str, str | None]:
    """Return the installed version of each distribution, or None where it is not installed."""
    versions: dict[str, str | None] = {}
    for distribution in distributions:
        try:
            versions[distribution] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            versions[distribution] = None
    return versions


def as_matrix(X: Any) -> np.ndarray | scipy.sparse.csr_matrix:
    """Return `X` as a 2-D float32 or float64 array, or CSR matrix when it is sparse, and reject NaN and infinity."""
    if scipy.sparse.issparse(X):
        X = scipy.sparse.csr_matrix(X)
        values = X.data
    else:
        X = np.asarray(X)
        values = X
    if X.ndim != 2:
        msg = f"X must be 2-D (n_prompts, n_features); got shape {X.shape}"
        raise DataError(msg)
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
        values = X.data if scipy.sparse.issparse(X) else X
    if not np.isfinite(values).all():
        msg = "X contains NaN or infinite values; drop or repair those rows before fitting or scoring"
        raise DataError(msg)
    return X


def check_training_data(
    X: Any, y: Any, groups: Any = None
) -> tuple[np.ndarray | scipy.sparse.csr_matrix, np.ndarray, np.ndarray | None]:
    """Validate training inputs: X as in `as_matrix`, `y` of 0/1 labels with both classes, `groups` per row."""
    X = as_matrix(X)
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        msg = f"y must be 1-D with one label per row of X ({X.shape[0]}); got shape {y.shape}"
        raise DataError(msg)
    labels = sorted(set(np.unique(y).tolist()), key=repr)
    if not set(labels) <= {0, 1}:
        msg = f"y must hold 0 (benign) and 1 (malicious); got labels {labels}"
        raise DataError(msg)
    if len(labels) < 2:
        msg = f"y contains only the labels {labels}, but training needs both benign (0) and malicious (1) rows"
        raise DataError(msg)
    if groups is not None:
        groups = np.asarray(groups)
        if groups.ndim != 1 or groups.shape[0] != X.shape[0]:
            msg = f"groups must be 1-D with one dataset name per row of X ({X.shape[0]}); got shape {groups.shape}"
            raise DataError(msg)
    return X, y.astype(np.int64), groups
