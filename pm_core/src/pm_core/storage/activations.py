"""Append dense activations to one writer's own zarr shard.

Each writer owns one shard group under `<output_dir>/activations/`, and a lock file keeps
a second writer off it. Appends never touch a shared array: resizing a shared array from
several processes loses rows without an error, because each one works from a stale shape.

Rows are buffered in memory and written once `flush_rows` rows wait, or when `flush` is
called. `flush` returns a `RowLocation` for every row written since the previous `flush`
call, including rows that `append` wrote on its own, and for no other row. So a caller
that marks runs completed only from those locations points the registry at written rows
only, and gets the location of every row that was written.

NOTE: written chunks reach the operating system but are not fsynced, so a killed process
loses nothing that a flush returned, but a power loss may.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import zarr
import zarr.errors
from zarr.storage import LocalStore

from pm_core.errors import StorageError
from pm_core.storage.activation_reader import ActivationReader
from pm_core.storage.layout import (
    ACTIVATIONS_DIR,
    LAYOUT_VERSION,
    RUN_ID_BYTES,
    Site,
    check_name,
    default_chunk_rows,
    encode_run_ids,
    site_array_name,
)
from pm_core.storage.locks import acquire_writer_lock, release_writer_lock

__all__ = ["ActivationReader", "ActivationWriter", "RowLocation", "open_activations_root"]

logger = logging.getLogger(__name__)

DTYPES = ("float32", "float16")


class RowLocation(NamedTuple):
    """Location of one run's row: its shard and its row index in that shard."""

    run_id: str
    shard: str
    row: int


def open_activations_root(output_dir: Path) -> zarr.Group:
    """Open the `activations` group of an output directory for writing, creating it if missing."""
    store = LocalStore(output_dir / ACTIVATIONS_DIR)
    try:
        return zarr.open_group(store=store, mode="a")
    except zarr.errors.ContainsGroupError:
        # Another writer created the group between our check and our create.
        return zarr.open_group(store=store, mode="r+")


