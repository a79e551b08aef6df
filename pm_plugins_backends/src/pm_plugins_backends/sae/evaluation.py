"""Reconstruction quality of a trained SAE: explained variance, L0 and features that never fire."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

if TYPE_CHECKING:
    from sae_lens import SAE

#: Training vectors the train-set figures are measured on, drawn at random when there are more.
TRAIN_EVALUATION_SAMPLE = 32_768
#: Description of each vector set in the report's `evaluation`.
EVALUATION_SETS = {
    "train_sample": f"at most {TRAIN_EVALUATION_SAMPLE} training vectors drawn at random",
    "held_out": "vectors of held-out prompts, without norm outliers",
    "held_out_with_outliers": "vectors of held-out prompts, norm outliers included",
    "held_out_unseen": "vectors of held-out prompts, without outliers and without vectors equal to a training vector",
}
#: Rows encoded at once during evaluation.
EVALUATION_CHUNK = 4096


@attrs.frozen
class ReconstructionStats:
    """Reconstruction quality of an SAE on one set of vectors."""

    n_vectors: int
    #: 1 - sum of squared errors / sum of squared deviations from the set's mean vector.
    explained_variance: float
    #: Mean number of nonzero features per vector.
    mean_l0: float
    #: Shape (d_sae,): the share of vectors on which each feature is nonzero.
    firing_rate: np.ndarray = attrs.field(eq=False, repr=False)

    @property
    def active(self) -> np.ndarray:
        """Shape (d_sae,): whether each feature was nonzero on at least one vector."""
        return self.firing_rate > 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_vectors": self.n_vectors,
            "explained_variance": self.explained_variance,
            "mean_l0": self.mean_l0,
            "features_never_active": int((~self.active).sum()),
        }


def evaluate_sae(sae: SAE, vectors: np.ndarray) -> ReconstructionStats:
    """Measure explained variance, mean L0 and the features that fire, on (n_vectors, d_in) vectors."""
    import torch

    mean = vectors.astype(np.float64).mean(axis=0)
    squared_error = total_variance = 0.0
    l0_sum = 0
    firing_counts = torch.zeros(sae.cfg.d_sae, dtype=torch.int64)
    parameter = next(sae.parameters())
    with torch.no_grad():
        for start in range(0, len(vectors), EVALUATION_CHUNK):
            block = vectors[start : start + EVALUATION_CHUNK]
            rows = torch.from_numpy(block).to(device=parameter.device, dtype=parameter.dtype)
            features = sae.encode(rows)
            reconstruction = sae.decode(features).double().cpu().numpy()
            squared_error += float(((reconstruction - block) ** 2).sum())
            total_variance += float(((block - mean) ** 2).sum())
            firing = (features != 0).cpu()
            l0_sum += int(firing.sum())
            firing_counts += firing.sum(dim=0)
    n_vectors = len(vectors)
    return ReconstructionStats(
        n_vectors=n_vectors,
        explained_variance=1.0 - squared_error / total_variance if total_variance > 0 else float("nan"),
        mean_l0=l0_sum / n_vectors if n_vectors else float("nan"),
        firing_rate=firing_counts.numpy() / max(n_vectors, 1),
    )


def evaluate_splits(
    sae: SAE, train_vectors: np.ndarray, held_out_vectors: np.ndarray, held_out_outliers: np.ndarray, seed: int
) -> dict[str, ReconstructionStats]:
    """Evaluate on a seeded sample of training vectors and on the held-out vectors.

    `held_out` excludes norm outliers, `held_out_with_outliers` includes them, and `held_out_unseen`
    keeps only held-out vectors equal to no training vector. Prompts that share a chat-template
    prefix have bitwise identical vectors there, so `held_out` alone overstates generalization.
    """
    sample = np.random.default_rng(seed).permutation(len(train_vectors))[:TRAIN_EVALUATION_SAMPLE]
    evaluations = {"train_sample": evaluate_sae(sae, train_vectors[np.sort(sample)])}
    if not len(held_out_vectors):
        return evaluations
    inliers = held_out_vectors[~held_out_outliers]
    evaluations["held_out"] = evaluate_sae(sae, inliers)
    if held_out_outliers.any():
        evaluations["held_out_with_outliers"] = evaluate_sae(sae, held_out_vectors)
    seen = rows_in(inliers, train_vectors)
    if seen.any() and not seen.all():
        evaluations["held_out_unseen"] = evaluate_sae(sae, inliers[~seen])
    return evaluations


def rows_in(rows: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Return a bool mask of the rows of `rows` that are bitwise equal to some row of `reference`."""
    # Hashing each row keeps memory at one integer per reference row. A hash collision would only
    # mark a vector as seen, and collisions of 64-bit hashes are negligible at these counts.
    reference_hashes = {hash(row.tobytes()) for row in reference}
    return np.fromiter((hash(row.tobytes()) in reference_hashes for row in rows), dtype=bool, count=len(rows))


#: Edges of the firing-rate bins of the feature density plot, after a first bin for features that never fire.
DENSITY_EDGES = (0.0, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
DENSITY_LABELS = ("never", "up to 1e-4", "1e-4 to 1e-3", "1e-3 to 0.01", "0.01 to 0.1", "over 0.1")


def density_histogram(evaluations: dict[str, ReconstructionStats]) -> dict[str, list[float]]:
    """Return, per vector set, the share of features in each firing-rate bin of `DENSITY_LABELS`.

    Dead features land in "never" and dense ones (nonzero on over 10% of vectors) in the last
    bin: the two ends a researcher checks first.
    """
    series = {}
    for name, stats in evaluations.items():
        rates = stats.firing_rate
        counts = [int((rates == 0).sum())]
        for low, high in zip(DENSITY_EDGES, DENSITY_EDGES[1:], strict=False):
            counts.append(int(((rates > low) & (rates <= high)).sum()))
        series[name] = [count / len(rates) for count in counts]
    return series


def density_svg(evaluations: dict[str, ReconstructionStats]) -> str:
    """Return a standalone SVG bar chart of `density_histogram`, one bar colour per vector set."""
    from pm_core.lodo.plots import bar_chart

    title = "Share of features by firing rate (fraction of vectors where the feature is nonzero)"
    chart = bar_chart("feature_density", title, list(DENSITY_LABELS), density_histogram(evaluations), standalone=True)
    return chart + "\n"
