"""Load a causal LM and its tokenizer from a hub id, a local folder or a GGUF file.

Weights are used as loaded: no norm folding, no centring of writing weights.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from pm_core.errors import ConfigError
from pm_core.secrets import hf_token
from pm_plugins_backends.default_model import DEFAULT_MODEL_NAME, default_gguf_path

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from pm_core.config.schema import ModelConfig

logger = logging.getLogger(__name__)

#: Pad token used when the tokenizer defines none, if the vocabulary has it; else EOS is used.
FALLBACK_PAD_TOKEN = "<|endoftext|>"


@attrs.frozen
class ModelSource:
    """Location `from_pretrained` reads a model from: a hub id or folder, plus a GGUF file name inside it."""

    location: str
    gguf_file: str | None = None
    revision: str | None = None

    def describe(self, model_id: str) -> dict[str, Any]:
        """Return the entries of a backend's `describe()` that identify the model and where it was loaded from."""
        return {"model_id": model_id, "source": self.location, "gguf_file": self.gguf_file, "revision": self.revision}

    def pretrained_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"token": hf_token()}
        if self.gguf_file is not None:
            kwargs["gguf_file"] = self.gguf_file
        if self.revision is not None:
            kwargs["revision"] = self.revision
        return kwargs


def resolve_source(config: ModelConfig) -> ModelSource:
    """Turn `model.name` (default name, .gguf path, folder or hub id) into a `ModelSource`."""
    if config.name == DEFAULT_MODEL_NAME:
        path = default_gguf_path()
        return ModelSource(location=str(path.parent), gguf_file=path.name)

    path = Path(config.name).expanduser()
    if config.name.endswith(".gguf"):
        if not path.is_file():
            msg = f"model.name: GGUF file {config.name!r} not found"
            raise ConfigError(msg)
        return ModelSource(location=str(path.resolve().parent), gguf_file=path.name)

    return ModelSource(location=config.name, gguf_file=config.gguf_file, revision=config.revision)


def read_architecture(config: ModelConfig) -> dict[str, Any]:
    """Return the model's depth and width from its config alone, without loading any weights."""
    from transformers import AutoConfig

    source = resolve_source(config)
    try:
        with quiet_transformers():
            model_config = AutoConfig.from_pretrained(source.location, **source.pretrained_kwargs())
    except OSError as error:
        msg = f"model.name: cannot read the config of {source.location!r} (gguf file {source.gguf_file!r}): {error}"
        raise ConfigError(msg) from error
    text_config = model_config.get_text_config() if hasattr(model_config, "get_text_config") else model_config
    return {"n_layers": int(text_config.num_hidden_layers), "d_model": int(text_config.hidden_size)}


def resolve_dtype(name: str) -> torch.dtype | str:
    """Map `model.dtype` to a torch dtype; `auto` is passed on for transformers to choose."""
    import torch

    if name == "auto":
        return "auto"
    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]


def _check_device(device: str) -> None:
    import torch

    try:
        parsed = torch.device(device)
    except RuntimeError as error:
        msg = f"model.device: invalid device {device!r}: expected 'cpu' or 'cuda:N'"
        raise ConfigError(msg) from error
    if parsed.type == "cuda" and not torch.cuda.is_available():
        msg = f"model.device: {device!r} requested but CUDA is not available; use 'cpu'"
        raise ConfigError(msg)


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Hide transformers' own notices and GGUF progress bars unless pm logs at debug level.

    The tokenizer's legacy-behaviour notice and the de-quantisation bar of a GGUF
    file give a pm user nothing to act on, and `pm -vv` shows them again.
    """
    from transformers.utils import logging as transformers_logging

    if logger.isEnabledFor(logging.DEBUG):
        yield
        return
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    verbosity = transformers_logging.get_verbosity()
    bars_enabled = transformers_logging.is_progress_bar_enabled()
    # The GGUF converter (transformers 4.57) calls tqdm directly, outside transformers' own switch.
    gguf_tqdm = gguf_utils.tqdm
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    gguf_utils.tqdm = functools.partial(gguf_tqdm, disable=True)
    try:
        yield
    finally:
        gguf_utils.tqdm = gguf_tqdm
        transformers_logging.set_verbosity(verbosity)
        if bars_enabled:
            transformers_logging.enable_progress_bar()


def load_model(config: ModelConfig, source: ModelSource) -> PreTrainedModel:
    """Load the model in eval mode on the configured device, with gradients off."""
    from transformers import AutoModelForCausalLM

    kwargs = source.pretrained_kwargs()
    kwargs["dtype"] = resolve_dtype(config.dtype)
    if config.attn_implementation is not None:
        kwargs["attn_implementation"] = config.attn_implementation
    if config.device_map is not None:
        kwargs["device_map"] = config.device_map
    else:
        _check_device(config.device)

    logger.info("loading model %s (gguf file %s, dtype %s)", source.location, source.gguf_file, config.dtype)
    try:
        with quiet_transformers():
            model = AutoModelForCausalLM.from_pretrained(source.location, **kwargs)
    except OSError as error:
        msg = f"model.name: cannot load {source.location!r} (gguf file {source.gguf_file!r}): {error}"
        raise ConfigError(msg) from error

    if config.device_map is None:
        model = model.to(config.device)
    model.eval()
    model.requires_grad_(False)
    return model


def load_tokenizer(source: ModelSource) -> PreTrainedTokenizerBase:
    """Load the tokenizer, give it a pad token if it has none, and pad on the left."""
    from transformers import AutoTokenizer

    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(source.location, **source.pretrained_kwargs())
    ensure_pad_token(tokenizer)
    tokenizer.padding_side = "left"
    return tokenizer


def ensure_pad_token(tokenizer: PreTrainedTokenizerBase) -> None:
    """Set a pad token when the tokenizer has none: `<|endoftext|>` if it is in the vocabulary, else EOS."""
    if tokenizer.pad_token is not None:
        return
    if FALLBACK_PAD_TOKEN in tokenizer.get_vocab():
        tokenizer.pad_token = FALLBACK_PAD_TOKEN
    elif tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    else:
        msg = "tokenizer has no pad token, no <|endoftext|> token and no EOS token to pad with"
        raise ConfigError(msg)
    logger.info("tokenizer has no pad token; padding with %r (id %d)", tokenizer.pad_token, tokenizer.pad_token_id)


def find_decoder_layers(model: PreTrainedModel) -> Any:
    """Return the `ModuleList` of decoder blocks (`model.model.layers` for Llama-style models)."""
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    candidates = (
        getattr(decoder, "layers", None),
        getattr(getattr(model, "model", None), "layers", None),
        getattr(getattr(model, "transformer", None), "h", None),
        getattr(getattr(model, "gpt_neox", None), "layers", None),
    )
    for layers in candidates:
        if layers is not None:
            return layers
    msg = f"cannot find the decoder layers of {type(model).__name__}: expected `model.model.layers` or similar"
    raise ConfigError(msg)


def find_submodule(block: Any, names: tuple[str, ...], hook_point: str) -> Any:
    """Return the first child of a decoder block named in `names` (the attention or MLP sub-layer)."""
    for name in names:
        module = getattr(block, name, None)
        if module is not None:
            return module
    msg = f"hook point {hook_point!r}: decoder block {type(block).__name__} has none of {', '.join(names)}"
    raise ConfigError(msg)
