"""Generations and top-k logits per run, in the LanceDB table `outputs` under `<output_dir>/features.lance`."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pm_core.storage.lance_tables import BatchedTableWriter, Rows, open_table
from pm_core.storage.layout import LANCE_DIR

logger = logging.getLogger(__name__)

OUTPUTS_TABLE = "outputs"

OUTPUTS_SCHEMA = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("shard", pa.string()),
        pa.field("generated_text", pa.string()),
        pa.field("generated_ids", pa.list_(pa.int32())),
        pa.field("topk_ids", pa.list_(pa.int32())),
        pa.field("topk_values", pa.list_(pa.float32())),
        pa.field("input_ids", pa.list_(pa.int32())),
        pa.field("prompt_text", pa.string()),
    ]
)
"""One row per run: the activation shard that contains the run's row (null without one), the generated reply,
the top-k next-token logits after the prompt, the prompt's token ids and its text as rendered for the model."""

FILTER_MAX_IDS = 1000
"""Above this many run ids, `OutputReader.get` scans the table once instead of filtering in LanceDB."""


class OutputWriter:
    """Buffers output rows and commits them to the `outputs` table once per flush.

    `flush` returns the run ids of every row committed since the previous flush, so a caller
    can mark those runs completed knowing their outputs are stored.
    """

    def __init__(self, output_dir: str | os.PathLike[str], *, flush_rows: int = 256) -> None:
        self._writer = BatchedTableWriter(
            Path(output_dir) / LANCE_DIR, OUTPUTS_TABLE, OUTPUTS_SCHEMA, flush_rows=flush_rows
        )

    @property
    def buffered_rows(self) -> int:
        """Rows added but not yet committed."""
        return self._writer.buffered_rows

    def add(self, rows: Rows) -> None:
        """Buffer one row or several, each with exactly the `OUTPUTS_SCHEMA` keys; commit once `flush_rows` wait."""
        self._writer.add(rows)

    def flush(self) -> list[str]:
        """Commit the buffered rows and return the run ids of all rows committed since the previous flush."""
        return self._writer.flush().column("run_id").to_pylist()

    def close(self) -> list[str]:
        """Commit the buffered rows and return what `flush` returns."""
        return self.flush()


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class OutputReader:
    """Reads the `outputs` table of an output directory."""

    def __init__(self, output_dir: str | os.PathLike[str]) -> None:
        self.output_dir = Path(output_dir)
        self._table = open_table(self.output_dir / LANCE_DIR, OUTPUTS_TABLE, OUTPUTS_SCHEMA, create=False)

    def prompt_texts(self, run_ids: Iterable[str]) -> dict[str, str | None]:
        """Return `{run_id: prompt text}` for the runs that have an output row, reading only those columns."""
        requested = list(dict.fromkeys(run_ids))
        if not requested or "prompt_text" not in self._table.schema.names:
            return {}
        self._table.checkout_latest()
        where = f"run_id IN ({', '.join(_quote(run_id) for run_id in requested)})"
        table = self._table.search().where(where).select(["run_id", "prompt_text"]).limit(None).to_arrow()
        return dict(zip(table.column("run_id").to_pylist(), table.column("prompt_text").to_pylist(), strict=True))

    def get(self, run_ids: Iterable[str], shards: Mapping[str, str | None] | None = None) -> dict[str, dict[str, Any]]:
        """Return `{run_id: row}` for the requested runs that have outputs; runs without a row are left out.

        `shards` maps a run id to the shard the registry recorded for it. Rows written by
        another attempt of the same run (a worker killed before the registry was updated)
        are then ignored. Without it, if a run has several rows, the last one read is kept.
        NOTE: "last" follows LanceDB's scan order, which is commit order for a table that was
        never compacted or indexed.
        """
        requested = list(dict.fromkeys(run_ids))
        if not requested:
            return {}
        # A run that reached this table through another handle is only visible in the newest version.
        self._table.checkout_latest()
        if len(requested) > FILTER_MAX_IDS:
            table = self._table.to_arrow()
            table = table.filter(pc.is_in(table.column("run_id"), value_set=pa.array(requested, type=pa.string())))
        else:
            where = f"run_id IN ({', '.join(_quote(run_id) for run_id in requested)})"
            table = self._table.search().where(where).limit(None).to_arrow()
        # Tables written before `prompt_text` existed lack that column; their rows come back without it.
        rows = table.select([name for name in OUTPUTS_SCHEMA.names if name in table.schema.names]).to_pylist()
        if shards is not None:
            rows = [row for row in rows if row["shard"] == shards.get(row["run_id"])]
        return {row["run_id"]: row for row in rows}
