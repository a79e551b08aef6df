"""FullIngestionPipeline: one worker's job, one dataset (or one shard of it) end to end.

Phases: read the dataset's prompts, ask the registry which are not done yet,
load the backend only if something is left, then run and store the rest.
A finished config therefore re-runs without loading the model at all.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

from pm_core.backend import Backend
from pm_core.config.schema import DatasetConfig, RunConfig
from pm_core.config.validate import config_snapshot, resolve_layers
from pm_core.datasets import RejectedRow, create_dataset
from pm_core.extractors import FeatureExtractor, check_extractor_fits, load_extractors
from pm_core.ingestion.keys import processing_fingerprint, run_key
from pm_core.ingestion.progress import ProgressReporter
from pm_core.ingestion.reasons import SKIP_REASONS
from pm_core.ingestion.runner import PromptRunner, RunnerStats
from pm_core.ingestion.sink import ResultSink
from pm_core.overlap import earlier_keys, text_key
from pm_core.plugins import Catalogue, get_catalogue
from pm_core.registry import RunItem, RunRegistry
from pm_core.secrets import redact
from pm_core.storage.dictionaries import record_dictionary
from pm_core.types import CaptureRequest, PromptSpec

logger = logging.getLogger(__name__)

REGISTER_CHUNK = 1024


@attrs.define
class DatasetSummary:
    """The closing line of one dataset's job."""

    dataset_id: str
    already_done: int = 0
    completed: int = 0
    skipped: int = 0
    failed: int = 0
    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0
    forward_passes: int = 0
    #: Skipped and failed prompts per reason, with the first message seen for each.
    reasons: Counter = attrs.field(factory=Counter)
    examples: dict[str, str] = attrs.field(factory=dict)


def build_request(config: RunConfig, n_layers: int, extractors: Sequence[FeatureExtractor] = ()) -> CaptureRequest:
    """Resolve the config's capture settings against the loaded model's depth.

    The sites the extractors read are captured too, and stored raw only when `capture_acts_raw` lists them.
    """
    capture = config.run.capture_acts_raw
    return CaptureRequest(
        extra_sites=tuple(extractor.site for extractor in extractors),
        layers=resolve_layers(capture.layers, n_layers),
        hook_points=config.run.raw_hook_point,
        positions=capture.positions,
        topk_logits=config.run.topk_logits,
        max_new_tokens=config.run.max_new_tokens,
        drop_bos=config.run.drop_bos,
    )


