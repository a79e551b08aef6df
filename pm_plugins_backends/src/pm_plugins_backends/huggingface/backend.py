"""`HuggingFaceBackend`: a transformers causal LM behind pm's `Backend` interface."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pm_core.config.schema import ModelConfig
from pm_core.errors import ConfigError
from pm_core.types import CaptureRequest, PromptResult, PromptSpec, RenderedPrompt
from pm_plugins_backends.huggingface.execution import BatchRunner, capture_all_positions
from pm_plugins_backends.huggingface.loading import (
    ModelSource,
    find_decoder_layers,
    load_model,
    load_tokenizer,
    resolve_source,
)
from pm_plugins_backends.huggingface.prompt_methods import PromptLike, PromptMethods

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)


class HuggingFaceBackend(PromptMethods):
    """A transformers causal LM that renders prompts, captures activations and generates.

    Weights are used as loaded; no norm folding or other rewriting is done.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        config: ModelConfig,
        source: ModelSource | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.source = source or ModelSource(location=config.name)
        self.blocks = find_decoder_layers(model)
        self.n_layers = len(self.blocks)
        self.d_model = int(model.get_input_embeddings().weight.shape[1])
        #: Largest prompt in tokens the model accepts (`max_position_embeddings`), or None if unknown.
        self.max_context_length: int | None = getattr(model.config, "max_position_embeddings", None)
        #: Name of the chat template in errors: the model id.
        self.template_name = config.name
        self.runner = BatchRunner(model, tokenizer, self.blocks)

    @classmethod
    def from_config(cls, config: ModelConfig) -> HuggingFaceBackend:
        """Load the model and tokenizer that `config.name` points to."""
        source = resolve_source(config)
        tokenizer = load_tokenizer(source)
        model = load_model(config, source)
        backend = cls(model, tokenizer, config, source)
        logger.info("loaded %s", backend.describe())
        return backend

    @property
    def padding_side(self) -> str:
        """Side capture pads on; generation always pads on the left."""
        return self.runner.padding_side

    @padding_side.setter
    def padding_side(self, side: str) -> None:
        if side not in ("left", "right"):
            msg = f"invalid padding side {side!r}: expected 'left' or 'right'"
            raise ConfigError(msg)
        self.runner.padding_side = side

    def describe(self) -> dict[str, Any]:
        """Return what identifies the loaded model and how it runs."""
        return {
            **self.source.describe(self.config.name),
            "dtype": str(self.model.dtype).removeprefix("torch."),
            "device": str(self.runner.input_device),
            "device_map": self.config.device_map,
            "attn_implementation": self.model.config._attn_implementation,
            "n_layers": self.n_layers,
            "d_model": self.d_model,
            "max_context_length": self.max_context_length,
            "folding": "none",
        }

    def run_batch(self, prompts: Sequence[RenderedPrompt], request: CaptureRequest) -> list[PromptResult]:
        """Run one padded batch and return one result per prompt, in input order."""
        self.resolve_layers(request.layers)
        return self.runner.run(prompts, request)

    def generate(self, prompts: Sequence[PromptLike], max_new_tokens: int) -> list[PromptResult]:
        """Greedily generate up to `max_new_tokens` per prompt, without capturing activations."""
        if max_new_tokens <= 0:
            msg = f"invalid max_new_tokens {max_new_tokens!r}: expected an integer >= 1"
            raise ConfigError(msg)
        request = CaptureRequest(layers=(), max_new_tokens=max_new_tokens)
        return self.forward(prompts, request)

    def run_with_cache(
        self,
        prompt: PromptLike | Sequence[int],
        layers: Iterable[int],
        hook_points: Sequence[str] = ("resid_post",),
    ) -> dict[tuple[str, int], np.ndarray]:
        """Run one prompt and return every position: `{(hook_point, layer): (seq, d_model) float32}`."""
        if isinstance(prompt, RenderedPrompt | PromptSpec | str):
            input_ids: Sequence[int] = self._rendered(prompt).input_ids
        else:
            input_ids = [int(token) for token in prompt]
        resolved = self.resolve_layers(layers)
        sites = [(hook_point, layer) for hook_point in hook_points for layer in resolved]
        return capture_all_positions(self.model, self.blocks, input_ids, sites)
