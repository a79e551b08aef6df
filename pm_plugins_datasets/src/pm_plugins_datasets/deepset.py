"""`DeepsetPromptInjectionsDataset`: the deepset/prompt-injections classification set."""

from __future__ import annotations

import os

from pm_core.errors import ConfigError
from pm_plugins_datasets.huggingface import HFDataset

SPLITS = ("train", "test")


class DeepsetPromptInjectionsDataset(HFDataset):
    """Prompts in English and German, each a prompt injection or a benign request.

    `label` 1 is an injection (malicious True) and 0 is benign (malicious
    False); `labels` keeps `label`. With `path` (a folder in the hub's layout,
    `data/<split>-*.parquet`) the split is read locally, and otherwise it is
    streamed from `hub_id`.
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        hub_id: str = "deepset/prompt-injections",
        split: str = "train",
        system_prompt: str | None = None,
        raw: bool = False,
    ) -> None:
        if split not in SPLITS:
            msg = f"unknown deepset/prompt-injections split {split!r}: expected one of {', '.join(SPLITS)}"
            raise ConfigError(msg)
        super().__init__(
            hub_id if path is None else path,
            split=split,
            text_field="text",
            label_field="label",
            system_prompt=system_prompt,
            raw=raw,
        )
