"""Fixtures of the classifier tests."""

from __future__ import annotations

import pytest
from classifier_helpers import PlantedData, make_planted_data


@pytest.fixture(scope="session")
def planted() -> PlantedData:
    return make_planted_data()


@pytest.fixture(scope="module", autouse=True)
def single_torch_thread():
    """Run torch on one thread during each test module, then restore the previous count.

    The networks here are tiny, so a second intra-op thread only adds waiting. On a
    2-core machine busy with other work, two threads made DANN fits over ten times slower.
    """
    try:
        import torch
    except ImportError:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
