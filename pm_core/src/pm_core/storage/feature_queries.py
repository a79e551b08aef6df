"""Queries on stored sparse features: the CSR matrix of completed prompts, top prompts, feature frequency.

Every query keeps only rows of completed runs whose shard is the one the registry records for
the run, and per prompt only the newest such run, the rule that raw activations follow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pm_core.registry import RunRegistry
from pm_core.storage.features import SparseFeatureReader
from pm_core.storage.outputs import OutputReader

logger = logging.getLogger(__name__)

CANDIDATE_BATCH = 1024
"""Entries of one feature checked against the registry at a time by `top_prompts`."""


def match_registry(rows: dict[str, np.ndarray], table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Return, per feature row, its index in the registry columns `rows` (-1 when none) and whether it is kept.

    A row is kept when its run is in `rows` and its shard is the shard the registry records for that run.
    """
    lookup = {run_id: index for index, run_id in enumerate(rows["run_id"].tolist())}
    run_ids = table.column("run_id").to_pylist()
    registry_index = np.fromiter((lookup.get(run_id, -1) for run_id in run_ids), dtype=np.int64, count=len(run_ids))
    shards = np.asarray(table.column("shard").to_pylist(), dtype=object)
    known = registry_index >= 0
    keep = np.zeros(len(run_ids), dtype=bool)
    keep[known] = shards[known] == rows["shard"][registry_index[known]]
    return registry_index, keep


def last_per_key(keys: np.ndarray) -> np.ndarray:
    """Return a mask that is True at the last occurrence of each value of `keys`."""
    reversed_first = np.unique(keys[::-1], return_index=True)[1]
    mask = np.zeros(len(keys), dtype=bool)
    mask[len(keys) - 1 - reversed_first] = True
    return mask


