"""`LocalFileDataset`: prompts from one local JSONL, JSON, CSV or Parquet file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pm_core.datasets import RejectedRow
from pm_core.errors import DataError
from pm_core.types import PromptSpec
from pm_plugins_datasets.base import RowDataset, RowIssue
from pm_plugins_datasets.mapping import RecordMapping
from pm_plugins_datasets.readers import infer_format, iter_file_records


class LocalFileDataset(RowDataset):
    """Prompts from a local file, one row per prompt, with the fields named in the config.

    Unreadable rows become `RejectedRow`s: `invalid_json`, `invalid_record`,
    `missing_text`, `invalid_text`, `empty_prompt` (raw mode), `invalid_message`,
    `missing_label`, `missing_id` and `duplicate_id`. A label outside the
    vocabulary of `pm_core.labels` raises `DataError` instead, because it means
    the whole label column is misread.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        format: str | None = None,
        text_field: str = "text",
        messages_field: str | None = None,
        label_field: str | None = None,
        label_value: Any = None,
        id_field: str | None = None,
        system_prompt: str | None = None,
        raw: bool = False,
        keep_fields: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        if not self.path.is_file():
            msg = f"dataset file not found: {self.path}. Check `path` in the dataset's params."
            raise DataError(msg)
        self.format = infer_format(self.path, format)
        self.mapping = RecordMapping(
            text_field=text_field,
            messages_field=messages_field,
            label_field=label_field,
            label_value=label_value,
            id_field=id_field,
            system_prompt=system_prompt,
            raw=raw,
            keep_fields=keep_fields,
        )

    def _iter_records(self) -> Iterator[dict[str, Any] | RowIssue]:
        return iter_file_records(self.path, self.format)

    def _build_prompt(self, index: int, record: dict[str, Any], dataset_id: str) -> PromptSpec | RejectedRow:
        return self.mapping.build(index, record, dataset_id)
