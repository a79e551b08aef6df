"""Fold planning for LODO (merges and the minimum fold size) and the stratified random split."""

from __future__ import annotations

import logging
from collections import Counter

import attrs
import numpy as np

from pm_core.errors import ConfigError

logger = logging.getLogger(__name__)


@attrs.frozen
class FoldPlan:
    """The fold structure of one LODO run.

    A dataset smaller than the minimum size gets no fold of its own. Its rows still
    train every fold, the random split and the final model, because dropping them
    would quietly change what the other folds learn from.
    """

    #: Fold group of each row, shape (n_prompts,): the dataset name after merges.
    groups: np.ndarray
    #: Groups held out in turn, sorted by name.
    held_out: list[str]
    #: Original dataset names in each group.
    members: dict[str, list[str]]
    #: One record per group that is not held out: `{"group", "datasets", "n", "reason"}`.
    skipped: list[dict]


def _check_merge(names: set[str], merge: dict[str, str]) -> None:
    unknown = sorted(set(merge) - names)
    if unknown:
        msg = f"merge: unknown dataset(s) {unknown}; datasets are {sorted(names)}"
        raise ConfigError(msg)
    chained = sorted(set(merge) & set(merge.values()))
    if chained:
        msg = (
            f"merge: {chained} are both merged away and merge targets; "
            "point every dataset straight at its final group name"
        )
        raise ConfigError(msg)


def plan_folds(
    datasets: np.ndarray,
    merge: dict[str, str] | None = None,
    min_size: int = 10,
    small_group: str | None = None,
) -> FoldPlan:
    """Group rows into folds.

    `merge` maps a dataset name to the group it joins, which may be another dataset or a
    new name. Then every group with fewer than `min_size` prompts is either moved into
    `small_group` (when given) or left without a fold of its own, with a warning. A
    `small_group` still under `min_size` is left out the same way.
    """
    datasets = np.asarray(datasets, dtype=object)
    merge = dict(merge or {})
    _check_merge(set(datasets.tolist()), merge)
    groups = np.array([merge.get(name, name) for name in datasets.tolist()], dtype=object)

    sizes = Counter(groups.tolist())
    small = sorted(name for name, size in sizes.items() if size < min_size)
    if small and small_group is not None:
        logger.warning(
            "datasets %s have fewer than %d prompts each; merged into group %r", small, min_size, small_group,
        )
        groups = np.array([small_group if name in small else name for name in groups.tolist()], dtype=object)
        sizes = Counter(groups.tolist())

    members: dict[str, list[str]] = {}
    for group, name in zip(groups.tolist(), datasets.tolist(), strict=True):
        members.setdefault(group, [])
        if name not in members[group]:
            members[group].append(name)
    members = {group: sorted(names) for group, names in sorted(members.items())}

    skipped = []
    for group in sorted(sizes):
        if sizes[group] < min_size:
            logger.warning(
                "dataset %r has %d prompts, fewer than min_size %d: it gets no fold of its own, "
                "and its rows stay in every fold's training set",
                group, sizes[group], min_size,
            )
            skipped.append({"group": group, "datasets": members[group], "n": sizes[group], "reason": "below_min_size"})
    held_out = sorted(group for group in sizes if sizes[group] >= min_size)
    if len(sizes) < 2:
        msg = f"leave-one-dataset-out needs at least two datasets after merges; found {sorted(sizes)}"
        raise ConfigError(msg)
    if not held_out:
        msg = f"no dataset has min_size {min_size} prompts: sizes are {dict(sorted(sizes.items()))}"
        raise ConfigError(msg)
    return FoldPlan(groups=groups, held_out=held_out, members=members, skipped=skipped)


def random_split(groups: np.ndarray, y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return seeded `(train, test)` indices with `test_fraction` of every (group, label) stratum in test.

    Every stratum of two or more rows gives at least one test row and keeps at least one
    training row, so each dataset appears on both sides.
    """
    if not 0.0 < test_fraction < 1.0:
        msg = f"random split test fraction must be in (0, 1); got {test_fraction!r}"
        raise ConfigError(msg)
    rng = np.random.default_rng(seed)
    _, group_codes = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    strata = group_codes * 2 + (np.asarray(y) == 1)
    test_parts = []
    for stratum in np.unique(strata):
        rows = rng.permutation(np.flatnonzero(strata == stratum))
        if len(rows) < 2:
            continue
        n_test = min(max(int(round(test_fraction * len(rows))), 1), len(rows) - 1)
        test_parts.append(rows[:n_test])
    test = np.sort(np.concatenate(test_parts)) if test_parts else np.array([], dtype=np.int64)
    train = np.setdiff1d(np.arange(len(strata)), test, assume_unique=True)
    return train, test
