"""Train a sparse autoencoder with sae-lens on the raw activations of an output directory.

Every valid stored position of every completed prompt at one site is one training vector.
The prompts, not the vectors, are split into a training and a held-out set, so no prompt
contributes to both. Training runs sae-lens's own training SAE and `SAETrainer` on shuffled
in-memory batches, and the inference SAE is saved in sae-lens's folder format
(`cfg.json`, `sae_weights.safetensors`) next to `training_report.json`.

Before training, inputs are scaled so that their mean norm is sqrt(d_in), as sae-lens's
`expected_average_only_in` normalization does, and the decoder bias starts at the mean
training vector. The trainer folds the scale back into the weights when it finishes, so the
saved SAE takes raw activations. The report measures the saved SAE, loaded back from disk.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from pm_core.backend import HOOK_POINTS
from pm_core.errors import ConfigError
from pm_plugins_backends.sae.evaluation import EVALUATION_SETS, TRAIN_EVALUATION_SAMPLE, density_svg, evaluate_splits
from pm_plugins_backends.sae.hooks import hook_of_site

if TYPE_CHECKING:
    import torch
    from sae_lens.saes.sae import TrainingSAE

logger = logging.getLogger(__name__)

ARCHITECTURES = ("topk", "standard")
REPORT_FILE = "training_report.json"
#: Bar chart of the features' firing rates, written next to the report.
DENSITY_PLOT = "feature_density.svg"
DEFAULT_K = 32
DEFAULT_EPOCHS = 10.0


def _check_positive(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and not value > 0:
        msg = f"--{attribute.name.replace('_', '-')} must be positive, got {value!r}"
        raise ConfigError(msg)


@attrs.frozen
class TrainSettings:
    """Settings of one training run: the data, the SAE and the optimizer. The report records every field."""

    layer: int
    hook_point: str = "resid_post"
    #: Offsets from the end of the prompt. None trains on every offset stored in all shards.
    positions: tuple[int, ...] | None = None
    #: Dataset ids to train on. None takes every completed prompt.
    datasets: tuple[str, ...] | None = None
    width: int = attrs.field(default=4096, validator=_check_positive)
    architecture: str = "topk"
    #: Active features per vector for `topk`, DEFAULT_K when not given. Rejected for `standard`.
    k: int | None = attrs.field(default=None, validator=_check_positive)
    #: Weight of the L1 sparsity penalty, required for `standard` and rejected for `topk`.
    l1_coefficient: float | None = attrs.field(default=None, validator=_check_positive)
    #: Training vectors to draw in total, repeats included. Exclusive with `epochs`.
    training_tokens: int | None = attrs.field(default=None, validator=_check_positive)
    #: Passes over the training vectors. DEFAULT_EPOCHS applies when neither this nor `training_tokens` is set.
    epochs: float | None = attrs.field(default=None, validator=_check_positive)
    lr: float = attrs.field(default=3e-4, validator=_check_positive)
    lr_warm_up_steps: int = 0
    #: Final steps over which the learning rate falls linearly to zero.
    lr_decay_steps: int = 0
    batch_size: int = attrs.field(default=4096, validator=_check_positive)
    #: Fraction of prompts held out for evaluation, in [0, 1).
    holdout: float = 0.1
    seed: int = 0
    device: str = "cpu"
    #: Drop vectors whose norm exceeds this multiple of the median training norm, from training and evaluation.
    max_norm_ratio: float | None = attrs.field(default=None, validator=_check_positive)
    #: Steps without firing after which a feature counts as dead and joins the TopK auxiliary loss.
    dead_feature_window: int = attrs.field(default=1000, validator=_check_positive)
    #: CPU threads torch uses while training and evaluating. None keeps torch's setting.
    threads: int | None = attrs.field(default=None, validator=_check_positive)

    def __attrs_post_init__(self) -> None:
        if self.hook_point not in HOOK_POINTS:
            msg = f"invalid --hook-point {self.hook_point!r}: expected one of {', '.join(HOOK_POINTS)}"
            raise ConfigError(msg)
        if self.architecture not in ARCHITECTURES:
            msg = f"invalid --architecture {self.architecture!r}: expected one of {', '.join(ARCHITECTURES)}"
            raise ConfigError(msg)
        if self.architecture == "topk":
            if self.l1_coefficient is not None:
                msg = "--l1-coefficient applies to --architecture standard; topk sets sparsity with --k"
                raise ConfigError(msg)
            if self.k is not None and self.k > self.width:
                msg = f"--k {self.k} exceeds --width {self.width}: at most width features can be active"
                raise ConfigError(msg)
        else:
            if self.k is not None:
                msg = "--k applies to --architecture topk; standard sets sparsity with --l1-coefficient"
                raise ConfigError(msg)
            if self.l1_coefficient is None:
                msg = "--architecture standard needs --l1-coefficient, the weight of the L1 sparsity penalty"
                raise ConfigError(msg)
        if self.training_tokens is not None and self.epochs is not None:
            msg = "give either --training-tokens or --epochs, not both"
            raise ConfigError(msg)
        if not 0.0 <= self.holdout < 1.0:
            msg = f"--holdout must be in [0, 1), got {self.holdout!r}"
            raise ConfigError(msg)
        if self.lr_warm_up_steps < 0 or self.lr_decay_steps < 0:
            msg = (
                f"--lr-warm-up-steps and --lr-decay-steps must not be negative, got "
                f"{self.lr_warm_up_steps} and {self.lr_decay_steps}"
            )
            raise ConfigError(msg)

    @property
    def active_k(self) -> int | None:
        """Return k for `topk` (DEFAULT_K when not given) and None for `standard`."""
        if self.architecture != "topk":
            return None
        return self.k if self.k is not None else DEFAULT_K

    def to_dict(self) -> dict[str, Any]:
        settings = attrs.asdict(self)
        settings["k"] = self.active_k
        for key in ("positions", "datasets"):
            if settings[key] is not None:
                settings[key] = list(settings[key])
        return settings


@attrs.frozen
class ActivationVectors:
    """The training vectors of one site: the valid stored positions of every completed prompt."""

    #: Shape (n_vectors, d_model), float32.
    vectors: np.ndarray
    #: Shape (n_vectors,): the index of the prompt each vector comes from, in 0..n_prompts-1.
    prompt_index: np.ndarray
    n_prompts: int
    offsets: tuple[int, ...]
    layer: int
    n_invalid_positions: int


def check_out_folder(out: Path, overwrite: bool) -> None:
    """Raise ConfigError when `out` is a file, or a folder with files in it and `overwrite` is off."""
    if out.exists() and not out.is_dir():
        msg = f"--out {str(out)!r} is a file: give a folder for the SAE"
        raise ConfigError(msg)
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        msg = f"--out folder {str(out)!r} already exists and is not empty: pass --overwrite to replace the SAE in it"
        raise ConfigError(msg)


def load_activation_vectors(output_dir: Path, settings: TrainSettings) -> ActivationVectors:
    """Read every valid stored position of every completed prompt at the settings' site."""
    from pm_core.readers.classification import ClassificationDataset
    from pm_core.storage.activation_reader import ActivationReader

    offsets = settings.positions
    if offsets is None:
        offsets = ActivationReader(output_dir).offsets()
        if not offsets:
            msg = f"the shards of {str(output_dir)!r} store no offset in common; pass --positions"
            raise ConfigError(msg)
    dataset = ClassificationDataset.from_path(output_dir)
    dataset_ids = list(settings.datasets) if settings.datasets is not None else None
    # Checked first, so that the message can point to `pm status`.
    stored_rows = dataset.registry.completed_rows(dataset_ids=dataset_ids)["row"]
    if not (stored_rows >= 0).any():
        chosen = f" of datasets {dataset_ids}" if dataset_ids is not None else ""
        msg = (
            f"no completed prompts{chosen} with stored activations in {str(output_dir)!r}; "
            f"`pm status {output_dir}` lists the datasets"
        )
        raise ConfigError(msg)
    # NOTE: `load` also reads the `malicious` label of every prompt, so a dataset without that
    # label raises StorageError here although training does not use labels.
    # NOTE: every vector is held in memory at once (prompts x positions x d_model float32, invalid
    # positions included until they are dropped); --datasets or --positions keep large runs within RAM.
    data = dataset.load(
        layer=settings.layer,
        hook_point=settings.hook_point,
        position=list(offsets),
        pool="concat",
        keep_invalid=True,
        datasets=dataset_ids,
    )
    n_prompts = data.X.shape[0]
    if n_prompts == 0:
        msg = (
            f"no completed prompt{' of datasets ' + str(dataset_ids) if dataset_ids else ''} has activations at "
            f"{settings.hook_point!r} layer {data.metadata['layer']} offsets {list(offsets)} in {str(output_dir)!r}"
        )
        raise ConfigError(msg)
    values = data.X.reshape(n_prompts, len(offsets), -1)
    valid = data.valid
    prompt_index = np.broadcast_to(np.arange(n_prompts)[:, None], valid.shape)
    return ActivationVectors(
        vectors=np.ascontiguousarray(values[valid], dtype=np.float32),
        prompt_index=prompt_index[valid],
        n_prompts=n_prompts,
        offsets=tuple(int(offset) for offset in offsets),
        layer=int(data.metadata["layer"]),
        n_invalid_positions=int((~valid).sum()),
    )


