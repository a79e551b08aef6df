"""The interface every model backend implements.

The ingestion engine only talks to a backend through these methods, so a new
backend (TransformerLens, circuit-tracer, a remote server) plugs in by
registering a factory that takes a `ModelConfig` and returns a `Backend`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from pm_core.types import CaptureRequest, PromptResult, PromptSpec, RenderedPrompt

#: Hook points every backend offers, with what each one captures at block L.
HOOK_POINTS = {
    "resid_pre": "the residual stream entering block L",
    "resid_post": "the residual stream leaving block L",
    "attn_out": "the attention sub-layer's output of block L, before it is added to the residual",
    "mlp_out": "the MLP sub-layer's output of block L, before it is added to the residual",
}


@runtime_checkable
class Backend(Protocol):
    """A loaded model that renders prompts and captures activations in batches."""

    #: Number of decoder blocks; layer indices run from 0 to n_layers - 1.
    n_layers: int
    #: Width of the residual stream.
    d_model: int

    def describe(self) -> dict[str, Any]:
        """Return what identifies the loaded model: id, dtype, device, attention implementation."""

    def render(self, spec: PromptSpec) -> RenderedPrompt:
        """Apply the chat template and tokenizer; raise `PromptError` when the prompt cannot run."""

    def run_batch(self, prompts: Sequence[RenderedPrompt], request: CaptureRequest) -> list[PromptResult]:
        """Run one padded batch and return one result per prompt, in input order."""
