"""The run registry: a SQLite file that records which prompts were processed and where their rows live."""

from __future__ import annotations

from pm_core.registry.records import RunHandle, RunItem, RunRecord, UnknownRunError
from pm_core.registry.runs import REGISTRY_FILE, RunRegistry

__all__ = ["REGISTRY_FILE", "RunHandle", "RunItem", "RunRecord", "RunRegistry", "UnknownRunError"]
