"""Prompt builders and hook counting shared by the backend tests."""

from __future__ import annotations

from pm_core.types import Message, PromptSpec


def user_prompt(text: str, prompt_id: str = "p", system: str | None = None) -> PromptSpec:
    """Build a chat prompt with one user turn and an optional system turn."""
    messages = ((Message("system", system),) if system is not None else ()) + (Message("user", text),)
    return PromptSpec(prompt_id=prompt_id, dataset_id="test", messages=messages)


def raw_prompt(text: str, prompt_id: str = "p") -> PromptSpec:
    """Build a raw prompt that bypasses the chat template."""
    return PromptSpec(prompt_id=prompt_id, dataset_id="test", text=text)


def hook_count(module) -> int:
    """Return how many forward and pre-forward hooks a module carries."""
    return len(module._forward_hooks) + len(module._forward_pre_hooks)
