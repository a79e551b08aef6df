"""Checks that need the installed plugins or the loaded model, run before any prompt."""

from __future__ import annotations

from typing import Any

import attrs

from pm_core.config.schema import RunConfig
from pm_core.errors import ConfigError
from pm_core.plugins import Catalogue
from pm_core.secrets import redact


def check_plugins(config: RunConfig, catalogue: Catalogue) -> None:
    """Raise if the backend or a dataset class is not registered, or the config requests an unbuilt feature."""
    # TODO: attribution graphs come with the circuit-tracer backend; until then a config
    # that requests them stops here rather than running without them.
    if config.model.enable_attribution:
        msg = "`model.enable_attribution: true` is not supported yet: attribution graphs are not available"
        raise ConfigError(msg)
    for dataset in config.datasets:
        if dataset.evaluator_class is not None:
            msg = (
                f"`evaluator_class` of dataset {dataset.name!r} is not supported yet: no evaluator plugin is "
                "available; remove it"
            )
            raise ConfigError(msg)
    catalogue.get("backends", config.model.backend)
    if config.model.sae_configs:
        catalogue.get("feature_extractors", "sae")
    for dataset in config.datasets:
        try:
            catalogue.get("datasets", dataset.class_name)
        except LookupError as error:
            msg = f"dataset {dataset.name!r}: {error}"
            raise ConfigError(msg) from None


def check_model(config: RunConfig, catalogue: Catalogue) -> dict[str, Any] | None:
    """Check the capture layers against the model's depth from its config, before any weights load.

    Returns the architecture the backend reports, or None when it cannot tell without loading.
    """
    registration = catalogue.get("backends", config.model.backend)
    if registration.inspect is None:
        return None
    architecture = registration.inspect(config.model)
    resolve_layers(config.run.capture_acts_raw.layers, architecture["n_layers"])
    return architecture


def resolve_layers(
    layers: tuple[int, ...], n_layers: int, key_path: str = "run.capture_acts_raw.layers"
) -> tuple[int, ...]:
    """Turn negative layer indices into absolute ones, rejecting any beyond the model's depth."""
    resolved = []
    for index, layer in enumerate(layers):
        absolute = layer + n_layers if layer < 0 else layer
        if not 0 <= absolute < n_layers:
            msg = (
                f"invalid layer {layer} at `{key_path}[{index}]`: the model has {n_layers} layers, "
                f"so layers run from 0 to {n_layers - 1} (or -{n_layers} to -1 from the end)"
            )
            raise ConfigError(msg)
        resolved.append(absolute)
    if len(set(resolved)) != len(resolved):
        msg = f"`{key_path}` names the same layer twice: {list(layers)} resolve to {resolved}"
        raise ConfigError(msg)
    return tuple(resolved)


def config_snapshot(config: RunConfig) -> dict[str, Any]:
    """Return the config as plain data for the registry, with secret values redacted."""
    return redact(attrs.asdict(config, recurse=True))
