"""The interface of feature extractors: turn captured activations at one site into features.

Plugins register factories through `pm_register_feature_extractors`. Three
places call `encode`, so they agree:

- ingestion, with every extractor of the run config, on the captured positions
  of each batch, storing sparse features in `features.lance`;
- `pm sae encode`, with one extractor, on stored raw activations;
- on-the-fly classification, with the extractor its classifier was trained on.

Registered names:

- `raw`: the activations themselves (dense), `factory(hook_point=, layer=, d_model=)`.
- `sae`: a sparse dictionary, `factory(sae_config, device=)` with a `SAEConfig`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from pm_core.errors import ConfigError

if TYPE_CHECKING:
    from pm_core.config.schema import RunConfig
    from pm_core.plugins import Catalogue


@runtime_checkable
class FeatureExtractor(Protocol):
    """Encodes rows of activations taken at `site` into `d_out` features."""

    #: Name the features are stored under (the dictionary name for sparse features).
    name: str
    #: (hook point, layer) the extractor reads, with the layer counted from 0.
    site: tuple[str, int]
    d_in: int
    d_out: int
    #: True when `encode` returns a scipy CSR matrix.
    sparse: bool

    def identity(self) -> dict[str, Any]:
        """Return what identifies the features (source, weights digest), for fingerprints and files."""

    def encode(self, activations: np.ndarray) -> Any:
        """Encode (n_rows, d_in) activations into (n_rows, d_out) features, on the CPU."""


def check_extractor_fits(extractor: FeatureExtractor, n_layers: int, d_model: int) -> None:
    """Raise ConfigError, before any prompt runs, when the extractor's site or width does not fit the model."""
    hook_point, layer = extractor.site
    if not 0 <= layer < n_layers:
        msg = (
            f"feature extractor {extractor.name!r} reads {hook_point} of layer {layer}, but the model has "
            f"{n_layers} layers (0-{n_layers - 1}); use a dictionary trained on this model"
        )
        raise ConfigError(msg)
    if extractor.d_in != d_model:
        msg = (
            f"feature extractor {extractor.name!r} expects inputs of width {extractor.d_in} at {hook_point} of "
            f"layer {layer}, but the model's hook there has width {d_model}; use a dictionary trained on this model"
        )
        raise ConfigError(msg)


def load_extractors(config: RunConfig, catalogue: Catalogue, device: str | None = None) -> list[FeatureExtractor]:
    """Create the `sae` extractor of every `model.sae_configs` entry, checked against the model's config.

    The check uses the backend's `inspect` function when it has one, so a dictionary
    of the wrong width stops the run before the model's weights load. SAEs go to
    `device`, else to the model's device.
    """
    if not config.model.sae_configs:
        return []
    if device is None:
        device = config.model.device if config.model.device_map is None else "cuda"
    extractors = [catalogue.create("feature_extractors", "sae", sae, device=device) for sae in config.model.sae_configs]

    names = [extractor.name for extractor in extractors]
    if len(set(names)) != len(names):
        msg = f"two `model.sae_configs` entries store their features under one name ({names}); give each a `name`"
        raise ConfigError(msg)
    registration = catalogue.get("backends", config.model.backend)
    if registration.inspect is not None:
        architecture = registration.inspect(config.model)
        for extractor in extractors:
            check_extractor_fits(extractor, architecture["n_layers"], architecture["d_model"])
    return extractors
