"""Feature extractors of the backends package: `raw` activations and `sae` dictionaries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pm_core.config.schema import SAEConfig


class RawFeatureExtractor:
    """The activations of one site, unchanged: the features a raw-activation probe reads."""

    sparse = False

    def __init__(self, hook_point: str, layer: int, d_model: int) -> None:
        self.name = "raw"
        self.site = (hook_point, int(layer))
        self.d_in = self.d_out = int(d_model)

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "hook_point": self.site[0], "layer": self.site[1]}

    def encode(self, activations: np.ndarray) -> np.ndarray:
        return np.asarray(activations, dtype=np.float32)


def dictionary_name(config: SAEConfig) -> str:
    """Return the name a config entry's features are stored under: its `name`, else where it comes from."""
    if config.name:
        return config.name
    if config.path:
        return Path(config.path).expanduser().resolve().name
    return f"{config.sae_release}/{config.sae_id}"


def create_sae_extractor(config: SAEConfig, device: str = "cpu"):
    """Load the SAE of a `model.sae_configs` entry and wrap it as a feature extractor."""
    from pm_plugins_backends.sae.encoding import SAEFeatureExtractor
    from pm_plugins_backends.sae.loading import load_sae

    sae = load_sae(config, device=config.device or device)
    if config.path:
        source = {"path": str(Path(config.path).expanduser().resolve())}
    else:
        source = {"sae_release": config.sae_release, "sae_id": config.sae_id}
    if config.dtype:
        source["dtype"] = config.dtype
    return SAEFeatureExtractor(sae, dictionary_name(config), source)
