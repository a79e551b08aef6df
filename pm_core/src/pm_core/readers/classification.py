"""ClassificationDataset: `X, y, datasets` from an output directory, with prompt_mining's names.

    from pm_core import ClassificationDataset

    dataset = ClassificationDataset.from_path("runs/quickstart")
    data = dataset.load(layer=-1, space="raw", position="last")
    data.X, data.y, data.datasets

Rows come from completed runs in the registry only, so a prompt appears once
however many times a killed run was repeated.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from pm_core.config.load import parse_positions
from pm_core.errors import ConfigError, StorageError
from pm_core.readers.sparse import SparseFeatureQueries

logger = logging.getLogger(__name__)


@attrs.define
class ClassificationData:
    """A loaded matrix and its row annotations; row i of every field is prompt i.

    `X` has shape (n_prompts, d_model), or (n_prompts, d_sae) for sparse features. Sparse features
    loaded with `return_sparse=True` are a scipy CSR matrix. `y` contains 0/1 labels as int8.
    """

    X: Any
    y: np.ndarray
    datasets: np.ndarray
    run_ids: np.ndarray
    metadata: dict[str, Any]
    prompt_ids: np.ndarray | None = None
    #: Shape (n_prompts, n_positions): whether each requested position was a real token of the prompt.
    valid: np.ndarray | None = None


class ClassificationDataset(SparseFeatureQueries):
    """Reads stored activations and labels of one output directory."""

    def __init__(self, output_dir: Path, label_key: str = "malicious") -> None:
        from pm_core.registry import RunRegistry

        self.output_dir = Path(output_dir)
        self.label_key = label_key
        registry_path = self.output_dir / "registry.sqlite"
        if not registry_path.is_file():
            msg = f"no run registry in {str(self.output_dir)!r}: expected {registry_path}. Run `pm run CONFIG` first."
            raise StorageError(msg)
        self.registry = RunRegistry(registry_path)
        self._feature_reader = None
        self._output_reader = None

    @classmethod
    def from_path(cls, path: str | Path, label_key: str = "malicious") -> ClassificationDataset:
        return cls(Path(path), label_key=label_key)

    def load(
        self,
        layer: int,
        space: str = "raw",
        position: str | int | list = "last",
        hook_point: str = "resid_post",
        datasets: list[str] | None = None,
        pool: str = "mean",
        return_sparse: bool = False,
        keep_invalid: bool = False,
        dictionary: str | None = None,
    ) -> ClassificationData:
        """Load one layer's activations at `position` for every completed prompt.

        `position` is `last`, an offset such as `-5`, or a list of offsets. For a list,
        `pool="mean"` averages the valid positions of each prompt and `pool="concat"`
        concatenates them. A position is invalid when the prompt is shorter than the
        offset (or the offset lands on BOS). Prompts without the data asked for are
        dropped with a warning: with no valid position for `mean` or a single offset,
        with any invalid position for `concat`. `keep_invalid=True` keeps them as
        zeros, and `data.valid` marks which positions are real.

        `space="sae"` loads the sparse features of `dictionary` (optional when the output
        directory stores one dictionary) as a scipy CSR matrix of shape (n_prompts, d_sae), dense with
        `return_sparse=False`. For a list of positions, `pool` may also be `max`, the largest value
        of each feature over the stored positions. A prompt with no stored row at a position is
        invalid there, as above.
        """
        if space == "sae":
            return self._load_sparse(layer, position, datasets, pool, return_sparse, keep_invalid, dictionary)
        if space != "raw":
            msg = f"invalid space {space!r}: expected 'raw' or 'sae'"
            raise ConfigError(msg)
        if return_sparse:
            msg = "return_sparse=True applies to space='sae'; raw activations are dense"
            raise ConfigError(msg)
        if pool not in ("mean", "concat"):
            msg = f"invalid pool {pool!r} for space 'raw': expected 'mean' or 'concat'"
            raise ConfigError(msg)

        from pm_core.storage.activations import ActivationReader

        offsets = list(parse_positions(position, "position"))
        reader = ActivationReader(self.output_dir)
        absolute_layer = self._resolve_layer(reader, hook_point, layer)
        site = (hook_point, absolute_layer)
        shards = reader.shards_with(site, offsets)
        if not shards:
            msg = (
                f"position(s) {offsets} are not stored at {hook_point!r} layer {absolute_layer} in "
                f"{str(self.output_dir)!r}; stored offsets: {reader.all_offsets()}"
            )
            raise ConfigError(msg)
        rows = self._latest_rows(self.registry.completed_rows(dataset_ids=datasets), shards)

        values, valid = reader.read(site, offsets, rows["shard"], rows["row"])
        usable = valid.all(axis=1) if pool == "concat" else valid.any(axis=1)
        if not keep_invalid and not usable.all():
            logger.warning(
                "dropped %d of %d prompts shorter than position %s (pass keep_invalid=True to keep them as zeros)",
                int((~usable).sum()),
                len(usable),
                position,
            )
            values, valid = values[usable], valid[usable]
            rows = {key: column[usable] for key, column in rows.items()}

        X = _pool(values, valid, pool)
        y = self._labels(rows["labels"], rows["dataset_id"])
        return ClassificationData(
            X=X,
            y=y,
            datasets=np.asarray(rows["dataset_id"], dtype=object),
            run_ids=np.asarray(rows["run_id"], dtype=object),
            prompt_ids=np.asarray(rows["prompt_id"], dtype=object),
            valid=valid,
            metadata={
                "layer": absolute_layer,
                "hook_point": hook_point,
                "positions": offsets,
                "pool": pool,
                "space": space,
                "label_key": self.label_key,
            },
        )

    @staticmethod
    def _latest_rows(rows: dict[str, np.ndarray], shards: set[str]) -> dict[str, np.ndarray]:
        """Keep rows in `shards`, and per prompt only the newest run that has one.

        A changed config makes new runs that supersede older completed ones, and both
        stay completed; the newest run whose shard has the requested data wins.
        """
        in_shards = np.fromiter((shard in shards for shard in rows["shard"]), dtype=bool, count=len(rows["shard"]))
        rows = {key: column[in_shards & (rows["row"] >= 0)] for key, column in rows.items()}
        return ClassificationDataset._newest_per_prompt(rows)

    @staticmethod
    def _newest_per_prompt(rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Keep per (dataset_id, prompt_id) only the last row, the newest run in registry order."""
        # Rows come in registry insertion order, so the last occurrence of a prompt is its newest run.
        newest: dict[tuple[str, str], int] = {}
        for index, key in enumerate(zip(rows["dataset_id"], rows["prompt_id"], strict=True)):
            newest[key] = index
        if len(newest) == len(rows["run_id"]):
            return rows
        keep = np.fromiter(sorted(newest.values()), dtype=np.int64)
        return {key: column[keep] for key, column in rows.items()}

    def _resolve_layer(self, reader, hook_point: str, layer: int) -> int:
        stored = sorted(stored_layer for hook, stored_layer in reader.all_sites() if hook == hook_point)
        if not stored:
            sites = ", ".join(f"{hook}@{stored_layer}" for hook, stored_layer in reader.all_sites()) or "none"
            msg = f"no activations stored at hook point {hook_point!r}; stored sites: {sites}"
            raise ConfigError(msg)
        n_layers = self._stored_n_layers()
        absolute = layer + n_layers if layer < 0 and n_layers else layer
        if absolute not in stored:
            msg = f"layer {layer} is not stored at {hook_point!r}; stored layers: {stored}"
            raise ConfigError(msg)
        return absolute

    def _stored_n_layers(self) -> int | None:
        """Return the model depth the run recorded in `model.json`, used to resolve negative layers."""
        path = self.output_dir / "model.json"
        if not path.is_file():
            return None
        return json.loads(path.read_text()).get("n_layers")

    def _labels(self, labels_json: np.ndarray, dataset_ids: np.ndarray) -> np.ndarray:
        y = np.zeros(len(labels_json), dtype=np.int8)
        for index, text in enumerate(labels_json):
            labels = json.loads(text) if text else {}
            value = labels.get(self.label_key)
            if value is None:
                msg = (
                    f"label {self.label_key!r} is missing for a prompt of dataset {dataset_ids[index]!r}; "
                    f"pass label_key= one of {sorted(labels)}"
                )
                raise StorageError(msg)
            y[index] = int(bool(value))
        return y

    def load_labels(self, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Return one dict per matching run: its registry columns, with its labels also as `prompt_labels`."""
        records = [record.to_dict() for record in self.registry.runs(filters or {})]
        for record in records:
            record["prompt_labels"] = record["labels"]
        return records

    def load_outputs(self, run_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Return the generated text, top-k logits and input ids of the given runs."""
        from pm_core.storage.outputs import OutputReader

        run_ids = list(run_ids)
        shards = {record.run_id: record.shard for record in self.registry.runs({"run_id": run_ids})}
        return OutputReader(self.output_dir).get(run_ids, shards=shards)

    def summary(self, data: ClassificationData) -> str:
        """Describe a loaded matrix: its shape and, per dataset, prompts and share of positives."""
        lines = [f"X: {data.X.shape[0]} prompts x {data.X.shape[1]} features, {int(data.y.sum())} positive"]
        counts = Counter(data.datasets.tolist())
        for name in sorted(counts):
            mask = data.datasets == name
            lines.append(f"  {name}: {int(mask.sum())} prompts, {float(data.y[mask].mean()):.1%} positive")
        return "\n".join(lines)

    def lodo_splits(self, data: ClassificationData) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """Yield `(held_out_dataset, train_indices, test_indices)` for each dataset in turn."""
        names = sorted(set(data.datasets.tolist()))
        if len(names) < 2:
            logger.warning("leave-one-dataset-out needs at least two datasets; found %s", names)
        for name in names:
            test = np.flatnonzero(data.datasets == name)
            train = np.flatnonzero(data.datasets != name)
            yield name, train, test


def _pool(values: np.ndarray, valid: np.ndarray, pool: str) -> np.ndarray:
    """Reduce (n, n_positions, d) to (n, d) or (n, n_positions * d)."""
    if values.shape[1] == 1:
        return values[:, 0, :]
    if pool == "concat":
        # An explicit width, because numpy cannot infer -1 for zero rows.
        return values.reshape(values.shape[0], values.shape[1] * values.shape[2])
    weights = valid.astype(values.dtype)
    counts = np.maximum(weights.sum(axis=1, keepdims=True), 1.0)
    return np.einsum("npd,np->nd", values, weights) / counts
