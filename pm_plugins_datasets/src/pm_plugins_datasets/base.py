"""The row loop shared by every dataset: row indexes, sharding, limits and the load report.

A subclass yields its source rows in a stable order through `_iter_records`
and turns one row into a prompt in `_build_prompt`. Each row gets the index of
its position in that order, counting rows that are later rejected, and the
index alone decides the shard, so `shard=(i, n)` for every i partitions the
dataset no matter what the rows contain.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from typing import Any

import attrs

from pm_core.datasets import LoadReport, RejectedRow
from pm_core.errors import ConfigError
from pm_core.types import PromptSpec

logger = logging.getLogger(__name__)


@attrs.frozen
class RowIssue:
    """A source row that could not be read as a record, with the rejection reason code."""

    reason: str
    message: str


def check_shard(shard: tuple[int, int] | None) -> None:
    """Raise `ConfigError` unless `shard` is None or `(index, count)` with 0 <= index < count."""
    if shard is None:
        return
    try:
        index, count = shard
    except (TypeError, ValueError):
        msg = f"invalid shard {shard!r}: expected a pair (index, count) such as (0, 4)"
        raise ConfigError(msg) from None
    if not isinstance(index, int) or not isinstance(count, int) or count < 1 or not 0 <= index < count:
        msg = f"invalid shard {shard!r}: expected integers with count >= 1 and 0 <= index < count"
        raise ConfigError(msg)


def check_limit(limit: int | None) -> None:
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        msg = f"invalid limit {limit!r}: expected a non-negative integer or None"
        raise ConfigError(msg)


class RowDataset:
    """Base class of datasets whose prompts come one per source row.

    `report` is the load report of the latest `iter_prompts` call.
    """

    def __init__(self) -> None:
        self.report = LoadReport()

    def _iter_records(self) -> Iterator[Any]:
        """Yield the source rows in a stable order: a record, or a `RowIssue` for an unreadable row."""
        raise NotImplementedError

    def _build_prompt(self, index: int, record: Any, dataset_id: str) -> PromptSpec | RejectedRow:
        raise NotImplementedError

    def iter_prompts(
        self,
        dataset_id: str,
        limit: int | None = None,
        shard: tuple[int, int] | None = None,
    ) -> Iterator[PromptSpec | RejectedRow]:
        """Yield a `PromptSpec` or a `RejectedRow` for each source row, in row order.

        `limit` keeps the rows with index below it and stops reading there, before
        sharding, so the shards of a limited dataset partition the same prefix.
        Rejected rows count toward the limit. `shard=(i, n)` keeps the rows whose
        index modulo n equals i.
        """
        check_limit(limit)
        check_shard(shard)
        return self._generate_prompts(dataset_id, limit, shard)

    def _generate_prompts(
        self, dataset_id: str, limit: int | None, shard: tuple[int, int] | None
    ) -> Iterator[PromptSpec | RejectedRow]:
        self.report = LoadReport()
        seen_ids: set[str] = set()
        source = self._iter_records()
        records = source if limit is None else itertools.islice(source, limit)

        try:
            for index, record in enumerate(records):
                if shard is not None and index % shard[1] != shard[0]:
                    continue
                item = self._to_item(index, record, dataset_id, seen_ids)
                self.report.record(item)
                yield item
        finally:
            # Closes the file or stream now, also when the consumer stops early.
            close = getattr(source, "close", None)
            if close is not None:
                close()

        self._log_report(dataset_id)

    def _to_item(self, index: int, record: Any, dataset_id: str, seen_ids: set[str]) -> PromptSpec | RejectedRow:
        if isinstance(record, RowIssue):
            item = RejectedRow(str(index), dataset_id, record.reason, record.message)
        else:
            item = self._build_prompt(index, record, dataset_id)

        # NOTE: duplicates are only caught within one call, so two shards can
        # still each yield a prompt with the same id.
        if isinstance(item, PromptSpec):
            if item.prompt_id in seen_ids:
                message = f"dataset {dataset_id!r} row {index}: prompt id {item.prompt_id!r} is used by an earlier row"
                item = RejectedRow(item.prompt_id, dataset_id, "duplicate_id", message)
            else:
                seen_ids.add(item.prompt_id)

        if isinstance(item, RejectedRow):
            logger.debug("rejected row: %s (%s)", item.message, item.reason)
        return item

    def _log_report(self, dataset_id: str) -> None:
        rejected = sum(self.report.rejected.values())
        if rejected:
            logger.warning(
                "dataset %s: %d prompts, %d rows rejected (%s)",
                dataset_id,
                self.report.n_prompts,
                rejected,
                ", ".join(f"{reason}: {count}" for reason, count in sorted(self.report.rejected.items())),
            )
        else:
            logger.info("dataset %s: %d prompts", dataset_id, self.report.n_prompts)
