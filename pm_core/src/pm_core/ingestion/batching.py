"""Group prompts into padded batches of similar length under a token budget."""

from __future__ import annotations

from collections.abc import Sequence


def plan_batches(lengths: Sequence[int], token_budget: int, max_batch_size: int) -> list[list[int]]:
    """Return batches of indices into `lengths`, shortest prompts first.

    A batch's padded size is its size times its longest prompt; a batch grows
    until adding the next prompt would exceed `token_budget` or `max_batch_size`.
    A prompt longer than the budget on its own still gets a batch of one.
    """
    order = sorted(range(len(lengths)), key=lambda index: (lengths[index], index))
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        longest = lengths[index]  # sorted ascending, so the newcomer is the longest
        fits = (len(current) + 1) * longest <= token_budget and len(current) < max_batch_size
        if current and not fits:
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches
