"""A sample whose activations overflow is recorded as failed and never stored."""

from __future__ import annotations

import json
import sqlite3

import numpy as np

from pm_core import ClassificationDataset
from pm_core.config.load import parse_config
from pm_core.ingestion.pipeline import FullIngestionPipeline
from pm_core.storage.activation_reader import ActivationReader

POISONED_ID = "7"


def test_non_finite_sample_failed_others_stored(tmp_path, backend, monkeypatch) -> None:
    source = tmp_path / "prompts.jsonl"
    source.write_text("".join(json.dumps({"id": str(i), "text": f"Prompt number {i} is here.", "label": i % 2}) + "\n"
                              for i in range(8)))
    config = parse_config({
        "model": {"template": "none"},
        "run": {"capture_acts_raw": {"layers": [4, 12], "positions": ["last"]}, "topk_logits": 3},
        "output_dir": str(tmp_path / "out"),
        "datasets": [{"name": "numbers", "class": "LocalFileDataset",
                      "params": {"path": str(source), "id_field": "id", "label_field": "label", "raw": True}}],
    })

    # The batch is sorted by length, so find the poisoned prompt's row in each batch.
    target: dict[str, int | None] = {}
    original_run_batch = backend.run_batch

    def run_batch(prompts, request):
        target["row"] = next((i for i, p in enumerate(prompts) if p.spec.prompt_id == POISONED_ID), None)
        return original_run_batch(prompts, request)

    def poison(module, args, output):
        row = target.get("row")
        if row is None:
            return output
        hidden = (output[0] if isinstance(output, tuple) else output).clone()
        hidden[row] = float("inf")
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    monkeypatch.setattr(backend, "run_batch", run_batch)
    handle = backend.blocks[4].register_forward_hook(poison)
    try:
        summary = FullIngestionPipeline(config, "numbers", backend=backend, show_progress=False).run()
    finally:
        handle.remove()

    assert summary.completed == 7
    assert summary.failed == 1
    with sqlite3.connect(tmp_path / "out" / "registry.sqlite") as connection:
        rows = {prompt_id: (status, reason, json.loads(metadata)) for prompt_id, status, reason, metadata in
                connection.execute("SELECT prompt_id, status, reason, metadata FROM runs")}
    assert rows[POISONED_ID][:2] == ("failed", "non_finite_activation")
    completed = [value for key, value in rows.items() if key != POISONED_ID]
    assert all(status == "completed" for status, _, _ in completed)
    assert all(metadata["dtype"] == "float32" for _, _, metadata in completed)
    assert all(metadata["attn_implementation"] == "sdpa" for _, _, metadata in completed)

    reader = ActivationReader(tmp_path / "out")
    assert sum(reader.n_rows(shard) for shard in reader.shards()) == 7
    dataset = ClassificationDataset.from_path(tmp_path / "out")
    for layer in (4, 12):
        data = dataset.load(layer=layer, position="last")
        assert data.X.shape == (7, 576)
        assert np.isfinite(data.X).all()
        assert POISONED_ID not in data.prompt_ids.tolist()


def test_float16_overflow_fails_one_prompt(tmp_path, backend) -> None:
    source = tmp_path / "prompts.jsonl"
    source.write_text("".join(json.dumps({"id": str(i), "text": f"Prompt number {i} is here.", "label": 0}) + "\n"
                              for i in range(3)))
    config = parse_config({
        "model": {"template": "none"},
        "run": {"capture_acts_raw": {"layers": [4], "positions": ["last"]}, "topk_logits": 0,
                "storage_dtype": "float16"},
        "output_dir": str(tmp_path / "out"),
        "datasets": [{"name": "numbers", "class": "LocalFileDataset",
                      "params": {"path": str(source), "id_field": "id", "label_field": "label", "raw": True}}],
    })

    def overflow(module, args, output):
        # 1e6 is finite in float32 but beyond float16's maximum of 65504.
        hidden = (output[0] if isinstance(output, tuple) else output).clone()
        hidden[0] = 1e6
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    handle = backend.blocks[4].register_forward_hook(overflow)
    try:
        summary = FullIngestionPipeline(config, "numbers", backend=backend, show_progress=False).run()
    finally:
        handle.remove()

    assert summary.failed == 1
    assert summary.completed == 2
    assert summary.reasons == {"non_finite_activation": 1}
    assert "float16" in summary.examples["non_finite_activation"]
    data = ClassificationDataset.from_path(tmp_path / "out").load(layer=4, position="last")
    assert data.X.shape == (2, 576)
    assert np.isfinite(data.X).all()
