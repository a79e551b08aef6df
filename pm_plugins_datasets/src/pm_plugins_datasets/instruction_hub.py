"""Benign instruction and prompt collections from the Hugging Face hub, used as negatives."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import attrs

from pm_core.datasets import RejectedRow
from pm_core.errors import ConfigError
from pm_core.types import Message, PromptSpec
from pm_plugins_datasets.base import RowIssue
from pm_plugins_datasets.hub_common import HubPromptDataset, is_blank, source_location
from pm_plugins_datasets.hub_layout import DataFiles
from pm_plugins_datasets.huggingface import HFDataset

logger = logging.getLogger(__name__)


class OpenOrcaDataset(HFDataset):
    """OpenOrca questions (FLAN tasks answered by GPT-4 and GPT-3.5), all benign.

    Hub id `Open-Orca/OpenOrca`. The repository root contains `1M-GPT4-Augmented.parquet`
    and `3_5M-GPT3_5-Augmented.parquet`, which together form the train split (choose
    one with `data_files`). Columns: `id` becomes `prompt_id`, `question` is the user
    message, and `system_prompt` and `response` stay in `labels`. `malicious` is
    false for every row.

    With `include_system_prompt` (the default) a non-blank `system_prompt` is put
    before the question as a system message. A row without `id` is rejected as
    `missing_id`, one without `question` as `missing_text`.
    """

    HUB_ID = "Open-Orca/OpenOrca"

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        hub_id: str | None = None,
        data_files: DataFiles | None = None,
        revision: str | None = None,
        include_system_prompt: bool = True,
        raw: bool = False,
    ) -> None:
        if raw and include_system_prompt:
            msg = "`raw: true` skips the chat template, so it needs `include_system_prompt: false`"
            raise ConfigError(msg)
        self.include_system_prompt = include_system_prompt
        super().__init__(
            source_location(path, hub_id or self.HUB_ID),
            data_files=data_files,
            revision=revision,
            text_field="question",
            label_value=False,
            id_field="id",
            raw=raw,
        )

    def _build_prompt(self, index: int, record: dict[str, Any], dataset_id: str) -> PromptSpec | RejectedRow:
        item = self.mapping.build(index, record, dataset_id)
        system_prompt = record.get("system_prompt")
        if not self.include_system_prompt or not isinstance(item, PromptSpec) or is_blank(system_prompt):
            return item
        if not isinstance(system_prompt, str):
            message = f"dataset {dataset_id!r} row {index}: 'system_prompt' must be a string, got {system_prompt!r:.80}"
            return RejectedRow(item.prompt_id, dataset_id, "invalid_message", message)
        return attrs.evolve(item, messages=(Message("system", system_prompt), *item.messages))


class SoftAgeDataset(HubPromptDataset):
    """SoftAge's prompt-engineering set: single-turn user prompts tagged by category and type, all benign.

    Hub id `SoftAge-AI/prompt-eng_dataset` (gated, so set `HF_TOKEN`), one train
    split. Columns: `Prompt` is the prompt, and `Category`, `Type` and `S.No.` (a row
    number) stay in `labels`. `malicious` is false for every row.
    """

    # NOTE: these column names come from third-party loading code, not from the
    # dataset card, and the repository's original file name was not checked.
    HUB_ID = "SoftAge-AI/prompt-eng_dataset"
    TEXT_FIELD = "Prompt"
    LABEL_VALUE = False


class TenKPromptsRankedDataset(HubPromptDataset):
    """The 10k_prompts_ranked set from Data Is Better Together: prompts rated for quality, all benign.

    Hub id `data-is-better-together/10k_prompts_ranked`, files `data/train-*.parquet`.
    Columns: `prompt` is the prompt, and `quality`, `metadata`, `avg_rating`,
    `num_responses`, `agreement_ratio`, `raw_responses`, `kind`,
    `cluster_description` and `topic` stay in `labels`. `malicious` is false for every row.

    `min_avg_rating` keeps the rows whose `avg_rating` is at least that value and
    drops the others before indexing, as if they were not in the source (rows
    without a rating are dropped too). `prompt_id` and `labels["source_row"]` are
    the row's position in the source, so ids do not change with the threshold.
    """

    HUB_ID = "data-is-better-together/10k_prompts_ranked"
    TEXT_FIELD = "prompt"
    LABEL_VALUE = False

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        hub_id: str | None = None,
        data_files: DataFiles | None = None,
        revision: str | None = None,
        min_avg_rating: float | None = None,
        system_prompt: str | None = None,
        raw: bool = False,
    ) -> None:
        if min_avg_rating is not None and (
            isinstance(min_avg_rating, bool) or not isinstance(min_avg_rating, int | float)
        ):
            msg = f"invalid min_avg_rating {min_avg_rating!r}: expected a number such as 3.5, or null"
            raise ConfigError(msg)
        self.min_avg_rating = min_avg_rating
        super().__init__(path, hub_id, None, data_files, revision, system_prompt, raw)
        self.mapping = attrs.evolve(self.mapping, id_field="source_row")

    def _iter_records(self) -> Iterator[dict[str, Any] | RowIssue]:
        n_dropped = 0
        for source_row, record in enumerate(super()._iter_records()):
            if isinstance(record, RowIssue):
                yield record
            elif self._keeps(record):
                yield {**record, "source_row": source_row}
            else:
                n_dropped += 1
        if self.min_avg_rating is not None:
            logger.info("dropped %d rows with avg_rating below %s or missing", n_dropped, self.min_avg_rating)

    def _keeps(self, record: dict[str, Any]) -> bool:
        if self.min_avg_rating is None:
            return True
        rating = record.get("avg_rating")
        if isinstance(rating, str):
            # A CSV copy carries every cell as text.
            try:
                rating = float(rating)
            except ValueError:
                return False
        return isinstance(rating, int | float) and not isinstance(rating, bool) and rating >= self.min_avg_rating
