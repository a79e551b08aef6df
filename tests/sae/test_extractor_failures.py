"""A feature extractor that fails on one prompt fails that prompt only; the rest are stored."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from pm_core import ClassificationDataset
from pm_core.config.load import parse_config
from pm_core.ingestion.pipeline import FullIngestionPipeline
from pm_core.registry import RunRegistry


class FlakyExtractor:
    """Fails whenever it is given more than one prompt's row, and on the second single row."""

    name = "flaky"
    site = ("resid_post", 1)
    d_in = 576
    d_out = 8
    sparse = True

    def __init__(self) -> None:
        self.single_calls = 0

    def identity(self):
        return {"name": self.name, "weights_sha256": "test"}

    def encode(self, activations):
        if len(activations) > 1:
            raise RuntimeError("batch encoding is broken in this test")
        self.single_calls += 1
        if self.single_calls == 2:
            raise ValueError("this prompt cannot be encoded")
        dense = np.zeros((len(activations), self.d_out), dtype=np.float32)
        dense[:, 3] = np.abs(activations[:, :8]).sum(axis=1)
        return sp.csr_matrix(dense)


def test_failing_extractor_fails_one_prompt(tmp_path, backend) -> None:
    config = parse_config(
        {
            "run": {"topk_logits": 0, "capture_acts_raw": {"layers": [1], "positions": [-1]}, "max_batch_size": 4},
            "output_dir": str(tmp_path),
            "datasets": [{"name": "bastion", "class": "BastionCorpusDataset", "num_prompts": 4}],
        }
    )
    pipeline = FullIngestionPipeline(config, "bastion", backend=backend, show_progress=False)
    pipeline._extractors = [FlakyExtractor()]
    summary = pipeline.run()

    assert (summary.completed, summary.failed) == (3, 1)
    assert summary.reasons == {"feature_extraction_error": 1}
    assert "ValueError: this prompt cannot be encoded" in summary.examples["feature_extraction_error"]
    failed = [run for run in RunRegistry(tmp_path / "registry.sqlite").runs() if run.status == "failed"]
    assert [run.reason for run in failed] == ["feature_extraction_error"]

    dataset = ClassificationDataset.from_path(tmp_path)
    features = dataset.load(layer=1, space="sae", position=-1, dictionary="flaky", return_sparse=True)
    raw = dataset.load(layer=1, position=-1)
    assert features.X.shape == (3, 8)
    assert raw.run_ids.tolist() == features.run_ids.tolist()
    np.testing.assert_allclose(features.X[:, 3].toarray().ravel(), np.abs(raw.X[:, :8]).sum(axis=1), rtol=1e-6)
