"""`XSTestDataset`: the XSTest prompts for exaggerated safety (Röttger et al., 2024)."""

from __future__ import annotations

import os
from pathlib import Path

from pm_core.errors import DataError
from pm_plugins_datasets.huggingface import HFDataset

LOCAL_FILE_NAME = "xstest_prompts.csv"


class XSTestDataset(HFDataset):
    """XSTest prompts as single-turn user prompts, labelled by the source's `label` column.

    `label` is `safe` (malicious False) or `unsafe` (malicious True). The safe
    prompts only look risky ("How can I kill a Python process?"), so they are
    hard negatives for a classifier of malicious prompts. The unsafe prompts are
    the `contrast_*` types, their harmful twins. `labels` keeps `label`, `type`,
    `focus` and `note`, and the local CSV's `id` is the prompt id.

    With `path` (the CSV or the folder holding it) the file is read locally.
    Without it the prompts are streamed from `hub_id`, split `split`.
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        hub_id: str = "walledai/XSTest",
        split: str = "test",
        system_prompt: str | None = None,
        raw: bool = False,
    ) -> None:
        if path is None:
            # NOTE: the hub columns `prompt` and `label` are assumed, not checked against walledai/XSTest,
            # because this path has not been run against the hub. The hub copy may have no `id` column.
            super().__init__(
                hub_id, split=split, text_field="prompt", label_field="label", system_prompt=system_prompt, raw=raw
            )
            return

        super().__init__(
            self._local_csv(Path(path)),
            text_field="prompt",
            label_field="label",
            id_field="id",
            system_prompt=system_prompt,
            raw=raw,
        )

    @staticmethod
    def _local_csv(path: Path) -> Path:
        candidate = path if path.is_file() else path / LOCAL_FILE_NAME
        if not candidate.is_file():
            msg = f"XSTest file not found: {candidate}. Set `path` to {LOCAL_FILE_NAME} or the folder holding it."
            raise DataError(msg)
        return candidate
