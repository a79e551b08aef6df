"""`pm sae train` on a synthetic output directory whose vectors are sparse sums of known directions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sae_lens")

from click.testing import CliRunner  # noqa: E402

from pm_core.backend import HOOK_POINTS  # noqa: E402
from pm_core.registry import RunRegistry  # noqa: E402
from pm_core.storage.activations import ActivationWriter  # noqa: E402
from pm_core.storage.bench import synthetic_run_items  # noqa: E402
from pm_plugins_backends.sae import evaluation, training  # noqa: E402
from pm_plugins_backends.sae import train_command as train_command_module  # noqa: E402
from pm_plugins_backends.sae.train_command import train_command  # noqa: E402

D_MODEL = 32
N_DIRECTIONS = 64
ACTIVE_PER_VECTOR = 3
OFFSETS = (-1, -2, -3, -4)
LAYER = 2
N_PROMPTS = 1000


def write_sparse_store(output_dir: Path, n_prompts: int = N_PROMPTS, seed: int = 0) -> dict[str, int]:
    """Store vectors that are each a positive sum of 3 of 64 fixed random unit directions, plus small noise.

    Offset -4 carries one fixed vector in every prompt, as a chat-template token would. Every fifth
    prompt is two tokens long, so offsets -3 and -4 are invalid for it and stored as zeros.
    Returns the number of valid and invalid positions written.
    """
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((N_DIRECTIONS, D_MODEL)).astype(np.float32)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)

    n_positions = len(OFFSETS)
    activations = np.zeros((n_prompts, n_positions, D_MODEL), dtype=np.float32)
    for prompt in range(n_prompts):
        for position in range(n_positions):
            chosen = rng.choice(N_DIRECTIONS, size=ACTIVE_PER_VECTOR, replace=False)
            weights = rng.uniform(1.0, 3.0, size=ACTIVE_PER_VECTOR).astype(np.float32)
            activations[prompt, position] = weights @ directions[chosen]
    activations += 0.01 * rng.standard_normal(activations.shape, dtype=np.float32)
    # Offset -4 is a shared template token: the same vector in every prompt.
    activations[:, 3] = 2.0 * directions[0] + directions[1]
    valid = np.ones((n_prompts, n_positions), dtype=bool)
    valid[::5, 2:] = False
    activations[~valid] = 0.0

    registry = RunRegistry(output_dir)
    handles = registry.register_runs(synthetic_run_items(0, n_prompts, n_datasets=2))
    writer = ActivationWriter(output_dir, "synthetic-0", [("resid_post", LAYER)], OFFSETS, D_MODEL)
    positions = np.tile(np.arange(n_positions, dtype=np.int32), (n_prompts, 1))
    writer.append([handle.run_id for handle in handles], {("resid_post", LAYER): activations}, valid, positions)
    locations = writer.flush()
    writer.close()
    registry.mark_completed([(loc.run_id, loc.shard, loc.row, {"n_tokens": 4}) for loc in locations])
    registry.close()
    model = {"model_id": "tiny-synthetic", "n_layers": 4, "d_model": D_MODEL}
    (output_dir / "model.json").write_text(json.dumps(model))
    return {"valid": int(valid.sum()), "invalid": int((~valid).sum())}


@pytest.fixture(scope="module")
def sparse_store(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    output_dir = tmp_path_factory.mktemp("sparse-store")
    return output_dir, write_sparse_store(output_dir)


@pytest.fixture(scope="module")
def trained(sparse_store, tmp_path_factory) -> tuple[Path, object]:
    """Train once for the module: width 128, k 4, 300k vectors drawn in batches of 256."""
    output_dir, _ = sparse_store
    out = tmp_path_factory.mktemp("sae") / "tiny-sae"
    result = CliRunner().invoke(
        train_command,
        [
            str(output_dir),
            "--layer",
            str(LAYER),
            "--width",
            "128",
            "--k",
            "4",
            "--training-tokens",
            "300000",
            "--threads",
            "1",
            "--batch-size",
            "256",
            "--lr",
            "3e-3",
            "--dead-feature-window",
            "50",
            "--seed",
            "1",
            "--out",
            str(out),
        ],
    )
    return out, result


def run_train(arguments: list[str]):
    return CliRunner().invoke(train_command, arguments)


class TestTrainCommand:
    def test_train_exits_cleanly(self, trained) -> None:
        """The command succeeds and prints the evaluation table."""
        _, result = trained

        assert result.exit_code == 0, result.output
        assert "held_out" in result.output
        assert "explained var" in result.output

    def test_report_counts_vectors(self, trained, sparse_store) -> None:
        """Every valid position is a vector, invalid ones are dropped, and held-out prompts are 10%."""
        out, _ = trained
        _, counts = sparse_store

        report = json.loads((out / training.REPORT_FILE).read_text())

        assert report["n_vectors"] == counts["valid"]
        assert report["n_invalid_positions_dropped"] == counts["invalid"]
        assert report["n_prompts"] == N_PROMPTS
        assert report["n_held_out_prompts"] == N_PROMPTS // 10
        held_out = report["evaluation"]["held_out"]["n_vectors"]
        assert report["n_training_vectors"] + held_out == counts["valid"]
        assert report["offsets"] == list(OFFSETS)
        assert report["settings"]["k"] == 4
        assert report["seconds"]["total"] > 0

    def test_density_plot_written(self, trained) -> None:
        """The feature density plot has one bar per firing-rate bin and vector set, and shares that sum to 1."""
        out, result = trained
        report = json.loads((out / training.REPORT_FILE).read_text())
        svg = (out / training.DENSITY_PLOT).read_text()

        assert report["plots"] == [training.DENSITY_PLOT]
        assert f"plot: {out / training.DENSITY_PLOT}" in result.output
        assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
        assert svg.count('class="pm-mark"') == len(evaluation.DENSITY_LABELS) * len(report["evaluation"])
        d_sae = report["d_sae"]
        never = report["evaluation"]["held_out"]["features_never_active"]
        assert f"never held_out: {never / d_sae:.3f}" in svg

    def test_density_shares_sum_to_one(self) -> None:
        """Every feature falls in exactly one bin, dead ones in `never`, dense ones in the last."""
        rates = np.array([0.0, 0.0, 5e-5, 1e-4, 5e-3, 0.2, 1.0])
        stats = evaluation.ReconstructionStats(n_vectors=10, explained_variance=0.9, mean_l0=1.0, firing_rate=rates)
        shares = evaluation.density_histogram({"set": stats})["set"]

        assert [round(share * len(rates)) for share in shares] == [2, 2, 0, 1, 0, 2]

    def test_report_separates_unseen_vectors(self, trained) -> None:
        """Held-out template vectors equal training vectors, so `held_out_unseen` leaves them out."""
        out, _ = trained
        held_out_prompts = np.flatnonzero(training.held_out_prompts(N_PROMPTS, 0.1, seed=1))
        # Prompts are read in registry order, and every fifth prompt has no valid template position.
        held_out_templates = int((held_out_prompts % 5 != 0).sum())

        report = json.loads((out / training.REPORT_FILE).read_text())

        held_out = report["evaluation"]["held_out"]["n_vectors"]
        unseen = report["evaluation"]["held_out_unseen"]["n_vectors"]
        assert unseen == held_out - held_out_templates
        assert "held_out_unseen" in report["evaluation_sets"]

    def test_report_reconstruction_quality(self, trained) -> None:
        """The SAE recovers the planted directions: explained variance is high and L0 is at most k.

        Measured with torch 2.13 on CPU and sae-lens 6.54.12: explained variance 0.933 held out, 0.927 on
        held-out vectors unseen in training, and 0.956 on the train sample. The 64 directions overlap in
        32 dimensions, so a linear encoder cannot separate them exactly.
        """
        out, _ = trained

        report = json.loads((out / training.REPORT_FILE).read_text())

        for name in ("held_out", "held_out_unseen", "train_sample"):
            stats = report["evaluation"][name]
            assert stats["explained_variance"] > 0.9, name
            assert stats["mean_l0"] <= 4, name
            assert stats["mean_l0"] > 0, name
        assert 0 <= report["dead_features"] <= 128

    def test_saved_folder_loads_in_sae_lens(self, trained) -> None:
        """sae-lens loads the folder as a TopK SAE with pm's hook name, the model id and the right widths."""
        from sae_lens import SAE

        out, _ = trained

        sae = SAE.load_from_disk(str(out))

        assert sae.cfg.architecture() == "topk"
        assert sae.cfg.metadata.hook_name == f"blocks.{LAYER}.hook_resid_post"
        assert sae.cfg.metadata.model_name == "tiny-synthetic"
        assert sae.cfg.d_in == D_MODEL
        assert sae.cfg.d_sae == 128
        assert sae.cfg.k == 4

    def test_saved_folder_loads_in_pm(self, trained) -> None:
        """pm's loader accepts the folder, and its feature extractor maps it back to resid_post@2."""
        from pm_core.config.schema import SAEConfig
        from pm_plugins_backends.sae.encoding import SAEFeatureExtractor
        from pm_plugins_backends.sae.loading import load_sae

        out, _ = trained

        extractor = SAEFeatureExtractor(load_sae(SAEConfig(path=str(out))), name="tiny")

        assert extractor.site == ("resid_post", LAYER)
        assert extractor.d_out == 128
        assert extractor.encode(np.ones((3, D_MODEL), dtype=np.float32)).shape == (3, 128)

    def test_existing_out_folder_rejected(self, trained, sparse_store) -> None:
        """A non-empty --out folder is an error unless --overwrite is given."""
        out, _ = trained
        output_dir, _ = sparse_store

        result = run_train([str(output_dir), "--layer", str(LAYER), "--out", str(out)])

        assert result.exit_code == 1
        assert "already exists and is not empty: pass --overwrite" in result.output

    def test_overwrite_replaces_sae(self, sparse_store, tmp_path) -> None:
        """With --overwrite the command trains into a non-empty folder; a positions list limits the vectors."""
        output_dir, _ = sparse_store
        out = tmp_path / "sae"
        out.mkdir()
        (out / training.REPORT_FILE).write_text("{}")

        result = run_train(
            [
                str(output_dir),
                "--layer",
                "-2",
                "--positions",
                "last,-2",
                "--width",
                "64",
                "--k",
                "4",
                "--training-tokens",
                "2048",
                "--batch-size",
                "256",
                "--holdout",
                "0",
                "--threads",
                "1",
                "--out",
                str(out),
                "--overwrite",
            ]
        )

        assert result.exit_code == 0, result.output
        report = json.loads((out / training.REPORT_FILE).read_text())
        assert report["offsets"] == [-1, -2]
        assert report["n_vectors"] == 2 * N_PROMPTS
        assert report["n_held_out_prompts"] == 0
        assert list(report["evaluation"]) == ["train_sample"]
        assert report["hook_name"] == f"blocks.{LAYER}.hook_resid_post"


