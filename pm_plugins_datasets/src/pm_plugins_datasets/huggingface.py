"""`HFDataset`: prompts from a Hugging Face hub dataset or a local folder in the hub's layout.

A local folder or file is read with this package's own readers, so the
`datasets` library is only needed for hub ids (install `pm-plugins-datasets[hub]`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pm_core.datasets import RejectedRow
from pm_core.errors import ConfigError, DataError
from pm_core.types import PromptSpec
from pm_plugins_datasets.base import RowDataset, RowIssue
from pm_plugins_datasets.hub_layout import DataFiles, find_split_files, resolve_data_files
from pm_plugins_datasets.mapping import RecordMapping
from pm_plugins_datasets.readers import iter_files_records

logger = logging.getLogger(__name__)


def _looks_like_path(value: str) -> bool:
    # A hub id is `name` or `owner/name`, so a second slash, a backslash or a leading `/`, `.` or `~` means a path.
    return value.startswith(("/", ".", "~")) or value.count("/") > 1 or "\\" in value


class HFDataset(RowDataset):
    """Prompts from one split of a Hugging Face dataset, one row per prompt.

    `path_or_hub_id` is an existing local folder or file, or else a hub id such
    as `deepset/prompt-injections`. A hub id is streamed through
    `datasets.load_dataset` with the token from `pm_core.secrets.hf_token()`.
    Subclasses fix the field names of a known dataset.
    """

    def __init__(
        self,
        path_or_hub_id: str | os.PathLike,
        split: str = "train",
        data_files: DataFiles | None = None,
        subset: str | None = None,
        revision: str | None = None,
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
        self.split = split
        self.data_files = data_files
        self.subset = subset
        self.revision = revision
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

        location = Path(os.path.expanduser(os.fspath(path_or_hub_id)))
        self.hub_id: str | None = None
        self.files: list[Path] = []
        if location.exists():
            self.files = self._local_files(location)
        elif _looks_like_path(os.fspath(path_or_hub_id)):
            msg = f"dataset path not found: {location}. Check `path_or_hub_id` in the dataset's params."
            raise DataError(msg)
        else:
            self.hub_id = os.fspath(path_or_hub_id)

    def _local_files(self, location: Path) -> list[Path]:
        for option in ("subset", "revision"):
            if getattr(self, option) is not None:
                msg = f"`{option}` only applies to hub ids, but {location} is a local path; remove `{option}`"
                raise ConfigError(msg)
        if location.is_file():
            if self.data_files is not None:
                msg = f"`data_files` selects files inside a folder, but {location} is a file; remove `data_files`"
                raise ConfigError(msg)
            return [location]
        if self.data_files is not None:
            return resolve_data_files(location, self.data_files, self.split)
        return find_split_files(location, self.split)

    def _iter_records(self) -> Iterator[dict[str, Any] | RowIssue]:
        if self.hub_id is None:
            return iter_files_records(self.files)
        return self._iter_hub_records()

    def _hub_load_options(self) -> dict[str, Any]:
        """Return extra keyword arguments for `datasets.load_dataset`, such as a CSV reader's `delimiter`."""
        return {}

    def _iter_hub_records(self, split: str | None = None) -> Iterator[dict[str, Any]]:
        """Stream the rows of `split` (default: `self.split`) from the hub."""
        split = self.split if split is None else split
        try:
            import datasets
        except ImportError as error:
            msg = (
                f"reading the hub dataset {self.hub_id!r} needs the `datasets` package: "
                "pip install 'pm-plugins-datasets[hub]', or point `path_or_hub_id` at a local copy"
            )
            raise ConfigError(msg) from error

        from pm_core.secrets import hf_token

        logger.info("streaming hub dataset %s (subset %s, split %s)", self.hub_id, self.subset, split)
        # NOTE: streaming keeps `limit` from downloading the whole split; this path
        # has only run against a stand-in for `datasets.load_dataset`, never the hub.
        rows = datasets.load_dataset(
            self.hub_id,
            name=self.subset,
            split=split,
            data_files=self.data_files,
            revision=self.revision,
            token=hf_token(),
            streaming=True,
            **self._hub_load_options(),
        )
        yield from rows

    def _build_prompt(self, index: int, record: dict[str, Any], dataset_id: str) -> PromptSpec | RejectedRow:
        return self.mapping.build(index, record, dataset_id)