def describe_offsets(offsets: tuple[int, ...]) -> str:
    """Return `offsets -128..-1` for a consecutive run of offsets, else the list."""
    ordered = sorted(offsets)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{len(ordered)} offsets {ordered[0]}..{ordered[-1]}"
    return f"offsets {list(offsets)}"


def held_out_prompts(n_prompts: int, holdout: float, seed: int) -> np.ndarray:
    """Return a bool mask over prompts that marks a seeded random `holdout` fraction, at least one when positive."""
    mask = np.zeros(n_prompts, dtype=bool)
    if holdout <= 0:
        return mask
    n_held_out = min(n_prompts - 1, max(1, round(holdout * n_prompts)))
    order = np.random.default_rng(seed).permutation(n_prompts)
    mask[order[:n_held_out]] = True
    return mask


def model_name_of(output_dir: Path) -> str | None:
    """Return `model_id` from the output directory's model.json, or None when it is missing."""
    path = output_dir / "model.json"
    if not path.is_file():
        logger.warning("%s has no model.json; the SAE's metadata.model_name stays empty", output_dir)
        return None
    return json.loads(path.read_text()).get("model_id")


def build_training_sae(settings: TrainSettings, d_in: int, hook_name: str, model_name: str | None) -> TrainingSAE:
    """Create the sae-lens training SAE the settings name, with seeded initial weights."""
    import torch
    from sae_lens.saes.sae import SAEMetadata

    metadata = SAEMetadata(model_name=model_name, hook_name=hook_name)
    common = {
        "d_in": d_in,
        "d_sae": settings.width,
        "dtype": "float32",
        "device": settings.device,
        "normalize_activations": "expected_average_only_in",
        "metadata": metadata,
    }
    torch.manual_seed(settings.seed)
    if settings.architecture == "topk":
        from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig

        return TopKTrainingSAE(TopKTrainingSAEConfig(k=settings.active_k, **common))
    from sae_lens.saes.standard_sae import StandardTrainingSAE, StandardTrainingSAEConfig

    return StandardTrainingSAE(StandardTrainingSAEConfig(l1_coefficient=settings.l1_coefficient, **common))


