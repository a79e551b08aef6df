"""`SAELensBackend`: a model run through TransformerLens behind pm's `Backend` interface."""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Sequence
from typing import Any

from pm_core.config.schema import ModelConfig
from pm_core.types import CaptureRequest, PromptResult, RenderedPrompt
from pm_plugins_backends.huggingface.prompt_methods import PromptMethods
from pm_plugins_backends.saelens.execution import TransformerLensRunner
from pm_plugins_backends.saelens.loading import WEIGHT_PROCESSING, LoadedModel, load_transformer_lens

logger = logging.getLogger(__name__)


class SAELensBackend(PromptMethods):
    """A model run through TransformerLens, captured at the hook names sae-lens SAEs record.

    Models that TransformerLens lists run as a `HookedTransformer`, any other model as a
    `TransformerBridge` around the transformers model. Prompts are rendered and tokenized
    exactly as the `huggingface` backend does. Weights are not processed (no layer-norm
    folding or centring), and attention is always eager.

    Limitations: generation is not supported, so a request with `max_new_tokens > 0`
    raises `ConfigError`.
    """

    def __init__(self, loaded: LoadedModel, config: ModelConfig) -> None:
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.config = config
        self.source = loaded.source
        #: `HookedTransformer` or `TransformerBridge`.
        self.kind = loaded.kind
        self.listed_name = loaded.listed_name
        self.n_layers = int(self.model.cfg.n_layers)
        self.d_model = int(self.model.cfg.d_model)
        #: Largest prompt in tokens the model accepts (TransformerLens's `n_ctx`).
        self.max_context_length: int | None = getattr(self.model.cfg, "n_ctx", None)
        #: Name of the chat template in errors: the model id.
        self.template_name = config.name
        self.runner = TransformerLensRunner(self.model, self.tokenizer, self.kind)

    @classmethod
    def from_config(cls, config: ModelConfig) -> SAELensBackend:
        """Load the model and tokenizer that `config.name` points to into TransformerLens."""
        backend = cls(load_transformer_lens(config), config)
        logger.info("loaded %s", backend.describe())
        return backend

    def describe(self) -> dict[str, Any]:
        """Return what identifies the loaded model and how it runs."""
        return {
            **self.source.describe(self.config.name),
            "transformer_lens_class": self.kind,
            "transformer_lens_name": self.listed_name,
            "transformer_lens_version": importlib.metadata.version("transformer-lens"),
            "dtype": str(self.model.cfg.dtype).removeprefix("torch."),
            "device": str(self.runner.input_device),
            "device_map": self.config.device_map,
            "attn_implementation": "eager",
            "n_layers": self.n_layers,
            "d_model": self.d_model,
            "max_context_length": self.max_context_length,
            "folding": "none",
            **WEIGHT_PROCESSING,
        }

    def run_batch(self, prompts: Sequence[RenderedPrompt], request: CaptureRequest) -> list[PromptResult]:
        """Run one padded batch and return one result per prompt, in input order."""
        self.resolve_layers(request.layers)
        return self.runner.run(prompts, request)
