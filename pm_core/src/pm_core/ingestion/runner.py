"""PromptRunner: render, batch, run and store the prompts the registry lists as pending.

Failures stay local to a prompt. A prompt the template cannot render, one
longer than `max_context_length` or one with non-finite activations is
recorded with its reason, and the rest of the batch goes on. A batch that
fails as a whole is retried one prompt at a time to find the culprit.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence

import attrs

from pm_core.backend import Backend
from pm_core.errors import ConfigError, PromptError
from pm_core.ingestion.batching import plan_batches
from pm_core.ingestion.reasons import SKIP_REASONS
from pm_core.ingestion.sink import ResultSink
from pm_core.registry import RunRegistry
from pm_core.types import CaptureRequest, PromptResult, PromptSpec, RenderedPrompt

logger = logging.getLogger(__name__)


@attrs.define
class RunnerStats:
    """Counts of a runner's outcomes, for the closing summary and for tests."""

    completed: int = 0
    skipped: int = 0
    failed: int = 0
    forward_passes: int = 0
    reasons: Counter = attrs.field(factory=Counter)
    #: The first message seen for each reason, to show one example per reason.
    examples: dict[str, str] = attrs.field(factory=dict)

    def record(self, reason: str, message: str) -> None:
        self.reasons[reason] += 1
        self.examples.setdefault(reason, message)


class PromptRunner:
    """Runs pending prompts through a backend and hands results to a sink."""

    def __init__(
        self,
        backend: Backend,
        registry: RunRegistry,
        sink: ResultSink,
        request: CaptureRequest,
        max_context_length: int,
        token_budget: int,
        max_batch_size: int,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self.backend = backend
        self.registry = registry
        self.sink = sink
        self.request = request
        self.max_context_length = max_context_length
        self.token_budget = token_budget
        self.max_batch_size = max_batch_size
        self.on_progress = on_progress or (lambda count: None)
        self.stats = RunnerStats()

    def run(self, pending: Sequence[tuple[str, PromptSpec]]) -> None:
        """Process `(run_id, spec)` pairs; every run ends completed, skipped or failed.

        Every prompt is rendered before the first forward pass, so a config error found
        while rendering stops the run before the model does any work.
        """
        rendered = []
        for run_id, spec in pending:
            prompt = self._render(run_id, spec)
            if prompt is not None:
                rendered.append((run_id, prompt))

        self.registry.mark_running([run_id for run_id, _ in rendered])
        lengths = [prompt.n_tokens for _, prompt in rendered]
        for batch in plan_batches(lengths, self.token_budget, self.max_batch_size):
            self._run_batch([rendered[index] for index in batch])
        self.sink.flush()

    def _render(self, run_id: str, spec: PromptSpec) -> RenderedPrompt | None:
        try:
            prompt = self.backend.render(spec)
        except ConfigError:
            # A config-level problem (a template that rejects the system role under
            # `system_role_fallback: error`) stops the run before any forward pass.
            raise
        except PromptError as error:
            if error.reason in SKIP_REASONS:
                self._skip(run_id, error.reason, str(error))
            else:
                self._fail(run_id, spec, error.reason, str(error))
            self.on_progress(1)
            return None

        if prompt.n_tokens > self.max_context_length:
            message = (
                f"prompt {spec.prompt_id!r} of dataset {spec.dataset_id!r} has {prompt.n_tokens} tokens, "
                f"over max_context_length={self.max_context_length}; raise `run.max_context_length` to keep it"
            )
            self._skip(run_id, "over_max_context_length", message)
            self.on_progress(1)
            return None
        return prompt

    def _run_batch(self, batch: list[tuple[str, RenderedPrompt]]) -> None:
        prompts = [prompt for _, prompt in batch]
        try:
            self.stats.forward_passes += 1
            results = self.backend.run_batch(prompts, self.request)
        except Exception as error:  # noqa: BLE001 - any backend failure is isolated below
            if len(batch) == 1:
                run_id, prompt = batch[0]
                logger.warning("prompt %s failed: %s", prompt.spec.prompt_id, error)
                self._fail(run_id, prompt.spec, "backend_error", f"{type(error).__name__}: {error}")
                self.on_progress(1)
                return
            logger.warning("batch of %d prompts failed (%s); retrying one prompt at a time", len(batch), error)
            for item in batch:
                self._run_batch([item])
            return

        sparse_rows = self._encode(results)
        for (run_id, _), result, rows in zip(batch, results, sparse_rows, strict=True):
            self._store(run_id, result, rows)
        self.on_progress(len(batch))

    def _encode(self, results: list[PromptResult]) -> list:
        """Encode the batch's sparse features at once; on failure leave each prompt to encode its own."""
        ok = [result for result in results if result.ok]
        try:
            encoded = self.sink.encode(ok)
        except Exception as error:  # noqa: BLE001 - the prompt that fails is found one at a time in `_store`
            logger.warning("encoding a batch of %d prompts failed (%s); encoding one prompt at a time", len(ok), error)
            encoded = None
        if encoded is None:
            return [None] * len(results)
        by_result = iter(encoded)
        return [next(by_result) if result.ok else None for result in results]

    def _store(self, run_id: str, result: PromptResult, sparse_rows: list | None = None) -> None:
        spec = result.prompt.spec
        if result.ok:
            try:
                self.sink.add(run_id, result, sparse_rows)
            except PromptError as error:
                self._fail(run_id, spec, error.reason, str(error))
                return
            except Exception as error:  # noqa: BLE001 - a feature extractor failing on one prompt fails that prompt
                self._fail(run_id, spec, "feature_extraction_error", f"{type(error).__name__}: {error}")
                return
            self.stats.completed += 1
            return
        message = result.error_message or f"prompt {spec.prompt_id!r}: {result.error_reason}"
        self._fail(run_id, spec, result.error_reason, message)

    def _fail(self, run_id: str, spec: PromptSpec, reason: str, message: str) -> None:
        logger.info("prompt %s of %s failed (%s): %s", spec.prompt_id, spec.dataset_id, reason, message)
        self.registry.mark_failed(run_id, reason, message)
        self.stats.failed += 1
        self.stats.record(reason, message)

    def _skip(self, run_id: str, reason: str, message: str) -> None:
        logger.info("skipped: %s", message)
        self.registry.mark_skipped(run_id, reason, message)
        self.stats.skipped += 1
        self.stats.record(reason, message)
