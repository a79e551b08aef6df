"""`pm lodo` end to end on planted data, with the reader and the catalogue replaced by test doubles."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from lodo_helpers import TinyLogistic, planted_data

import pm_core.plugins
from pm_core.cli.lodo import lodo_command
from pm_core.readers.classification import ClassificationData, ClassificationDataset


class FakeDataset:
    """Stands in for a stored output directory and records what was requested."""

    requests: list[dict] = []

    def load(self, **request) -> ClassificationData:
        self.requests.append(request)
        X, y, datasets = planted_data()
        return ClassificationData(X=X, y=y, datasets=datasets, run_ids=datasets, metadata={"layer": 3})

    def summary(self, data: ClassificationData) -> str:
        return f"X: {data.X.shape[0]} prompts"


class FakeCatalogue:
    created: list[tuple] = []

    def create(self, kind: str, name: str, **options) -> TinyLogistic:
        self.created.append((kind, name, options))
        return TinyLogistic(**options)


@pytest.fixture
def fakes(monkeypatch):
    FakeDataset.requests.clear()
    FakeCatalogue.created.clear()
    monkeypatch.setattr(ClassificationDataset, "from_path", classmethod(lambda cls, path, label_key: FakeDataset()))
    monkeypatch.setattr(pm_core.plugins, "get_catalogue", lambda: FakeCatalogue())


def test_lodo_command_writes_outputs(tmp_path, fakes) -> None:
    """The command loads the layer, creates the classifier, and writes json, html and the model."""
    out = tmp_path / "report"

    result = CliRunner().invoke(lodo_command, [
        str(tmp_path), "--layer", "3", "--position", "last", "--classifier", "tiny", "--option", "C=0.5",
        "--threshold", "max_f1", "--merge", "delta=gamma", "--out", str(out), "--npmi-top-k", "3",
    ])

    assert result.exit_code == 0, result.output
    assert FakeDataset.requests == [
        {
            "layer": 3,
            "space": "raw",
            "position": "last",
            "hook_point": "resid_post",
            "pool": "mean",
            "dictionary": None,
            "return_sparse": False,
        }
    ]
    assert FakeCatalogue.created == [("classifiers", "tiny", {"C": 0.5})]
    data = json.loads((out / "lodo.json").read_text())
    assert [fold["name"] for fold in data["folds"]] == ["alpha", "beta", "gamma"]
    assert data["settings"]["threshold"] == "max_f1"
    assert data["settings"]["classifier_options"] == {"C": 0.5}
    assert (out / "report.html").is_file()
    assert TinyLogistic.load(out / "model").C == 0.5
    features = json.loads((out / "model" / "features.json").read_text())
    assert features["classifier"] == "tiny"
    assert features["position"] == [-1]
    assert 0.0 <= features["threshold"] <= 1.0
    assert "pooled LODO auc" in result.output
    assert "random split auc" in result.output
    assert "npmi top 3:" in result.output


def test_lodo_command_default_out_dir(tmp_path, fakes) -> None:
    """Without --out the results go to OUTPUT_DIR/lodo."""
    result = CliRunner().invoke(lodo_command, [str(tmp_path), "--layer", "3", "--classifier", "tiny"])

    assert result.exit_code == 0, result.output
    assert (tmp_path / "lodo" / "lodo.json").is_file()


def test_lodo_command_rejects_bad_option(tmp_path, fakes) -> None:
    """An --option without '=' is a usage error naming the value."""
    result = CliRunner().invoke(lodo_command, [str(tmp_path), "--layer", "3", "--classifier", "tiny",
                                               "--option", "C"])

    assert result.exit_code == 2
    assert "invalid --option 'C': expected KEY=VALUE" in result.output
