"""Index the LanceDB tables of an output directory once a run has written them.

Writers append one fragment per flush. After a run, compaction merges the fragments,
and BTREE indexes let lookups read only matching rows: `feat_idx` of the sparse
feature index (top prompts of a feature) and `run_id` of `outputs` (prompt texts and
generations of given runs). Rows appended later are still found, unindexed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from pm_core.errors import StorageError
from pm_core.storage.features import INDEX_TABLE, SparseFeatureReader
from pm_core.storage.lance_tables import build_btree_index, open_table
from pm_core.storage.layout import LANCE_DIR
from pm_core.storage.outputs import OUTPUTS_SCHEMA, OUTPUTS_TABLE

logger = logging.getLogger(__name__)


def index_output_dir(output_dir: str | os.PathLike[str]) -> list[str]:
    """Compact and index the tables that exist; return the names of the tables indexed."""
    database = Path(output_dir) / LANCE_DIR
    if not database.is_dir():
        return []
    indexed = []
    try:
        outputs = open_table(database, OUTPUTS_TABLE, OUTPUTS_SCHEMA, create=False)
    except StorageError:
        outputs = None
    if outputs is not None:
        outputs.optimize()
        build_btree_index(outputs, "run_id")
        indexed.append(OUTPUTS_TABLE)
    if (database / f"{INDEX_TABLE}.lance").is_dir():
        SparseFeatureReader(output_dir).create_feature_index()
        indexed.append(INDEX_TABLE)
    logger.info("indexed %s in %s", ", ".join(indexed) or "no table", database)
    return indexed
