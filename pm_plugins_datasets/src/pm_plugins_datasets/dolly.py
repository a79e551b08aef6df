"""`Dolly15kDataset`: the databricks-dolly-15k instructions, all benign."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from pm_core.datasets import RejectedRow
from pm_core.errors import ConfigError
from pm_core.types import PromptSpec
from pm_plugins_datasets.base import RowIssue
from pm_plugins_datasets.huggingface import HFDataset

#: The eight task types of the `category` field of databricks-dolly-15k.
CATEGORIES = (
    "brainstorming",
    "classification",
    "closed_qa",
    "creative_writing",
    "general_qa",
    "information_extraction",
    "open_qa",
    "summarization",
)
#: Key of the composed prompt text inside the record handed to `RecordMapping`.
PROMPT_KEY = "_prompt"


class Dolly15kDataset(HFDataset):
    """Dolly instructions as single-turn user prompts, every one labelled benign (malicious False).

    With `include_context`, a row's non-empty `context` (a reference passage)
    follows the instruction after a blank line. `labels` keeps `category` and
    `has_context`, plus the reference `response` when `keep_response` is set.
    `categories` keeps only rows of those task types. With `path` (the JSONL file
    or a folder in the hub's layout) the file is read locally, and otherwise the
    `train` split is streamed from `hub_id`.
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        hub_id: str = "databricks/databricks-dolly-15k",
        include_context: bool = True,
        keep_response: bool = False,
        categories: str | Iterable[str] | None = None,
        system_prompt: str | None = None,
        raw: bool = False,
    ) -> None:
        if isinstance(categories, str):
            categories = [categories]
        self.categories = None if categories is None else frozenset(categories)
        if self.categories is not None:
            unknown = sorted(self.categories - set(CATEGORIES))
            if unknown:
                msg = f"unknown Dolly categories {unknown}: expected some of {', '.join(CATEGORIES)}"
                raise ConfigError(msg)
        self.include_context = include_context
        self.keep_response = keep_response

        keep_fields = ["category", "has_context", *(["response"] if keep_response else [])]
        super().__init__(
            hub_id if path is None else path,
            text_field=PROMPT_KEY,
            label_value=False,
            system_prompt=system_prompt,
            raw=raw,
            keep_fields=keep_fields,
        )

    def _iter_records(self) -> Iterator[dict[str, Any] | RowIssue]:
        records = super()._iter_records()
        if self.categories is None:
            return records
        return (
            record for record in records if isinstance(record, RowIssue) or record.get("category") in self.categories
        )

    def _build_prompt(self, index: int, record: dict[str, Any], dataset_id: str) -> PromptSpec | RejectedRow:
        instruction = record.get("instruction")
        context = record.get("context")
        has_context = isinstance(context, str) and bool(context.strip())
        if not isinstance(instruction, str):
            reason = "missing_text" if instruction is None else "invalid_text"
            message = f"dataset {dataset_id!r} row {index}: field 'instruction' is missing or not a string"
            return RejectedRow(str(index), dataset_id, reason, message)
        if self.include_context and has_context:
            instruction = f"{instruction}\n\n{context}"

        fields = {**record, PROMPT_KEY: instruction, "has_context": has_context}
        return self.mapping.build(index, fields, dataset_id)