def build_sparse(
    rows: dict[str, np.ndarray],
    table: pa.Table,
    offsets: Sequence[int],
    d_sae: int,
    pool: str,
    newest_per_prompt: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
) -> tuple[Any, dict[str, np.ndarray], np.ndarray]:
    """Build the CSR matrix of the prompts in `rows` from the feature rows in `table`.

    `newest_per_prompt` reduces registry columns to one run per prompt. Returns the matrix, the
    registry columns of its rows in registry order, and `valid` (n_prompts, n_positions): whether
    the prompt has a stored row at each offset.

    With several offsets, `pool` is one of:
    - `max`: the largest stored value of each feature over the positions. Inactive entries are
      ignored, so this equals max pooling only for non-negative activations (ReLU, JumpReLU, TopK).
    - `mean`: the sum over the stored positions divided by their number.
    - `concat`: position j takes columns j * d_sae to (j + 1) * d_sae.
    """
    import scipy.sparse as sp

    registry_index, keep = match_registry(rows, table)
    has_data = np.zeros(len(rows["run_id"]), dtype=bool)
    has_data[registry_index[keep]] = True
    order = np.flatnonzero(has_data)
    selected = newest_per_prompt({**{key: column[order] for key, column in rows.items()}, "_index": order})
    prompt_of_run = np.full(len(rows["run_id"]), -1, dtype=np.int64)
    prompt_of_run[selected["_index"]] = np.arange(len(selected["_index"]))
    del selected["_index"]

    prompt = np.full(len(keep), -1, dtype=np.int64)
    prompt[keep] = prompt_of_run[registry_index[keep]]
    sorted_offsets = np.asarray(sorted(offsets))
    position_order = np.argsort(np.asarray(offsets))
    positions = table.column("position").to_numpy()
    position_index = position_order[np.searchsorted(sorted_offsets, positions)]

    n_prompts, n_positions = len(selected["run_id"]), len(offsets)
    # A run written twice to its own shard (a retried flush) keeps its last row at each position.
    use = prompt >= 0
    cell = prompt * n_positions + position_index
    use[use] &= last_per_key(cell[use])
    valid = np.zeros((n_prompts, n_positions), dtype=bool)
    valid[prompt[use], position_index[use]] = True

    rows_used = np.flatnonzero(use)
    rows_used = rows_used[np.argsort(cell[rows_used], kind="stable")]
    picked = table.select(["feat_idx", "feat_val"]).take(pa.array(rows_used))
    feat_idx = picked.column("feat_idx").combine_chunks()
    lengths = pc.list_value_length(feat_idx).to_numpy(zero_copy_only=False).astype(np.int64)
    columns = feat_idx.flatten().to_numpy().astype(np.int64)
    data = picked.column("feat_val").combine_chunks().flatten().to_numpy()
    entry_prompt = np.repeat(prompt[rows_used], lengths)

    if pool == "concat":
        columns += np.repeat(position_index[rows_used], lengths) * d_sae
    width = d_sae * n_positions if pool == "concat" else d_sae
    if n_positions == 1 or pool == "concat":
        # Entries are already grouped by prompt, so the CSR arrays are built directly.
        indptr = np.zeros(n_prompts + 1, dtype=np.int64)
        np.cumsum(np.bincount(entry_prompt, minlength=n_prompts), out=indptr[1:])
        matrix = sp.csr_matrix((data, columns, indptr), shape=(n_prompts, width))
    elif pool == "mean":
        matrix = sp.csr_matrix((data, (entry_prompt, columns)), shape=(n_prompts, width))
        counts = np.maximum(valid.sum(axis=1), 1).astype(np.float32)
        matrix = sp.csr_matrix(sp.diags(1.0 / counts) @ matrix, dtype=np.float32)
    else:
        key = entry_prompt * width + columns
        order = np.argsort(key, kind="stable")
        key, data = key[order], data[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        maxima = np.maximum.reduceat(data, starts) if len(data) else data
        matrix = sp.csr_matrix((maxima, (key[starts] // width, key[starts] % width)), shape=(n_prompts, width))
    return matrix, selected, valid


def load_sparse(
    rows: dict[str, np.ndarray],
    table: pa.Table,
    offsets: Sequence[int],
    d_sae: int,
    pool: str,
    newest_per_prompt: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
    keep_invalid: bool,
) -> tuple[Any, dict[str, np.ndarray], np.ndarray]:
    """Run `build_sparse`, then drop prompts without the positions `pool` needs unless `keep_invalid`.

    `concat` needs a stored row at every offset, `mean` and `max` at one offset at least.
    """
    matrix, selected, valid = build_sparse(rows, table, offsets, d_sae, pool, newest_per_prompt)
    usable = valid.all(axis=1) if pool == "concat" else valid.any(axis=1)
    if keep_invalid or usable.all():
        return matrix, selected, valid
    logger.warning(
        "dropped %d of %d prompts without features at positions %s (pass keep_invalid=True to keep them)",
        int((~usable).sum()),
        len(usable),
        list(offsets),
    )
    return matrix[usable], {key: column[usable] for key, column in selected.items()}, valid[usable]


def top_prompts(
    registry: RunRegistry,
    reader: SparseFeatureReader,
    feature: int,
    dictionary: str,
    layer: int,
    position: int,
    k: int,
) -> list[dict[str, Any]]:
    """Return up to `k` completed prompts with the largest value of `feature`, largest first.

    Each item has run_id, prompt_id, dataset_id, labels (a dict) and value (see `add_prompt_texts`
    for the text). Candidates from the
    `sae_feature_index` table are checked in batches, so only the top candidates reach the registry.
    NOTE: a run counts as superseded when a newer completed run has the same run_key, even if
    that newer run has no row at this site, while `load` would then keep the older run.
    """
    entries = reader.feature_entries(feature, dictionary, layer, position)
    values = entries.column("value").to_numpy()
    order = np.argsort(-values, kind="stable")
    results: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for start in range(0, len(order), CANDIDATE_BATCH):
        batch = order[start : start + CANDIDATE_BATCH]
        run_ids = entries.column("run_id").take(pa.array(batch)).to_pylist()
        shards = entries.column("shard").take(pa.array(batch)).to_pylist()
        # Status is checked here, not in SQL: with a status filter SQLite 3 picks the status index and
        # scans every completed run (0.3 s per query at 1M runs, measured) instead of using the run_id
        # and run_key indexes.
        records = {
            record.run_id: record for record in registry.runs({"run_id": run_ids}) if record.status == "completed"
        }
        keys = sorted({record.run_key for record in records.values()})
        newest = {
            record.run_key: record.run_id for record in registry.runs({"run_key": keys}) if record.status == "completed"
        }
        for run_id, shard, value in zip(run_ids, shards, values[batch].tolist(), strict=True):
            record = records.get(run_id)
            if record is None or record.shard != shard or newest[record.run_key] != run_id:
                continue
            prompt = (record.dataset_id, record.prompt_id)
            if prompt in seen:
                continue
            seen.add(prompt)
            results.append(
                {
                    "run_id": run_id,
                    "prompt_id": record.prompt_id,
                    "dataset_id": record.dataset_id,
                    "labels": record.labels,
                    "value": value,
                }
            )
            if len(results) == k:
                return results
    return results


def add_prompt_texts(outputs: OutputReader | None, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Set `text` of each item to its prompt as rendered for the model, or None where no output row has it."""
    texts = outputs.prompt_texts([item["run_id"] for item in items]) if outputs is not None else {}
    for item in items:
        item["text"] = texts.get(item["run_id"])
    return items


def feature_frequency(matrix: Any, groups: np.ndarray, feature: int | None) -> dict[Any, Any]:
    """Return `{group: share of its prompts where the feature is active}`.

    With `feature=None`, each share is an array of length d_sae, one entry per feature.
    """
    active = matrix[:, [feature]] if feature is not None else matrix
    shares: dict[Any, Any] = {}
    for group in sorted(set(groups.tolist()), key=str):
        members = np.flatnonzero(groups == group)
        counts = np.asarray((active[members] != 0).sum(axis=0)).ravel() / len(members)
        shares[group] = float(counts[0]) if feature is not None else counts
    return shares