def shuffled_batches(vectors: torch.Tensor, batch_size: int, seed: int):
    """Yield (batch_size, d_in) batches forever, reshuffled at each pass. A partial last batch is skipped."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(len(vectors), generator=generator)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            yield vectors[order[start : start + batch_size]]


def train_sae(vectors: np.ndarray, settings: TrainSettings, hook_name: str, model_name: str | None) -> TrainingSAE:
    """Train an SAE on (n_vectors, d_in) float32 vectors with sae-lens's trainer, and return it.

    The returned SAE has the input scale folded into its weights, so it takes raw activations.
    """
    import torch
    from sae_lens.config import SAETrainerConfig
    from sae_lens.training.sae_trainer import SAETrainer

    n_steps = training_steps(len(vectors), settings)
    if settings.lr_warm_up_steps + settings.lr_decay_steps > n_steps:
        msg = (
            f"--lr-warm-up-steps {settings.lr_warm_up_steps} plus --lr-decay-steps {settings.lr_decay_steps} "
            f"exceed the {n_steps} training steps"
        )
        raise ConfigError(msg)
    data = torch.from_numpy(vectors)
    sae = build_training_sae(settings, vectors.shape[1], hook_name, model_name)
    config = SAETrainerConfig(
        total_training_samples=n_steps * settings.batch_size,
        train_batch_size_samples=settings.batch_size,
        lr=settings.lr,
        # sae-lens requires lr_end, but the constant schedule ignores it and decays to zero.
        lr_end=settings.lr / 10,
        lr_warm_up_steps=settings.lr_warm_up_steps,
        lr_decay_steps=settings.lr_decay_steps,
        device=settings.device,
        dead_feature_window=settings.dead_feature_window,
    )
    trainer = SAETrainer(cfg=config, sae=sae, data_provider=shuffled_batches(data, settings.batch_size, settings.seed))

    # Set before `fit`, which then keeps this exact factor instead of estimating one from sampled batches.
    scaling_factor = math.sqrt(vectors.shape[1]) / float(np.linalg.norm(vectors, axis=1).mean())
    trainer.activation_scaler.scaling_factor = scaling_factor
    with torch.no_grad():
        sae.b_dec.copy_(data.mean(dim=0) * scaling_factor)

    logger.info(
        "training %s SAE of width %d on %d vectors for %d steps of %d",
        settings.architecture,
        settings.width,
        len(vectors),
        n_steps,
        settings.batch_size,
    )
    return trainer.fit()


def training_steps(n_vectors: int, settings: TrainSettings) -> int:
    """Return the number of optimizer steps the settings ask for, at least one."""
    if settings.training_tokens is not None:
        total = settings.training_tokens
    else:
        epochs = settings.epochs if settings.epochs is not None else DEFAULT_EPOCHS
        total = epochs * n_vectors
    return max(1, math.ceil(total / settings.batch_size))


def norm_outliers(vectors: np.ndarray, reference_norm: float, max_norm_ratio: float | None) -> np.ndarray:
    """Return a bool mask of vectors whose norm exceeds `max_norm_ratio` times `reference_norm`."""
    if max_norm_ratio is None:
        return np.zeros(len(vectors), dtype=bool)
    return np.linalg.norm(vectors, axis=1) > max_norm_ratio * reference_norm


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Set torch's CPU thread count for the duration of the block, then restore it."""
    import torch

    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def run_training(output_dir: Path, out: Path, settings: TrainSettings, overwrite: bool = False) -> dict[str, Any]:
    """Load, split, train, save to `out` and evaluate. Return the report, which is also written to `out`."""
    with torch_threads(settings.threads):
        return _run_training(Path(output_dir), Path(out), settings, overwrite)


