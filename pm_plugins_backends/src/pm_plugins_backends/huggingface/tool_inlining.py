"""Write tool schemas and tool calls as plain text, for chat templates that cannot render them.

Used only with `model.tool_fallback: inline`. The tool schemas go into the
system turn as one JSON object per line, and each assistant tool call becomes
`<tool_call>{"name": ..., "arguments": ...}</tool_call>` after the turn's text,
so the prompt keeps everything the model would see with a tool-aware template.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pm_core.types import Message, PromptSpec

TOOLS_HEADER = "You can call the following tools. Each line is the JSON schema of one tool:"


def tools_text(tools: Sequence[dict[str, Any]]) -> str:
    """Return the tool schemas as a header line and one compact JSON object per line."""
    lines = [json.dumps(tool, ensure_ascii=False, sort_keys=True) for tool in tools]
    return "\n".join([TOOLS_HEADER, *lines])


def call_text(message: Message) -> str:
    """Return an assistant turn's text followed by its tool calls written as JSON."""
    calls = []
    for call in message.tool_calls:
        payload = json.dumps({"name": call.name, "arguments": call.arguments}, ensure_ascii=False)
        calls.append(f"<tool_call>{payload}</tool_call>")
    return "\n".join(part for part in [message.content or "", *calls] if part)


def inline_tools(spec: PromptSpec) -> tuple[list[Message], list[int]]:
    """Return the messages with schemas and calls written as text, and each one's original index."""
    messages: list[Message] = []
    indices: list[int] = []
    for index, message in enumerate(spec.messages):
        if message.tool_calls:
            message = Message("assistant", call_text(message), name=message.name)
        messages.append(message)
        indices.append(index)

    if spec.tools:
        schema_text = tools_text(spec.tools)
        if messages and messages[0].role == "system":
            messages[0] = Message("system", f"{messages[0].content or ''}\n\n{schema_text}".strip())
        else:
            messages.insert(0, Message("system", schema_text))
            indices.insert(0, -1)
    return messages, indices
