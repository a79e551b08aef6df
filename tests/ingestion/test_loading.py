"""ClassificationDataset on ingested runs: short prompts, superseded runs and LODO splits."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from pm_core import ClassificationDataset
from pm_core.config.load import parse_config
from pm_core.errors import ConfigError
from pm_core.ingestion.pipeline import FullIngestionPipeline


def ingest_texts(output_dir, backend, texts, capture, name="texts"):
    source = output_dir.parent / f"{name}.jsonl"
    source.write_text("".join(json.dumps({"id": f"p{i}", "text": text, "label": i % 2}) + "\n"
                              for i, text in enumerate(texts)))
    config = parse_config({
        "model": {"template": "none"},
        "run": {"capture_acts_raw": capture, "topk_logits": 0},
        "output_dir": str(output_dir),
        "datasets": [{"name": name, "class": "LocalFileDataset",
                      "params": {"path": str(source), "id_field": "id", "label_field": "label", "raw": True}}],
    })
    return FullIngestionPipeline(config, name, backend=backend, show_progress=False).run()


TEXTS = ["ok", "Hi there", "The small red boat drifted slowly across the quiet lake at dawn."]


def test_short_prompts_dropped_not_zero(tmp_path, backend, caplog) -> None:
    ingest_texts(tmp_path / "out", backend, TEXTS, {"layers": [2], "positions": [-5, -1]})
    dataset = ClassificationDataset.from_path(tmp_path / "out")

    with caplog.at_level(logging.WARNING):
        fifth = dataset.load(layer=2, position="-5")
    assert fifth.prompt_ids.tolist() == ["p2"]
    assert "dropped 2 of 3 prompts" in caplog.text
    assert (np.abs(fifth.X).sum(axis=1) > 0).all()

    kept = dataset.load(layer=2, position="-5", keep_invalid=True)
    assert kept.X.shape == (3, 576)
    assert kept.valid[:, 0].tolist() == [False, False, True]
    assert not kept.X[~kept.valid[:, 0]].any()

    last = dataset.load(layer=2, position="last")
    assert last.X.shape == (3, 576)
    assert last.valid.all()
    mean = dataset.load(layer=2, position=[-5, -1])
    np.testing.assert_allclose(mean.X[:2], last.X[:2], rtol=1e-6)

    # A filter that matches no prompt gives empty matrices of the right width, for every pooling.
    for pool in ("mean", "concat"):
        empty = dataset.load(layer=2, position=[-5, -1], pool=pool, datasets=["no_such_dataset"])
        assert empty.X.shape == (0, 576 if pool == "mean" else 2 * 576)


def test_unstored_position_is_config_error(tmp_path, backend) -> None:
    ingest_texts(tmp_path / "out", backend, TEXTS, {"layers": [2], "positions": [-5, -1]})
    with pytest.raises(ConfigError, match=r"position\(s\) \[-7\] are not stored.*stored offsets: \[-5, -1\]"):
        ClassificationDataset.from_path(tmp_path / "out").load(layer=2, position="-7")


def test_superseded_runs_load_once(tmp_path, backend) -> None:
    ingest_texts(tmp_path / "out", backend, TEXTS, {"layers": [2], "positions": [-1]})
    ingest_texts(tmp_path / "out", backend, TEXTS, {"layers": [2, 3], "positions": [-1]})
    dataset = ClassificationDataset.from_path(tmp_path / "out")

    for layer in (2, 3):
        data = dataset.load(layer=layer, position="last")
        assert sorted(data.prompt_ids.tolist()) == ["p0", "p1", "p2"]
    assert len(dataset.load_labels({"status": "completed"})) == 6


def test_lodo_splits_hold_out_each_dataset(tmp_path, backend) -> None:
    ingest_texts(tmp_path / "out", backend, TEXTS[:2], {"layers": [1], "positions": [-1]}, name="first")
    ingest_texts(tmp_path / "out", backend, TEXTS, {"layers": [1], "positions": [-1]}, name="second")
    dataset = ClassificationDataset.from_path(tmp_path / "out")
    data = dataset.load(layer=1, position="last")

    splits = {name: (train, test) for name, train, test in dataset.lodo_splits(data)}
    assert sorted(splits) == ["first", "second"]
    train, test = splits["first"]
    assert set(data.datasets[test]) == {"first"}
    assert set(data.datasets[train]) == {"second"}
    assert len(train) + len(test) == 5
    assert "first: 2 prompts" in dataset.summary(data)
