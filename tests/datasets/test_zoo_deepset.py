"""`DeepsetPromptInjectionsDataset` on the hub-layout parquet folder."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pm_core.errors import ConfigError
from pm_core.plugins import get_catalogue, reset_catalogue
from pm_plugins_datasets.deepset import DeepsetPromptInjectionsDataset


@pytest.fixture
def deepset_folder(data_root) -> Path:
    return data_root / "deepset_prompt-injections"


@pytest.mark.parametrize(("split", "benign", "injections"), [("train", 343, 203), ("test", 56, 60)])
def test_split_balance(deepset_folder, split, benign, injections) -> None:
    dataset = DeepsetPromptInjectionsDataset(deepset_folder, split=split)

    counts = Counter(prompt.labels["malicious"] for prompt in dataset.iter_prompts("deepset"))

    assert counts == {False: benign, True: injections}
    assert dataset.report.rejected == {}


def test_first_test_prompt(deepset_folder) -> None:
    (path,) = (deepset_folder / "data").glob("test-*.parquet")
    row = pq.read_table(path).slice(0, 1).to_pylist()[0]

    first = next(iter(DeepsetPromptInjectionsDataset(deepset_folder, split="test").iter_prompts("deepset")))

    assert first.prompt_id == "0"
    assert first.messages[0].content == row["text"]
    assert first.labels == {"label": row["label"], "malicious": row["label"] == 1}


def test_through_catalogue(deepset_folder) -> None:
    reset_catalogue()
    dataset = get_catalogue().create(
        "datasets", "DeepsetPromptInjectionsDataset", path=str(deepset_folder), split="test"
    )

    assert len(list(dataset.iter_prompts("deepset"))) == 116
    reset_catalogue()


def test_unknown_split(deepset_folder) -> None:
    with pytest.raises(ConfigError, match="unknown deepset/prompt-injections split 'validation'"):
        DeepsetPromptInjectionsDataset(deepset_folder, split="validation")
