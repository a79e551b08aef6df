"""Sparse dictionary (SAE, transcoder) features per run, in LanceDB tables under `<output_dir>/features.lance`.

- `sae_features`: one row per (run, writer shard, dictionary, layer, position) with the active
  feature indices and values. `position` is the token offset from the end of the prompt (-1 is
  the last token). Readers keep a row only if its shard is the one the registry records for the run.
- `sae_feature_index`: the same data exploded to one row per active feature (feat_idx, value,
  run_id, shard and a hash of the site), written in the same flush. It finds the prompts with the
  largest value of one feature without reading every row. `create_feature_index` adds a BTREE
  index on `feat_idx`. Rows appended after that are still found, because LanceDB also scans
  fragments that the index does not cover.
- `sae_dictionaries`: each dictionary's `d_sae` (number of features), one row per writer that declared it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pm_core.errors import ConfigError, StorageError
from pm_core.storage.lance_tables import BatchedTableWriter, build_btree_index, open_table
from pm_core.storage.layout import LANCE_DIR

if TYPE_CHECKING:
    from lancedb.table import Table

FEATURES_TABLE = "sae_features"
INDEX_TABLE = "sae_feature_index"
DICTIONARIES_TABLE = "sae_dictionaries"

FEATURES_SCHEMA = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("shard", pa.string()),
        pa.field("dictionary", pa.string()),
        pa.field("layer", pa.int32()),
        pa.field("position", pa.int32()),
        pa.field("feat_idx", pa.list_(pa.int32())),
        pa.field("feat_val", pa.list_(pa.float32())),
    ]
)

INDEX_SCHEMA = pa.schema(
    [
        pa.field("feat_idx", pa.int32()),
        pa.field("value", pa.float32()),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("shard", pa.string()),
        pa.field("site", pa.int64()),
    ]
)
"""One row per active feature. `site` is `site_key(dictionary, layer, position)`, one column in place of
three because every column read adds to the random reads of a lookup."""

DICTIONARIES_SCHEMA = pa.schema([pa.field("dictionary", pa.string()), pa.field("d_sae", pa.int32())])


def quote(value: str) -> str:
    """Return `value` as a SQL string literal for a LanceDB filter."""
    return "'" + value.replace("'", "''") + "'"


def site_key(dictionary: str, layer: int, position: int) -> int:
    """Return a signed 64-bit BLAKE2b hash of (dictionary, layer, position).

    Two sites collide with probability about 2**-64 per pair, so collisions are ignored.
    """
    text = f"{dictionary}\x00{int(layer)}\x00{int(position)}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little", signed=True)


def site_filter(dictionary: str, layer: int, positions: Sequence[int]) -> str:
    """Return the LanceDB filter that selects one dictionary and layer at the given positions."""
    listed = ", ".join(str(int(position)) for position in positions)
    return f"dictionary = {quote(dictionary)} AND layer = {int(layer)} AND position IN ({listed})"


class SparseFeatureWriter:
    """Buffers sparse feature rows of one writer shard and commits them once per flush.

    Each flush makes one append to `sae_features` and one to `sae_feature_index`, so many
    writer processes can share the tables, and readers see every flushed row during a run.
    `flush` returns the run ids committed, for `RunRegistry.mark_completed`.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike[str],
        shard_id: str,
        *,
        flush_rows: int = 1024,
        write_index: bool = True,
    ) -> None:
        if flush_rows <= 0:
            msg = f"invalid flush_rows {flush_rows}: expected a positive int"
            raise ValueError(msg)
        database = Path(output_dir) / LANCE_DIR
        self.shard_id = shard_id
        self.flush_rows = flush_rows
        # The batched writers only commit when `flush` is called, because this class decides when.
        self._features = BatchedTableWriter(database, FEATURES_TABLE, FEATURES_SCHEMA, flush_rows=2**62)
        self._index = BatchedTableWriter(database, INDEX_TABLE, INDEX_SCHEMA, flush_rows=2**62) if write_index else None
        self._dictionaries = BatchedTableWriter(database, DICTIONARIES_TABLE, DICTIONARIES_SCHEMA, flush_rows=1)
        self._d_sae: dict[str, int] = {}
        self._rows: list[tuple[str, str, int, int]] = []
        self._indices: list[np.ndarray] = []
        self._values: list[np.ndarray] = []
        self._committed: list[str] = []
        """Run ids committed since the last `flush` call returned."""

    @property
    def buffered_rows(self) -> int:
        """Rows added but not yet committed."""
        return len(self._rows)

    def declare_dictionary(self, dictionary: str, d_sae: int) -> None:
        """Record that `dictionary` has `d_sae` features; `add` then rejects indices outside [0, d_sae)."""
        if int(d_sae) <= 0:
            msg = f"invalid d_sae {d_sae!r} for dictionary {dictionary!r}: expected a positive int"
            raise ValueError(msg)
        if self._d_sae.get(dictionary) == int(d_sae):
            return
        self._d_sae[dictionary] = int(d_sae)
        self._dictionaries.add({"dictionary": dictionary, "d_sae": int(d_sae)})

    def add(
        self,
        run_id: str,
        dictionary: str,
        layer: int,
        position: int,
        indices: Sequence[int] | np.ndarray,
        values: Sequence[float] | np.ndarray,
    ) -> None:
        """Buffer the active features of one run at one site; commit once `flush_rows` rows wait."""
        indices = np.asarray(indices, dtype=np.int32).ravel()
        values = np.asarray(values, dtype=np.float32).ravel()
        if len(indices) != len(values):
            msg = f"run {run_id!r}: {len(indices)} feature indices but {len(values)} values; expected equal lengths"
            raise ValueError(msg)
        d_sae = self._d_sae.get(dictionary)
        if len(indices) and (indices.min() < 0 or (d_sae is not None and indices.max() >= d_sae)):
            msg = f"run {run_id!r}: feature index out of range [0, {d_sae}) for dictionary {dictionary!r}"
            raise ValueError(msg)
        if int(position) >= 0:
            msg = f"invalid position {position!r}: expected an offset from the end of the prompt such as -1"
            raise ValueError(msg)
        self._rows.append((run_id, dictionary, int(layer), int(position)))
        self._indices.append(indices)
        self._values.append(values)
        if len(self._rows) >= self.flush_rows:
            self._commit()

    def _commit(self) -> list[str]:
        if not self._rows:
            return []
        run_ids, dictionaries, layers, positions = (list(column) for column in zip(*self._rows, strict=True))
        lengths = np.fromiter((len(indices) for indices in self._indices), dtype=np.int32, count=len(self._indices))
        offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])

        flat_indices = pa.array(np.concatenate(self._indices), type=pa.int32())
        flat_values = pa.array(np.concatenate(self._values), type=pa.float32())
        shards = [self.shard_id] * len(run_ids)
        columns = {
            "run_id": pa.array(run_ids, pa.string()),
            "shard": pa.array(shards, pa.string()),
            "dictionary": pa.array(dictionaries, pa.string()),
            "layer": pa.array(layers, pa.int32()),
            "position": pa.array(positions, pa.int32()),
        }
        features = pa.table(
            {
                **columns,
                "feat_idx": pa.ListArray.from_arrays(pa.array(offsets), flat_indices),
                "feat_val": pa.ListArray.from_arrays(pa.array(offsets), flat_values),
            },
            schema=FEATURES_SCHEMA,
        )
        self._features.add(features)
        self._features.flush()

        if self._index is not None:
            parents = pa.array(np.repeat(np.arange(len(lengths)), lengths))
            sites = [site_key(*site) for site in zip(dictionaries, layers, positions, strict=True)]
            index = pa.table(
                {
                    "feat_idx": flat_indices,
                    "value": flat_values,
                    "run_id": pc.take(columns["run_id"], parents),
                    "shard": pc.take(columns["shard"], parents),
                    "site": pc.take(pa.array(sites, pa.int64()), parents),
                },
                schema=INDEX_SCHEMA,
            )
            self._index.add(index)
            self._index.flush()

        self._rows, self._indices, self._values = [], [], []
        self._committed.extend(run_ids)
        return run_ids

    def flush(self) -> list[str]:
        """Commit the buffered rows, then return the run ids of every row committed since the previous flush."""
        self._commit()
        committed, self._committed = list(dict.fromkeys(self._committed)), []
        return committed

    def close(self) -> list[str]:
        """Commit the buffered rows and return what `flush` returns."""
        return self.flush()


