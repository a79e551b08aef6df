"""Token-budget batch planning."""

from __future__ import annotations

import pytest

from pm_core.errors import ConfigError
from pm_core.ingestion.batching import plan_batches


def test_plan_batches_longest_first():
    """Batches are length-sorted, longest first, and stay within the token budget."""
    lengths = [5, 40, 12, 11, 39, 6]

    batches = plan_batches(lengths, token_budget=80, max_batch_size=8)

    assert batches == [[1, 4], [2, 3, 5, 0]]
    for batch in batches:
        assert len(batch) * max(lengths[i] for i in batch) <= 80


def test_plan_batches_max_batch_size():
    """No batch contains more than `max_batch_size` prompts."""
    batches = plan_batches([3] * 7, token_budget=1000, max_batch_size=3)

    assert [len(batch) for batch in batches] == [3, 3, 1]
    assert sorted(i for batch in batches for i in batch) == list(range(7))


def test_plan_batches_oversized_prompt_alone():
    """A prompt longer than the budget gets a batch of its own."""
    batches = plan_batches([100, 4, 4], token_budget=50, max_batch_size=4)

    assert batches == [[0], [1, 2]]


def test_plan_batches_invalid_limits():
    """A budget or batch size below 1 raises `ConfigError`."""
    with pytest.raises(ConfigError, match="token_budget=0"):
        plan_batches([3], token_budget=0, max_batch_size=4)
