"""Helpers shared by the dataset classes of single Hugging Face hub datasets (the `*_hub` modules)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from pm_core.errors import DataError
from pm_plugins_datasets.hub_layout import DataFiles
from pm_plugins_datasets.huggingface import HFDataset

#: Record key under which a class puts the prompt text it derived from several source fields.
#: `RecordMapping` never copies its text field into `labels`, so this key stays out of them.
PROMPT_FIELD = "_pm_prompt"


def source_location(path: str | os.PathLike | None, hub_id: str) -> str | os.PathLike:
    """Return the local `path` when one is given, else the hub id."""
    return hub_id if path is None else path


def is_blank(value: Any) -> bool:
    """Tell whether a cell is missing: None, or a string of only whitespace."""
    return value is None or (isinstance(value, str) and not value.strip())


def map_label(value: Any, table: Mapping[int, bool], dataset_id: str, index: int, field: str) -> bool:
    """Map an integer class label (also given as a digit string, as CSV cells are) through `table`.

    Raises `DataError` naming the dataset, row and value when the label is not in `table`.
    """
    key: int | None = None
    if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
        key = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        key = int(value.strip())

    if key is None or key not in table:
        allowed = ", ".join(f"{label} ({'malicious' if malicious else 'benign'})" for label, malicious in table.items())
        msg = (
            f"dataset {dataset_id!r} row {index}: invalid label {value!r} in field {field!r}. "
            f"Expected one of: {allowed}. Fix the source file or choose another dataset class."
        )
        raise DataError(msg)
    return table[key]


class HubPromptDataset(HFDataset):
    """One hub dataset with fixed columns: read from `HUB_ID`, or from `path` in the hub's file layout.

    Subclasses set `HUB_ID`, `TEXT_FIELD` and either `LABEL_FIELD` (a column mapped
    through `pm_core.labels`) or `LABEL_VALUE` (one label for every row).
    `data_files` selects files: globs relative to `path`, or hub paths without it.
    """

    HUB_ID: ClassVar[str]
    TEXT_FIELD: ClassVar[str]
    LABEL_FIELD: ClassVar[str | None] = None
    LABEL_VALUE: ClassVar[Any] = None
    DEFAULT_SPLIT: ClassVar[str] = "train"

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        hub_id: str | None = None,
        split: str | None = None,
        data_files: DataFiles | None = None,
        revision: str | None = None,
        system_prompt: str | None = None,
        raw: bool = False,
    ) -> None:
        super().__init__(
            source_location(path, hub_id or self.HUB_ID),
            split=split or self.DEFAULT_SPLIT,
            data_files=data_files,
            revision=revision,
            text_field=self.TEXT_FIELD,
            label_field=self.LABEL_FIELD,
            label_value=self.LABEL_VALUE,
            system_prompt=system_prompt,
            raw=raw,
        )
