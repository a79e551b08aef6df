"""Data types shared by the core and every plugin.

All of them are frozen attrs classes. Instances from files or rows are built by
`from_*` class methods, never by splatting a raw record into `__init__`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import attrs
import numpy as np

from pm_core.errors import DataError

ROLES = ("system", "user", "assistant", "tool")


def _check_role(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if value not in ROLES:
        msg = f"invalid message role {value!r}: expected one of {', '.join(ROLES)}"
        raise DataError(msg)


@attrs.frozen
class ToolCall:
    """One call an assistant turn makes to a tool; `arguments` is always a mapping."""

    name: str
    arguments: dict[str, Any] = attrs.field(factory=dict)
    id: str | None = None

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> ToolCall:
        """Build a call from the OpenAI shape or a flat one; string arguments are parsed as JSON."""
        function = record.get("function", record)
        arguments = function.get("arguments", {})
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError as error:
                msg = f"tool call {function.get('name')!r} has arguments that are not JSON: {arguments!r} ({error})"
                raise DataError(msg) from error
        return cls(name=function["name"], arguments=dict(arguments), id=record.get("id"))


@attrs.frozen
class Message:
    """One chat turn. `content` is None only for an assistant turn that only calls tools."""

    role: str = attrs.field(validator=_check_role)
    content: str | None = ""
    tool_calls: tuple[ToolCall, ...] = ()
    name: str | None = None
    tool_call_id: str | None = None

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Message:
        """Build a message from a chat record such as ``{"role": "user", "content": "hi"}``."""
        calls = tuple(ToolCall.from_dict(call) for call in record.get("tool_calls") or ())
        content = record.get("content")
        if content is not None and not isinstance(content, str):
            msg = f"message content must be a string, got {type(content).__name__}: {content!r}"
            raise DataError(msg)
        return cls(
            role=record.get("role", ""),
            content=content,
            tool_calls=calls,
            name=record.get("name"),
            tool_call_id=record.get("tool_call_id"),
        )


@attrs.frozen
class PromptSpec:
    """A prompt as a dataset plugin yields it, before the backend renders it.

    `labels` contains the boolean `malicious` label and the source's own fields.
    `text` is set instead of `messages` for a raw prompt that skips the chat template.
    """

    prompt_id: str
    dataset_id: str
    messages: tuple[Message, ...] = ()
    tools: tuple[dict[str, Any], ...] = ()
    labels: dict[str, Any] = attrs.field(factory=dict)
    text: str | None = None

    @classmethod
    def from_user_text(cls, prompt_id: str, dataset_id: str, text: str, **kwargs: Any) -> PromptSpec:
        """Build a single-turn prompt from a user message."""
        return cls(prompt_id=prompt_id, dataset_id=dataset_id, messages=(Message("user", text),), **kwargs)

    @property
    def is_raw(self) -> bool:
        """True when the prompt is plain text that bypasses the chat template."""
        return self.text is not None

    def content_digest(self) -> str:
        """Return a stable hash of everything the model will see from this prompt."""
        payload = {
            "text": self.text,
            "messages": [attrs.asdict(message) for message in self.messages],
            "tools": list(self.tools),
        }
        encoded = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode()
        return hashlib.sha256(encoded).hexdigest()


@attrs.frozen
class RenderedPrompt:
    """A prompt after the chat template and tokenizer: exactly the ids the model runs on."""

    spec: PromptSpec
    text: str
    input_ids: tuple[int, ...]
    metadata: dict[str, Any] = attrs.field(factory=dict)

    @property
    def n_tokens(self) -> int:
        return len(self.input_ids)


@attrs.frozen
class CaptureRequest:
    """The capture settings of one batch: sites, positions, logits and generation.

    `layers` are non-negative, already resolved against the model depth.
    `positions` are offsets counted from the end of the prompt: -1 is the last token.
    `extra_sites` are (hook point, layer) pairs captured for feature extractors (an SAE's
    own hook) but not stored as raw activations.
    """

    layers: tuple[int, ...] = ()
    hook_points: tuple[str, ...] = ("resid_post",)
    positions: tuple[int, ...] = (-1,)
    topk_logits: int = 0
    max_new_tokens: int = 0
    drop_bos: bool = True
    extra_sites: tuple[tuple[str, int], ...] = ()

    @property
    def needs_logits(self) -> bool:
        return self.topk_logits > 0 or self.max_new_tokens > 0

    @property
    def sites(self) -> tuple[tuple[str, int], ...]:
        """Every (hook point, layer) pair stored as raw activations, in a stable order."""
        return tuple((hook, layer) for hook in self.hook_points for layer in self.layers)

    @property
    def capture_sites(self) -> tuple[tuple[str, int], ...]:
        """Every site a backend captures: the stored sites, then the extra sites not among them."""
        stored = self.sites
        return stored + tuple(site for site in dict.fromkeys(self.extra_sites) if site not in stored)


@attrs.frozen
class PromptResult:
    """The output of a backend for one prompt of a batch.

    `activations[(hook_point, layer)]` has shape (n_positions, d_model), one row per
    requested offset. `valid[i]` is False where offset i falls before the prompt's
    first real token (or on its BOS), and that row is zeros, not data.
    `token_positions[i]` counts from the first token of the prompt.
    """

    prompt: RenderedPrompt
    activations: dict[tuple[str, int], np.ndarray] = attrs.field(factory=dict)
    valid: np.ndarray | None = None
    token_positions: np.ndarray | None = None
    topk_ids: np.ndarray | None = None
    topk_values: np.ndarray | None = None
    generated_ids: tuple[int, ...] = ()
    generated_text: str | None = None
    error_reason: str | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_reason is None


@attrs.frozen
class FeatureInfo:
    """One active sparse feature of a prompt: where it fired and how strongly."""

    layer: int
    position: int
    feature_idx: int
    activation: float
    influence: float | None = None


@attrs.frozen
class CompactGraph:
    """The small record of an attribution run: its top features and how they were found.

    It round-trips through JSON (`to_json` / `from_json`), never through pickle, so a
    stored graph cannot execute code when it is read.
    """

    prompt_id: str
    features: tuple[FeatureInfo, ...] = ()
    metadata: dict[str, Any] = attrs.field(factory=dict)

    def to_json(self) -> str:
        return json.dumps(attrs.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CompactGraph:
        record = json.loads(text)
        features = tuple(FeatureInfo(**feature) for feature in record.get("features", ()))
        return cls(prompt_id=record["prompt_id"], features=features, metadata=record.get("metadata", {}))
