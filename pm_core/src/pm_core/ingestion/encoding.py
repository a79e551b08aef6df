"""Apply sparse feature extractors (SAEs) to the captured positions of a batch.

All valid positions of all prompts in a batch go through each extractor in one
`encode` call, then the features are split back per prompt and position.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np

from pm_core.extractors import FeatureExtractor
from pm_core.types import PromptResult


@attrs.frozen
class SparseRow:
    """The active features of one prompt at one site of one dictionary."""

    dictionary: str
    layer: int
    position: int
    indices: np.ndarray
    values: np.ndarray


def encode_results(
    extractors: Sequence[FeatureExtractor], results: Sequence[PromptResult], positions: Sequence[int]
) -> list[list[SparseRow]]:
    """Return, for each result, its sparse rows: one per extractor and valid position."""
    rows: list[list[SparseRow]] = [[] for _ in results]
    for extractor in extractors:
        owners, offsets, vectors = [], [], []
        for index, result in enumerate(results):
            valid = np.flatnonzero(np.asarray(result.valid, dtype=bool))
            if not len(valid):
                continue
            vectors.append(result.activations[extractor.site][valid])
            owners.extend([index] * len(valid))
            offsets.extend(int(positions[column]) for column in valid)
        if not vectors:
            continue

        features = extractor.encode(np.concatenate(vectors).astype(np.float32, copy=False))
        layer = extractor.site[1]
        for row, (owner, offset) in enumerate(zip(owners, offsets, strict=True)):
            start, stop = features.indptr[row], features.indptr[row + 1]
            rows[owner].append(
                SparseRow(extractor.name, layer, offset, features.indices[start:stop], features.data[start:stop])
            )
    return rows
