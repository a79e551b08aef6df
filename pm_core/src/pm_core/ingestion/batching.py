"""Group prompts into padded batches under a token budget."""

from __future__ import annotations

from collections.abc import Sequence

from pm_core.errors import ConfigError
from pm_core.types import RenderedPrompt


def plan_batches(rendered: Sequence[RenderedPrompt | int], token_budget: int, max_batch_size: int) -> list[list[int]]:
    """Return batches of indices into `rendered`, longest prompts first.

    A batch costs its size times its longest prompt in padded tokens, and stays within
    `token_budget` and `max_batch_size`. A prompt longer than the budget gets a batch
    of its own. Items are rendered prompts or plain token counts.
    """
    if token_budget < 1 or max_batch_size < 1:
        msg = (
            f"invalid batch limits: token_budget={token_budget!r}, max_batch_size={max_batch_size!r}; both must be >= 1"
        )
        raise ConfigError(msg)

    lengths = [item if isinstance(item, int) else item.n_tokens for item in rendered]
    order = sorted(range(len(lengths)), key=lambda index: (-lengths[index], index))

    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        # Sorted longest first, so the batch's first prompt sets its padded length.
        padded_length = lengths[current[0]] if current else lengths[index]
        fits = len(current) < max_batch_size and (len(current) + 1) * padded_length <= token_budget
        if current and not fits:
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches
