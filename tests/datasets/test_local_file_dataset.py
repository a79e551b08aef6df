"""`LocalFileDataset` on small files written by each test: formats, rejected rows and options."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pm_core.datasets import RejectedRow
from pm_core.errors import ConfigError, DataError
from pm_core.types import PromptSpec
from pm_plugins_datasets.local import LocalFileDataset


def _split(items):
    prompts = [item for item in items if isinstance(item, PromptSpec)]
    rejected = [item for item in items if isinstance(item, RejectedRow)]
    return prompts, rejected


class TestEmptyPrompts:
    def test_raw_mode_rejects_blank_rows(self, write_jsonl) -> None:
        rows = [{"text": text} for text in ["", "   ", "\n", "ok"]]
        dataset = LocalFileDataset(write_jsonl(rows), label_value="benign", raw=True)
        prompts, rejected = _split(list(dataset.iter_prompts("c23")))

        assert [row.reason for row in rejected] == ["empty_prompt"] * 3
        assert [row.prompt_id for row in rejected] == ["0", "1", "2"]
        assert len(prompts) == 1
        assert prompts[0].text == "ok"
        assert prompts[0].messages == ()
        assert dataset.report.n_prompts == 1
        assert dataset.report.rejected == {"empty_prompt": 3}

    def test_chat_mode_passes_empty_content(self, write_jsonl) -> None:
        # The backend decides, through the model's `allow_empty_content`.
        dataset = LocalFileDataset(write_jsonl([{"text": ""}, {"text": "ok"}]), label_value=False)
        prompts, rejected = _split(list(dataset.iter_prompts("chat")))
        assert rejected == []
        assert [prompt.messages[0].content for prompt in prompts] == ["", "ok"]


class TestRejectedRows:
    def test_invalid_json_line(self, write_jsonl) -> None:
        path = write_jsonl([{"text": "a", "label": 0}, '{"text": "b", "label": ', {"text": "c", "label": 1}])
        items = list(LocalFileDataset(path, label_field="label").iter_prompts("broken"))
        prompts, rejected = _split(items)

        assert [prompt.prompt_id for prompt in prompts] == ["0", "2"]
        assert len(rejected) == 1
        assert rejected[0].reason == "invalid_json"
        assert rejected[0].prompt_id == "1"
        assert str(path) in rejected[0].message
        assert "line 2" in rejected[0].message

    def test_json_line_that_is_not_an_object(self, write_jsonl) -> None:
        items = list(LocalFileDataset(write_jsonl(["[1, 2]"]), label_value=0).iter_prompts("list"))
        assert items[0].reason == "invalid_record"

    def test_unknown_role(self, write_jsonl) -> None:
        rows = [
            {"id": "good", "messages": [{"role": "user", "content": "hi"}], "label": "benign"},
            {
                "id": "bad",
                "messages": [{"role": "user", "content": "hi"}, {"role": "robot", "content": "x"}],
                "label": "benign",
            },
        ]
        dataset = LocalFileDataset(write_jsonl(rows), messages_field="messages", label_field="label", id_field="id")
        prompts, rejected = _split(list(dataset.iter_prompts("roles")))

        assert [prompt.prompt_id for prompt in prompts] == ["good"]
        assert rejected[0].reason == "invalid_message"
        assert rejected[0].prompt_id == "bad"
        assert "prompt 'bad' (row 1) message 1" in rejected[0].message
        assert "'robot'" in rejected[0].message

    @pytest.mark.parametrize("messages", [[], "hello", None, ["hello"], [{"role": "user", "content": 5}]])
    def test_unusable_messages(self, write_jsonl, messages) -> None:
        path = write_jsonl([{"messages": messages}])
        items = list(LocalFileDataset(path, messages_field="messages", label_value=1).iter_prompts("m"))
        assert items[0].reason == "invalid_message"

    def test_missing_label(self, write_jsonl) -> None:
        rows = [
            {"text": "a"},
            {"text": "b", "label": None},
            {"text": "c", "label": " "},
            {"text": "d", "label": "safe"},
        ]
        dataset = LocalFileDataset(write_jsonl(rows), label_field="label")
        prompts, rejected = _split(list(dataset.iter_prompts("labels")))
        assert [row.reason for row in rejected] == ["missing_label"] * 3
        assert [prompt.prompt_id for prompt in prompts] == ["3"]

    def test_missing_and_invalid_text(self, write_jsonl) -> None:
        rows = [{"prompt": "a"}, {"text": 5}]
        items = list(LocalFileDataset(write_jsonl(rows), label_value=0).iter_prompts("text"))
        assert [item.reason for item in items] == ["missing_text", "invalid_text"]

    def test_duplicate_and_missing_ids(self, write_jsonl) -> None:
        rows = [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}, {"text": "z"}]
        items = list(LocalFileDataset(write_jsonl(rows), label_value=0, id_field="id").iter_prompts("ids"))
        assert isinstance(items[0], PromptSpec)
        assert items[1].reason == "duplicate_id"
        assert items[2].reason == "missing_id"

    def test_csv_row_with_extra_cells(self, tmp_path) -> None:
        path = tmp_path / "rows.csv"
        path.write_text("text,label\na,0\nb,1,surplus\n", encoding="utf-8")
        items = list(LocalFileDataset(path, label_field="label").iter_prompts("csv"))
        assert isinstance(items[0], PromptSpec)
        assert items[1].reason == "invalid_record"
        assert "line 3" in items[1].message


class TestFormats:
    def test_csv(self, tmp_path) -> None:
        path = tmp_path / "rows.csv"
        path.write_text('id,text,label,topic\n7,"hello, world",unsafe,greeting\n', encoding="utf-8")
        (prompt,) = LocalFileDataset(path, label_field="label", id_field="id").iter_prompts("csv")
        assert prompt.prompt_id == "7"
        assert prompt.messages[0].content == "hello, world"
        assert prompt.labels == {"id": "7", "label": "unsafe", "topic": "greeting", "malicious": True}

    def test_parquet(self, tmp_path) -> None:
        path = tmp_path / "rows.parquet"
        pq.write_table(pa.table({"text": ["a", "b"], "label": [1, 0]}), path)
        prompts = list(LocalFileDataset(path, label_field="label").iter_prompts("pq"))
        assert [prompt.messages[0].content for prompt in prompts] == ["a", "b"]
        assert [prompt.labels["malicious"] for prompt in prompts] == [True, False]

    def test_json_array(self, tmp_path) -> None:
        path = tmp_path / "rows.json"
        path.write_text(json.dumps([{"text": "a"}, 3, {"text": "c"}]), encoding="utf-8")
        items = list(LocalFileDataset(path, label_value=True).iter_prompts("json"))
        assert [getattr(item, "reason", None) for item in items] == [None, "invalid_record", None]

    def test_json_object_is_rejected(self, tmp_path) -> None:
        path = tmp_path / "rows.json"
        path.write_text('{"rows": []}', encoding="utf-8")
        with pytest.raises(DataError, match="expected an array of objects"):
            list(LocalFileDataset(path, label_value=True).iter_prompts("json"))

    def test_format_overrides_suffix(self, tmp_path) -> None:
        path = tmp_path / "rows.txt"
        path.write_text('{"text": "a"}\n', encoding="utf-8")
        (prompt,) = LocalFileDataset(path, format="jsonl", label_value=0).iter_prompts("txt")
        assert prompt.messages[0].content == "a"

    def test_unknown_suffix(self, tmp_path) -> None:
        path = tmp_path / "rows.txt"
        path.write_text("a\n", encoding="utf-8")
        with pytest.raises(ConfigError, match="cannot infer the format"):
            LocalFileDataset(path, label_value=0)


class TestOptions:
    def test_system_prompt_and_keep_fields(self, write_jsonl) -> None:
        path = write_jsonl([{"text": "hi", "topic": "t", "long": "x" * 100}])
        dataset = LocalFileDataset(path, label_value=0, system_prompt="Be brief.", keep_fields=["topic"])
        (prompt,) = dataset.iter_prompts("sys")
        assert [message.role for message in prompt.messages] == ["system", "user"]
        assert prompt.messages[0].content == "Be brief."
        assert prompt.labels == {"topic": "t", "malicious": False}

    def test_row_system_turn_is_kept(self, write_jsonl) -> None:
        messages = [{"role": "system", "content": "own"}, {"role": "user", "content": "hi"}]
        dataset = LocalFileDataset(
            write_jsonl([{"m": messages}]), messages_field="m", label_value=0, system_prompt="config"
        )
        (prompt,) = dataset.iter_prompts("sys")
        assert [message.content for message in prompt.messages] == ["own", "hi"]

    def test_messages_with_tool_calls(self, write_jsonl) -> None:
        call = {"id": "c1", "type": "function", "function": {"name": "search", "arguments": '{"q": "x"}'}}
        messages = [
            {"role": "user", "content": "find x"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "content": "found", "tool_call_id": "c1"},
        ]
        dataset = LocalFileDataset(write_jsonl([{"m": messages}]), messages_field="m", label_value=1)
        (prompt,) = dataset.iter_prompts("tools")
        assert prompt.messages[1].tool_calls[0].arguments == {"q": "x"}
        assert "m" not in prompt.labels

    @pytest.mark.parametrize(
        ("options", "match"),
        [
            ({}, "exactly one of `label_field`"),
            ({"label_field": "label", "label_value": 1}, "exactly one of `label_field`"),
            ({"label_value": "maybe"}, "invalid `label_value`"),
            ({"label_value": 0, "raw": True, "messages_field": "m"}, "cannot be combined with `messages_field`"),
            ({"label_value": 0, "raw": True, "system_prompt": "s"}, "`system_prompt` would be ignored"),
            ({"label_value": 0, "format": "xml"}, "unknown file format 'xml'"),
        ],
    )
    def test_invalid_options(self, write_jsonl, options, match) -> None:
        with pytest.raises(ConfigError, match=match):
            LocalFileDataset(write_jsonl([{"text": "a"}]), **options)

    def test_missing_file(self, tmp_path) -> None:
        with pytest.raises(DataError, match="dataset file not found"):
            LocalFileDataset(tmp_path / "absent.jsonl", label_value=0)