class SparseFeatureReader:
    """Reads the sparse feature tables of an output directory."""

    def __init__(self, output_dir: str | os.PathLike[str]) -> None:
        self.database = Path(output_dir) / LANCE_DIR
        try:
            self._features = open_table(self.database, FEATURES_TABLE, FEATURES_SCHEMA, create=False)
        except StorageError as error:
            msg = f"no sparse features stored in {str(output_dir)!r}: write them with SparseFeatureWriter first"
            raise StorageError(msg) from error
        self._index: Table | None = None
        self._dictionaries: Table | None = None

    def dictionaries(self) -> dict[str, int]:
        """Return `{dictionary: d_sae}`; raise StorageError if writers declared different sizes for one dictionary."""
        if self._dictionaries is None:
            self._dictionaries = open_table(self.database, DICTIONARIES_TABLE, DICTIONARIES_SCHEMA, create=False)
        table = self._dictionaries
        table.checkout_latest()
        sizes: dict[str, int] = {}
        for row in table.to_arrow().to_pylist():
            known = sizes.setdefault(row["dictionary"], row["d_sae"])
            if known != row["d_sae"]:
                msg = f"dictionary {row['dictionary']!r} was declared with d_sae {known} and {row['d_sae']}"
                raise StorageError(msg)
        return sizes

    def read(self, dictionary: str, layer: int, positions: Sequence[int]) -> pa.Table:
        """Return run_id, shard, position, feat_idx and feat_val of the rows at one site, in table order."""
        self._features.checkout_latest()
        query = self._features.search().where(site_filter(dictionary, layer, positions))
        return query.select(["run_id", "shard", "position", "feat_idx", "feat_val"]).limit(None).to_arrow()

    def check_site(self, dictionary: str, layer: int, positions: Sequence[int]) -> None:
        """Raise ConfigError naming what is stored when `dictionary` has no rows at `layer` and `positions`."""
        self._features.checkout_latest()
        query = self._features.search().where(f"dictionary = {quote(dictionary)}").select(["layer", "position"])
        table = query.limit(None).to_arrow()
        layers = sorted(set(table.column("layer").to_pylist()))
        if int(layer) not in layers:
            msg = f"dictionary {dictionary!r} has no features at layer {layer}; stored layers: {layers}"
            raise ConfigError(msg)
        at_layer = pc.equal(table.column("layer"), int(layer))
        stored = sorted(set(table.filter(at_layer).column("position").to_pylist()))
        if not set(positions) & set(stored):
            msg = f"dictionary {dictionary!r} has no features at positions {list(positions)}; stored: {stored}"
            raise ConfigError(msg)

    def encoded_runs(self, dictionary: str) -> set[tuple[str, str]]:
        """Return the (run_id, shard) pairs that have rows of `dictionary`."""
        self._features.checkout_latest()
        query = self._features.search().where(f"dictionary = {quote(dictionary)}").select(["run_id", "shard"])
        table = query.limit(None).to_arrow()
        return set(zip(table.column("run_id").to_pylist(), table.column("shard").to_pylist(), strict=True))

    def delete_dictionary(self, dictionary: str) -> None:
        """Delete every row of `dictionary` from the feature tables, so it can be encoded again."""
        self._features.checkout_latest()
        sites = self._features.search().where(f"dictionary = {quote(dictionary)}").select(["layer", "position"])
        table = sites.limit(None).to_arrow()
        pairs = set(zip(table.column("layer").to_pylist(), table.column("position").to_pylist(), strict=True))
        self._features.delete(f"dictionary = {quote(dictionary)}")
        if pairs:
            index = open_table(self.database, INDEX_TABLE, INDEX_SCHEMA, create=False)
            keys = ", ".join(str(site_key(dictionary, layer, position)) for layer, position in pairs)
            index.delete(f"site IN ({keys})")
        dictionaries = open_table(self.database, DICTIONARIES_TABLE, DICTIONARIES_SCHEMA, create=False)
        dictionaries.delete(f"dictionary = {quote(dictionary)}")

    def feature_entries(self, feature: int, dictionary: str, layer: int, position: int) -> pa.Table:
        """Return run_id, shard and value of every stored row where `feature` is active at one site."""
        if self._index is None:
            self._index = open_table(self.database, INDEX_TABLE, INDEX_SCHEMA, create=False)
        table = self._index
        table.checkout_latest()
        # Only `feat_idx` goes to LanceDB: with `site` in the filter as well, LanceDB 0.40 refines
        # the indexed rows slower than this query plus the filter in pyarrow.
        columns = ["run_id", "shard", "value", "site"]
        entries = table.search().where(f"feat_idx = {int(feature)}").select(columns).limit(None).to_arrow()
        at_site = pc.equal(entries.column("site"), site_key(dictionary, layer, position))
        return entries.filter(at_site).select(["run_id", "shard", "value"])

    def create_feature_index(self) -> None:
        """Compact `sae_feature_index` and build (or rebuild) its BTREE index on `feat_idx`.

        Call it after a run, not per flush. Compaction merges the one fragment per flush into
        few large ones, so a lookup reads fewer files.
        """
        table = open_table(self.database, INDEX_TABLE, INDEX_SCHEMA, create=False)
        table.optimize()
        build_btree_index(table, "feat_idx")
