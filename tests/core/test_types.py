"""Core types: roles, tool calls, content digests and CompactGraph serialisation."""

from __future__ import annotations

import json

import pytest

from pm_core.errors import DataError
from pm_core.types import CompactGraph, FeatureInfo, Message, PromptSpec, ToolCall


def test_unknown_role_rejected() -> None:
    with pytest.raises(DataError, match=r"invalid message role 'wizard'"):
        Message("wizard", "hi")


def test_tool_call_string_arguments_parsed() -> None:
    call = ToolCall.from_dict({"function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}})
    assert call.arguments == {"city": "Oslo"}
    assert ToolCall.from_dict({"name": "get_weather", "arguments": {"city": "Oslo"}}) == call


def test_tool_call_invalid_json_named() -> None:
    with pytest.raises(DataError, match=r"'get_weather' has arguments that are not JSON"):
        ToolCall.from_dict({"name": "get_weather", "arguments": "{city"})


def test_content_digest_tracks_content() -> None:
    first = PromptSpec.from_user_text("a", "d", "hello")
    same = PromptSpec.from_user_text("a", "d", "hello", labels={"malicious": True})
    other = PromptSpec.from_user_text("a", "d", "hello!")
    assert first.content_digest() == same.content_digest()
    assert first.content_digest() != other.content_digest()


def test_compact_graph_round_trip() -> None:
    graph = CompactGraph(
        prompt_id="p1",
        features=(FeatureInfo(layer=3, position=7, feature_idx=1234, activation=2.5, influence=0.1),),
        metadata={"model": "smollm2-135m-instruct"},
    )
    text = graph.to_json()
    assert json.loads(text)["features"][0]["feature_idx"] == 1234
    assert CompactGraph.from_json(text) == graph
