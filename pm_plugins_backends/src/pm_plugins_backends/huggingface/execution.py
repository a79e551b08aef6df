"""Run one padded batch: capture activations, top-k next-token logits, and optional greedy generation.

Without logits, the forward pass stops right after the deepest requested layer.
With `max_new_tokens > 0`, one `generate` call decodes the whole batch greedily
and the hooks keep only the prompt pass, so stored vectors never come from a
decoding step. Each sample's captured values are checked for inf and NaN before
they are returned. A sample with any gets `error_reason="non_finite_activation"`
and no data, and the other samples are unaffected.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pm_core.types import CaptureRequest, PromptResult, RenderedPrompt
from pm_plugins_backends.huggingface.capture import ActivationRecorder, StopForward
from pm_plugins_backends.huggingface.positions import PaddedBatch, PositionPlan, pad_batch, plan_positions

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

NON_FINITE = "non_finite_activation"


class BatchRunner:
    """Execute capture requests on a loaded model; `padding_side` applies to capture without generation."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        blocks: Sequence[torch.nn.Module],
        padding_side: str = "left",
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.blocks = blocks
        self.padding_side = padding_side
        #: Id written into pad columns. Only the attention mask separates real tokens from padding.
        self.pad_token_id: int = tokenizer.pad_token_id

    @property
    def input_device(self) -> torch.device:
        return self.model.get_input_embeddings().weight.device

    def eos_token_ids(self) -> list[int]:
        """Return the ids that end generation: the generation config's EOS, else the tokenizer's."""
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        if eos is None:
            return []
        return [int(eos)] if isinstance(eos, int) else [int(token) for token in eos]

    def run(self, prompts: Sequence[RenderedPrompt], request: CaptureRequest) -> list[PromptResult]:
        """Run the batch and return one result per prompt, in input order."""
        import torch

        if not prompts:
            return []
        side = "left" if request.max_new_tokens > 0 else self.padding_side
        batch = pad_batch([prompt.input_ids for prompt in prompts], self.pad_token_id, side)
        plan = plan_positions(batch, request.positions, self.tokenizer.bos_token_id, request.drop_bos)

        recorder = ActivationRecorder(
            self.blocks,
            request.capture_sites,
            seq_len=batch.seq_len,
            columns=plan.columns,
            prefill_only=request.max_new_tokens > 0,
            stop_after_last=not request.needs_logits,
        )
        logits: torch.Tensor | None = None
        generated: list[tuple[int, ...]] = [() for _ in prompts]
        with torch.inference_mode(), recorder:
            if request.max_new_tokens > 0:
                logits, generated = self._generate(batch, request.max_new_tokens)
            elif request.capture_sites or request.topk_logits > 0:
                logits = self._forward(batch, want_logits=request.topk_logits > 0)

        return self._results(prompts, request, plan, recorder.records, logits, generated)

    def _forward(self, batch: PaddedBatch, want_logits: bool) -> torch.Tensor | None:
        """Run the prompt pass; return next-token logits of each row's last token, (batch, vocab), if wanted."""
        import torch

        device = self.input_device
        last_columns = batch.starts + batch.lengths - 1
        if self.padding_side == "left":
            keep: int | torch.Tensor = 1
        else:
            keep = torch.as_tensor(sorted(set(last_columns.tolist())), dtype=torch.long, device=device)
        try:
            output = self.model(
                input_ids=batch.input_ids.to(device),
                attention_mask=batch.attention_mask.to(device),
                position_ids=batch.position_ids.to(device),
                use_cache=False,
                logits_to_keep=keep,
            )
        except StopForward:
            return None
        if not want_logits:
            return None

        if isinstance(keep, int):
            return output.logits[:, -1, :]
        index_of_column = {column: index for index, column in enumerate(keep.tolist())}
        picks = torch.as_tensor(
            [index_of_column[column] for column in last_columns.tolist()], device=output.logits.device
        )
        rows = torch.arange(len(picks), device=output.logits.device)
        return output.logits[rows, picks, :]

    def _generate(self, batch: PaddedBatch, max_new_tokens: int) -> tuple[torch.Tensor, list[tuple[int, ...]]]:
        """Decode greedily; return the first step's logits (batch, vocab) and each row's ids up to EOS."""
        device = self.input_device
        eos_ids = self.eos_token_ids()
        output = self.model.generate(
            input_ids=batch.input_ids.to(device),
            attention_mask=batch.attention_mask.to(device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            eos_token_id=eos_ids or None,
            pad_token_id=self.pad_token_id,
            return_dict_in_generate=True,
            output_logits=True,
        )
        new_tokens = output.sequences[:, batch.seq_len :].tolist()
        generated = []
        for row in new_tokens:
            ids: list[int] = []
            for token in row:
                if token in eos_ids:
                    break
                ids.append(int(token))
            generated.append(tuple(ids))
        return output.logits[0], generated

    def _results(
        self,
        prompts: Sequence[RenderedPrompt],
        request: CaptureRequest,
        plan: PositionPlan,
        records: dict[tuple[str, int], torch.Tensor],
        logits: torch.Tensor | None,
        generated: list[tuple[int, ...]],
    ) -> list[PromptResult]:
        import torch

        arrays = {site: tensor.numpy() for site, tensor in records.items()}
        topk_values = topk_ids = None
        if logits is not None and request.topk_logits > 0:
            k = min(request.topk_logits, logits.shape[-1])
            top = torch.topk(logits.float(), k, dim=-1)
            topk_values = top.values.cpu().numpy().astype(np.float32)
            topk_ids = top.indices.cpu().numpy().astype(np.int64)
            finite_logits = torch.isfinite(logits).all(dim=-1).cpu().numpy()
        else:
            finite_logits = np.ones(len(prompts), dtype=bool)

        results = []
        for row, prompt in enumerate(prompts):
            valid = plan.valid[row].copy()
            activations = {}
            for site, array in arrays.items():
                values = array[row].copy()
                values[~valid] = 0.0
                activations[site] = values

            problem = _non_finite_sites(activations, valid)
            if problem or not finite_logits[row]:
                where = ", ".join(f"{hook}@{layer}" for hook, layer in problem) or "next-token logits"
                logger.warning(
                    "prompt %r has non-finite values at %s; dropping its activations", prompt.spec.prompt_id, where
                )
                results.append(
                    PromptResult(
                        prompt=prompt,
                        error_reason=NON_FINITE,
                        error_message=f"prompt {prompt.spec.prompt_id!r}: inf or NaN values at {where}",
                    )
                )
                continue

            generated_ids = generated[row]
            text = None
            if request.max_new_tokens > 0:
                text = self.tokenizer.decode(list(generated_ids), skip_special_tokens=True)
            results.append(
                PromptResult(
                    prompt=prompt,
                    activations=activations,
                    valid=valid,
                    token_positions=plan.token_positions[row].copy(),
                    topk_ids=None if topk_ids is None else topk_ids[row],
                    topk_values=None if topk_values is None else topk_values[row],
                    generated_ids=generated_ids,
                    generated_text=text,
                )
            )
        return results


def _non_finite_sites(activations: dict[tuple[str, int], np.ndarray], valid: np.ndarray) -> list[tuple[str, int]]:
    return [site for site, values in activations.items() if not np.isfinite(values[valid]).all()]


def capture_all_positions(
    model: PreTrainedModel, blocks: Sequence[Any], input_ids: Sequence[int], sites: Sequence[tuple[str, int]]
) -> dict[tuple[str, int], np.ndarray]:
    """Run one prompt and return every position at each site, (seq, d_model) float32."""
    import torch

    batch = pad_batch([input_ids], pad_id=0)
    recorder = ActivationRecorder(blocks, sites, seq_len=batch.seq_len, stop_after_last=True)
    device = model.get_input_embeddings().weight.device
    with torch.inference_mode(), recorder, contextlib.suppress(StopForward):
        model(input_ids=batch.input_ids.to(device), use_cache=False, logits_to_keep=1)
    return {site: tensor[0].numpy() for site, tensor in recorder.records.items()}
