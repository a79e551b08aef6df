"""Prompt-injection and jailbreak classification sets from the Hugging Face hub, one class per dataset.

Each class reads its hub id through `datasets.load_dataset`, or a local folder
(`path`) that keeps the hub repository's file layout, without the `datasets` library.
"""

from __future__ import annotations

import logging
from typing import Any

from pm_core.datasets import RejectedRow
from pm_core.types import PromptSpec
from pm_plugins_datasets.hub_common import HubPromptDataset, is_blank, map_label

logger = logging.getLogger(__name__)


class GandalfDataset(HubPromptDataset):
    """Lakera's Gandalf summarization prompts: text to summarize with an embedded injection, all malicious.

    Hub id `Lakera/gandalf_summarization`, files `data/{train,validation,test}-*.parquet`.
    Columns: `text` is the prompt and `gandalf_answer` (the game model's reply) is
    kept in `labels`. Every row is an injection attempt, so `malicious` is true for all.
    """

    HUB_ID = "Lakera/gandalf_summarization"
    TEXT_FIELD = "text"
    LABEL_VALUE = True


class MosscapDataset(HubPromptDataset):
    """Prompts sent to Lakera's Mosscap game (the DEF CON 31 variant of Gandalf), all labelled malicious.

    Hub id `Lakera/mosscap_prompt_injection`, files `data/{train,validation,test}-*.parquet`.
    Columns: `prompt` is the prompt, and `level` ("Level 1" to "Level 8"), `answer` and
    `raw_answer` are kept in `labels`. `malicious` is true for every row.
    """

    # NOTE: the dataset card states that many rows are ordinary questions rather than
    # injections, because every submitted prompt was released, so some
    # `malicious=True` labels are wrong.
    HUB_ID = "Lakera/mosscap_prompt_injection"
    TEXT_FIELD = "prompt"
    LABEL_VALUE = True


class YanismiraouiDataset(HubPromptDataset):
    """Yanis Miraoui's multilingual prompt injections (en, fr, de, es, pt, it, ro), all malicious.

    Hub id `yanismiraoui/prompt_injections`, one file `prompt_injections.csv` at the
    repository root (read as the train split). Its only column, `prompt_injections`,
    is the prompt. `malicious` is true for every row.
    """

    HUB_ID = "yanismiraoui/prompt_injections"
    TEXT_FIELD = "prompt_injections"
    LABEL_VALUE = True


class SafeGuardDataset(HubPromptDataset):
    """The safe-guard prompt-injection set (synthetic prompts), labelled injection or benign.

    Hub id `xTRam1/safe-guard-prompt-injection`, files `data/{train,test}-00000-of-00001.parquet`.
    Columns: `text` is the prompt. `label` 1 (injection) maps to `malicious=True` and
    0 (benign) to `malicious=False`, through `pm_core.labels`.
    """

    HUB_ID = "xTRam1/safe-guard-prompt-injection"
    TEXT_FIELD = "text"
    LABEL_FIELD = "label"


class QualifireDataset(HubPromptDataset):
    """Qualifire's prompt-injection benchmark: 5,000 prompts labelled jailbreak or benign.

    Hub id `qualifire/prompt-injections-benchmark` (a gated dataset, so set `HF_TOKEN`),
    one split `test` in `data/test-*.parquet`. Columns: `text` is the prompt.
    `label` "jailbreak" maps to `malicious=True` and "benign" to `malicious=False`.
    """

    # NOTE: the same dataset card is now published as
    # `rogue-security/prompt-injections-benchmark`. Whether the old id still
    # redirects was not checked.
    HUB_ID = "qualifire/prompt-injections-benchmark"
    TEXT_FIELD = "text"
    LABEL_FIELD = "label"
    DEFAULT_SPLIT = "test"


#: Class label of jayavibhav/prompt-injection-safety -> malicious.
JAYAVIBHAV_LABELS = {0: False, 1: True, 2: True}


class JayavibhavDataset(HubPromptDataset):
    """The prompt-injection-safety set by jayavibhav (about 50k train and 10k test prompts).

    Hub id `jayavibhav/prompt-injection-safety`, files `data/{train,test}-*.parquet`.
    Columns: `text` is the prompt and `label` the class. Label 0 (benign) maps to
    `malicious=False`, while 1 (injection) and 2 (jailbreak) map to `malicious=True`.
    The original `label` stays in `labels`, so the two attack classes stay
    distinguishable. A row without a label is rejected, and any other label value raises `DataError`.
    """

    # NOTE: the dataset card documents no label meanings. The 0/1/2 reading
    # above is a guess, and third-party notes describe the set as binary (0/1),
    # in which case label 2 never occurs.
    HUB_ID = "jayavibhav/prompt-injection-safety"
    TEXT_FIELD = "text"
    LABEL_FIELD = "malicious"
    SOURCE_LABEL_FIELD = "label"

    def _build_prompt(self, index: int, record: dict[str, Any], dataset_id: str) -> PromptSpec | RejectedRow:
        label = record.get(self.SOURCE_LABEL_FIELD)
        if is_blank(label):
            message = f"dataset {dataset_id!r} row {index}: label field {self.SOURCE_LABEL_FIELD!r} is missing or empty"
            return RejectedRow(str(index), dataset_id, "missing_label", message)

        malicious = map_label(label, JAYAVIBHAV_LABELS, dataset_id, index, self.SOURCE_LABEL_FIELD)
        return self.mapping.build(index, {**record, "malicious": malicious}, dataset_id)
