"""Capture pm's sites at TransformerLens hook points.

pm's site (hook point, layer) maps to the TransformerLens name `blocks.L.hook_<point>`:
`resid_pre` is the input of block L, `resid_post` its output, and `attn_out` and
`mlp_out` the outputs of its attention and MLP sub-layers. These are the names sae-lens
records in an SAE's `hook_name`. Each hook keeps only the planned columns of each row,
as float32 on the CPU, and never modifies the tensor it receives.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Sequence
from typing import TYPE_CHECKING, Any

from pm_core.backend import HOOK_POINTS
from pm_core.errors import ConfigError
from pm_plugins_backends.sae.hooks import hook_of_site

if TYPE_CHECKING:
    import numpy as np
    import torch


def hook_names(
    sites: Sequence[tuple[str, int]], n_layers: int, available: Container[str]
) -> dict[tuple[str, int], str]:
    """Return the TransformerLens hook name of each site, raising `ConfigError` for one the model lacks.

    `available` is the model's `hook_dict`. The check matters because `TransformerBridge.run_with_hooks`
    (transformer-lens 3.2.1) skips a hook name it does not know without an error.
    """
    names = {}
    for hook_point, layer in sites:
        if hook_point not in HOOK_POINTS:
            msg = f"unknown hook point {hook_point!r}: expected one of {', '.join(HOOK_POINTS)}"
            raise ConfigError(msg)
        if not 0 <= layer < n_layers:
            msg = f"layer {layer} is out of range: the model has {n_layers} layers (0-{n_layers - 1})"
            raise ConfigError(msg)
        name = hook_of_site(hook_point, layer)
        if name not in available:
            msg = (
                f"hook point {hook_point!r} of layer {layer}: the TransformerLens model has no hook {name!r}; "
                "capture another hook point or use `model.backend: huggingface`"
            )
            raise ConfigError(msg)
        names[(hook_point, layer)] = name
    return names


class HookRecorder:
    """TransformerLens forward hooks that store the tensor at each site during one forward pass.

    `columns` is (batch, n_positions): the padded-batch columns to keep per row.
    `records[(hook_point, layer)]` is then (batch, n_positions, d_model) float32 on the CPU.
    """

    def __init__(self, names: dict[tuple[str, int], str], seq_len: int, columns: np.ndarray) -> None:
        self.names = names
        self.seq_len = seq_len
        self.columns = columns
        self.records: dict[tuple[str, int], torch.Tensor] = {}
        self._column_tensors: dict[Any, torch.Tensor] = {}

    def fwd_hooks(self) -> list[tuple[str, Callable[..., None]]]:
        """Return the (hook name, function) pairs that `run_with_hooks` takes."""
        return [(name, self._hook_for(site)) for site, name in self.names.items()]

    def missing_sites(self) -> list[tuple[str, int]]:
        """Return the sites whose hook did not run."""
        return [site for site in self.names if site not in self.records]

    def _hook_for(self, site: tuple[str, int]) -> Callable[..., None]:
        def hook(tensor: torch.Tensor, hook: Any) -> None:
            self._store(site, tensor)

        return hook

    def _store(self, site: tuple[str, int], hidden: torch.Tensor) -> None:
        import torch

        if site in self.records:
            msg = f"hook {self.names[site]} ran twice in one forward pass"
            raise RuntimeError(msg)
        if hidden.shape[1] != self.seq_len:
            msg = f"hook {self.names[site]} saw sequence length {hidden.shape[1]}, expected {self.seq_len}"
            raise RuntimeError(msg)
        columns = self._columns_on(hidden.device)
        rows = torch.arange(columns.shape[0], device=hidden.device)[:, None]
        # Advanced indexing copies, so later in-place changes to `hidden` cannot reach the record.
        self.records[site] = hidden[rows, columns].detach().to(device="cpu", dtype=torch.float32)

    def _columns_on(self, device: torch.device) -> torch.Tensor:
        import torch

        if device not in self._column_tensors:
            self._column_tensors[device] = torch.as_tensor(self.columns, dtype=torch.long, device=device)
        return self._column_tensors[device]
