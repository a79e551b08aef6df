"""The options of each classifier, as frozen attrs classes, and the JSON schemas built from them.

This module imports only attrs, so the plugin can register every classifier
with its schema without importing scikit-learn, xgboost or torch. Each field
carries its JSON schema in `metadata["schema"]`, and `json_schema` adds the default.
"""

from __future__ import annotations

from typing import Any

import attrs

from pm_core.errors import ConfigError


def _one_of(*choices: Any):
    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value not in choices:
            msg = f"invalid value {value!r} for `{attribute.name}`: expected one of {', '.join(map(repr, choices))}"
            raise ConfigError(msg)

    return check


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_number(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not _is_number(value) or not value > 0:
        msg = f"invalid value {value!r} for `{attribute.name}`: expected a number > 0"
        raise ConfigError(msg)


def _non_negative_number(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not _is_number(value) or not value >= 0:
        msg = f"invalid value {value!r} for `{attribute.name}`: expected a number >= 0"
        raise ConfigError(msg)


def _fraction(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not _is_number(value) or not 0 < value <= 1:
        msg = f"invalid value {value!r} for `{attribute.name}`: expected a number in (0, 1]"
        raise ConfigError(msg)


def _positive_integer(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not _is_integer(value) or value < 1:
        msg = f"invalid value {value!r} for `{attribute.name}`: expected an integer >= 1"
        raise ConfigError(msg)


def _optional_positive_integer(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None:
        _positive_integer(instance, attribute, value)


def _seed(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not _is_integer(value) or value < 0:
        msg = f"invalid value {value!r} for `{attribute.name}`: expected an integer >= 0"
        raise ConfigError(msg)


def _layer_widths(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not value or not all(_is_integer(width) and width >= 1 for width in value):
        msg = f"invalid value {list(value)!r} for `{attribute.name}`: expected a non-empty list of integers >= 1"
        raise ConfigError(msg)


def _optional_shrinkage(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and (not _is_number(value) or not 0 <= value <= 1):
        msg = f"invalid value {value!r} for `{attribute.name}`: expected null (Ledoit-Wolf) or a number in [0, 1]"
        raise ConfigError(msg)


def _non_empty_string(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, str) or not value:
        msg = f"invalid value {value!r} for `{attribute.name}`: expected a non-empty string"
        raise ConfigError(msg)


def _to_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list | tuple) else (value,)


_SEED = {"type": "integer", "minimum": 0, "description": "Random seed of initialisation and shuffling."}
_CLASS_WEIGHT = {
    "enum": ["balanced", None],
    "description": "`balanced` weights each class by the inverse of its frequency; null weights every row 1.",
}


@attrs.frozen
class LinearOptions:
    """Options of the `linear` classifier (logistic regression)."""

    C: float = attrs.field(default=1.0, validator=_positive_number, metadata={"schema": {
        "type": "number", "exclusiveMinimum": 0, "description": "Inverse L2 regularisation strength."}})
    class_weight: str | None = attrs.field(default=None, validator=_one_of("balanced", None),
                                           metadata={"schema": _CLASS_WEIGHT})
    max_iter: int = attrs.field(default=1000, validator=_positive_integer, metadata={"schema": {
        "type": "integer", "minimum": 1, "description": "Maximum iterations (lbfgs) or epochs (sgd)."}})
    normalization: str = attrs.field(default="standard", validator=_one_of("standard", "l2", "none"), metadata={
        "schema": {"enum": ["standard", "l2", "none"], "description": (
            "`standard` scales each feature to unit variance and centres it when X is dense. "
            "`l2` scales each row to unit length. `none` uses X as it is.")}})
    solver: str = attrs.field(default="auto", validator=_one_of("auto", "lbfgs", "sgd"), metadata={"schema": {
        "enum": ["auto", "lbfgs", "sgd"],
        "description": "`auto` picks sgd for sparse X of more than 200,000 rows, else lbfgs."}})
    seed: int = attrs.field(default=0, validator=_seed, metadata={"schema": {
        **_SEED, "description": "Random seed of the sgd solver's shuffling; lbfgs does not use it."}})


@attrs.frozen
class XGBoostOptions:
    """Options of the `xgboost` classifier (gradient-boosted trees, hist tree method)."""

    n_estimators: int = attrs.field(default=200, validator=_positive_integer, metadata={"schema": {
        "type": "integer", "minimum": 1, "description": "Number of boosting rounds."}})
    max_depth: int = attrs.field(default=6, validator=_positive_integer, metadata={"schema": {
        "type": "integer", "minimum": 1, "description": "Maximum depth of each tree."}})
    learning_rate: float = attrs.field(default=0.1, validator=_positive_number, metadata={"schema": {
        "type": "number", "exclusiveMinimum": 0, "description": "Shrinkage applied to each tree's output."}})
    subsample: float = attrs.field(default=1.0, validator=_fraction, metadata={"schema": {
        "type": "number", "exclusiveMinimum": 0, "maximum": 1, "description": "Fraction of rows sampled per tree."}})
    n_jobs: int | None = attrs.field(default=None, validator=_optional_positive_integer, metadata={"schema": {
        "type": ["integer", "null"], "minimum": 1, "description": "Threads; null uses every core."}})
    seed: int = attrs.field(default=0, validator=_seed, metadata={"schema": _SEED})


@attrs.frozen
class DANNOptions:
    """Options of the `dann` classifier (domain-adversarial neural network)."""

    hidden: tuple[int, ...] = attrs.field(default=(256,), converter=_to_tuple, validator=_layer_widths, metadata={
        "schema": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1,
                   "description": "Widths of the feature extractor's hidden layers."}})
    epochs: int = attrs.field(default=20, validator=_positive_integer, metadata={"schema": {
        "type": "integer", "minimum": 1, "description": "Passes over the training rows."}})
    lr: float = attrs.field(default=1e-3, validator=_positive_number, metadata={"schema": {
        "type": "number", "exclusiveMinimum": 0, "description": "Adam learning rate."}})
    weight_decay: float = attrs.field(default=0.0, validator=_non_negative_number, metadata={"schema": {
        "type": "number", "minimum": 0, "description": "Adam L2 weight decay."}})
    lambda_max: float = attrs.field(default=1.0, validator=_non_negative_number, metadata={"schema": {
        "type": "number", "minimum": 0, "description": "Final weight of the reversed domain gradient."}})
    lambda_schedule: str = attrs.field(default="ganin", validator=_one_of("ganin", "constant"), metadata={"schema": {
        "enum": ["ganin", "constant"], "description": (
            "`ganin` ramps lambda from 0 to lambda_max as lambda_max * (2 / (1 + exp(-10 p)) - 1), "
            "p being the fraction of training done. `constant` uses lambda_max throughout.")}})
    batch_size: int = attrs.field(default=256, validator=_positive_integer, metadata={"schema": {
        "type": "integer", "minimum": 1, "description": "Rows per gradient step."}})
    seed: int = attrs.field(default=0, validator=_seed, metadata={"schema": _SEED})
    device: str = attrs.field(default="cpu", validator=_non_empty_string, metadata={"schema": {
        "type": "string", "description": "Torch device; results repeat exactly for a seed only on `cpu`."}})


@attrs.frozen
class PrototypeOptions:
    """Options of the `prototype` classifier (distance to class centroids, no training loop)."""

    metric: str = attrs.field(default="mahalanobis", validator=_one_of("mahalanobis", "cosine"), metadata={"schema": {
        "enum": ["mahalanobis", "cosine"], "description": "Distance between a row and each class centroid."}})
    shrinkage: float | None = attrs.field(default=None, validator=_optional_shrinkage, metadata={"schema": {
        "type": ["number", "null"], "minimum": 0, "maximum": 1, "description": (
            "Shrinkage of the shared covariance towards a scaled identity. Null estimates it with Ledoit-Wolf. "
            "Used only by the mahalanobis metric.")}})

    def __attrs_post_init__(self) -> None:
        if self.metric != "mahalanobis" and self.shrinkage is not None:
            msg = f"`shrinkage` is set to {self.shrinkage!r} but `metric` is {self.metric!r}, which uses no covariance"
            raise ConfigError(msg)


def json_schema(options_type: type) -> dict[str, Any]:
    """Build the JSON schema of an options class from its fields' metadata and defaults."""
    properties = {}
    for field in attrs.fields(options_type):
        schema = dict(field.metadata["schema"])
        default = field.default
        schema["default"] = list(default) if isinstance(default, tuple) else default
        properties[field.name] = schema
    return {"type": "object", "properties": properties, "additionalProperties": False}


def build_options(options_type: type, classifier_name: str, options: dict[str, Any]) -> Any:
    """Validate `options` into `options_type`, raising `ConfigError` that names the classifier."""
    allowed = [field.name for field in attrs.fields(options_type)]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        msg = f"classifier {classifier_name!r}: unknown options {unknown}; allowed: {', '.join(allowed)}"
        raise ConfigError(msg)
    try:
        return options_type(**options)
    except ConfigError as error:
        msg = f"classifier {classifier_name!r}: {error}"
        raise ConfigError(msg) from error


def options_to_dict(options: Any) -> dict[str, Any]:
    """Return the options as JSON-ready values (tuples become lists)."""
    return {name: list(value) if isinstance(value, tuple) else value
            for name, value in attrs.asdict(options, recurse=False).items()}
