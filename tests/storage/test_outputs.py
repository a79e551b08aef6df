"""Generations and top-k logits in the LanceDB `outputs` table."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from pm_core.errors import StorageError
from pm_core.storage import lance_tables, outputs, retry
from pm_core.storage.lance_tables import BatchedTableWriter, open_table
from pm_core.storage.outputs import OUTPUTS_SCHEMA, OutputReader, OutputWriter


def output_row(run_id: str, text: str = "Sure.") -> dict:
    return {
        "run_id": run_id,
        "shard": "shard-0",
        "generated_text": text,
        "generated_ids": [10, 11, 2],
        "topk_ids": [5, 9],
        "topk_values": [3.5, 1.25],
        "input_ids": [1, 4, 4, 7],
        "prompt_text": "<|im_start|>user\nhello<|im_end|>",
    }


class TestOutputWriter:
    def test_rows_committed_per_flush(self, tmp_path: Path) -> None:
        writer = OutputWriter(tmp_path, flush_rows=3)
        writer.add([output_row("a"), output_row("b")])
        assert writer.buffered_rows == 2
        writer.add(output_row("c"))
        assert writer.buffered_rows == 0
        writer.add([output_row("d")])
        # flush reports the rows that add committed on its own as well as the ones it commits now.
        assert writer.flush() == ["a", "b", "c", "d"]
        assert writer.close() == []
        table = open_table(tmp_path / "features.lance", "outputs", OUTPUTS_SCHEMA, create=False)
        assert table.count_rows() == 4
        assert table.stats()["fragment_stats"]["num_fragments"] == 2

    def test_row_with_unknown_key_rejected(self, tmp_path: Path) -> None:
        row = output_row("a") | {"logits": [1.0]}
        with pytest.raises(ValueError, match=r"unknown \['logits'\]"):
            OutputWriter(tmp_path).add([row])

    def test_row_with_missing_key_rejected(self, tmp_path: Path) -> None:
        row = output_row("a")
        del row["input_ids"]
        with pytest.raises(ValueError, match=r"missing \['input_ids'\]"):
            OutputWriter(tmp_path).add([row])


class TestOutputReader:
    def test_get_returns_requested_rows(self, tmp_path: Path) -> None:
        writer = OutputWriter(tmp_path)
        writer.add([output_row("a", "one"), output_row("b", "two"), output_row("it's", "three")])
        writer.close()
        found = OutputReader(tmp_path).get(["b", "it's", "missing"])
        assert sorted(found) == ["b", "it's"]
        assert found["b"]["generated_text"] == "two"
        assert found["b"]["topk_values"] == [3.5, 1.25]
        assert found["it's"]["input_ids"] == [1, 4, 4, 7]
        assert OutputReader(tmp_path).get([]) == {}

    def test_get_many_ids_scans_once(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        writer = OutputWriter(tmp_path)
        writer.add([output_row(f"r{i}", str(i)) for i in range(10)])
        writer.close()
        monkeypatch.setattr(outputs, "FILTER_MAX_IDS", 2)
        found = OutputReader(tmp_path).get([f"r{i}" for i in range(0, 10, 3)])
        assert {run_id: row["generated_text"] for run_id, row in found.items()} == {
            "r0": "0",
            "r3": "3",
            "r6": "6",
            "r9": "9",
        }

    def test_reader_sees_later_commits(self, tmp_path: Path) -> None:
        writer = OutputWriter(tmp_path)
        writer.add([output_row("a")])
        writer.flush()
        reader = OutputReader(tmp_path)
        writer.add([output_row("b")])
        writer.flush()
        assert sorted(reader.get(["a", "b"])) == ["a", "b"]

    def test_retried_run_keeps_last_row(self, tmp_path: Path) -> None:
        writer = OutputWriter(tmp_path)
        writer.add([output_row("a", "first")])
        writer.flush()
        writer.add([output_row("a", "second")])
        writer.flush()
        assert OutputReader(tmp_path).get(["a"])["a"]["generated_text"] == "second"

    def test_missing_table_raises(self, tmp_path: Path) -> None:
        with pytest.raises(StorageError, match="no LanceDB table 'outputs'"):
            OutputReader(tmp_path)


def test_other_schema_rejected(tmp_path: Path) -> None:
    OutputWriter(tmp_path)
    other = pa.schema([("run_id", pa.string()), ("score", pa.float32())])
    with pytest.raises(StorageError, match="has schema"):
        BatchedTableWriter(tmp_path / "features.lance", "outputs", other)


class TestRetryConflicts:
    def test_conflict_retried(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(retry, "BACKOFF_BASE_S", 0.0)
        calls = []

        def commit() -> str:
            calls.append(1)
            if len(calls) < 3:
                raise OSError("Retryable commit conflict for version 7")
            return "committed"

        assert lance_tables.retry_conflicts(commit, "test append") == "committed"
        assert len(calls) == 3

    def test_attempts_bounded(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(retry, "BACKOFF_BASE_S", 0.0)

        def commit() -> None:
            raise RuntimeError("Commit conflict for version 7")

        with pytest.raises(StorageError, match=f"failed after {lance_tables.MAX_ATTEMPTS} attempts"):
            lance_tables.retry_conflicts(commit, "test append")

    def test_other_error_not_retried(self) -> None:
        calls = []

        def commit() -> None:
            calls.append(1)
            raise OSError("disk full")

        with pytest.raises(OSError, match="disk full"):
            lance_tables.retry_conflicts(commit, "test append")
        assert len(calls) == 1


def test_table_without_prompt_text_gains_it(tmp_path: Path) -> None:
    # A table written before `prompt_text` existed: the writer adds the column, old rows read as None.
    older_schema = pa.schema([field for field in OUTPUTS_SCHEMA if field.name != "prompt_text"])
    old_row = {key: value for key, value in output_row("old").items() if key != "prompt_text"}
    older = open_table(tmp_path / "features.lance", "outputs", older_schema)
    older.add(pa.Table.from_pylist([old_row], schema=older_schema))

    writer = OutputWriter(tmp_path)
    writer.add(output_row("new"))
    assert writer.flush() == ["new"]

    reader = OutputReader(tmp_path)
    assert reader.prompt_texts(["old", "new"]) == {"old": None, "new": "<|im_start|>user\nhello<|im_end|>"}
    assert reader.get(["old"])["old"]["input_ids"] == [1, 4, 4, 7]


def test_table_with_other_columns_rejected(tmp_path: Path) -> None:
    other = pa.schema([pa.field("run_id", pa.string(), nullable=False), pa.field("colour", pa.string())])
    open_table(tmp_path / "features.lance", "outputs", other)
    with pytest.raises(StorageError, match=r"(?s)has schema .* use another output directory"):
        OutputWriter(tmp_path)
