"""`WildJailbreakDataset`: vanilla and adversarial (jailbreak) prompts from allenai/wildjailbreak.

The hub repository stores each config as a tab-separated file, `train/train.tsv`
and `eval/eval.tsv`, which this package's generic readers do not read, so this
module reads TSV itself. Other formats in a local copy (for example a Parquet
conversion) go through the generic readers.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pm_core.datasets import RejectedRow
from pm_core.errors import ConfigError, DataError
from pm_core.types import PromptSpec
from pm_plugins_datasets.base import RowIssue
from pm_plugins_datasets.hub_common import PROMPT_FIELD, HubPromptDataset, is_blank
from pm_plugins_datasets.hub_layout import DataFiles, find_split_files
from pm_plugins_datasets.readers import infer_format, iter_file_records

logger = logging.getLogger(__name__)

#: data_type value -> malicious.
WILDJAILBREAK_DATA_TYPES = {
    "vanilla_harmful": True,
    "adversarial_harmful": True,
    "vanilla_benign": False,
    "adversarial_benign": False,
}
WILDJAILBREAK_CONFIGS = ("train", "eval")


def iter_tsv_records(path: Path) -> Iterator[dict[str, Any] | RowIssue]:
    """Yield the rows of a tab-separated file with a header line, or a `RowIssue` for a malformed row."""
    with path.open(encoding="utf-8", newline="") as file:
        reader = csv.DictReader(file, delimiter="\t")
        for record in reader:
            if None in record:
                n_columns = len(reader.fieldnames or ())
                message = f"{path} line {reader.line_num}: more cells than the {n_columns} columns of the header"
                yield RowIssue("invalid_record", message)
            else:
                yield record


class WildJailbreakDataset(HubPromptDataset):
    """WildJailbreak (Jiang et al., 2024) prompts: plain and jailbreak-wrapped, harmful and benign.

    Hub id `allenai/wildjailbreak` (gated, so set `HF_TOKEN`), config `train`
    (`train/train.tsv`: `vanilla`, `adversarial`, `completion`, `data_type`) or
    `eval` (`eval/eval.tsv`: `adversarial`, `label`, `data_type`).

    The prompt is `adversarial` when it is non-empty, else `vanilla`. The other
    column stays in `labels`, and `labels["prompt_source"]` names the one used.
    `data_type` sets the label: `vanilla_harmful` and `adversarial_harmful` map to
    `malicious=True`, `vanilla_benign` and `adversarial_benign` to `malicious=False`.
    A row with both prompt columns empty is rejected as `empty_prompt`, one without
    `data_type` as `missing_label`, and any other `data_type` raises `DataError`.

    `path` is the repository folder (the config's `<config>/*.tsv` is read), a
    single file, or a folder whose files name the split as on the hub.
    """

    HUB_ID = "allenai/wildjailbreak"
    TEXT_FIELD = PROMPT_FIELD
    LABEL_FIELD = "malicious"

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        hub_id: str | None = None,
        config: str = "train",
        data_files: DataFiles | None = None,
        revision: str | None = None,
        system_prompt: str | None = None,
        raw: bool = False,
    ) -> None:
        if config not in WILDJAILBREAK_CONFIGS:
            msg = f"unknown WildJailbreak config {config!r}: expected one of {', '.join(WILDJAILBREAK_CONFIGS)}"
            raise ConfigError(msg)
        self.config = config
        super().__init__(
            path=path,
            hub_id=hub_id,
            data_files=data_files,
            revision=revision,
            system_prompt=system_prompt,
            raw=raw,
        )
        if path is None:
            # NOTE: both hub configs expose their rows as the split `train`, but
            # this was read from third-party loading code, not from the card.
            self.subset = config

    def _local_files(self, location: Path) -> list[Path]:
        if location.is_file() or self.data_files is not None:
            return super()._local_files(location)
        config_files = sorted((location / self.config).glob("*.tsv"))
        if config_files:
            return config_files
        root_files = sorted(location.glob(f"{self.config}*.tsv"))
        if root_files:
            return root_files
        try:
            return find_split_files(location, self.split)
        except DataError:
            msg = (
                f"no WildJailbreak file for config {self.config!r} in {location}: "
                f"expected {self.config}/{self.config}.tsv as on the hub. Set `data_files` to choose files."
            )
            raise DataError(msg) from None

    def _hub_load_options(self) -> dict[str, Any]:
        # Without keep_default_na, pandas turns the empty `adversarial` cells of vanilla rows into NaN.
        return {"delimiter": "\t", "keep_default_na": False}

    def _iter_records(self) -> Iterator[dict[str, Any] | RowIssue]:
        if self.hub_id is not None:
            return self._iter_hub_records()
        return self._iter_local_records()

    def _iter_local_records(self) -> Iterator[dict[str, Any] | RowIssue]:
        for file in self.files:
            if file.suffix.lower() == ".tsv":
                yield from iter_tsv_records(file)
            else:
                yield from iter_file_records(file, infer_format(file))

    def _build_prompt(self, index: int, record: dict[str, Any], dataset_id: str) -> PromptSpec | RejectedRow:
        where = f"dataset {dataset_id!r} row {index}"
        data_type = record.get("data_type")
        if is_blank(data_type):
            return RejectedRow(
                str(index), dataset_id, "missing_label", f"{where}: field 'data_type' is missing or empty"
            )
        if data_type not in WILDJAILBREAK_DATA_TYPES:
            msg = f"{where}: invalid data_type {data_type!r}. Expected one of: {', '.join(WILDJAILBREAK_DATA_TYPES)}."
            raise DataError(msg)

        prompt_source = next((field for field in ("adversarial", "vanilla") if not is_blank(record.get(field))), None)
        if prompt_source is None:
            message = f"{where}: both 'adversarial' and 'vanilla' are missing or empty"
            return RejectedRow(str(index), dataset_id, "empty_prompt", message)

        derived = {field: value for field, value in record.items() if field != prompt_source}
        derived[PROMPT_FIELD] = record[prompt_source]
        derived["prompt_source"] = prompt_source
        derived["malicious"] = WILDJAILBREAK_DATA_TYPES[data_type]
        return self.mapping.build(index, derived, dataset_id)
