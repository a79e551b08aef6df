"""Encode raw activations already stored in an output directory with an SAE, without running the model.

Each completed run is read from its activation shard and its sparse rows are written
under the same shard id, which is how readers match features to the registry. Runs
that already have rows of the dictionary are skipped, so an interrupted encode
resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs
import numpy as np

from pm_core.errors import ConfigError, StorageError
from pm_core.extractors import FeatureExtractor, check_extractor_fits
from pm_core.registry import RunRegistry
from pm_core.storage.activation_reader import ActivationReader
from pm_core.storage.dictionaries import forget_dictionary, record_dictionary, recorded_dictionaries
from pm_core.storage.features import SparseFeatureReader, SparseFeatureWriter
from pm_core.storage.layout import LANCE_DIR


@attrs.define
class EncodeSummary:
    """Counts of one `encode_stored` call: runs encoded, already encoded or without the site, and vectors."""

    dictionary: str
    encoded_runs: int = 0
    already_encoded: int = 0
    without_site: int = 0
    vectors: int = 0


def encode_stored(
    output_dir: str | Path,
    extractor: FeatureExtractor,
    positions: Sequence[int] | None = None,
    datasets: Sequence[str] | None = None,
    overwrite: bool = False,
    vectors_per_flush: int = 65_536,
    on_progress: Callable[[int], None] | None = None,
) -> EncodeSummary:
    """Encode the stored activations at the extractor's site; return counts of what was done."""
    output_dir = Path(output_dir)
    reader = ActivationReader(output_dir)
    _check_model(output_dir, extractor)
    offsets = _stored_offsets(reader, extractor, positions)
    summary = EncodeSummary(extractor.name)

    done = _prepare_dictionary(output_dir, extractor, overwrite)
    registry = RunRegistry(output_dir / "registry.sqlite")
    rows = registry.completed_rows(dataset_ids=datasets)
    with_site = reader.shards_with(extractor.site, offsets)
    by_shard: dict[str, list[tuple[str, int]]] = {}
    for run_id, shard, row in zip(rows["run_id"], rows["shard"], rows["row"], strict=True):
        if shard not in with_site or row < 0:
            summary.without_site += 1
        elif (run_id, shard) in done:
            summary.already_encoded += 1
        else:
            by_shard.setdefault(shard, []).append((run_id, int(row)))
    progress = on_progress or (lambda count: None)
    progress(summary.already_encoded + summary.without_site)

    # Each chunk reads (prompts, positions, d_model) float32 values at once, so it is sized in vectors.
    prompts_per_flush = max(1, vectors_per_flush // len(offsets))
    for shard, runs in by_shard.items():
        writer = SparseFeatureWriter(output_dir, shard, flush_rows=2**62)
        writer.declare_dictionary(extractor.name, extractor.d_out)
        for start in range(0, len(runs), prompts_per_flush):
            chunk = runs[start : start + prompts_per_flush]
            summary.vectors += _encode_chunk(reader, extractor, offsets, shard, chunk, writer)
            writer.flush()
            summary.encoded_runs += len(chunk)
            progress(len(chunk))
    return summary


def _encode_chunk(
    reader: ActivationReader,
    extractor: FeatureExtractor,
    offsets: list[int],
    shard: str,
    runs: list[tuple[str, int]],
    writer: SparseFeatureWriter,
) -> int:
    run_ids = [run_id for run_id, _ in runs]
    activations, valid = reader.read(extractor.site, offsets, [shard] * len(runs), [row for _, row in runs])
    prompt_index, offset_index = np.nonzero(valid)
    features = extractor.encode(activations[prompt_index, offset_index])
    layer = extractor.site[1]
    for vector, (prompt, column) in enumerate(zip(prompt_index, offset_index, strict=True)):
        start, stop = features.indptr[vector], features.indptr[vector + 1]
        writer.add(
            run_ids[prompt],
            extractor.name,
            layer,
            offsets[column],
            features.indices[start:stop],
            features.data[start:stop],
        )
    return len(prompt_index)


def _check_model(output_dir: Path, extractor: FeatureExtractor) -> None:
    """Check the SAE against the model recorded in model.json, before anything is read."""
    model_file = output_dir / "model.json"
    if not model_file.is_file():
        return
    model = json.loads(model_file.read_text())
    if model.get("n_layers") and model.get("d_model"):
        check_extractor_fits(extractor, int(model["n_layers"]), int(model["d_model"]))


def _stored_offsets(
    reader: ActivationReader, extractor: FeatureExtractor, positions: Sequence[int] | None
) -> list[int]:
    hook_point, layer = extractor.site
    if extractor.site not in reader.all_sites():
        stored = ", ".join(f"{hook}@{number}" for hook, number in reader.all_sites()) or "none"
        msg = (
            f"SAE {extractor.name!r} reads {hook_point}@{layer}, which is not stored in {str(reader.output_dir)!r} "
            f"(stored: {stored}); capture it with `run.capture_acts_raw` and `run.raw_hook_point`"
        )
        raise ConfigError(msg)
    stored_offsets = reader.all_offsets()
    requested = list(positions) if positions else stored_offsets
    missing = [offset for offset in requested if offset not in stored_offsets]
    if missing:
        msg = f"positions {missing} are not stored in {str(reader.output_dir)!r}; stored positions: {stored_offsets}"
        raise ConfigError(msg)
    return requested


def _prepare_dictionary(output_dir: Path, extractor: FeatureExtractor, overwrite: bool) -> set[tuple[str, str]]:
    """Return the (run_id, shard) pairs already encoded with this SAE; clear the name first on `overwrite`."""
    has_tables = (output_dir / LANCE_DIR).is_dir()
    recorded = recorded_dictionaries(output_dir).get(extractor.name)
    identity = extractor.identity()
    if recorded and recorded.get("weights_sha256") != identity["weights_sha256"] and not overwrite:
        msg = (
            f"features named {extractor.name!r} in {str(output_dir)!r} come from other weights "
            f"({recorded.get('path') or recorded.get('sae_id')}); pass --overwrite to replace them, "
            "or --name to store these under another name"
        )
        raise ConfigError(msg)
    if overwrite:
        if has_tables:
            # No feature table yet means nothing to delete.
            with contextlib.suppress(StorageError):
                SparseFeatureReader(output_dir).delete_dictionary(extractor.name)
        forget_dictionary(output_dir, extractor.name)
    record_dictionary(output_dir, extractor.name, identity)
    if overwrite or not has_tables:
        return set()
    try:
        return SparseFeatureReader(output_dir).encoded_runs(extractor.name)
    except StorageError:
        return set()
