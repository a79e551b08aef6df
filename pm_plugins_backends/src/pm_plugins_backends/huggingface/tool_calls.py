"""Fit assistant tool calls to the shape a chat template expects.

Templates disagree on how a call must look: `arguments` as a mapping or as a JSON
string, and the turn's `content` as None, "" or absent. The wrong shape raises,
escapes the JSON twice, prints the word `None`, or drops the call silently. So each
shape is tried in turn, and a render is accepted only when every call's name and
argument values are in the text and no stray `None` or `\\"` was added.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import jinja2

from pm_core.errors import TemplateError
from pm_core.types import Message, ToolCall

logger = logging.getLogger(__name__)

#: Exceptions a chat template raises on input it cannot render: its own `raise_exception`
#: and undefined names (jinja2), and Python errors from operations on the wrong type.
RENDER_ERRORS = (jinja2.TemplateError, TypeError, ValueError, KeyError, AttributeError, IndexError)
#: Text a badly shaped call leaves in a render: a Python None, or JSON escaped twice.
STRAY_MARKERS = ("None", '\\"')


@attrs.frozen
class ToolCallShape:
    """Encoding of calls for the template: `arguments` as a JSON string or mapping, and the empty content."""

    arguments_as_json: bool
    #: "empty" passes content "", "absent" leaves the key out, "none" passes None.
    content: str

    def describe(self) -> str:
        arguments = "JSON string" if self.arguments_as_json else "mapping"
        return f"arguments as {arguments}, content {self.content}"


#: Shapes in the order they are tried; the first one that renders every call is used.
SHAPES = (
    ToolCallShape(arguments_as_json=False, content="empty"),
    ToolCallShape(arguments_as_json=False, content="absent"),
    ToolCallShape(arguments_as_json=False, content="none"),
    ToolCallShape(arguments_as_json=True, content="empty"),
    ToolCallShape(arguments_as_json=True, content="absent"),
    ToolCallShape(arguments_as_json=True, content="none"),
)


def message_to_dict(message: Message, shape: ToolCallShape, names: dict[int, str] | None = None) -> dict[str, Any]:
    """Convert a message to the OpenAI chat dict; `names` replaces call names by position (for probing)."""
    record: dict[str, Any] = {"role": message.role}
    has_text = message.content is not None and message.content != ""
    if has_text or not message.tool_calls:
        record["content"] = message.content if message.content is not None else ""
    elif shape.content == "empty":
        record["content"] = ""
    elif shape.content == "none":
        record["content"] = None

    if message.tool_calls:
        record["tool_calls"] = [
            _call_to_dict(call, shape, (names or {}).get(position)) for position, call in enumerate(message.tool_calls)
        ]
    if message.name is not None:
        record["name"] = message.name
    if message.tool_call_id is not None:
        record["tool_call_id"] = message.tool_call_id
    return record


def _call_to_dict(call: ToolCall, shape: ToolCallShape, name: str | None) -> dict[str, Any]:
    arguments: Any = json.dumps(call.arguments, ensure_ascii=False) if shape.arguments_as_json else dict(call.arguments)
    record: dict[str, Any] = {"type": "function", "function": {"name": name or call.name, "arguments": arguments}}
    if call.id is not None:
        record["id"] = call.id
    return record


def _argument_leaves(value: Any) -> list[str]:
    """Return the strings and numbers inside an argument value, as they appear in any rendering."""
    if isinstance(value, dict):
        leaves = [str(key) for key in value]
        for item in value.values():
            leaves.extend(_argument_leaves(item))
        return leaves
    if isinstance(value, list | tuple):
        return [leaf for item in value for leaf in _argument_leaves(item)]
    if isinstance(value, bool) or value is None:
        return []
    return [str(value)]


def _marker_baseline(messages: Sequence[Message], tools: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Count each stray marker where the prompt itself contains it, so legitimate uses are allowed."""
    sources = [json.dumps(list(tools), ensure_ascii=False)]
    for message in messages:
        sources.append(message.content or "")
        for call in message.tool_calls:
            sources.append(json.dumps(call.arguments, ensure_ascii=False))
            sources.append(repr(call.arguments))
    return {marker: sum(source.count(marker) for source in sources) for marker in STRAY_MARKERS}


