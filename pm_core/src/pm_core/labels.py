"""The one label vocabulary that every dataset loader maps its labels through.

A source label becomes `malicious` (1) or benign (0). Strings are compared after
lower-casing, stripping surrounding whitespace and turning spaces and hyphens
into underscores, so ``" Prompt-Injection "`` reads as ``prompt_injection``:

- 0: ``benign``, ``safe``, ``false``, ``"0"``
- 1: ``malicious``, ``jailbreak``, ``injection``, ``prompt_injection``,
  ``harmful``, ``unsafe``, ``true``, ``"1"``
- the integers 0 and 1 and the booleans (Python or numpy) keep their value.

The strings ``"0"``, ``"1"``, ``"true"`` and ``"false"`` are accepted because CSV
files carry every cell as text. Any other value, including other integers and
every float, raises `DataError` naming the dataset, the row and the value, so a
mislabelled dataset fails when it is loaded instead of skewing a classifier later.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from pm_core.errors import DataError

BENIGN_LABELS = frozenset({"benign", "safe", "false", "0"})
MALICIOUS_LABELS = frozenset(
    {"malicious", "jailbreak", "injection", "prompt_injection", "harmful", "unsafe", "true", "1"}
)


def _canonical_word(value: str) -> str:
    return value.strip().lower().replace("-", "_").replace(" ", "_")


def to_malicious(value: Any, dataset: str, row: int) -> int:
    """Map one source label to 1 (malicious) or 0 (benign).

    `dataset` and `row` only serve the error message. Raises `DataError` for a
    value outside the vocabulary in this module's docstring.
    """
    if isinstance(value, bool | np.bool_):
        return int(value)

    if isinstance(value, int | np.integer):
        if value in (0, 1):
            return int(value)

    elif isinstance(value, str):
        word = _canonical_word(value)
        if word in BENIGN_LABELS:
            return 0
        if word in MALICIOUS_LABELS:
            return 1

    allowed = ", ".join(sorted(BENIGN_LABELS | MALICIOUS_LABELS))
    msg = (
        f"dataset {dataset!r} row {row}: invalid label {value!r} ({type(value).__name__}). "
        f"Expected 0, 1, a boolean or one of: {allowed} (case and surrounding whitespace are ignored). "
        "Fix the label in the source file or point `label_field` at another column."
    )
    raise DataError(msg)


def to_malicious_array(values: Iterable[Any], dataset: str) -> np.ndarray:
    """Map a whole label column to an int8 array of 0 and 1, failing on the first invalid value."""
    mapped = [to_malicious(value, dataset, row) for row, value in enumerate(values)]
    return np.asarray(mapped, dtype=np.int8)
