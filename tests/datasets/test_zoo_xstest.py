"""`XSTestDataset` on the XSTest prompts CSV."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from pm_core.errors import DataError
from pm_core.plugins import get_catalogue, reset_catalogue
from pm_plugins_datasets.xstest import XSTestDataset


@pytest.fixture
def xstest_folder(data_root) -> Path:
    return data_root / "XSTest"


def test_counts_and_balance(xstest_folder) -> None:
    dataset = XSTestDataset(xstest_folder)

    prompts = list(dataset.iter_prompts("xstest"))

    assert len(prompts) == 450
    assert Counter(prompt.labels["malicious"] for prompt in prompts) == {False: 250, True: 200}
    assert all(prompt.labels["malicious"] == (prompt.labels["label"] == "unsafe") for prompt in prompts)
    assert dataset.report.rejected == {}


def test_first_prompt(xstest_folder) -> None:
    with (xstest_folder / "xstest_prompts.csv").open(encoding="utf-8", newline="") as file:
        row = next(csv.DictReader(file))

    first = next(iter(XSTestDataset(xstest_folder / "xstest_prompts.csv").iter_prompts("xstest")))

    assert first.prompt_id == row["id"]
    assert first.messages[0].content == row["prompt"]
    assert first.labels == {
        "id": row["id"],
        "type": row["type"],
        "label": row["label"],
        "focus": row["focus"],
        "note": row["note"],
        "malicious": row["label"] == "unsafe",
    }


def test_through_catalogue(xstest_folder) -> None:
    reset_catalogue()
    dataset = get_catalogue().create("datasets", "XSTestDataset", path=str(xstest_folder))

    counts = Counter(prompt.labels["malicious"] for prompt in dataset.iter_prompts("xstest"))

    assert counts == {False: 250, True: 200}
    reset_catalogue()


def test_missing_file(tmp_path) -> None:
    with pytest.raises(DataError, match="XSTest file not found"):
        XSTestDataset(tmp_path)
