"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_data_root() -> Path:
    """Return the folder of real public datasets: $PM_DATA_ROOT, else ../shared/data."""
    return Path(os.environ.get("PM_DATA_ROOT", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture
def data_root() -> Path:
    root = shared_data_root()
    if not root.is_dir():
        pytest.skip(f"real datasets not found at {root}; set PM_DATA_ROOT to the shared data folder")
    return root
