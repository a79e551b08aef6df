"""Forward hooks that copy activations out of the decoder blocks.

Hook points on block L (`model.model.layers[L]` for Llama-style models):
`resid_pre` is the block's input, `resid_post` its output, `attn_out` the output
of its attention sub-layer and `mlp_out` the output of its MLP. `resid_post` of the
last block is the raw block output: `output_hidden_states` instead returns it with
the final norm applied, which is not a residual stream value.

Hooks copy only the requested columns, as float32 on the CPU. With `prefill_only`
each hook keeps its first call and ignores the rest, because during `generate`
every decoding step (sequence length 1) calls the blocks again. Hooks are removed
when the `with` block exits, also on error.

NOTE: only the prompt pass is captured. Activations of generated tokens (one
vector per decoding step) are not offered yet, because storage has no place for
a per-prompt number of vectors.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pm_core.backend import HOOK_POINTS
from pm_core.errors import ConfigError
from pm_plugins_backends.huggingface.loading import find_submodule

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch.utils.hooks import RemovableHandle

logger = logging.getLogger(__name__)

ATTENTION_NAMES = ("self_attn", "attn", "attention")
MLP_NAMES = ("mlp", "feed_forward")


class StopForward(Exception):
    """Raised by a hook to end the forward pass once the deepest requested layer has run."""


def _hidden_of(output: Any) -> torch.Tensor:
    """Return the hidden-state tensor of a module's output (a tensor, or a tuple whose first item is one)."""
    if isinstance(output, tuple | list):
        return output[0]
    return output


class ActivationRecorder:
    """Context manager that registers capture hooks on decoder blocks and stores what they see.

    `columns` is (batch, n_positions): the padded-batch columns to keep per row, or
    None to keep every column. `records[(hook_point, layer)]` is then
    (batch, n_positions, d_model) or (batch, seq, d_model), float32 on the CPU.
    `stop_after_last` ends the forward pass after the deepest requested layer.
    """

    def __init__(
        self,
        blocks: Sequence[torch.nn.Module],
        sites: Sequence[tuple[str, int]],
        seq_len: int,
        columns: np.ndarray | None = None,
        prefill_only: bool = False,
        stop_after_last: bool = False,
    ) -> None:
        for hook_point, layer in sites:
            if hook_point not in HOOK_POINTS:
                msg = f"unknown hook point {hook_point!r}: expected one of {', '.join(HOOK_POINTS)}"
                raise ConfigError(msg)
            if not 0 <= layer < len(blocks):
                msg = f"layer {layer} is out of range: the model has {len(blocks)} layers (0-{len(blocks) - 1})"
                raise ConfigError(msg)
        self.blocks = blocks
        self.sites = tuple(sites)
        self.seq_len = seq_len
        self.columns = columns
        self.prefill_only = prefill_only
        self.stop_after_last = stop_after_last
        self.records: dict[tuple[str, int], torch.Tensor] = {}
        self._handles: list[RemovableHandle] = []
        self._column_tensors: dict[Any, torch.Tensor] = {}

    def __enter__(self) -> ActivationRecorder:
        try:
            for site in self.sites:
                self._register(site)
            if self.stop_after_last and self.sites:
                self._register_stop()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    def remove(self) -> None:
        """Remove every hook this recorder registered."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _register(self, site: tuple[str, int]) -> None:
        hook_point, layer = site
        block = self.blocks[layer]

        if hook_point == "resid_pre":

            def pre_hook(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
                self._store(site, args[0] if args else kwargs["hidden_states"])

            self._handles.append(block.register_forward_pre_hook(pre_hook, with_kwargs=True))
            return

        if hook_point == "resid_post":
            module = block
        elif hook_point == "attn_out":
            module = find_submodule(block, ATTENTION_NAMES, hook_point)
        else:
            module = find_submodule(block, MLP_NAMES, hook_point)

        def hook(module: Any, args: Any, output: Any) -> None:
            self._store(site, _hidden_of(output))

        self._handles.append(module.register_forward_hook(hook))

    def _register_stop(self) -> None:
        deepest = max(layer for _, layer in self.sites)
        block = self.blocks[deepest]
        only_input = all(hook_point == "resid_pre" for hook_point, layer in self.sites if layer == deepest)

        def stop(*args: Any) -> None:
            raise StopForward

        # Registered after the capture hooks, so those run first on the same block.
        if only_input:
            self._handles.append(block.register_forward_pre_hook(stop))
        else:
            self._handles.append(block.register_forward_hook(stop))

    def _store(self, site: tuple[str, int], hidden: torch.Tensor) -> None:
        import torch

        if site in self.records:
            if self.prefill_only:
                return
            msg = f"hook {site[0]} of layer {site[1]} ran twice in one forward pass"
            raise RuntimeError(msg)
        if hidden.shape[1] != self.seq_len:
            msg = (
                f"hook {site[0]} of layer {site[1]} saw sequence length {hidden.shape[1]}, "
                f"expected the prompt pass of length {self.seq_len}"
            )
            raise RuntimeError(msg)

        if self.columns is None:
            selected = hidden
        else:
            columns = self._columns_on(hidden.device)
            rows = torch.arange(columns.shape[0], device=hidden.device)[:, None]
            selected = hidden[rows, columns]
        # Without a column gather the tensor is the model's own, so copy it.
        copy = self.columns is None
        self.records[site] = selected.detach().to(device="cpu", dtype=torch.float32, copy=copy)

    def _columns_on(self, device: torch.device) -> torch.Tensor:
        import torch

        if device not in self._column_tensors:
            self._column_tensors[device] = torch.as_tensor(self.columns, dtype=torch.long, device=device)
        return self._column_tensors[device]
