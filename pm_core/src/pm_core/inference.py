"""Score new prompts on the fly: render, capture the classifier's features, apply it.

`InferencePipeline` runs a prompt through the same backend path as ingestion
(chat template, one BOS, batched capture), so a classifier trained on stored
activations gets identical features at inference time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import attrs
import numpy as np

from pm_core.backend import Backend
from pm_core.classifiers import Classifier
from pm_core.config.load import parse_positions
from pm_core.config.schema import SAEConfig
from pm_core.config.validate import resolve_layers
from pm_core.errors import ConfigError, PromptError
from pm_core.extractors import FeatureExtractor, check_extractor_fits
from pm_core.plugins import Catalogue, get_catalogue
from pm_core.types import CaptureRequest, PromptResult, PromptSpec

#: File next to a saved classifier that records which features it was trained on.
FEATURES_FILE = "features.json"


@attrs.frozen
class FeatureSpec:
    """The stored features a classifier reads: space, hook point, layer, positions and pooling."""

    layer: int
    position: tuple[int, ...] = (-1,)
    hook_point: str = "resid_post"
    space: str = "raw"
    pool: str = "mean"
    threshold: float = 0.5
    #: Indices of the feature columns the classifier was trained on (after NPMI selection), or None for all.
    columns: tuple[int, ...] | None = None
    #: Registered name of the classifier saved beside this file.
    classifier: str | None = None
    #: The model the features came from (`model_id`, `n_layers`, `d_model`), from the run's model.json.
    model: dict | None = None
    #: For space 'sae': the stored dictionary name, and where its SAE comes from (`path`, or
    #: `sae_release` and `sae_id`, with `dtype` and the weights' SHA-256), from dictionaries.json.
    dictionary: str | None = None
    sae: dict | None = None

    def save(self, folder: Path) -> None:
        (Path(folder) / FEATURES_FILE).write_text(json.dumps(attrs.asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path) -> FeatureSpec:
        path = Path(folder) / FEATURES_FILE
        if not path.is_file():
            msg = f"{str(folder)!r} has no {FEATURES_FILE}; it is not a classifier folder written by `pm lodo`"
            raise ConfigError(msg)
        record = json.loads(path.read_text())
        record["position"] = tuple(parse_positions(record["position"], "position"))
        if record.get("columns") is not None:
            record["columns"] = tuple(record["columns"])
        return cls(**record)


class OnTheFlyFeatures:
    """Turns a prompt's captured activations into the row a classifier trained on `load()` expects.

    The registered feature extractor of the classifier's space (`raw`, or `sae` reloaded
    from the source recorded at training time) encodes each valid position, and the
    positions are pooled as `ClassificationDataset.load` pools stored ones.
    """

    def __init__(self, features: FeatureSpec, backend: Backend, catalogue: Catalogue | None = None) -> None:
        catalogue = catalogue or get_catalogue()
        self.features = features
        (layer,) = resolve_layers((features.layer,), backend.n_layers, key_path="layer")
        if features.space == "raw":
            self.extractor = catalogue.create("feature_extractors", "raw", features.hook_point, layer, backend.d_model)
        elif features.space == "sae":
            self.extractor = self._sae_extractor(catalogue, backend)
        else:
            msg = f"invalid space {features.space!r} in features.json: expected 'raw' or 'sae'"
            raise ConfigError(msg)
        check_extractor_fits(self.extractor, backend.n_layers, backend.d_model)
        self.request = CaptureRequest(layers=(), extra_sites=(self.extractor.site,), positions=features.position)

    def _sae_extractor(self, catalogue: Catalogue, backend: Backend) -> FeatureExtractor:
        if not self.features.sae:
            msg = (
                f"features.json names dictionary {self.features.dictionary!r} but not where its SAE comes from; "
                "re-run `pm lodo` on an output directory with dictionaries.json"
            )
            raise ConfigError(msg)
        device = str(backend.describe().get("device") or "cpu")
        source = dict(self.features.sae)
        trained_on = source.pop("weights_sha256", None)
        config = SAEConfig(**{**source, "name": self.features.dictionary})
        extractor = catalogue.create("feature_extractors", "sae", config, device=device)
        loaded = extractor.identity().get("weights_sha256")
        if trained_on is not None and loaded != trained_on:
            where = config.path or f"{config.sae_release}/{config.sae_id}"
            msg = (
                f"the SAE at {where} is not the one the classifier was trained on (weights SHA-256 "
                f"{loaded[:12]}..., expected {trained_on[:12]}...); retrain the classifier with `pm lodo` on features "
                "of this SAE, or restore the SAE it was trained with"
            )
            raise ConfigError(msg)
        return extractor

    def extract(self, result: PromptResult) -> np.ndarray:
        """Return the feature row of one prompt, pooled as at training time."""
        values = result.activations[self.extractor.site]
        valid = np.asarray(result.valid, dtype=bool)
        pool = self.features.pool
        if pool == "concat" or len(valid) == 1:
            if not valid.all():
                msg = f"prompt {result.prompt.spec.prompt_id!r} is shorter than position {self.features.position}"
                raise PromptError("position_out_of_range", msg)
        elif not valid.any():
            msg = f"prompt {result.prompt.spec.prompt_id!r} has none of the positions {self.features.position}"
            raise PromptError("position_out_of_range", msg)

        encoded = self.extractor.encode(values[valid])
        encoded = encoded.toarray() if self.extractor.sparse else np.asarray(encoded)
        if pool == "concat" or len(valid) == 1:
            row = encoded.reshape(-1)
        elif pool == "max":
            row = encoded.max(axis=0)
        else:
            row = encoded.mean(axis=0)
        if self.features.columns is not None:
            row = row[list(self.features.columns)]
        return row


def check_same_model(features: FeatureSpec, description: dict) -> None:
    """Raise `ConfigError` when the backend is not the model the classifier's features came from."""
    if not features.model:
        return
    for key in ("model_id", "n_layers", "d_model"):
        trained, loaded = features.model.get(key), description.get(key)
        if trained is not None and loaded is not None and trained != loaded:
            msg = (
                f"the classifier was trained on features of {features.model.get('model_id')!r} "
                f"({key} {trained}), but the run config loads {description.get('model_id')!r} ({key} {loaded}); "
                "use the run config of the activations the classifier was trained on"
            )
            raise ConfigError(msg)


