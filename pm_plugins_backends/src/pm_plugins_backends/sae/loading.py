"""Load an SAE named by a `model.sae_configs` entry: a sae-lens release and id, or a local folder."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from pm_core.config.schema import SAEConfig
from pm_core.errors import ConfigError
from pm_core.secrets import hf_token

if TYPE_CHECKING:
    from sae_lens import SAE

logger = logging.getLogger(__name__)

#: Files sae-lens writes into an SAE folder (`SAE.save_model`).
SAE_CONFIG_FILE = "cfg.json"
SAE_WEIGHTS_FILE = "sae_weights.safetensors"


def describe_source(config: SAEConfig) -> str:
    """Return how a config entry names its SAE, for messages."""
    if config.path:
        return f"SAE folder {config.path!r}"
    return f"SAE {config.sae_id!r} of release {config.sae_release!r}"


def load_sae(config: SAEConfig, device: str = "cpu") -> SAE:
    """Load the SAE of one config entry onto `device`, in the entry's `dtype`, else the SAE's own."""
    try:
        from sae_lens import SAE
    except ImportError:
        msg = (
            "`model.sae_configs` needs sae-lens: install it with "
            "`pip install -c constraints.txt 'pm-plugins-backends[saelens]'`"
        )
        raise ConfigError(msg) from None

    if config.path:
        folder = Path(config.path).expanduser()
        if not folder.is_dir():
            msg = f"{describe_source(config)} does not exist or is not a folder; give the folder `pm sae train` wrote"
            raise ConfigError(msg)
        if not (folder / SAE_CONFIG_FILE).is_file() or not (folder / SAE_WEIGHTS_FILE).is_file():
            msg = (
                f"{describe_source(config)} is not a sae-lens SAE folder: expected {SAE_CONFIG_FILE} and "
                f"{SAE_WEIGHTS_FILE} in it (the files `SAE.save_model` and `pm sae train` write)"
            )
            raise ConfigError(msg)
        try:
            sae = SAE.load_from_disk(str(folder), device=device, dtype=config.dtype)
        except (RuntimeError, ValueError, KeyError) as error:
            # Typically cfg.json disagrees with the weights (a size mismatch) or names an unknown architecture.
            msg = (
                f"cannot load {describe_source(config)}: {type(error).__name__}: {error}\n"
                f"check that its {SAE_CONFIG_FILE} (d_in, d_sae, architecture) matches {SAE_WEIGHTS_FILE}"
            )
            raise ConfigError(msg) from error
    else:
        _ensure_hub_token()
        try:
            sae = SAE.from_pretrained(config.sae_release, config.sae_id, device=device, dtype=config.dtype or "float32")
        except ValueError as error:
            msg = f"cannot load {describe_source(config)}: {error}"
            raise ConfigError(msg) from error
    sae.eval()
    logger.info(
        "loaded %s: d_in %d, d_sae %d, hook %s, on %s",
        describe_source(config),
        sae.cfg.d_in,
        sae.cfg.d_sae,
        sae.cfg.metadata.hook_name,
        device,
    )
    return sae


def _ensure_hub_token() -> None:
    """Expose the token pm found (environment or `.env`) to huggingface_hub, which sae-lens downloads with."""
    import os

    token = hf_token()
    if token and not os.environ.get("HF_TOKEN"):
        os.environ["HF_TOKEN"] = token
