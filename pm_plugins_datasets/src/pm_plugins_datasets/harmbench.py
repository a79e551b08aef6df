"""`HarmBenchDataset`: the HarmBench text behaviors (Mazeika et al., 2024), all malicious."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pm_core.datasets import RejectedRow
from pm_core.errors import ConfigError, DataError
from pm_core.types import PromptSpec
from pm_plugins_datasets.base import RowIssue
from pm_plugins_datasets.huggingface import HFDataset

SUBSETS = ("standard", "contextual", "copyright", "all")
#: Local CSV per split: `harmbench_behaviors_text_<split>.csv`; `all` is the union of `test` and `val`.
LOCAL_SPLITS = ("all", "test", "val")
#: (behavior, context) columns of the HarmBench CSVs and of the hub copy.
LOCAL_FIELDS = ("Behavior", "ContextString")
HUB_FIELDS = ("prompt", "context")
#: Key of the composed prompt text inside the record handed to `RecordMapping`.
PROMPT_KEY = "_prompt"
CONTEXT_SEPARATOR = "\n\n---\n\n"


class HarmBenchDataset(HFDataset):
    """HarmBench behaviors as single-turn user prompts, every one labelled malicious.

    `subset` keeps the rows whose `FunctionalCategory` is `standard`,
    `contextual` or `copyright`, or all of them. A contextual behavior's prompt
    is its `ContextString`, a `---` line between blank lines, then the behavior.

    With `path` (a `harmbench_behaviors_text_<split>.csv` file, the folder
    holding it, or a HarmBench checkout) the CSV is read locally and
    `BehaviorID` is the prompt id. There `split` picks the file: `all` (the
    default), `test` or `val`. `labels` keeps `FunctionalCategory`, `SemanticCategory`, `Tags`
    and `BehaviorID`. Without `path` the subset is streamed from `hub_id`, which
    has one config per subset and a `train` split, and the columns `prompt`,
    `category` and, for contextual rows, `context`.
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        hub_id: str = "walledai/HarmBench",
        subset: str = "standard",
        split: str | None = None,
        system_prompt: str | None = None,
        raw: bool = False,
    ) -> None:
        if subset not in SUBSETS:
            msg = f"unknown HarmBench subset {subset!r}: expected one of {', '.join(SUBSETS)}"
            raise ConfigError(msg)
        self.subset_name = subset

        if path is None:
            if subset == "all":
                msg = f"the hub copy {hub_id!r} has one config per subset; choose one, or set `path` to read the CSV"
                raise ConfigError(msg)
            self.behavior_field, self.context_field = HUB_FIELDS
            # NOTE: the hub column names (`prompt`, `context`) are assumed, not checked against
            # walledai/HarmBench, because this path has not been run against the hub.
            super().__init__(
                hub_id,
                split=split or "train",
                subset=subset,
                text_field=PROMPT_KEY,
                label_value=True,
                system_prompt=system_prompt,
                raw=raw,
            )
            return

        self.behavior_field, self.context_field = LOCAL_FIELDS
        super().__init__(
            self._local_csv(Path(path), split),
            text_field=PROMPT_KEY,
            label_value=True,
            id_field="BehaviorID",
            system_prompt=system_prompt,
            raw=raw,
        )

    @staticmethod
    def _local_csv(path: Path, split: str | None) -> Path:
        if path.is_file():
            if split is not None:
                msg = f"`split` picks a CSV inside a folder, but `path` is the file {path}; remove `split`"
                raise ConfigError(msg)
            return path
        if split is None:
            split = "all"
        if split not in LOCAL_SPLITS:
            msg = f"unknown HarmBench split {split!r}: expected one of {', '.join(LOCAL_SPLITS)}"
            raise ConfigError(msg)

        file_name = f"harmbench_behaviors_text_{split}.csv"
        candidates = [path / file_name, path / "data" / "behavior_datasets" / file_name]
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        msg = f"HarmBench file not found: looked for {' and '.join(map(str, candidates))}. Check `path`."
        raise DataError(msg)

    def _iter_records(self) -> Iterator[dict[str, Any] | RowIssue]:
        records = super()._iter_records()
        # The hub copy is already one subset per config and has no FunctionalCategory column.
        if self.hub_id is not None or self.subset_name == "all":
            return records
        return (
            record
            for record in records
            if isinstance(record, RowIssue) or record.get("FunctionalCategory") == self.subset_name
        )

    def _build_prompt(self, index: int, record: dict[str, Any], dataset_id: str) -> PromptSpec | RejectedRow:
        behavior = record.get(self.behavior_field)
        context = record.get(self.context_field)
        contextual = record.get("FunctionalCategory", self.subset_name) == "contextual"
        prompt_id = str(record.get("BehaviorID") or index)
        if not isinstance(behavior, str):
            reason = "missing_text" if behavior is None else "invalid_text"
            message = f"dataset {dataset_id!r} row {index}: field {self.behavior_field!r} is missing or not a string"
            return RejectedRow(prompt_id, dataset_id, reason, message)

        if contextual:
            if not isinstance(context, str) or not context.strip():
                message = f"dataset {dataset_id!r} row {index}: contextual behavior without a context string"
                return RejectedRow(prompt_id, dataset_id, "missing_context", message)
            behavior = f"{context}{CONTEXT_SEPARATOR}{behavior}"

        fields = {key: value for key, value in record.items() if key not in (self.behavior_field, self.context_field)}
        fields[PROMPT_KEY] = behavior
        return self.mapping.build(index, fields, dataset_id)
