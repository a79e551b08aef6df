"""Run one padded batch through a TransformerLens model: capture at hook points, and top-k logits.

Padding, position planning and result assembly (padding rows zeroed, inf and NaN
checks, top-k) are the Hugging Face backend's, so a batch gets the same `valid`,
`token_positions` and error handling under both backends. Only the forward pass
differs. Without logits it stops after the deepest requested layer. With logits, a
`TransformerBridge` computes them only at the rows' last columns (`logits_to_keep`),
while a `HookedTransformer` computes them at every column.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pm_core.errors import ConfigError
from pm_core.types import CaptureRequest, PromptResult, RenderedPrompt
from pm_plugins_backends.huggingface.execution import BatchRunner
from pm_plugins_backends.huggingface.positions import PaddedBatch, pad_batch, plan_positions
from pm_plugins_backends.saelens.capture import HookRecorder, hook_names
from pm_plugins_backends.saelens.loading import TRANSFORMER_BRIDGE

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

logger = logging.getLogger(__name__)


class TransformerLensRunner(BatchRunner):
    """Execute capture requests on a `HookedTransformer` or `TransformerBridge`, as `kind` names.

    It reuses `BatchRunner`'s padding side, pad id and result assembly, and replaces its
    forward pass. Generation is not supported.
    """

    def __init__(self, model: Any, tokenizer: PreTrainedTokenizerBase, kind: str, padding_side: str = "left") -> None:
        super().__init__(model, tokenizer, model.blocks, padding_side)
        self.kind = kind
        self.n_layers = int(model.cfg.n_layers)

    @property
    def input_device(self) -> torch.device:
        """Device of the embedding, where input ids go."""
        import torch

        return torch.device(self.model.cfg.device)

    def run(self, prompts: Sequence[RenderedPrompt], request: CaptureRequest) -> list[PromptResult]:
        """Run the batch and return one result per prompt, in input order."""
        import torch

        if request.max_new_tokens > 0:
            msg = (
                f"backend 'saelens' does not generate text, but run.max_new_tokens is {request.max_new_tokens}; "
                "set `run.max_new_tokens: 0`, or use `model.backend: huggingface` to generate"
            )
            raise ConfigError(msg)
        if not prompts:
            return []

        batch = pad_batch([prompt.input_ids for prompt in prompts], self.pad_token_id, self.padding_side)
        plan = plan_positions(batch, request.positions, self.tokenizer.bos_token_id, request.drop_bos)
        names = hook_names(request.capture_sites, self.n_layers, self.model.hook_dict)
        recorder = HookRecorder(names, batch.seq_len, plan.columns)

        logits: torch.Tensor | None = None
        with torch.inference_mode():
            if request.capture_sites or request.topk_logits > 0:
                logits = self._forward_hooked(batch, recorder, want_logits=request.topk_logits > 0)

        missing = recorder.missing_sites()
        if missing:
            msg = f"TransformerLens hooks {', '.join(names[site] for site in missing)} did not run in the forward pass"
            raise RuntimeError(msg)
        generated: list[tuple[int, ...]] = [() for _ in prompts]
        return self._results(prompts, request, plan, recorder.records, logits, generated)

    def _forward_hooked(self, batch: PaddedBatch, recorder: HookRecorder, want_logits: bool) -> torch.Tensor | None:
        """Run the prompt pass with the recorder's hooks and return the last-token logits (batch, vocab) if wanted."""
        import torch

        device = self.input_device
        last_columns = batch.starts + batch.lengths - 1
        kept_columns = sorted(set(last_columns.tolist()))
        deepest = max((layer for _, layer in recorder.names), default=-1)
        # `stop_at_layer` is exclusive: it runs blocks 0..deepest and skips the final norm and unembedding.
        stop_at_layer = None if want_logits or deepest + 1 >= self.n_layers else deepest + 1

        kwargs: dict[str, Any] = {"attention_mask": batch.attention_mask.to(device)}
        if self.kind == TRANSFORMER_BRIDGE:
            # The bridge passes these on to the transformers model. HookedTransformer derives
            # positions from the attention mask and has no `logits_to_keep`.
            kwargs["position_ids"] = batch.position_ids.to(device)
            kwargs["use_cache"] = False
            kwargs["logits_to_keep"] = torch.as_tensor(kept_columns, dtype=torch.long, device=device)

        output = self.model.run_with_hooks(
            batch.input_ids.to(device),
            fwd_hooks=recorder.fwd_hooks(),
            return_type="logits" if want_logits else None,
            stop_at_layer=stop_at_layer,
            **kwargs,
        )
        if not want_logits:
            return None

        if self.kind != TRANSFORMER_BRIDGE:
            # NOTE: HookedTransformer has already built (batch, seq, vocab) logits here, so a
            # large token budget with a large vocabulary needs that much memory at once.
            output = output[:, kept_columns, :]
        index_of_column = {column: index for index, column in enumerate(kept_columns)}
        picks = torch.as_tensor([index_of_column[column] for column in last_columns.tolist()], device=output.device)
        rows = torch.arange(len(picks), device=output.device)
        return output[rows, picks, :]
