"""Duplicate prompts within and across datasets: the leakage that inflates leave-one-dataset-out scores.

A prompt that sits in two datasets is not held out when one of them is the
test fold. Two prompts match *exactly* when their text is identical, and
*after normalisation* when they are equal after Unicode NFKC, case folding,
and replacing every run of non-alphanumeric characters with one space.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import attrs

from pm_core.types import PromptSpec

_NON_ALPHANUMERIC = re.compile(r"[\W_]+", re.UNICODE)


def prompt_text(spec: PromptSpec) -> str:
    """Return the text a dataset supplied for a prompt: raw text, or every message's content."""
    if spec.text is not None:
        return spec.text
    return "\n".join(message.content or "" for message in spec.messages)


def normalize(text: str) -> str:
    """Return `text` after NFKC, case folding and collapsing punctuation and whitespace to single spaces."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _NON_ALPHANUMERIC.sub(" ", folded).strip()


def text_key(spec: PromptSpec, normalized: bool) -> str:
    """Return a hash of the prompt's text, exact or normalised, to compare prompts cheaply."""
    text = prompt_text(spec)
    if normalized:
        text = normalize(text)
    return hashlib.sha256(text.encode()).hexdigest()


@attrs.define
class PairOverlap:
    """Prompts of dataset `first` whose text also occurs in dataset `second`."""

    first: str
    second: str
    exact: int = 0
    normalized: int = 0
    #: (malicious in first, malicious in second) -> count, for normalised matches.
    by_label: Counter = attrs.field(factory=Counter)
    examples: list[tuple[str, str]] = attrs.field(factory=list)


@attrs.define
class OverlapReport:
    """Duplicate counts within each dataset and for each pair of datasets."""

    sizes: dict[str, int]
    within_exact: dict[str, int]
    within_normalized: dict[str, int]
    pairs: list[PairOverlap]

    @property
    def cross_dataset_duplicates(self) -> int:
        return sum(pair.normalized for pair in self.pairs)


def _within(specs: Sequence[PromptSpec], normalized: bool) -> int:
    """Return how many prompts repeat an earlier prompt of the same dataset."""
    counts = Counter(text_key(spec, normalized) for spec in specs)
    return sum(count - 1 for count in counts.values())


def find_overlaps(datasets: Mapping[str, Sequence[PromptSpec]], max_examples: int = 3) -> OverlapReport:
    """Count duplicates within each dataset and across every pair of datasets."""
    names = list(datasets)
    exact_index = {name: {text_key(spec, False) for spec in datasets[name]} for name in names}
    normalized_index: dict[str, dict[str, PromptSpec]] = {
        name: {text_key(spec, True): spec for spec in datasets[name]} for name in names
    }

    pairs = []
    for position, first in enumerate(names):
        for second in names[position + 1 :]:
            pair = PairOverlap(first, second)
            pair.exact = len(exact_index[first] & exact_index[second])
            for key, spec in normalized_index[first].items():
                other = normalized_index[second].get(key)
                if other is None:
                    continue
                pair.normalized += 1
                pair.by_label[(_malicious(spec), _malicious(other))] += 1
                if len(pair.examples) < max_examples:
                    pair.examples.append((spec.prompt_id, other.prompt_id))
            pairs.append(pair)

    return OverlapReport(
        sizes={name: len(datasets[name]) for name in names},
        within_exact={name: _within(datasets[name], False) for name in names},
        within_normalized={name: _within(datasets[name], True) for name in names},
        pairs=pairs,
    )


def _malicious(spec: PromptSpec) -> bool | None:
    value = spec.labels.get("malicious")
    return None if value is None else bool(value)


def earlier_keys(datasets: Iterable[tuple[str, Iterable[PromptSpec]]], normalized: bool) -> dict[str, tuple[str, str]]:
    """Map each text key to the first (dataset, prompt id) that has it, in the given dataset order."""
    seen: dict[str, tuple[str, str]] = {}
    for name, specs in datasets:
        for spec in specs:
            seen.setdefault(text_key(spec, normalized), (name, spec.prompt_id))
    return seen