@attrs.frozen
class Prediction:
    """The score of one prompt and its label at the classifier's threshold."""

    prompt_id: str
    score: float
    malicious: bool
    n_tokens: int


class InferencePipeline:
    """Backend, feature extractor and classifier, applied to prompts given as text or specs."""

    def __init__(self, backend: Backend, classifier: Classifier, features: FeatureSpec) -> None:
        check_same_model(features, backend.describe())
        self.backend = backend
        self.classifier = classifier
        self.features = features
        self.extractor = OnTheFlyFeatures(features, backend)
        self.request = self.extractor.request

    def predict(self, prompts: Sequence[str | PromptSpec]) -> list[Prediction]:
        specs = [
            prompt if isinstance(prompt, PromptSpec) else PromptSpec.from_user_text(f"input-{index}", "input", prompt)
            for index, prompt in enumerate(prompts)
        ]
        rendered = [self.backend.render(spec) for spec in specs]
        results = self.backend.run_batch(rendered, self.request)
        rows = []
        for result in results:
            if not result.ok:
                raise PromptError(result.error_reason or "backend_error", result.error_message or "")
            rows.append(self.extractor.extract(result))
        scores = self.classifier.predict_scores(np.stack(rows))
        return [
            Prediction(spec.prompt_id, float(score), bool(score >= self.features.threshold), prompt.n_tokens)
            for spec, prompt, score in zip(specs, rendered, scores, strict=True)
        ]
