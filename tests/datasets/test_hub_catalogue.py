"""Catalogue registrations of the hub dataset classes, and their hub path through a stand-in `datasets` module."""

from __future__ import annotations

import sys
import types

import pytest

from pm_core.plugins import get_catalogue, reset_catalogue

TOKEN = "hf_test_token_value"

#: name -> (params, hub id, config name, split, one hub row, expected user content, expected malicious)
HUB_CASES = {
    "WildJailbreakDataset": (
        {},
        "allenai/wildjailbreak",
        "train",
        "train",
        {"vanilla": "v", "adversarial": "a", "completion": "c", "data_type": "adversarial_harmful"},
        "a",
        True,
    ),
    "OpenOrcaDataset": (
        {"include_system_prompt": False},
        "Open-Orca/OpenOrca",
        None,
        "train",
        {"id": "niv.1", "system_prompt": "s", "question": "q", "response": "r"},
        "q",
        False,
    ),
    "GandalfDataset": (
        {},
        "Lakera/gandalf_summarization",
        None,
        "train",
        {"text": "t", "gandalf_answer": "g"},
        "t",
        True,
    ),
    "MosscapDataset": (
        {},
        "Lakera/mosscap_prompt_injection",
        None,
        "train",
        {"level": "Level 1", "prompt": "p", "answer": "a", "raw_answer": "r"},
        "p",
        True,
    ),
    "EnronDataset": (
        {},
        "amanneo/enron-mail-corpus-mini",
        None,
        "train",
        {"text": "mail", "mail_length": 4},
        "mail",
        False,
    ),
    "LLMailDataset": (
        {"phases": ["Phase2"], "email_format": "body"},
        "microsoft/llmail-inject-challenge",
        None,
        "Phase2",
        {"subject": "s", "body": "b", "scenario": "level1a", "objectives": "{}"},
        "b",
        True,
    ),
    "QualifireDataset": (
        {},
        "qualifire/prompt-injections-benchmark",
        None,
        "test",
        {"text": "t", "label": "benign"},
        "t",
        False,
    ),
    "YanismiraouiDataset": ({}, "yanismiraoui/prompt_injections", None, "train", {"prompt_injections": "p"}, "p", True),
    "JayavibhavDataset": (
        {},
        "jayavibhav/prompt-injection-safety",
        None,
        "train",
        {"text": "t", "label": 2},
        "t",
        True,
    ),
    "SafeGuardDataset": ({}, "xTRam1/safe-guard-prompt-injection", None, "train", {"text": "t", "label": 1}, "t", True),
    "SoftAgeDataset": (
        {},
        "SoftAge-AI/prompt-eng_dataset",
        None,
        "train",
        {"S.No.": 1.0, "Prompt": "p", "Category": "c", "Type": "t"},
        "p",
        False,
    ),
    "TenKPromptsRankedDataset": (
        {"min_avg_rating": 3.0},
        "data-is-better-together/10k_prompts_ranked",
        None,
        "train",
        {"prompt": "p", "avg_rating": 4.0, "num_responses": 1},
        "p",
        False,
    ),
}


@pytest.fixture
def catalogue():
    reset_catalogue()
    yield get_catalogue()
    reset_catalogue()


class FakeHub:
    """A stand-in `datasets` module whose `load_dataset` records its calls and returns one row."""

    def __init__(self, monkeypatch) -> None:
        self.monkeypatch = monkeypatch
        self.calls: list[tuple[str, dict]] = []

    def serve(self, row: dict) -> None:
        def load_dataset(path, **options):
            self.calls.append((path, options))
            return iter([dict(row)])

        self.monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))


@pytest.fixture
def hub(monkeypatch) -> FakeHub:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    return FakeHub(monkeypatch)


def test_hub_classes_registered(catalogue) -> None:
    for name in HUB_CASES:
        registration = catalogue.get("datasets", name)
        assert registration.distribution == "pm-plugins-datasets"
        assert registration.summary
        assert registration.config_schema["type"] == "object"
        assert "path" in registration.config_schema["properties"]


@pytest.mark.parametrize("name", list(HUB_CASES))
def test_hub_path_uses_hub_id_and_token(name: str, catalogue, hub) -> None:
    params, hub_id, config_name, split, row, content, malicious = HUB_CASES[name]
    hub.serve(row)

    (prompt,) = catalogue.create("datasets", name, **params).iter_prompts("hub")

    assert prompt.messages[-1].content == content
    assert prompt.labels["malicious"] is malicious
    ((path, options),) = hub.calls
    assert path == hub_id
    assert options["token"] == TOKEN
    assert options["split"] == split
    assert options["name"] == config_name
    assert options["streaming"] is True


def test_wildjailbreak_hub_reads_tsv(catalogue, hub) -> None:
    hub.serve({"adversarial": "a", "label": 1, "data_type": "adversarial_harmful"})

    list(catalogue.create("datasets", "WildJailbreakDataset", config="eval").iter_prompts("hub"))

    ((_, options),) = hub.calls
    assert options["name"] == "eval"
    assert options["delimiter"] == "\t"
    assert options["keep_default_na"] is False


def test_llmail_hub_loads_each_phase(catalogue, hub) -> None:
    hub.serve({"subject": "s", "body": "b"})

    prompts = list(catalogue.create("datasets", "LLMailDataset").iter_prompts("hub"))

    assert [prompt.labels["phase"] for prompt in prompts] == ["Phase1", "Phase2"]
    assert [options["split"] for _, options in hub.calls] == ["Phase1", "Phase2"]
