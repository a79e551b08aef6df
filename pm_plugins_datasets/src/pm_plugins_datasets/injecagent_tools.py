"""InjecAgent's `tools.json` as OpenAI function schemas, keyed by the tool names its test cases use.

`tools.json` is a list of toolkits. Each has a `toolkit` name and `tools`, and
each tool has `name`, `summary` and `parameters`: a list of
`{name, type, description, required}` whose types are already JSON Schema
type names. A test case names a tool as toolkit plus tool name, for example
`AmazonGetProductDetails`.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from pm_core.errors import DataError


def to_function_schema(toolkit: dict[str, Any], tool: dict[str, Any]) -> dict[str, Any]:
    """Convert one tool of `tools.json` to `{"type": "function", "function": {...}}`."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for parameter in tool.get("parameters", ()):
        properties[parameter["name"]] = {"type": parameter["type"], "description": parameter.get("description", "")}
        if parameter.get("required", False):
            required.append(parameter["name"])

    return {
        "type": "function",
        "function": {
            "name": toolkit["toolkit"] + tool["name"],
            "description": tool.get("summary", ""),
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


def load_tool_schemas(path: Path) -> dict[str, dict[str, Any]]:
    """Read `tools.json` into a map from tool name to its function schema."""
    try:
        toolkits = json.loads(path.read_text(encoding="utf-8"))
        schemas = {}
        for toolkit in toolkits:
            for tool in toolkit["tools"]:
                schema = to_function_schema(toolkit, tool)
                schemas[schema["function"]["name"]] = schema
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        msg = f"{path} is not an InjecAgent tool list (toolkits with `toolkit` and `tools`): {error!r}"
        raise DataError(msg) from error
    return schemas


def parse_tool_parameters(text: str) -> dict[str, Any]:
    """Parse a test case's `Tool Parameters`, which upstream writes as a Python dict literal.

    Raises `ValueError` when the text is neither a Python literal nor JSON, or is not a mapping.
    """
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError(f"tool parameters are neither a Python literal nor JSON: {text!r:.120}") from None
    if not isinstance(value, dict):
        raise ValueError(f"tool parameters must be a mapping, got {type(value).__name__}: {text!r:.120}")
    return value
