"""Sparse dictionary features of an output directory: CSR matrices and per-feature queries.

`ClassificationDataset` inherits these methods; they expect its `output_dir`,
`registry`, `label_key` and row helpers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pm_core.config.load import parse_positions
from pm_core.errors import ConfigError


class SparseFeatureQueries:
    """Loading and querying of SAE features stored in `features.lance`."""

    def _load_sparse(
        self,
        layer: int,
        position: str | int | list,
        datasets: list[str] | None,
        pool: str,
        return_sparse: bool,
        keep_invalid: bool,
        dictionary: str | None,
    ):
        from pm_core.readers.classification import ClassificationData
        from pm_core.storage.feature_queries import load_sparse
        from pm_core.storage.features import SparseFeatureReader

        if pool not in ("mean", "max", "concat"):
            msg = f"invalid pool {pool!r} for space 'sae': expected 'mean', 'max' or 'concat'"
            raise ConfigError(msg)
        offsets = list(parse_positions(position, "position"))
        reader = SparseFeatureReader(self.output_dir)
        dictionary, d_sae = self._resolve_dictionary(reader, dictionary)
        stored = reader.read(dictionary, self._absolute_layer(layer), offsets)
        if not stored.num_rows:
            reader.check_site(dictionary, self._absolute_layer(layer), offsets)
        X, rows, valid = load_sparse(
            self.registry.completed_rows(dataset_ids=datasets),
            stored,
            offsets,
            d_sae,
            pool,
            self._newest_per_prompt,
            keep_invalid,
        )
        return ClassificationData(
            X=X if return_sparse else X.toarray(),
            y=self._labels(rows["labels"], rows["dataset_id"]),
            datasets=np.asarray(rows["dataset_id"], dtype=object),
            run_ids=np.asarray(rows["run_id"], dtype=object),
            prompt_ids=np.asarray(rows["prompt_id"], dtype=object),
            valid=valid,
            metadata={
                "layer": self._absolute_layer(layer),
                "positions": offsets,
                "pool": pool,
                "space": "sae",
                "dictionary": dictionary,
                "d_sae": d_sae,
                "label_key": self.label_key,
            },
        )

    def _absolute_layer(self, layer: int) -> int:
        n_layers = self._stored_n_layers()
        return layer + n_layers if layer < 0 and n_layers else layer

    @staticmethod
    def _resolve_dictionary(reader, dictionary: str | None) -> tuple[str, int]:
        sizes = reader.dictionaries()
        if dictionary is None and len(sizes) == 1:
            dictionary = next(iter(sizes))
        if dictionary is None:
            msg = (
                f"{len(sizes)} dictionaries are stored ({', '.join(sorted(sizes))}); choose one with "
                "dictionary= (`--dictionary` on the command line)"
            )
            raise ConfigError(msg)
        if dictionary not in sizes:
            msg = f"dictionary {dictionary!r} is not stored; stored dictionaries: {', '.join(sorted(sizes)) or 'none'}"
            raise ConfigError(msg)
        return dictionary, sizes[dictionary]

    def top_prompts(
        self,
        feature: int,
        layer: int,
        k: int = 100,
        dictionary: str | None = None,
        position: int = -1,
        with_text: bool = True,
    ) -> list[dict[str, Any]]:
        """Return the `k` completed prompts with the largest value of `feature`, largest first.

        Each item has run_id, prompt_id, dataset_id, labels, value and, with `with_text`, text:
        the prompt as the model saw it after the chat template.
        """
        from pm_core.storage import feature_queries
        from pm_core.storage.features import SparseFeatureReader

        # One reader per dataset keeps the LanceDB tables open between queries,
        # because opening them took longer than a lookup.
        if self._feature_reader is None:
            self._feature_reader = SparseFeatureReader(self.output_dir)
        reader = self._feature_reader
        dictionary, d_sae = self._resolve_dictionary(reader, dictionary)
        if not 0 <= feature < d_sae:
            msg = f"invalid feature {feature}: dictionary {dictionary!r} has features 0 to {d_sae - 1}"
            raise ConfigError(msg)
        offset = parse_positions(position, "position")[0]
        layer = self._absolute_layer(layer)
        top = feature_queries.top_prompts(self.registry, reader, feature, dictionary, layer, offset, k)
        if not top:
            # No prompt is a valid result for a feature that never fires, but not for a site never encoded.
            reader.check_site(dictionary, layer, [offset])
        return feature_queries.add_prompt_texts(self._outputs(), top) if with_text else top

    def _outputs(self):
        """Return the outputs table reader, kept open between queries; None when the run stored no outputs."""
        from pm_core.errors import StorageError
        from pm_core.storage.outputs import OutputReader

        if self._output_reader is None:
            try:
                self._output_reader = OutputReader(self.output_dir)
            except StorageError:
                return None
        return self._output_reader

    def feature_frequency(
        self,
        feature: int | None,
        layer: int,
        by: str = "dataset",
        dictionary: str | None = None,
        position: int = -1,
    ) -> dict[Any, Any]:
        """Return `{dataset or label: share of its prompts where the feature is active}`.

        `by="label"` groups by the 0/1 value of `label_key`. With `feature=None` each share is an
        array with one entry per feature.
        """
        from pm_core.storage.feature_queries import feature_frequency

        if by not in ("dataset", "label"):
            msg = f"invalid by {by!r}: expected 'dataset' or 'label'"
            raise ConfigError(msg)
        data = self.load(layer, space="sae", position=position, return_sparse=True, dictionary=dictionary)
        if feature is not None and not 0 <= feature < data.X.shape[1]:
            msg = f"invalid feature {feature}: the dictionary has features 0 to {data.X.shape[1] - 1}"
            raise ConfigError(msg)
        groups = data.datasets if by == "dataset" else data.y
        return feature_frequency(data.X, groups, feature)
