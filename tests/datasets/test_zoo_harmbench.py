"""`HarmBenchDataset` on the HarmBench behavior CSVs."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from pm_core.errors import ConfigError, DataError
from pm_core.plugins import get_catalogue, reset_catalogue
from pm_plugins_datasets.harmbench import HarmBenchDataset


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


@pytest.fixture
def harmbench_root(data_root) -> Path:
    return data_root / "HarmBench"


@pytest.fixture
def text_all_rows(harmbench_root) -> list[dict[str, str]]:
    return _csv_rows(harmbench_root / "data" / "behavior_datasets" / "harmbench_behaviors_text_all.csv")


def test_all_subsets_from_repository_root(harmbench_root) -> None:
    dataset = HarmBenchDataset(harmbench_root, subset="all")

    prompts = list(dataset.iter_prompts("harmbench"))

    assert len(prompts) == 400
    assert Counter(prompt.labels["FunctionalCategory"] for prompt in prompts) == {
        "standard": 200,
        "contextual": 100,
        "copyright": 100,
    }
    assert all(prompt.labels["malicious"] is True for prompt in prompts)
    assert dataset.report.rejected == {}


@pytest.mark.parametrize(("subset", "count"), [("standard", 200), ("contextual", 100), ("copyright", 100)])
def test_subset_counts(harmbench_root, subset, count) -> None:
    prompts = list(HarmBenchDataset(harmbench_root, subset=subset).iter_prompts("harmbench"))

    assert len(prompts) == count
    assert {prompt.labels["FunctionalCategory"] for prompt in prompts} == {subset}


@pytest.mark.parametrize(("split", "count"), [("test", 320), ("val", 80)])
def test_split_files(harmbench_root, split, count) -> None:
    dataset = HarmBenchDataset(harmbench_root / "data" / "behavior_datasets", subset="all", split=split)

    assert len(list(dataset.iter_prompts("harmbench"))) == count


def test_first_standard_prompt(harmbench_root, text_all_rows) -> None:
    row = text_all_rows[0]

    first = next(iter(HarmBenchDataset(harmbench_root).iter_prompts("harmbench")))

    assert first.prompt_id == row["BehaviorID"]
    assert [message.role for message in first.messages] == ["user"]
    assert first.messages[0].content == row["Behavior"]
    assert first.labels == {
        "FunctionalCategory": "standard",
        "SemanticCategory": row["SemanticCategory"],
        "Tags": row["Tags"],
        "BehaviorID": row["BehaviorID"],
        "malicious": True,
    }


def test_contextual_prompt_puts_context_first(harmbench_root, text_all_rows) -> None:
    row = next(row for row in text_all_rows if row["FunctionalCategory"] == "contextual")

    first = next(iter(HarmBenchDataset(harmbench_root, subset="contextual").iter_prompts("harmbench")))

    assert first.prompt_id == row["BehaviorID"]
    assert first.messages[0].content == f"{row['ContextString']}\n\n---\n\n{row['Behavior']}"
    assert "ContextString" not in first.labels


def test_csv_file_path(harmbench_root) -> None:
    path = harmbench_root / "data" / "behavior_datasets" / "harmbench_behaviors_text_val.csv"

    assert len(list(HarmBenchDataset(path, subset="all").iter_prompts("harmbench"))) == 80


def test_contextual_without_context_rejected(tmp_path) -> None:
    path = tmp_path / "behaviors.csv"
    header = "Behavior,FunctionalCategory,SemanticCategory,Tags,ContextString,BehaviorID\n"
    path.write_text(
        header + "Do a thing,contextual,illegal,context,,thing\nDo another,standard,illegal,,,other\n", encoding="utf-8"
    )
    dataset = HarmBenchDataset(path, subset="all")

    items = list(dataset.iter_prompts("harmbench"))

    assert [item.prompt_id for item in items] == ["thing", "other"]
    assert dataset.report.rejected == {"missing_context": 1}


def test_through_catalogue(harmbench_root) -> None:
    reset_catalogue()
    dataset = get_catalogue().create("datasets", "HarmBenchDataset", path=str(harmbench_root), subset="copyright")

    prompts = list(dataset.iter_prompts("harmbench_copyright"))

    assert len(prompts) == 100
    assert all(prompt.labels["malicious"] is True for prompt in prompts)
    reset_catalogue()


def test_invalid_options(harmbench_root, tmp_path) -> None:
    with pytest.raises(ConfigError, match="unknown HarmBench subset 'chemical'"):
        HarmBenchDataset(harmbench_root, subset="chemical")
    with pytest.raises(ConfigError, match="one config per subset"):
        HarmBenchDataset(subset="all")
    with pytest.raises(ConfigError, match="unknown HarmBench split 'train'"):
        HarmBenchDataset(harmbench_root, split="train")
    with pytest.raises(DataError, match="HarmBench file not found"):
        HarmBenchDataset(tmp_path)
