"""Load a model into TransformerLens without rewriting its weights.

A model that TransformerLens lists (`OFFICIAL_MODEL_NAMES`, aliases included) becomes
a `HookedTransformer`. Any other model, such as the embedded GGUF default or a local
folder, is loaded by transformers and wrapped in a `TransformerBridge`
(transformer-lens 3.x), which replaces the model's modules with hooked ones in place.
Both paths get the tokenizer and the weights from the Hugging Face backend's loaders,
so the two backends run the same input ids through the same weights.

Weights are used as loaded: no layer-norm folding, no centring of the writing weights
or of the unembedding, no folding of value biases. The model config has no key that
requests them.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.metadata
import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from pm_core.errors import ConfigError
from pm_plugins_backends.huggingface.loading import ModelSource, load_model, load_tokenizer, resolve_source

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from pm_core.config.schema import ModelConfig

logger = logging.getLogger(__name__)

HOOKED_TRANSFORMER = "HookedTransformer"
TRANSFORMER_BRIDGE = "TransformerBridge"

#: TransformerLens weight processing options, all off. `describe()` reports them.
WEIGHT_PROCESSING = {
    "fold_ln": False,
    "center_writing_weights": False,
    "center_unembed": False,
    "fold_value_biases": False,
}

INSTALL_HINT = "pip install -c constraints.txt 'pm-plugins-backends[saelens]'"
#: First transformer-lens major version with `TransformerBridge`.
MIN_TRANSFORMER_LENS_MAJOR = 3


@attrs.frozen
class LoadedModel:
    """A TransformerLens model, with the tokenizer pm renders prompts with and where the weights came from."""

    #: A `HookedTransformer` or a `TransformerBridge`, as `kind` names.
    model: Any
    tokenizer: PreTrainedTokenizerBase
    source: ModelSource
    kind: str
    #: Name TransformerLens lists the model under, or None for a bridged model.
    listed_name: str | None = None


def check_model_config(config: ModelConfig) -> None:
    """Raise `ConfigError` for a setting TransformerLens cannot honour, before anything loads."""
    if config.attn_implementation not in (None, "eager"):
        msg = (
            f"model.attn_implementation: {config.attn_implementation!r} is not supported by backend 'saelens', "
            "because TransformerLens computes attention itself (eager); remove the key or set it to 'eager', "
            "or use `model.backend: huggingface`"
        )
        raise ConfigError(msg)


def transformer_lens_version() -> str:
    """Return the installed transformer-lens version, raising `ConfigError` when it is missing or older than 3."""
    try:
        version = importlib.metadata.version("transformer-lens")
    except importlib.metadata.PackageNotFoundError:
        msg = (
            f"backend 'saelens' needs transformer-lens {MIN_TRANSFORMER_LENS_MAJOR}.x, which is not installed; "
            f"install it with `{INSTALL_HINT}`"
        )
        raise ConfigError(msg) from None
    major = version.split(".", 1)[0]
    if not major.isdigit() or int(major) < MIN_TRANSFORMER_LENS_MAJOR:
        msg = (
            f"backend 'saelens' needs transformer-lens {MIN_TRANSFORMER_LENS_MAJOR}.x or newer "
            f"(for `TransformerBridge`), found {version}; upgrade it with `{INSTALL_HINT}`"
        )
        raise ConfigError(msg)
    return version


def listed_model_name(config: ModelConfig, source: ModelSource) -> str | None:
    """Return the name TransformerLens lists `model.name` under, or None for a GGUF file, a folder or an unlisted id."""
    if source.gguf_file is not None or Path(config.name).expanduser().exists():
        return None
    from transformer_lens.loading_from_pretrained import get_official_model_name

    try:
        return get_official_model_name(config.name)
    except ValueError:
        return None


def load_transformer_lens(config: ModelConfig) -> LoadedModel:
    """Load the model `config.name` points to as a `HookedTransformer` or a `TransformerBridge`."""
    check_model_config(config)
    version = transformer_lens_version()
    source = resolve_source(config)
    listed_name = listed_model_name(config, source)
    if listed_name is not None and config.device_map is not None:
        msg = (
            f"model.device_map: {config.device_map!r} is not supported for {config.name!r}, which backend 'saelens' "
            "loads as a HookedTransformer on one device; remove `model.device_map` and set `model.device`"
        )
        raise ConfigError(msg)

    tokenizer = load_tokenizer(source)
    # Both TransformerLens classes compute attention themselves. Eager makes transformers
    # build the full 4D mask the bridge's attention reads, as TransformerLens's own loader does.
    hf_model = load_model(attrs.evolve(config, attn_implementation="eager"), source)
    # TransformerLens may set a missing BOS or pad token on the tokenizer it gets, so it
    # gets a copy and rendering keeps the tokenizer exactly as the huggingface backend loads it.
    tokenizer_copy = copy.deepcopy(tokenizer)

    if listed_name is not None:
        logger.info("wrapping %s in a TransformerLens %s HookedTransformer", listed_name, version)
        model = _load_hooked_transformer(listed_name, hf_model, tokenizer_copy, config.device)
        return LoadedModel(model, tokenizer, source, HOOKED_TRANSFORMER, listed_name)

    logger.info("wrapping %s in a TransformerLens %s TransformerBridge", source.location, version)
    model = _load_bridge(source, hf_model, tokenizer_copy, None if config.device_map else config.device)
    return LoadedModel(model, tokenizer, source, TRANSFORMER_BRIDGE)


def _load_hooked_transformer(
    listed_name: str, hf_model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, device: str
) -> Any:
    from transformer_lens import HookedTransformer

    # NOTE: no test loads a listed model, because listed models come from the Hugging Face Hub.
    # The tests run the HookedTransformer path only on a tiny random model built in memory.
    # TransformerLens may also read the listed model's config from the Hub's default revision,
    # whatever `model.revision` is set to.

    # `from_pretrained` prints a line when it finishes, and pm keeps stdout for results.
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        model = HookedTransformer.from_pretrained(
            listed_name,
            hf_model=hf_model,
            tokenizer=tokenizer,
            device=device,
            dtype=hf_model.dtype,
            refactor_factored_attn_matrices=False,
            **WEIGHT_PROCESSING,
        )
    if printed.getvalue().strip():
        logger.debug("transformer_lens: %s", printed.getvalue().strip())
    model.eval()
    model.requires_grad_(False)
    return model


def _load_bridge(
    source: ModelSource, hf_model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, device: str | None
) -> Any:
    from transformer_lens.model_bridge import TransformerBridge

    architectures = getattr(hf_model.config, "architectures", None) or [type(hf_model).__name__]
    try:
        bridge = TransformerBridge.boot_transformers(
            source.location, hf_model=hf_model, tokenizer=tokenizer, dtype=hf_model.dtype, device=device
        )
    except (ValueError, NotImplementedError) as error:
        msg = (
            f"model.name: TransformerLens cannot bridge {source.location!r} (architecture "
            f"{', '.join(architectures)}): {error}; use `model.backend: huggingface`"
        )
        raise ConfigError(msg) from error
    # An nn.Module starts in training mode, and the bridge's attention applies dropout in it.
    bridge.eval()
    return bridge
