"""Read dense activations back from the shards of an output directory.

`read` gathers rows by (shard, row) location, as the run registry stores them. It reads
whole chunks of the requested position only, one call per run of consecutive chunks, and
copies the selected rows out, so reading every row of a shard costs one pass over its data.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.core.buffer import default_buffer_prototype
from zarr.storage import LocalStore

from pm_core.errors import StorageError
from pm_core.storage.layout import ACTIVATIONS_DIR, LAYOUT_VERSION, Site, decode_run_ids, site_array_name

logger = logging.getLogger(__name__)

# NOTE: `out=` buffers come from zarr.core.buffer, which zarr 3.1 documents but may still change.
_PROTOTYPE = default_buffer_prototype()


def _as_numpy(values: Any) -> np.ndarray:
    """Convert a list, numpy array, pandas series, or pyarrow array or chunked array to numpy."""
    if type(values).__module__.startswith("pyarrow"):
        return values.to_numpy(zero_copy_only=False)
    return np.asarray(values)


class ActivationReader:
    """Reads the activation shards under `<output_dir>/activations/`.

    Each shard's attributes, `n_rows` included, are read once, on first use, so rows that a
    writer adds later are not visible until a new reader is opened.
    """

    def __init__(self, output_dir: str | os.PathLike[str]) -> None:
        self.output_dir = Path(output_dir)
        path = self.output_dir / ACTIVATIONS_DIR
        if not (path / "zarr.json").is_file():
            msg = (
                f"no activations in {str(self.output_dir)!r}: {str(path)!r} is not a zarr group; was anything captured?"
            )
            raise StorageError(msg)
        self._root = zarr.open_group(store=LocalStore(path, read_only=True), mode="r")
        self._groups: dict[str, zarr.Group] = {}

    def shards(self) -> list[str]:
        """Return the shard ids, sorted."""
        return sorted(self._root.group_keys())

    def _group(self, shard: str) -> zarr.Group:
        group = self._groups.get(shard)
        if group is None:
            try:
                group = self._root[shard]
            except KeyError:
                msg = f"shard {shard!r} not found in {str(self.output_dir)!r}; it contains shards {self.shards()}"
                raise StorageError(msg) from None
            version = group.attrs.get("layout_version")
            if version != LAYOUT_VERSION:
                msg = f"shard {shard!r} has layout version {version!r}; this pm reads version {LAYOUT_VERSION}"
                raise StorageError(msg)
            self._groups[shard] = group
        return group

    def _shard_sites(self, shard: str) -> list[Site]:
        return [(hook, int(layer)) for hook, layer in self._group(shard).attrs["sites"]]

    def _shard_offsets(self, shard: str) -> tuple[int, ...]:
        return tuple(int(offset) for offset in self._group(shard).attrs["offsets"])

    def shards_with(self, site: Site, offsets: Sequence[int]) -> set[str]:
        """Return the shards that store `site` at every one of `offsets`."""
        return {
            shard
            for shard in self.shards()
            if site in self._shard_sites(shard) and set(offsets) <= set(self._shard_offsets(shard))
        }

    def all_sites(self) -> list[Site]:
        """Return the sites stored in any shard, sorted."""
        return sorted({site for shard in self.shards() for site in self._shard_sites(shard)})

    def all_offsets(self) -> list[int]:
        """Return the offsets stored in any shard, sorted."""
        return sorted({offset for shard in self.shards() for offset in self._shard_offsets(shard)})

    def sites(self) -> list[Site]:
        """Return the sites stored in every shard, sorted."""
        shards = self.shards()
        if not shards:
            return []
        common = set(self._shard_sites(shards[0]))
        for shard in shards[1:]:
            common &= set(self._shard_sites(shard))
        return sorted(common)

    def offsets(self) -> tuple[int, ...]:
        """Return the offsets stored in every shard, in the first shard's order."""
        shards = self.shards()
        if not shards:
            return ()
        first = self._shard_offsets(shards[0])
        common = set(first)
        for shard in shards[1:]:
            common &= set(self._shard_offsets(shard))
        return tuple(offset for offset in first if offset in common)

    def n_rows(self, shard: str) -> int:
        """Return the number of complete rows in `shard`."""
        return int(self._group(shard).attrs["n_rows"])

    def run_ids(self, shard: str) -> list[str]:
        """Return the run id stored with each complete row of `shard`, in row order."""
        return decode_run_ids(self._group(shard)["run_id"][: self.n_rows(shard)])

    def read(self, site: Site, offsets: Sequence[int], shards: Any, rows: Any) -> tuple[np.ndarray, np.ndarray]:
        """Read the activations of `site` at `offsets` for the rows at (shards[i], rows[i]).

        Args:
            site: (hook point, layer).
            offsets: stored offsets from the end of the prompt, in the order wanted.
            shards, rows: equal-length 1-d sequences (lists, numpy or pyarrow arrays), such as
                the `shard` and `row` columns of `RunRegistry.completed_rows()`.

        Returns:
            X: float32 [n, len(offsets), d_model], in the order of the locations.
            valid: bool [n, len(offsets)], False where a prompt was shorter than the offset.
        """
        name = site_array_name(site)
        offsets = [int(offset) for offset in offsets]
        shards = _as_numpy(shards)
        rows = _as_numpy(rows).astype(np.int64, copy=False)
        if shards.shape != rows.shape or shards.ndim != 1:
            msg = f"shards and rows must be 1-d and of equal length, got shapes {shards.shape} and {rows.shape}"
            raise ValueError(msg)

        unique_shards, inverse = np.unique(shards.astype(str), return_inverse=True)
        # With no locations, X still gets the stored width, so empty results concatenate cleanly.
        d_model = self._d_model([str(shard) for shard in unique_shards] or self.shards()[:1])
        X = np.empty((len(rows), len(offsets), d_model), dtype=np.float32)
        valid = np.empty((len(rows), len(offsets)), dtype=bool)
        for index, shard in enumerate(unique_shards):
            targets = np.flatnonzero(inverse == index)
            self._read_shard(str(shard), name, offsets, rows[targets], targets, X, valid)
        return X, valid

    def _d_model(self, shards: list[str]) -> int:
        widths = {shard: int(self._group(shard).attrs["d_model"]) for shard in shards}
        if len(set(widths.values())) > 1:
            msg = f"shards store different d_model values {widths}; read them separately"
            raise StorageError(msg)
        return next(iter(widths.values()), 0)

    def _read_shard(
        self,
        shard: str,
        name: str,
        offsets: list[int],
        rows: np.ndarray,
        targets: np.ndarray,
        X: np.ndarray,
        valid: np.ndarray,
    ) -> None:
        """Copy `rows` of one shard into `X[targets]` and `valid[targets]`."""
        group = self._group(shard)
        stored_offsets = self._shard_offsets(shard)
        missing = [offset for offset in offsets if offset not in stored_offsets]
        if name not in group or missing:
            msg = (
                f"shard {shard!r} has no {f'offsets {missing}' if missing else f'site {name!r}'}; "
                f"it stores sites {self._shard_sites(shard)} at offsets {list(stored_offsets)}"
            )
            raise StorageError(msg)
        n_rows = self.n_rows(shard)
        if rows.size and (rows.min() < 0 or rows.max() >= n_rows):
            bad = rows[(rows < 0) | (rows >= n_rows)][:5].tolist()
            msg = f"rows {bad} are out of range for shard {shard!r}, which has {n_rows} complete rows"
            raise StorageError(msg)

        array = group[name]
        positions = [stored_offsets.index(offset) for offset in offsets]
        valid_rows = group["valid"]
        runs = _chunk_runs(np.sort(rows), array.chunks[0], n_rows)
        # One scratch block, reused for every run, saves allocating (and page-faulting) a new one per read.
        scratch = np.empty((max((stop - start for start, stop in runs), default=0), X.shape[2]), dtype=array.dtype)

        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        sorted_targets = targets[order]
        for start, stop in runs:
            first, last = np.searchsorted(sorted_rows, [start, stop])
            local = sorted_rows[first:last] - start
            destination = sorted_targets[first:last]
            in_place = array.dtype == X.dtype and _is_range(local, 0, stop - start) and _is_range(destination)
            for column, position in enumerate(positions):
                selection = (slice(start, stop), position, slice(None))
                if in_place:
                    # Every row of the run goes to consecutive rows of X: decode straight into X.
                    view = X[destination[0] : destination[-1] + 1, column, :]
                    array.get_basic_selection(selection, out=_PROTOTYPE.nd_buffer.from_numpy_array(view))
                else:
                    block = scratch[: stop - start]
                    array.get_basic_selection(selection, out=_PROTOTYPE.nd_buffer.from_numpy_array(block))
                    X[destination, column, :] = block[local]
            valid[destination] = valid_rows[start:stop][local][:, positions]


def _is_range(values: np.ndarray, start: int | None = None, length: int | None = None) -> bool:
    """Return whether `values` is consecutive ascending integers, from `start` and of `length` when given."""
    if values.size == 0:
        return False
    if start is not None and values[0] != start:
        return False
    if length is not None and values.size != length:
        return False
    return bool(values[-1] - values[0] == values.size - 1 and np.all(np.diff(values) == 1))


def _chunk_runs(sorted_rows: np.ndarray, chunk_rows: int, n_rows: int) -> list[tuple[int, int]]:
    """Return [start, stop) row ranges that cover the chunks holding `sorted_rows`, one per run of adjacent chunks."""
    if sorted_rows.size == 0:
        return []
    chunks = np.unique(sorted_rows // chunk_rows)
    breaks = np.flatnonzero(np.diff(chunks) != 1)
    run_starts = np.concatenate([[chunks[0]], chunks[breaks + 1]])
    run_ends = np.concatenate([chunks[breaks], [chunks[-1]]])
    return [
        (int(first) * chunk_rows, min(n_rows, (int(last) + 1) * chunk_rows))
        for first, last in zip(run_starts, run_ends, strict=True)
    ]