class FullIngestionPipeline:
    """Capture activations, logits and generations for one dataset of a config."""

    def __init__(
        self,
        config: RunConfig,
        dataset_name: str,
        shard: tuple[int, int] | None = None,
        backend: Backend | Callable[[], Backend] | None = None,
        catalogue: Catalogue | None = None,
        show_progress: bool = True,
        extractors: list[FeatureExtractor] | None = None,
    ) -> None:
        self.config = config
        self.dataset_config: DatasetConfig = config.dataset(dataset_name)
        self.shard = shard
        self.catalogue = catalogue or get_catalogue()
        self._backend = backend
        self.show_progress = show_progress
        self.output_dir = Path(config.output_dir)
        self.stats = RunnerStats()
        self._extractors = extractors

    def backend(self) -> Backend:
        """Return the backend, loading it on first use."""
        if self._backend is None:
            logger.info("loading model %s with backend %s", self.config.model.name, self.config.model.backend)
            started = time.perf_counter()
            self._backend = self.catalogue.create("backends", self.config.model.backend, self.config.model)
            logger.info("model loaded in %.1f s", time.perf_counter() - started)
        elif not isinstance(self._backend, Backend) and callable(self._backend):
            self._backend = self._backend()
        return self._backend

    def run(self) -> DatasetSummary:
        started = time.perf_counter()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        registry = RunRegistry(self.output_dir / "registry.sqlite")
        config_id = registry.save_config(config_snapshot(self.config))
        summary = DatasetSummary(self.dataset_config.name)

        items = list(self._read_prompts())
        pending = self._register(registry, items, config_id, summary)
        if pending:
            self._process(registry, pending, summary)

        summary.seconds = time.perf_counter() - started
        summary.forward_passes = self.stats.forward_passes
        logger.info(
            "%s: %d completed, %d skipped, %d failed, %d already done in %.1f s",
            summary.dataset_id,
            summary.completed,
            summary.skipped,
            summary.failed,
            summary.already_done,
            summary.seconds,
        )
        return summary

    def _read_prompts(self):
        items = self._iter_dataset(self.dataset_config, shard=self.shard)
        mode = self.config.run.drop_cross_dataset_duplicates
        if mode == "none":
            yield from items
            return

        normalized = mode == "normalized"
        earlier = []
        for dataset_config in self.config.datasets:
            if dataset_config.name == self.dataset_config.name:
                break
            specs = [item for item in self._iter_dataset(dataset_config) if isinstance(item, PromptSpec)]
            earlier.append((dataset_config.name, specs))
        seen = earlier_keys(earlier, normalized)
        for item in items:
            match = seen.get(text_key(item, normalized)) if isinstance(item, PromptSpec) else None
            if match is None:
                yield item
                continue
            message = (
                f"prompt {item.prompt_id!r} of dataset {item.dataset_id!r} duplicates prompt {match[1]!r} "
                f"of dataset {match[0]!r} ({mode} text match)"
            )
            yield RejectedRow(item.prompt_id, item.dataset_id, "cross_dataset_duplicate", message)

    def _iter_dataset(self, dataset_config: DatasetConfig, shard: tuple[int, int] | None = None):
        dataset = create_dataset(self.catalogue, dataset_config.class_name, dataset_config.params, dataset_config.name)
        limit = dataset_config.num_prompts or self.config.num_prompts
        yield from dataset.iter_prompts(dataset_config.name, limit=limit, shard=shard)

    def _register(self, registry: RunRegistry, items: list, config_id: str, summary: DatasetSummary):
        fingerprint = processing_fingerprint(self.config)
        pending: list[tuple[str, PromptSpec]] = []
        for start in range(0, len(items), REGISTER_CHUNK):
            chunk = items[start : start + REGISTER_CHUNK]
            run_items = [self._run_item(item, fingerprint, config_id) for item in chunk]
            for item, handle in zip(chunk, registry.register_runs(run_items), strict=True):
                if handle.is_done:
                    summary.already_done += 1
                elif isinstance(item, RejectedRow):
                    self._record_rejected(registry, handle.run_id, item, summary)
                else:
                    pending.append((handle.run_id, item))
        return pending

    def _run_item(self, item: PromptSpec | RejectedRow, fingerprint: str, config_id: str) -> RunItem:
        if isinstance(item, RejectedRow):
            key = hashlib.sha256(f"rejected\0{item.dataset_id}\0{item.prompt_id}\0{item.reason}".encode()).hexdigest()
            labels: dict[str, Any] = {}
        else:
            key = run_key(item, self.config)
            labels = item.labels
        return RunItem(
            prompt_id=item.prompt_id,
            dataset_id=item.dataset_id,
            run_key=key,
            processing_fingerprint=fingerprint,
            labels=labels,
            config_id=config_id,
        )

    def _record_rejected(self, registry: RunRegistry, run_id: str, row: RejectedRow, summary: DatasetSummary) -> None:
        if row.reason in SKIP_REASONS:
            registry.mark_skipped(run_id, row.reason, row.message)
            summary.skipped += 1
        else:
            registry.mark_failed(run_id, row.reason, row.message)
            summary.failed += 1
        summary.reasons[row.reason] += 1
        summary.examples.setdefault(row.reason, row.message)
        logger.info("%s: %s", row.reason, row.message)

    def extractors(self) -> list[FeatureExtractor]:
        """Load the config's sparse dictionaries once, checking them against the model before its weights load."""
        if self._extractors is None:
            self._extractors = load_extractors(self.config, self.catalogue)
        return self._extractors

    def _process(self, registry: RunRegistry, pending: list[tuple[str, PromptSpec]], summary: DatasetSummary) -> None:
        extractors = self.extractors()
        backend = self.backend()
        for extractor in extractors:
            check_extractor_fits(extractor, backend.n_layers, backend.d_model)
        request = build_request(self.config, backend.n_layers, extractors)
        description = backend.describe()
        for extractor in extractors:
            replaced = record_dictionary(self.output_dir, extractor.name, extractor.identity())
            if replaced is not None:
                logger.warning(
                    "dictionary %r now comes from other weights than before (%s); features of earlier runs "
                    "stay stored under the same name until their prompts are run again",
                    extractor.name,
                    replaced.get("path") or replaced.get("sae_id"),
                )
        run_metadata = {key: description.get(key) for key in ("dtype", "attn_implementation", "device")}
        model_file = self.output_dir / "model.json"
        model_file.write_text(json.dumps(redact(description), indent=2, default=str) + "\n")
        shard_prefix = self.dataset_config.name if self.shard is None else f"{self.dataset_config.name}-{self.shard[0]}"
        sink = ResultSink(
            str(self.output_dir),
            registry,
            request,
            d_model=backend.d_model,
            run_metadata=run_metadata,
            shard_prefix=shard_prefix,
            storage_dtype=self.config.run.storage_dtype,
            flush_every=self.config.run.flush_every,
            extractors=extractors,
        )

        with ProgressReporter(self.dataset_config.name, len(pending), enabled=self.show_progress) as progress:
            runner = PromptRunner(
                backend,
                registry,
                sink,
                request,
                max_context_length=self.config.run.max_context_length,
                token_budget=self.config.run.token_budget,
                max_batch_size=self.config.run.max_batch_size,
                on_progress=progress.advance,
            )
            runner.run(pending)

        self.stats = runner.stats
        summary.completed += runner.stats.completed
        summary.skipped += runner.stats.skipped
        summary.failed += runner.stats.failed
        summary.rows += sink.rows_written
        summary.bytes += sink.bytes_written
        summary.reasons.update(runner.stats.reasons)
        for reason, message in runner.stats.examples.items():
            summary.examples.setdefault(reason, message)
