"""Pad a batch of token id lists and map end-relative offsets to columns of the padded batch.

Every index is computed per row from the attention mask, so a row's "last" token is
its own last real token whatever the padding side or batch make-up. BOS is found by
its id at the row's first attended column, never by assuming column 0 contains it,
which also works when the pad id equals the BOS id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs
import numpy as np

from pm_core.errors import ConfigError

if TYPE_CHECKING:
    import torch

PADDING_SIDES = ("left", "right")


@attrs.frozen
class PaddedBatch:
    """Token ids of several prompts padded to one length, with the mask and position ids the model needs."""

    #: (batch, seq) int64.
    input_ids: torch.Tensor
    #: (batch, seq) int64, 1 on real tokens.
    attention_mask: torch.Tensor
    #: (batch, seq) int64, counting from each row's first real token; pad columns get 1, as `generate` does.
    position_ids: torch.Tensor
    #: Column of each row's first real token, (batch,).
    starts: np.ndarray
    #: Number of real tokens of each row, (batch,).
    lengths: np.ndarray

    @property
    def seq_len(self) -> int:
        return int(self.input_ids.shape[1])


def pad_batch(id_lists: Sequence[Sequence[int]], pad_id: int, side: str = "left") -> PaddedBatch:
    """Pad the rows to the longest one on `side` ("left" or "right")."""
    import torch

    if side not in PADDING_SIDES:
        msg = f"invalid padding side {side!r}: expected 'left' or 'right'"
        raise ConfigError(msg)
    lengths = np.array([len(ids) for ids in id_lists], dtype=np.int64)
    if lengths.size == 0 or lengths.min() == 0:
        msg = "cannot pad a batch that is empty or contains a prompt with no tokens"
        raise ValueError(msg)

    seq_len = int(lengths.max())
    input_ids = torch.full((len(id_lists), seq_len), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(id_lists), seq_len), dtype=torch.long)
    starts = np.zeros(len(id_lists), dtype=np.int64)
    for row, ids in enumerate(id_lists):
        start = seq_len - len(ids) if side == "left" else 0
        starts[row] = start
        input_ids[row, start : start + len(ids)] = torch.tensor(list(ids), dtype=torch.long)
        attention_mask[row, start : start + len(ids)] = 1

    position_ids = attention_mask.cumsum(-1) - 1
    position_ids = position_ids.masked_fill(attention_mask == 0, 1)
    return PaddedBatch(input_ids, attention_mask, position_ids, starts, lengths)


@attrs.frozen
class PositionPlan:
    """Placement of each requested offset of each row in the padded batch."""

    #: (batch, n_positions) int64 column into the padded batch; a valid column of the row where `valid` is False.
    columns: np.ndarray
    #: (batch, n_positions) bool: False where the offset falls before the first token or on BOS.
    valid: np.ndarray
    #: (batch, n_positions) int64 position counted from the row's first real token; -1 where not valid.
    token_positions: np.ndarray


def plan_positions(batch: PaddedBatch, offsets: Sequence[int], bos_id: int | None, drop_bos: bool) -> PositionPlan:
    """Map end-relative `offsets` (-1 is the last token) to columns, per row."""
    bad = [offset for offset in offsets if not isinstance(offset, int) or offset >= 0]
    if bad:
        msg = f"invalid capture positions {bad!r}: positions are offsets from the end of the prompt, -1 or lower"
        raise ConfigError(msg)

    offsets_array = np.asarray(offsets, dtype=np.int64)
    positions = batch.lengths[:, None] + offsets_array[None, :]
    valid = positions >= 0
    if drop_bos and bos_id is not None:
        first_ids = batch.input_ids[np.arange(len(batch.starts)), batch.starts].numpy()
        starts_with_bos = first_ids == bos_id
        valid &= ~((positions == 0) & starts_with_bos[:, None])

    columns = np.where(valid, batch.starts[:, None] + positions, batch.starts[:, None])
    token_positions = np.where(valid, positions, -1)
    return PositionPlan(columns=columns, valid=valid, token_positions=token_positions)
