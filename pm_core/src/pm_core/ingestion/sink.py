"""The result sink of one worker: its own zarr shard, sparse features, the outputs table, then the registry.

Rows are buffered and written in flushes. The registry marks a run completed
only after its rows are durable, so a worker killed between two flushes
leaves its unflushed prompts pending, and a re-run processes exactly those.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from pm_core.errors import PromptError
from pm_core.extractors import FeatureExtractor
from pm_core.ingestion.encoding import SparseRow, encode_results
from pm_core.ingestion.reasons import NON_FINITE
from pm_core.registry import RunRegistry
from pm_core.storage.activations import ActivationWriter
from pm_core.storage.features import SparseFeatureWriter
from pm_core.storage.outputs import OutputWriter
from pm_core.types import CaptureRequest, PromptResult

logger = logging.getLogger(__name__)


class ResultSink:
    """Buffers successful results of one worker and commits them together."""

    def __init__(
        self,
        output_dir: str,
        registry: RunRegistry,
        request: CaptureRequest,
        d_model: int,
        run_metadata: dict[str, Any],
        shard_prefix: str,
        storage_dtype: str = "float32",
        flush_every: int = 256,
        extractors: Sequence[FeatureExtractor] = (),
    ) -> None:
        self.registry = registry
        self.request = request
        self.run_metadata = run_metadata
        self.flush_every = flush_every
        self.storage_dtype = np.dtype(storage_dtype)
        self.shard_id = f"{shard_prefix}-{uuid.uuid4().hex[:8]}"
        self.activations = None
        if request.sites:
            self.activations = ActivationWriter(
                output_dir,
                self.shard_id,
                sites=list(request.sites),
                offsets=request.positions,
                d_model=d_model,
                dtype=storage_dtype,
            )
        self.extractors = [extractor for extractor in extractors if extractor.sparse]
        self.features = None
        if self.extractors:
            # Rows are committed by `flush` only, together with the registry update.
            self.features = SparseFeatureWriter(output_dir, self.shard_id, flush_rows=2**62)
            for extractor in self.extractors:
                self.features.declare_dictionary(extractor.name, extractor.d_out)
        self.outputs = OutputWriter(output_dir)
        self._pending: list[tuple[str, dict[str, Any]]] = []
        self.rows_written = 0
        self.bytes_written = 0

    def encode(self, results: Sequence[PromptResult]) -> list[list[SparseRow]] | None:
        """Encode the sparse features of a batch's results at once; None when no dictionary is configured."""
        if not self.extractors:
            return None
        return encode_results(self.extractors, results, self.request.positions)

    def add(self, run_id: str, result: PromptResult, sparse_rows: Sequence[SparseRow] | None = None) -> None:
        """Buffer one successful result and its sparse features; flush when the buffer is full.

        `sparse_rows` are the result's features from `encode`; they are computed here when
        not given. Raises `PromptError` (`non_finite_activation`) when a value that is finite
        in the model's dtype overflows the storage dtype, and buffers nothing of that prompt.
        """
        stacked = {site: self._cast(result, site)[np.newaxis] for site in self.request.sites}
        if self.features is not None:
            if sparse_rows is None:
                sparse_rows = encode_results(self.extractors, [result], self.request.positions)[0]
            for row in sparse_rows:
                self.features.add(run_id, row.dictionary, row.layer, row.position, row.indices, row.values)

        if self.activations is not None:
            self.activations.append(
                [run_id],
                stacked,
                valid=result.valid[np.newaxis],
                token_positions=result.token_positions[np.newaxis],
            )
            self.bytes_written += sum(array.nbytes for array in stacked.values())

        self.outputs.add(
            {
                "run_id": run_id,
                "shard": self.shard_id,
                "generated_text": result.generated_text or "",
                "generated_ids": list(result.generated_ids),
                "topk_ids": [] if result.topk_ids is None else result.topk_ids.tolist(),
                "topk_values": [] if result.topk_values is None else result.topk_values.tolist(),
                "input_ids": list(result.prompt.input_ids),
                "prompt_text": result.prompt.text,
            }
        )
        metadata = {**self.run_metadata, **result.prompt.metadata, "n_tokens": result.prompt.n_tokens}
        self._pending.append((run_id, metadata))
        if len(self._pending) >= self.flush_every:
            self.flush()

    def _cast(self, result: PromptResult, site: tuple[str, int]) -> np.ndarray:
        with np.errstate(over="ignore"):
            values = result.activations[site].astype(self.storage_dtype, copy=False)
        if not np.isfinite(values).all():
            spec = result.prompt.spec
            msg = (
                f"prompt {spec.prompt_id!r} of dataset {spec.dataset_id!r}: activations at {site[0]} layer {site[1]} "
                f"overflow the storage dtype {self.storage_dtype}; store float32 with `run.storage_dtype: float32`"
            )
            raise PromptError(NON_FINITE, msg)
        return values

    def flush(self) -> int:
        """Write buffered rows to disk, then mark their runs completed; return how many."""
        if not self._pending:
            return 0
        rows: dict[str, int] = {}
        if self.features is not None:
            self.features.flush()
        if self.activations is not None:
            for run_id, _shard, row in self.activations.flush():
                rows[run_id] = row
        self.outputs.flush()

        updates = [(run_id, self.shard_id, rows.get(run_id, -1), metadata) for run_id, metadata in self._pending]
        self.registry.mark_completed(updates)
        count = len(self._pending)
        self.rows_written += count
        self._pending.clear()
        logger.debug("flushed %d runs to shard %s", count, self.shard_id)
        return count
