"""`Dolly15kDataset` on the local subset of databricks-dolly-15k."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from pm_core.errors import ConfigError
from pm_core.plugins import get_catalogue, reset_catalogue
from pm_plugins_datasets.dolly import Dolly15kDataset


@pytest.fixture
def dolly_folder(data_root) -> Path:
    return data_root / "databricks-dolly-15k"


@pytest.fixture
def dolly_rows(dolly_folder) -> list[dict]:
    lines = (dolly_folder / "databricks-dolly-15k.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_all_benign(dolly_folder, dolly_rows) -> None:
    dataset = Dolly15kDataset(dolly_folder)

    prompts = list(dataset.iter_prompts("dolly"))

    assert len(prompts) == len(dolly_rows) == 81
    assert all(prompt.labels["malicious"] is False for prompt in prompts)
    assert Counter(prompt.labels["category"] for prompt in prompts) == Counter(row["category"] for row in dolly_rows)
    assert dataset.report.rejected == {}


def test_context_follows_instruction(dolly_folder, dolly_rows) -> None:
    index, row = next((index, row) for index, row in enumerate(dolly_rows) if row["context"])

    prompts = list(Dolly15kDataset(dolly_folder).iter_prompts("dolly"))

    assert prompts[index].messages[0].content == f"{row['instruction']}\n\n{row['context']}"
    assert prompts[index].labels == {"category": row["category"], "has_context": True, "malicious": False}


def test_without_context_and_with_response(dolly_folder, dolly_rows) -> None:
    dataset = Dolly15kDataset(dolly_folder / "databricks-dolly-15k.jsonl", include_context=False, keep_response=True)

    first = next(iter(dataset.iter_prompts("dolly")))

    assert first.messages[0].content == dolly_rows[0]["instruction"]
    assert first.labels["response"] == dolly_rows[0]["response"]
    assert first.labels["has_context"] is bool(dolly_rows[0]["context"])


def test_category_filter(dolly_folder, dolly_rows) -> None:
    dataset = Dolly15kDataset(dolly_folder, categories=["closed_qa", "summarization"])

    prompts = list(dataset.iter_prompts("dolly"))

    expected = sum(row["category"] in ("closed_qa", "summarization") for row in dolly_rows)
    assert len(prompts) == expected
    assert {prompt.labels["category"] for prompt in prompts} == {"closed_qa", "summarization"}


def test_unknown_category(dolly_folder) -> None:
    with pytest.raises(ConfigError, match=r"unknown Dolly categories \['poetry'\]"):
        Dolly15kDataset(dolly_folder, categories="poetry")


def test_through_catalogue(dolly_folder) -> None:
    reset_catalogue()
    dataset = get_catalogue().create("datasets", "Dolly15kDataset", path=str(dolly_folder), categories="open_qa")

    prompts = list(dataset.iter_prompts("dolly_open_qa"))

    assert len(prompts) == 28
    assert all(prompt.labels["malicious"] is False for prompt in prompts)
    reset_catalogue()
