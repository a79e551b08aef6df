"""`HFDataset` on local folders in the hub's layout, and on hub ids through a stand-in `datasets` module."""

from __future__ import annotations

import json
import sys
import types
from collections import Counter

import pytest

from pm_core.errors import ConfigError, DataError
from pm_plugins_datasets.hub_layout import find_split_files
from pm_plugins_datasets.huggingface import HFDataset


def _malicious_counts(dataset: HFDataset) -> Counter:
    return Counter(prompt.labels["malicious"] for prompt in dataset.iter_prompts("hf"))


class TestDeepsetFolder:
    def test_train_split(self, data_root) -> None:
        dataset = HFDataset(data_root / "deepset_prompt-injections", label_field="label")
        assert [path.name for path in dataset.files] == ["train-00000-of-00001-9564e8b05b4757ab.parquet"]
        assert _malicious_counts(dataset) == {False: 343, True: 203}

    def test_test_split(self, data_root) -> None:
        dataset = HFDataset(data_root / "deepset_prompt-injections", split="test", label_field="label")
        assert _malicious_counts(dataset) == {False: 56, True: 60}

    def test_first_prompt(self, data_root) -> None:
        dataset = HFDataset(data_root / "deepset_prompt-injections", label_field="label")
        first = next(dataset.iter_prompts("deepset"))
        assert first.prompt_id == "0"
        assert first.messages[0].content == "Refugee crisis in Europe solutions"
        assert first.labels == {"label": 0, "malicious": False}

    def test_data_files_mapping(self, data_root) -> None:
        data_files = {"holdout": "data/test-*.parquet"}
        dataset = HFDataset(
            data_root / "deepset_prompt-injections", split="holdout", data_files=data_files, label_field="label"
        )
        assert sum(_malicious_counts(dataset).values()) == 116

    def test_dolly_single_file_is_train(self, data_root) -> None:
        dataset = HFDataset(data_root / "databricks-dolly-15k", text_field="instruction", label_value="benign")
        prompts = list(dataset.iter_prompts("dolly"))
        assert len(prompts) == 81
        assert prompts[0].messages[0].content == "When did Virgin Australia start operating?"
        assert prompts[0].labels["category"] == "closed_qa"
        assert not any(prompt.labels["malicious"] for prompt in prompts)

    def test_dolly_has_no_test_split(self, data_root) -> None:
        with pytest.raises(DataError, match="no data file of split 'test'"):
            HFDataset(data_root / "databricks-dolly-15k", split="test", text_field="instruction", label_value=0)


class TestLayout:
    def test_split_words(self, tmp_path) -> None:
        for name in [
            "data/train-00000-of-00002.parquet",
            "data/train-00001-of-00002.parquet",
            "test/part.jsonl",
            "validation.csv",
            "trainer_notes.jsonl",
            ".cache/train.json",
            "README.md",
        ]:
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("", encoding="utf-8")
        assert [path.relative_to(tmp_path).as_posix() for path in find_split_files(tmp_path, "train")] == [
            "data/train-00000-of-00002.parquet",
            "data/train-00001-of-00002.parquet",
        ]
        assert [path.name for path in find_split_files(tmp_path, "test")] == ["part.jsonl"]
        assert [path.name for path in find_split_files(tmp_path, "validation")] == ["validation.csv"]

    def test_list_data_files_need_train_split(self, tmp_path) -> None:
        (tmp_path / "a.jsonl").write_text('{"text": "a"}\n', encoding="utf-8")
        with pytest.raises(ConfigError, match="form the train split"):
            HFDataset(tmp_path, split="test", data_files=["a.jsonl"], label_value=0)

    def test_data_files_pattern_without_match(self, tmp_path) -> None:
        with pytest.raises(DataError, match="matches no file"):
            HFDataset(tmp_path, data_files="*.parquet", label_value=0)

    def test_hub_options_on_local_path(self, tmp_path) -> None:
        (tmp_path / "train.jsonl").write_text('{"text": "a"}\n', encoding="utf-8")
        with pytest.raises(ConfigError, match="`revision` only applies to hub ids"):
            HFDataset(tmp_path, revision="main", label_value=0)

    @pytest.mark.parametrize("path", ["./absent", "/absent/folder", "a/b/c"])
    def test_missing_local_path(self, path) -> None:
        with pytest.raises(DataError, match="dataset path not found"):
            HFDataset(path, label_value=0)


class TestHub:
    def test_streams_with_token(self, monkeypatch) -> None:
        calls = []

        def load_dataset(path, **options):
            calls.append((path, options))
            return iter(
                [{"prompt": "p0", "type": "x", "label": "unsafe"}, {"prompt": "p1", "type": "y", "label": "safe"}]
            )

        monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
        monkeypatch.setenv("HF_TOKEN", "hf_test_token_value")
        dataset = HFDataset("owner/name", subset="default", split="test", text_field="prompt", label_field="label")
        prompts = list(dataset.iter_prompts("hub", limit=1))

        assert [prompt.messages[0].content for prompt in prompts] == ["p0"]
        assert prompts[0].labels == {"type": "x", "label": "unsafe", "malicious": True}
        assert calls == [
            (
                "owner/name",
                {
                    "name": "default",
                    "split": "test",
                    "data_files": None,
                    "revision": None,
                    "token": "hf_test_token_value",
                    "streaming": True,
                },
            ),
        ]

    def test_missing_datasets_package(self, monkeypatch) -> None:
        monkeypatch.setitem(sys.modules, "datasets", None)
        dataset = HFDataset("owner/name", label_value=0)
        with pytest.raises(ConfigError, match=r"needs the `datasets` package: pip install"):
            list(dataset.iter_prompts("hub"))

    def test_single_local_file(self, tmp_path) -> None:
        path = tmp_path / "rows.jsonl"
        path.write_text(json.dumps({"text": "a", "label": "injection"}) + "\n", encoding="utf-8")
        (prompt,) = HFDataset(path, label_field="label").iter_prompts("file")
        assert prompt.labels["malicious"] is True
