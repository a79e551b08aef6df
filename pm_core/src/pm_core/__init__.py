"""pm: capture, store and classify the activations of language models on prompts.

Heavy submodules are imported on first use, so `import pm_core` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "ClassificationDataset",
    "CompactGraph",
    "FeatureInfo",
    "PromptSpec",
    "RunConfig",
    "load_config",
]

_LAZY = {
    "ClassificationDataset": "pm_core.readers.classification",
    "CompactGraph": "pm_core.types",
    "FeatureInfo": "pm_core.types",
    "PromptSpec": "pm_core.types",
    "RunConfig": "pm_core.config.schema",
    "load_config": "pm_core.config.load",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("pm-core")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    msg = f"module 'pm_core' has no attribute {name!r}"
    raise AttributeError(msg)