class TestTrainErrors:
    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            (["--width", "0"], "--width must be positive, got 0"),
            (["--k", "200", "--width", "128"], "--k 200 exceeds --width 128"),
            (["--architecture", "standard"], "--architecture standard needs --l1-coefficient"),
            (["--l1-coefficient", "5"], "--l1-coefficient applies to --architecture standard"),
            (["--epochs", "2", "--training-tokens", "100"], "give either --training-tokens or --epochs, not both"),
            (["--holdout", "1"], "--holdout must be in [0, 1), got 1.0"),
            (["--positions", "0"], "invalid position 0 at `--positions[0]`"),
        ],
        ids=[
            "width",
            "k-above-width",
            "standard-without-l1",
            "l1-with-topk",
            "epochs-and-tokens",
            "holdout",
            "position",
        ],
    )
    def test_invalid_option_rejected(self, sparse_store, tmp_path, extra, message) -> None:
        """Each invalid option fails with exit code 1 and a message naming it, before any SAE is written."""
        output_dir, _ = sparse_store

        result = run_train([str(output_dir), "--layer", str(LAYER), "--out", str(tmp_path / "sae"), *extra])

        assert result.exit_code == 1
        assert message in result.output
        assert not (tmp_path / "sae").exists()

    def test_unstored_layer_rejected(self, sparse_store, tmp_path) -> None:
        """A layer with no stored activations names the stored layers."""
        output_dir, _ = sparse_store

        result = run_train([str(output_dir), "--layer", "3", "--out", str(tmp_path / "sae")])

        assert result.exit_code == 1
        assert "layer 3 is not stored at 'resid_post'; stored layers: [2]" in result.output

    def test_unstored_hook_point_rejected(self, sparse_store, tmp_path) -> None:
        """A hook point with no stored activations names the stored sites."""
        output_dir, _ = sparse_store

        result = run_train(
            [str(output_dir), "--layer", str(LAYER), "--hook-point", "mlp_out", "--out", str(tmp_path / "sae")]
        )

        assert result.exit_code == 1
        assert "no activations stored at hook point 'mlp_out'; stored sites: resid_post@2" in result.output

    def test_directory_without_activations_rejected(self, tmp_path) -> None:
        """An output directory with no stored activations fails with a message naming the missing group."""
        result = run_train([str(tmp_path), "--layer", "0", "--out", str(tmp_path / "sae")])

        assert result.exit_code == 1
        assert "no activations in" in result.output

    def test_too_few_vectors_rejected(self, sparse_store, tmp_path) -> None:
        """Fewer training vectors than one batch is an error that suggests a smaller batch."""
        output_dir, _ = sparse_store

        result = run_train(
            [str(output_dir), "--layer", str(LAYER), "--batch-size", "100000", "--out", str(tmp_path / "sae")]
        )

        assert result.exit_code == 1
        assert "too few training vectors" in result.output
        assert "lower --batch-size" in result.output
        assert not (tmp_path / "sae").exists()

    def test_unknown_dataset_rejected(self, sparse_store, tmp_path) -> None:
        """A --datasets filter that matches no completed prompt is an error naming the filter."""
        output_dir, _ = sparse_store

        result = run_train(
            [str(output_dir), "--layer", str(LAYER), "--datasets", "missing", "--out", str(tmp_path / "sae")]
        )

        assert result.exit_code == 1
        assert "no completed prompts of datasets ['missing']" in result.output


def test_command_lists_match_library() -> None:
    """The command's choices repeat the library's, so they must stay equal."""
    assert train_command_module.ARCHITECTURES == training.ARCHITECTURES
    assert tuple(HOOK_POINTS) == train_command_module.HOOK_POINTS


def test_rows_in_matches_exact_rows() -> None:
    """Only rows bitwise equal to a reference row are marked."""
    reference = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    rows = np.array([[3.0, 4.0], [3.0, 4.0001], [0.0, 0.0]], dtype=np.float32)

    assert evaluation.rows_in(rows, reference).tolist() == [True, False, False]


def test_held_out_prompts_seeded() -> None:
    """The split holds out round(fraction * prompts), keeps one prompt for training, and repeats per seed."""
    first = training.held_out_prompts(50, 0.1, seed=3)

    assert first.sum() == 5
    assert np.array_equal(first, training.held_out_prompts(50, 0.1, seed=3))
    assert not np.array_equal(first, training.held_out_prompts(50, 0.1, seed=4))
    assert training.held_out_prompts(2, 0.9, seed=0).sum() == 1
    assert training.held_out_prompts(10, 0.0, seed=0).sum() == 0
