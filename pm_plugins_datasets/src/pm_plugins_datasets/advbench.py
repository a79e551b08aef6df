"""`AdvBenchDataset`: the AdvBench harmful behaviors or strings (Zou et al., 2023), all malicious."""

from __future__ import annotations

import os
from pathlib import Path

from pm_core.errors import ConfigError, DataError
from pm_plugins_datasets.huggingface import HFDataset

#: Prompt column of each subset's CSV in the llm-attacks repository (`data/advbench/`).
LOCAL_TEXT_FIELDS = {"behaviors": "goal", "strings": "target"}
#: Prompt column of the hub copy, which contains the behaviors only.
HUB_TEXT_FIELD = "prompt"


class AdvBenchDataset(HFDataset):
    """AdvBench prompts, every one labelled malicious.

    With `path` (a `harmful_<subset>.csv` file, the folder holding it, or a
    checkout of the llm-attacks repository) the CSV is read locally. The
    behaviors CSV has `goal` (the prompt) and `target` (the affirmative reply
    prefix used by GCG), and `target` is kept in `labels`. The strings CSV has
    `target` only, which becomes the prompt. Without `path` the behaviors are
    streamed from `hub_id`, whose prompt column is `prompt`.
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        hub_id: str = "walledai/AdvBench",
        subset: str = "behaviors",
        system_prompt: str | None = None,
        raw: bool = False,
    ) -> None:
        if subset not in LOCAL_TEXT_FIELDS:
            msg = f"unknown AdvBench subset {subset!r}: expected one of {', '.join(LOCAL_TEXT_FIELDS)}"
            raise ConfigError(msg)
        self.subset_name = subset

        if path is None:
            if subset != "behaviors":
                msg = f"the hub copy {hub_id!r} contains only the behaviors; set `path` to read the {subset!r} CSV"
                raise ConfigError(msg)
            source, text_field = hub_id, HUB_TEXT_FIELD
        else:
            source, text_field = self._local_csv(Path(path), subset), LOCAL_TEXT_FIELDS[subset]

        super().__init__(
            source,
            text_field=text_field,
            label_value=True,
            system_prompt=system_prompt,
            raw=raw,
        )

    @staticmethod
    def _local_csv(path: Path, subset: str) -> Path:
        file_name = f"harmful_{subset}.csv"
        candidates = [path] if path.is_file() else [path / file_name, path / "data" / "advbench" / file_name]
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        msg = f"AdvBench file not found: looked for {' and '.join(map(str, candidates))}. Check `path`."
        raise DataError(msg)
