"""Registration of the dataset classes through the `pm` entry point."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pm_core.plugins import get_catalogue, reset_catalogue

NAMES = [
    "AdvBenchDataset",
    "BastionCorpusDataset",
    "HFDataset",
    "InjecAgentDataset",
    "JsonlDataset",
    "LocalFileDataset",
]


@pytest.fixture
def catalogue():
    reset_catalogue()
    yield get_catalogue()
    reset_catalogue()


def test_names_registered(catalogue) -> None:
    assert set(NAMES) <= set(catalogue.names("datasets"))


def test_registrations_carry_summary_and_schema(catalogue) -> None:
    for name in NAMES:
        registration = catalogue.get("datasets", name)
        assert registration.distribution == "pm-plugins-datasets"
        assert registration.summary
        assert registration.config_schema["type"] == "object"


def test_create_through_catalogue(catalogue, write_jsonl) -> None:
    path = write_jsonl([{"text": "hello", "label": "safe"}])
    dataset = catalogue.create("datasets", "JsonlDataset", path=str(path), label_field="label")
    (prompt,) = dataset.iter_prompts("through_catalogue")
    assert prompt.messages[0].content == "hello"
    assert prompt.labels["malicious"] is False


def test_bastion_through_catalogue(catalogue) -> None:
    dataset = catalogue.create("datasets", "BastionCorpusDataset", include_benign=False)
    assert len(list(dataset.iter_prompts("bastion", limit=10))) == 10


def test_registering_imports_no_dataset_module() -> None:
    code = (
        "import sys\n"
        "from pm_core.plugins import get_catalogue\n"
        "get_catalogue()\n"
        "loaded = sorted(name for name in sys.modules if name.startswith(('pm_plugins_datasets.', 'bastioncorpus')))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = result.stdout.strip().split(",")
    assert all(name.split(".")[1].startswith(("catalog", "plugin")) for name in loaded), loaded
