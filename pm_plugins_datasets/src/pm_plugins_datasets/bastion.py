"""`BastionCorpusDataset`: the prompt-injection corpus shipped in the `bastioncorpus` package."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pm_core.datasets import RejectedRow
from pm_core.errors import ConfigError
from pm_core.labels import to_malicious
from pm_core.types import Message, PromptSpec
from pm_plugins_datasets.base import RowDataset

#: Fixed token that replaces the `{canary}` placeholder, so a prompt's text (and so
#: its run key) is the same in every run. A reply that repeats this token shows
#: that the injected instruction was followed.
CANARY_TOKEN = "PMCANARY7F3A9C"
CANARY_SLOT = "{canary}"

SOURCE_FIELDS = ("label", "category", "tactic", "channel", "check", "forbidden_tool", "severity", "lang", "intent")


class BastionCorpusDataset(RowDataset):
    """Rows of `bastioncorpus.load_corpus()` as single-turn user prompts, with the row `id` as prompt id.

    Malicious rows are injections; benign rows look like injections but are
    legitimate text, which makes them hard negatives. `labels` keeps every
    corpus field except `text`. For the rows whose text had the placeholder,
    `labels["canary"]` is `CANARY_TOKEN`.
    """

    def __init__(self, include_benign: bool = True, categories: Iterable[str] | None = None, raw: bool = False) -> None:
        super().__init__()
        if isinstance(categories, str):
            categories = [categories]
        self.include_benign = include_benign
        self.categories = None if categories is None else frozenset(categories)
        self.raw = raw
        # The corpus is a few hundred rows, so it is read here, where an unknown category should fail.
        self.rows = self._select_rows()

    def _select_rows(self) -> list[Any]:
        import bastioncorpus

        rows = bastioncorpus.load_corpus()
        if self.categories is not None:
            known = {row.category for row in rows}
            unknown = sorted(self.categories - known)
            if unknown:
                msg = f"unknown bastioncorpus categories {unknown}: the corpus has {', '.join(sorted(known))}"
                raise ConfigError(msg)
            rows = [row for row in rows if row.category in self.categories]
        if not self.include_benign:
            rows = [row for row in rows if row.label != "benign"]
        return rows

    def _iter_records(self) -> Iterator[Any]:
        return iter(self.rows)

    def _build_prompt(self, index: int, record: Any, dataset_id: str) -> PromptSpec | RejectedRow:
        labels: dict[str, Any] = {field: getattr(record, field) for field in SOURCE_FIELDS}
        labels["malicious"] = bool(to_malicious(record.label, dataset_id, index))
        text = record.text
        if CANARY_SLOT in text:
            text = text.replace(CANARY_SLOT, CANARY_TOKEN)
            labels["canary"] = CANARY_TOKEN

        if self.raw:
            return PromptSpec(prompt_id=record.id, dataset_id=dataset_id, text=text, labels=labels)
        return PromptSpec(prompt_id=record.id, dataset_id=dataset_id, messages=(Message("user", text),), labels=labels)