class ActivationWriter:
    """Buffers activation rows of one shard and appends them to its zarr arrays.

    Args:
        output_dir: the run's output directory.
        shard_id: name of this writer's shard, unique among the writers of the output directory.
            Opening an existing shard with the same sites, offsets, d_model and dtype appends to it.
        sites: (hook point, layer) pairs that every `append` must provide.
        offsets: token positions stored per row, counted from the end of the prompt (-1 is the last token).
        d_model: width of each activation vector.
        dtype: "float32" or "float16", the stored type.
        flush_rows: number of buffered rows at which `append` writes the buffer; defaults to the chunk rows.
        chunk_rows: rows per chunk; defaults to about 16 MiB per chunk, at most 4096 rows.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike[str],
        shard_id: str,
        sites: Sequence[Site],
        offsets: Sequence[int],
        d_model: int,
        dtype: str = "float32",
        *,
        flush_rows: int | None = None,
        chunk_rows: int | None = None,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.shard_id = check_name("shard id", shard_id)
        self.sites = [(str(hook), int(layer)) for hook, layer in sites]
        self.offsets = tuple(int(offset) for offset in offsets)
        self.d_model = int(d_model)
        self.dtype = str(dtype)
        self._array_names = {site: site_array_name(site) for site in self.sites}
        self._check_settings()
        itemsize = np.dtype(self.dtype).itemsize
        self.chunk_rows = int(chunk_rows or default_chunk_rows(self.d_model, itemsize))
        self.flush_rows = int(flush_rows or self.chunk_rows)

        self._lock = acquire_writer_lock(self.output_dir, f"activations-{self.shard_id}")
        try:
            self._group = self._open_shard()
        except BaseException:
            release_writer_lock(self._lock)
            raise
        self.n_rows: int = int(self._group.attrs["n_rows"])
        """Rows written to the shard so far; the next write starts at this row."""
        self._buffer: list[tuple[list[str], dict[Site, np.ndarray], np.ndarray, np.ndarray]] = []
        self.buffered_rows = 0
        self._written: list[RowLocation] = []
        """Rows written since the last `flush` call returned, waiting to be reported."""

    def _check_settings(self) -> None:
        if not self.sites:
            msg = f"shard {self.shard_id!r} needs at least one site (hook point, layer)"
            raise ValueError(msg)
        if len(set(self.sites)) != len(self.sites):
            msg = f"sites {self.sites} of shard {self.shard_id!r} contain a repeated site"
            raise ValueError(msg)
        if not self.offsets or len(set(self.offsets)) != len(self.offsets) or max(self.offsets) >= 0:
            msg = f"invalid offsets {self.offsets}: expected distinct negative offsets from the end of the prompt"
            raise ValueError(msg)
        if self.d_model <= 0:
            msg = f"invalid d_model {self.d_model}: expected a positive int"
            raise ValueError(msg)
        if self.dtype not in DTYPES:
            msg = f"invalid activation dtype {self.dtype!r}: expected one of {', '.join(DTYPES)}"
            raise ValueError(msg)

    def _settings(self) -> dict[str, object]:
        return {
            "layout_version": LAYOUT_VERSION,
            "sites": [list(site) for site in self.sites],
            "offsets": list(self.offsets),
            "d_model": self.d_model,
            "dtype": self.dtype,
        }

    def _open_shard(self) -> zarr.Group:
        root = open_activations_root(self.output_dir)
        if self.shard_id in root:
            group = root[self.shard_id]
            stored = {key: group.attrs.get(key) for key in self._settings()}
            if stored != self._settings():
                msg = (
                    f"shard {self.shard_id!r} in {str(self.output_dir)!r} was written with {stored}, "
                    f"not {self._settings()}; use a new shard id for other settings"
                )
                raise StorageError(msg)
            logger.info("appending to shard %s at row %s", self.shard_id, group.attrs["n_rows"])
            return group

        group = root.create_group(self.shard_id, attributes={**self._settings(), "n_rows": 0})
        n_positions = len(self.offsets)
        for name in self._array_names.values():
            group.create_array(
                name,
                shape=(0, n_positions, self.d_model),
                # One position per chunk, so reading one position of a site reads nothing else.
                chunks=(self.chunk_rows, 1, self.d_model),
                dtype=self.dtype,
                compressors=None,
                fill_value=0,
            )
        group.create_array(
            "valid", shape=(0, n_positions), chunks=(self.chunk_rows, n_positions), dtype="bool", fill_value=False
        )
        group.create_array(
            "token_positions",
            shape=(0, n_positions),
            chunks=(self.chunk_rows, n_positions),
            dtype="int32",
            fill_value=-1,
        )
        group.create_array(
            "run_id", shape=(0, RUN_ID_BYTES), chunks=(self.chunk_rows, RUN_ID_BYTES), dtype="uint8", fill_value=0
        )
        logger.info("created shard %s with sites %s and offsets %s", self.shard_id, self.sites, self.offsets)
        return group

    def append(
        self,
        run_ids: Sequence[str],
        activations: Mapping[Site, np.ndarray],
        valid: np.ndarray,
        token_positions: np.ndarray,
    ) -> None:
        """Buffer one batch, and write the buffer once `flush_rows` rows wait.

        Args:
            run_ids: one run id per row, B in all.
            activations: per site, an array [B, n_positions, d_model] in the order of `offsets`.
            valid: [B, n_positions] bool, False where the prompt is shorter than the offset.
            token_positions: [B, n_positions] int, each position counted from the start of the prompt.

        The locations of rows written here are returned by the next `flush`.
        """
        if self._lock < 0:
            msg = f"the writer of shard {self.shard_id!r} is closed; open a new ActivationWriter to append"
            raise StorageError(msg)
        batch = self._check_batch(run_ids, activations, valid, token_positions)
        self._buffer.append(batch)
        self.buffered_rows += len(batch[0])
        if self.buffered_rows >= self.flush_rows:
            self._write_buffer()

    def _check_batch(
        self,
        run_ids: Sequence[str],
        activations: Mapping[Site, np.ndarray],
        valid: np.ndarray,
        token_positions: np.ndarray,
    ) -> tuple[list[str], dict[Site, np.ndarray], np.ndarray, np.ndarray]:
        ids = list(run_ids)
        expected = (len(ids), len(self.offsets), self.d_model)
        given = {(str(hook), int(layer)): array for (hook, layer), array in activations.items()}
        if set(given) != set(self.sites):
            msg = (
                f"activations for shard {self.shard_id!r} cover sites {sorted(given)}, "
                f"expected exactly {sorted(self.sites)}"
            )
            raise ValueError(msg)
        arrays: dict[Site, np.ndarray] = {}
        for site, array in given.items():
            array = np.asarray(array)
            if array.shape != expected:
                msg = (
                    f"activations at site {site} have shape {array.shape}, expected {expected} (rows, offsets, d_model)"
                )
                raise ValueError(msg)
            # Checked after the cast, because a finite float32 value can overflow float16.
            # The overflow is reported by the check below, so numpy's warning is silenced.
            with np.errstate(over="ignore"):
                array = array.astype(self.dtype, copy=False)
            finite = np.isfinite(array).all(axis=(1, 2))
            if not finite.all():
                bad = [ids[i] for i in np.flatnonzero(~finite)[:5]]
                msg = (
                    f"activations at site {site} are not finite in {self.dtype} for runs {bad}; "
                    "mark those runs failed instead of storing them"
                )
                raise ValueError(msg)
            arrays[site] = array
        valid = np.asarray(valid)
        token_positions = np.asarray(token_positions)
        for name, array in (("valid", valid), ("token_positions", token_positions)):
            if array.shape != expected[:2]:
                msg = f"{name} has shape {array.shape}, expected {expected[:2]} (rows, offsets)"
                raise ValueError(msg)
        encode_run_ids(ids)  # rejects an invalid run id now rather than at flush
        return ids, arrays, valid.astype(bool), token_positions.astype(np.int32)

    def flush(self) -> list[RowLocation]:
        """Write every buffered row, then return the locations of all rows written since the previous flush."""
        self._write_buffer()
        locations, self._written = self._written, []
        return locations

    def _write_buffer(self) -> None:
        if not self._buffer:
            return
        run_ids = [run_id for batch in self._buffer for run_id in batch[0]]
        start, end = self.n_rows, self.n_rows + len(run_ids)

        columns: dict[str, np.ndarray] = {}
        for site, name in self._array_names.items():
            columns[name] = np.concatenate([batch[1][site] for batch in self._buffer])
        columns["valid"] = np.concatenate([batch[2] for batch in self._buffer])
        columns["token_positions"] = np.concatenate([batch[3] for batch in self._buffer])
        columns["run_id"] = encode_run_ids(run_ids)

        for name, data in columns.items():
            array = self._group[name]
            # Rows past n_rows are left over from a flush that was killed part way; overwrite them.
            array.resize((end, *array.shape[1:]))
            array[start:end] = data
        # n_rows is raised last, so a reader that trusts it never reads a half-written row.
        self._group.attrs["n_rows"] = end

        self._buffer.clear()
        self.buffered_rows = 0
        self.n_rows = end
        logger.debug("shard %s: wrote rows %d to %d", self.shard_id, start, end)
        self._written.extend(RowLocation(run_id, self.shard_id, row) for row, run_id in enumerate(run_ids, start=start))

    def close(self) -> list[RowLocation]:
        """Flush, release the shard, and return what `flush` returned."""
        locations = self.flush()
        if self._lock >= 0:
            release_writer_lock(self._lock)
            self._lock = -1
        return locations
