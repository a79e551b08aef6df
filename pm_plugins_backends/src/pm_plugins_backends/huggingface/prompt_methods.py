"""Rendering and layer numbering shared by the backends that use a transformers tokenizer.

The `huggingface` and `saelens` backends both inherit these methods, so a prompt
becomes the same input ids under either backend.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pm_core.errors import ConfigError
from pm_core.types import CaptureRequest, PromptResult, PromptSpec, RenderedPrompt
from pm_plugins_backends.huggingface.rendering import PromptRenderer

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from pm_core.config.schema import ModelConfig

#: A prompt as the convenience methods accept it: rendered, a spec, or raw text.
PromptLike = RenderedPrompt | PromptSpec | str


class PromptMethods:
    """Rendering, tokenization and layer numbering for a backend.

    A subclass sets `tokenizer`, `config`, `template_name`, `max_context_length` and
    `n_layers`, and defines `run_batch`.
    """

    tokenizer: PreTrainedTokenizerBase
    config: ModelConfig
    template_name: str
    max_context_length: int | None
    n_layers: int

    def run_batch(self, prompts: Sequence[RenderedPrompt], request: CaptureRequest) -> list[PromptResult]:
        raise NotImplementedError

    def renderer(self, chat_template: str | None = None) -> PromptRenderer:
        """Return a renderer for this model; `chat_template` replaces the tokenizer's template."""
        return PromptRenderer(
            self.tokenizer,
            self.config,
            self.template_name,
            chat_template=chat_template,
            max_length=self.max_context_length,
        )

    def render(self, spec: PromptSpec) -> RenderedPrompt:
        """Render a prompt with the generation prompt appended, ready for ingestion."""
        return self.renderer(self._configured_template()).render(spec, add_generation_prompt=True)

    def _configured_template(self) -> str | None:
        """Return `model.chat_template`, reading it from a file when it names one."""
        template = self.config.chat_template
        if template is None or "{" in template:
            return template
        path = Path(template).expanduser()
        if not path.is_file():
            msg = f"`model.chat_template` {template!r} is neither a Jinja template nor an existing file"
            raise ConfigError(msg)
        return path.read_text()

    def tokenize(self, prompt: str | PromptSpec) -> list[int]:
        """Return the ids the model runs on: raw text gets the tokenizer's BOS, a spec is rendered."""
        if isinstance(prompt, PromptSpec):
            return list(self.render(prompt).input_ids)
        return list(self.tokenizer(prompt, add_special_tokens=True)["input_ids"])

    def resolve_layers(self, layers: Iterable[int]) -> tuple[int, ...]:
        """Turn layer indices, negative ones counting from the end, into indices 0..n_layers-1."""
        resolved = []
        for layer in layers:
            index = layer + self.n_layers if layer < 0 else layer
            if not 0 <= index < self.n_layers:
                msg = f"layer {layer} is out of range: the model has {self.n_layers} layers (0-{self.n_layers - 1})"
                raise ConfigError(msg)
            resolved.append(index)
        return tuple(resolved)

    def forward(self, prompts: Sequence[PromptLike], request: CaptureRequest) -> list[PromptResult]:
        """Like `run_batch`, but also accepts specs and raw text, which are rendered first."""
        return self.run_batch([self._rendered(prompt) for prompt in prompts], request)

    def _rendered(self, prompt: PromptLike) -> RenderedPrompt:
        if isinstance(prompt, RenderedPrompt):
            return prompt
        if isinstance(prompt, str):
            prompt = PromptSpec(prompt_id="text", dataset_id="direct", text=prompt)
        return self.render(prompt)
