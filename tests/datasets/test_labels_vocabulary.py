"""The shared label vocabulary of `pm_core.labels`, on its own and through a loader."""

from __future__ import annotations

import numpy as np
import pytest

from pm_core.errors import DataError
from pm_core.labels import to_malicious, to_malicious_array
from pm_plugins_datasets.local import LocalFileDataset


class TestToMaliciousArray:
    def test_alpha_strings(self) -> None:
        labels = to_malicious_array(["jailbreak", "benign", "Benign ", "JAILBREAK"], "alpha")
        assert labels.dtype == np.int8
        assert labels.tolist() == [1, 0, 0, 1]

    def test_beta_mixed_types(self) -> None:
        labels = to_malicious_array([1, 0, "unsafe"], "beta")
        assert labels.dtype == np.int8
        assert labels.tolist() == [1, 0, 1]

    def test_gamma_out_of_range_integer(self) -> None:
        with pytest.raises(DataError) as caught:
            to_malicious_array([0, 3], "gamma")
        message = str(caught.value)
        assert "'gamma'" in message
        assert "row 1" in message
        assert "invalid label 3 " in message

    def test_delta_unknown_word(self) -> None:
        with pytest.raises(DataError) as caught:
            to_malicious_array(["benign", "maybe"], "delta")
        message = str(caught.value)
        assert "'delta'" in message
        assert "row 1" in message
        assert "'maybe'" in message

    def test_empty_column(self) -> None:
        labels = to_malicious_array([], "empty")
        assert labels.dtype == np.int8
        assert labels.shape == (0,)


class TestToMalicious:
    @pytest.mark.parametrize(
        "value", ["benign", "safe", " SAFE\n", "false", "0", 0, False, np.int64(0), np.bool_(False)]
    )
    def test_benign_values(self, value) -> None:
        assert to_malicious(value, "d", 0) == 0

    @pytest.mark.parametrize(
        "value",
        [
            "jailbreak",
            "injection",
            "prompt_injection",
            "Prompt-Injection",
            "prompt injection",
            "harmful",
            "unsafe",
            "malicious",
            "true",
            "1",
            1,
            True,
            np.int8(1),
            np.bool_(True),
        ],
    )
    def test_malicious_values(self, value) -> None:
        assert to_malicious(value, "d", 0) == 1

    @pytest.mark.parametrize("value", [2, -1, 1.0, 0.0, "", "yes", None, [1]])
    def test_rejected_values(self, value) -> None:
        with pytest.raises(DataError, match=r"dataset 'd' row 7: invalid label"):
            to_malicious(value, "d", 7)

    def test_returns_plain_int(self) -> None:
        assert type(to_malicious(np.int64(1), "d", 0)) is int


class TestLoaderLabels:
    def test_alpha_through_loader(self, write_jsonl) -> None:
        rows = [
            {"text": f"prompt {i}", "label": label}
            for i, label in enumerate(["jailbreak", "benign", "Benign ", "JAILBREAK"])
        ]
        dataset = LocalFileDataset(write_jsonl(rows), label_field="label")
        prompts = list(dataset.iter_prompts("alpha"))
        assert [prompt.labels["malicious"] for prompt in prompts] == [True, False, False, True]
        assert all(type(prompt.labels["malicious"]) is bool for prompt in prompts)
        assert prompts[2].labels["label"] == "Benign "

    def test_gamma_through_loader_fails(self, write_jsonl) -> None:
        rows = [{"text": "a", "label": 0}, {"text": "b", "label": 3}]
        dataset = LocalFileDataset(write_jsonl(rows), label_field="label")
        with pytest.raises(DataError) as caught:
            list(dataset.iter_prompts("gamma"))
        assert "'gamma'" in str(caught.value)
        assert "row 1" in str(caught.value)
        assert "invalid label 3 " in str(caught.value)

    def test_delta_through_csv_fails(self, tmp_path) -> None:
        path = tmp_path / "delta.csv"
        path.write_text("text,label\nhello,benign\nhi,maybe\n", encoding="utf-8")
        dataset = LocalFileDataset(path, label_field="label")
        with pytest.raises(DataError, match=r"dataset 'delta' row 1: invalid label 'maybe'"):
            list(dataset.iter_prompts("delta"))

    def test_csv_digit_labels(self, tmp_path) -> None:
        path = tmp_path / "digits.csv"
        path.write_text("text,label\nhello,0\nhi,1\n", encoding="utf-8")
        prompts = list(LocalFileDataset(path, label_field="label").iter_prompts("digits"))
        assert [prompt.labels["malicious"] for prompt in prompts] == [False, True]