class ToolCallRenderer:
    """Render a conversation with tool calls in the first shape the template handles correctly.

    `apply` takes the OpenAI message dicts and returns the rendered text, raising on
    template errors. `indices[i]` is the prompt's own index of `messages[i]`, used in errors.
    """

    def __init__(self, apply: Callable[[list[dict[str, Any]]], str], template_name: str) -> None:
        self.apply = apply
        self.template_name = template_name

    def render(
        self, messages: Sequence[Message], indices: Sequence[int], tools: Sequence[dict[str, Any]]
    ) -> tuple[str, ToolCallShape | None]:
        """Return the render and the shape used; raise `TemplateError` when no shape renders every call."""
        calling = [position for position, message in enumerate(messages) if message.tool_calls]
        if not calling:
            return self.apply([message_to_dict(message, SHAPES[0]) for message in messages]), None

        baseline = _marker_baseline(messages, tools)
        failures: list[str] = []
        failed_position = calling[0]
        for shape in SHAPES:
            try:
                text = self.apply([message_to_dict(message, shape) for message in messages])
            except RENDER_ERRORS as error:
                failures.append(f"{shape.describe()}: {type(error).__name__}: {error}")
                continue

            problem, position = self._check(text, messages, calling, baseline, shape)
            if problem is None:
                logger.debug("%s renders tool calls with %s", self.template_name, shape.describe())
                return text, shape
            failed_position = position
            failures.append(f"{shape.describe()}: {problem}")

        index = indices[failed_position]
        names = ", ".join(call.name for call in messages[failed_position].tool_calls)
        msg = (
            f"chat template of {self.template_name!r} cannot render the tool call in message {index} ({names}) "
            f"in any of {len(SHAPES)} shapes: " + "; ".join(failures)
        )
        raise TemplateError(msg)

    def _check(
        self,
        text: str,
        messages: Sequence[Message],
        calling: list[int],
        baseline: dict[str, int],
        shape: ToolCallShape,
    ) -> tuple[str | None, int]:
        """Return why `text` is not a faithful render (None when it is) and the message position at fault."""
        for position in calling:
            for call in messages[position].tool_calls:
                if call.name not in text:
                    return f"the call to {call.name!r} is missing from the render", position
                for leaf in _argument_leaves(call.arguments):
                    if leaf not in text:
                        return f"argument text {leaf!r} of {call.name!r} is missing from the render", position

        for marker in STRAY_MARKERS:
            if text.count(marker) > baseline[marker]:
                return f"the render contains a stray {marker!r}", calling[0]

        return self._check_names_come_from_calls(messages, calling, shape)

    def _check_names_come_from_calls(
        self, messages: Sequence[Message], calling: list[int], shape: ToolCallShape
    ) -> tuple[str | None, int]:
        """Render again with placeholder call names, so a name printed only by the tool schema does not count."""
        probe_names: dict[int, dict[int, str]] = {}
        for position in calling:
            probe_names[position] = {
                k: f"pm_probe_call_{position}_{k}" for k in range(len(messages[position].tool_calls))
            }
        records = [
            message_to_dict(message, shape, probe_names.get(position)) for position, message in enumerate(messages)
        ]
        try:
            probe = self.apply(records)
        except RENDER_ERRORS as error:
            # NOTE: a template that checks call names against the tool list rejects the
            # placeholders; the name and argument checks above then stand alone.
            logger.debug("%s rejects placeholder call names (%s); skipping that check", self.template_name, error)
            return None, calling[0]

        for position, names in probe_names.items():
            for name in names.values():
                if name not in probe:
                    return "the call is dropped from the render (its name appears only outside the call)", position
        return None, calling[0]