def _run_training(output_dir: Path, out: Path, settings: TrainSettings, overwrite: bool) -> dict[str, Any]:
    from sae_lens import SAE

    started = time.perf_counter()
    check_out_folder(out, overwrite)

    data = load_activation_vectors(output_dir, settings)
    held_out_mask = held_out_prompts(data.n_prompts, settings.holdout, settings.seed)
    held_out = held_out_mask[data.prompt_index]
    train_vectors = data.vectors[~held_out]
    held_out_vectors = data.vectors[held_out]
    loaded = time.perf_counter()
    logger.info(
        "loaded %d vectors (%d training, %d held out) of %d prompts at %s in %.1fs",
        len(data.vectors),
        len(train_vectors),
        len(held_out_vectors),
        data.n_prompts,
        describe_offsets(data.offsets),
        loaded - started,
    )

    median_norm = float(np.median(np.linalg.norm(train_vectors, axis=1))) if len(train_vectors) else 0.0
    train_outliers = norm_outliers(train_vectors, median_norm, settings.max_norm_ratio)
    held_out_outliers = norm_outliers(held_out_vectors, median_norm, settings.max_norm_ratio)
    train_vectors = train_vectors[~train_outliers]
    check_enough_vectors(len(train_vectors), len(held_out_vectors) - int(held_out_outliers.sum()), settings)

    hook_name = hook_of_site(settings.hook_point, data.layer)
    model_name = model_name_of(output_dir)
    training_sae = train_sae(train_vectors, settings, hook_name, model_name)
    out.mkdir(parents=True, exist_ok=True)
    training_sae.save_inference_model(out)
    trained = time.perf_counter()

    sae = SAE.load_from_disk(out, device=settings.device)
    evaluations = evaluate_splits(sae, train_vectors, held_out_vectors, held_out_outliers, settings.seed)
    never_active = ~np.logical_or.reduce([stats.active for stats in evaluations.values()])
    finished = time.perf_counter()

    report = {
        "output_dir": str(output_dir),
        "sae_folder": str(out),
        "hook_name": hook_name,
        "model_name": model_name,
        "d_in": int(sae.cfg.d_in),
        "d_sae": int(sae.cfg.d_sae),
        "settings": settings.to_dict(),
        "offsets": list(data.offsets),
        "n_prompts": data.n_prompts,
        "n_held_out_prompts": int(held_out_mask.sum()),
        "n_vectors": len(data.vectors),
        "n_invalid_positions_dropped": data.n_invalid_positions,
        "n_training_vectors": len(train_vectors),
        "n_norm_outliers_dropped": {"train": int(train_outliers.sum()), "held_out": int(held_out_outliers.sum())},
        "median_training_norm": median_norm,
        "training_steps": training_steps(len(train_vectors), settings),
        "evaluation": {name: stats.to_dict() for name, stats in evaluations.items()},
        "evaluation_sets": {name: EVALUATION_SETS[name] for name in evaluations},
        "dead_features": int(never_active.sum()),
        "dead_features_definition": (
            "features never nonzero on the held-out vectors and on a sample of at most "
            f"{TRAIN_EVALUATION_SAMPLE} training vectors"
        ),
        "seconds": {
            "load": round(loaded - started, 2),
            "train": round(trained - loaded, 2),
            "evaluate": round(finished - trained, 2),
            "total": round(finished - started, 2),
        },
    }
    (out / DENSITY_PLOT).write_text(density_svg(evaluations))
    report["plots"] = [DENSITY_PLOT]
    (out / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    logger.info("wrote SAE and %s to %s in %.1fs", REPORT_FILE, out, finished - started)
    return report


def check_enough_vectors(n_train: int, n_held_out: int, settings: TrainSettings) -> None:
    """Raise ConfigError when there is not one full batch to train on, or nothing to evaluate on."""
    if n_train < settings.batch_size:
        msg = (
            f"too few training vectors: {n_train} after the held-out split, fewer than one batch of "
            f"--batch-size {settings.batch_size}. Store more prompts or positions, or lower --batch-size"
        )
        raise ConfigError(msg)
    if settings.holdout > 0 and n_held_out == 0:
        msg = (
            f"no held-out vectors to evaluate on with --holdout {settings.holdout}: it needs at least two "
            "prompts, and held-out prompts with valid positions"
        )
        raise ConfigError(msg)
