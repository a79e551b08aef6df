"""Benign instruction hub datasets (OpenOrca, SoftAge, 10k_prompts_ranked) on local hub-layout fixtures."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pm_core.datasets import RejectedRow
from pm_core.errors import ConfigError
from pm_core.plugins import get_catalogue, reset_catalogue
from pm_core.types import PromptSpec
from pm_plugins_datasets.instruction_hub import OpenOrcaDataset, SoftAgeDataset, TenKPromptsRankedDataset


def write_parquet(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


@pytest.fixture
def catalogue():
    reset_catalogue()
    yield get_catalogue()
    reset_catalogue()


@pytest.fixture
def orca_folder(tmp_path: Path) -> Path:
    gpt4 = [
        {
            "id": "niv.1",
            "system_prompt": "You are a helpful assistant.",
            "question": "Translate 'cat'.",
            "response": "chat",
        },
        {"id": "flan.2", "system_prompt": "", "question": "What is 3+4?", "response": "7"},
        {"id": None, "system_prompt": "", "question": "Orphan question", "response": ""},
    ]
    gpt35 = [{"id": "cot.3", "system_prompt": "Think step by step.", "question": "Is 9 prime?", "response": "No"}]
    write_parquet(tmp_path / "1M-GPT4-Augmented.parquet", gpt4)
    write_parquet(tmp_path / "3_5M-GPT3_5-Augmented.parquet", gpt35)
    return tmp_path


class TestOpenOrca:
    def test_system_prompt_included(self, orca_folder: Path) -> None:
        items = list(OpenOrcaDataset(path=orca_folder).iter_prompts("orca"))

        prompts = [item for item in items if isinstance(item, PromptSpec)]
        assert [prompt.prompt_id for prompt in prompts] == ["niv.1", "flan.2", "cot.3"]
        assert [(message.role, message.content) for message in prompts[0].messages] == [
            ("system", "You are a helpful assistant."),
            ("user", "Translate 'cat'."),
        ]
        assert [message.role for message in prompts[1].messages] == ["user"]
        assert prompts[0].labels == {
            "id": "niv.1",
            "system_prompt": "You are a helpful assistant.",
            "response": "chat",
            "malicious": False,
        }
        assert [(item.prompt_id, item.reason) for item in items if isinstance(item, RejectedRow)] == [
            ("2", "missing_id")
        ]

    def test_without_system_prompt(self, orca_folder: Path, catalogue) -> None:
        dataset = catalogue.create("datasets", "OpenOrcaDataset", path=str(orca_folder), include_system_prompt=False)
        prompts = [item for item in dataset.iter_prompts("orca") if isinstance(item, PromptSpec)]
        assert all([message.role for message in prompt.messages] == ["user"] for prompt in prompts)
        assert prompts[0].labels["system_prompt"] == "You are a helpful assistant."

    def test_data_files_selects_one_file(self, orca_folder: Path) -> None:
        dataset = OpenOrcaDataset(path=orca_folder, data_files="3_5M-*.parquet")
        assert [prompt.prompt_id for prompt in dataset.iter_prompts("orca")] == ["cot.3"]

    def test_raw_needs_no_system_prompt(self, orca_folder: Path) -> None:
        with pytest.raises(ConfigError, match="needs `include_system_prompt: false`"):
            OpenOrcaDataset(path=orca_folder, raw=True)
        raw = list(OpenOrcaDataset(path=orca_folder, raw=True, include_system_prompt=False).iter_prompts("o", limit=1))
        assert raw[0].text == "Translate 'cat'."

    def test_shard(self, orca_folder: Path) -> None:
        items = OpenOrcaDataset(path=orca_folder).iter_prompts("orca", shard=(1, 2))
        assert [item.prompt_id for item in items] == ["flan.2", "cot.3"]


class TestSoftAge:
    def test_prompt_column(self, tmp_path: Path, catalogue) -> None:
        rows = [
            {"S.No.": 1.0, "Prompt": "Write a haiku about rain.", "Category": "Creative", "Type": "Poem"},
            {"S.No.": 2.0, "Prompt": None, "Category": "Coding", "Type": "Debug"},
        ]
        write_parquet(tmp_path / "data" / "train-00000-of-00001.parquet", rows)

        items = list(catalogue.create("datasets", "SoftAgeDataset", path=str(tmp_path)).iter_prompts("softage"))

        assert items[0].messages[0].content == "Write a haiku about rain."
        assert items[0].labels == {"S.No.": 1.0, "Category": "Creative", "Type": "Poem", "malicious": False}
        assert isinstance(items[1], RejectedRow)
        assert items[1].reason == "missing_text"
        assert len(list(SoftAgeDataset(path=tmp_path).iter_prompts("s", limit=1))) == 1


@pytest.fixture
def ranked_folder(tmp_path: Path) -> Path:
    rows = [
        {
            "prompt": f"Prompt {index}",
            "quality": [{"user_id": "u", "value": "4", "status": "submitted"}],
            "metadata": "{}",
            "avg_rating": rating,
            "num_responses": 2,
            "agreement_ratio": 1.0,
            "raw_responses": [4, 4],
            "kind": "human",
            "cluster_description": "Writing",
            "topic": "Art",
        }
        for index, rating in enumerate([4.5, 2.0, None, 3.5, 5.0])
    ]
    write_parquet(tmp_path / "data" / "train-00000-of-00001.parquet", rows)
    return tmp_path


class TestTenKPromptsRanked:
    def test_all_rows_benign(self, ranked_folder: Path) -> None:
        prompts = list(TenKPromptsRankedDataset(path=ranked_folder).iter_prompts("10k"))
        assert [prompt.prompt_id for prompt in prompts] == ["0", "1", "2", "3", "4"]
        assert all(prompt.labels["malicious"] is False for prompt in prompts)
        assert prompts[0].labels["avg_rating"] == 4.5
        assert prompts[0].labels["source_row"] == 0
        assert prompts[0].labels["quality"] == [{"user_id": "u", "value": "4", "status": "submitted"}]

    def test_min_avg_rating_keeps_source_ids(self, ranked_folder: Path, catalogue) -> None:
        dataset = catalogue.create("datasets", "TenKPromptsRankedDataset", path=str(ranked_folder), min_avg_rating=3.5)
        prompts = list(dataset.iter_prompts("10k"))
        assert [prompt.prompt_id for prompt in prompts] == ["0", "3", "4"]
        assert prompts[1].messages[0].content == "Prompt 3"

    def test_filter_before_shard_and_limit(self, ranked_folder: Path) -> None:
        dataset = TenKPromptsRankedDataset(path=ranked_folder, min_avg_rating=3.5)
        assert [prompt.prompt_id for prompt in dataset.iter_prompts("10k", limit=2)] == ["0", "3"]
        assert [prompt.prompt_id for prompt in dataset.iter_prompts("10k", shard=(1, 2))] == ["3"]

    def test_invalid_min_avg_rating(self, ranked_folder: Path) -> None:
        with pytest.raises(ConfigError, match="invalid min_avg_rating 'high'"):
            TenKPromptsRankedDataset(path=ranked_folder, min_avg_rating="high")
