"""`pm sae train`: train an SAE with sae-lens on the raw activations stored in an output directory."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import click

from pm_core.errors import PmError

#: Architectures as `training.py` and hook points as `pm_core.backend` define them, repeated here so that
#: `pm --help` does not import numpy.
ARCHITECTURES = ("topk", "standard")
HOOK_POINTS = ("resid_pre", "resid_post", "attn_out", "mlp_out")


def parse_list(text: str | None) -> list[str] | None:
    """Split a comma-separated option into its non-empty items, and return None for None."""
    if text is None:
        return None
    return [item.strip() for item in text.split(",") if item.strip()]


@click.command("train")
@click.argument("output_dir", type=click.Path(file_okay=False, exists=True))
@click.option(
    "--layer", type=int, required=True, help="Layer to train on. A negative layer counts from the last layer."
)
@click.option(
    "--hook-point",
    type=click.Choice(HOOK_POINTS),
    default="resid_post",
    show_default=True,
    help="Stored hook point to train on.",
)
@click.option(
    "--positions",
    default="all",
    show_default=True,
    help="Offsets to train on, such as `last,-2,-3`, or `all` for every offset stored in all shards.",
)
@click.option("--datasets", default=None, help="Comma-separated dataset ids to train on [default: all].")
@click.option("--width", type=int, default=4096, show_default=True, help="Number of SAE features (d_sae).")
@click.option(
    "--architecture",
    type=click.Choice(ARCHITECTURES),
    default="topk",
    show_default=True,
    help="`topk` keeps the k largest features per vector, and `standard` is ReLU with an L1 penalty.",
)
@click.option("--k", type=int, default=None, help="Active features per vector for topk [default: 32].")
@click.option("--l1-coefficient", type=float, default=None, help="L1 penalty weight, required for standard.")
@click.option(
    "--training-tokens",
    type=int,
    default=None,
    help="Training vectors to draw in total, repeats included [default: 10 epochs].",
)
@click.option("--epochs", type=float, default=None, help="Passes over the training vectors [default: 10].")
@click.option("--lr", type=float, default=3e-4, show_default=True, help="Adam learning rate.")
@click.option(
    "--lr-warm-up-steps",
    type=int,
    default=0,
    show_default=True,
    help="First steps over which the learning rate rises linearly to --lr.",
)
@click.option(
    "--lr-decay-steps",
    type=int,
    default=0,
    show_default=True,
    help="Last steps over which the learning rate falls linearly to zero.",
)
@click.option("--batch-size", type=int, default=4096, show_default=True, help="Vectors per training step.")
@click.option(
    "--holdout",
    type=float,
    default=0.1,
    show_default=True,
    help="Fraction of prompts held out for evaluation. All positions of a prompt go to the same side.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the split, the initial weights and the shuffle."
)
@click.option("--device", default="cpu", show_default=True, help="Torch device to train on, such as cpu or cuda.")
@click.option(
    "--max-norm-ratio",
    type=float,
    default=None,
    help="Drop vectors whose norm exceeds this multiple of the median training norm [default: keep all].",
)
@click.option(
    "--dead-feature-window",
    type=int,
    default=1000,
    show_default=True,
    help="Steps without firing after which a feature is dead and trained by the TopK auxiliary loss.",
)
@click.option(
    "--threads", type=int, default=None, help="CPU threads torch uses for training [default: torch's own setting]."
)
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Folder for the SAE and training_report.json.")
@click.option("--overwrite", is_flag=True, help="Replace the SAE files in a non-empty --out folder.")
def train_command(
    output_dir: str,
    layer: int,
    hook_point: str,
    positions: str,
    datasets: str | None,
    width: int,
    architecture: str,
    k: int | None,
    l1_coefficient: float | None,
    training_tokens: int | None,
    epochs: float | None,
    lr: float,
    lr_warm_up_steps: int,
    lr_decay_steps: int,
    batch_size: int,
    holdout: float,
    seed: int,
    device: str,
    max_norm_ratio: float | None,
    dead_feature_window: int,
    threads: int | None,
    out_dir: str,
    overwrite: bool,
) -> None:
    """Train an SAE on the raw activations of OUTPUT_DIR and report its reconstruction on held-out prompts.

    Every valid stored position of every completed prompt is one training vector. The SAE is
    saved in sae-lens's folder format, so `sae_lens.SAE.load_from_disk(OUT)` and
    `model.sae_configs: [{path: OUT}]` both load it.
    """
    if importlib.util.find_spec("sae_lens") is None:
        msg = (
            "pm sae train needs sae-lens: install it with "
            "`pip install -c constraints.txt 'pm-plugins-backends[saelens]'`"
        )
        raise click.ClickException(msg)
    from pm_plugins_backends.sae.training import TrainSettings, run_training

    try:
        settings = TrainSettings(
            layer=layer,
            hook_point=hook_point,
            positions=_parse_positions(positions),
            datasets=tuple(parse_list(datasets)) if datasets is not None else None,
            width=width,
            architecture=architecture,
            k=k,
            l1_coefficient=l1_coefficient,
            training_tokens=training_tokens,
            epochs=epochs,
            lr=lr,
            lr_warm_up_steps=lr_warm_up_steps,
            lr_decay_steps=lr_decay_steps,
            batch_size=batch_size,
            holdout=holdout,
            seed=seed,
            device=device,
            max_norm_ratio=max_norm_ratio,
            dead_feature_window=dead_feature_window,
            threads=threads,
        )
        report = run_training(Path(output_dir), Path(out_dir), settings, overwrite=overwrite)
    except PmError as error:
        # Raised here too, so the command reports cleanly when invoked outside pm's group.
        raise click.ClickException(str(error)) from error
    click.echo(format_report(report))


def format_report(report: dict[str, Any]) -> str:
    """Render the evaluation of a training report as a plain-text table."""
    settings = report["settings"]
    architecture = settings["architecture"]
    if settings["k"] is not None:
        architecture += f" k={settings['k']}"
    lines = [
        f"SAE {report['sae_folder']}: {report['hook_name']}, d_in {report['d_in']}, d_sae {report['d_sae']}, "
        f"{architecture}",
        f"{'vectors':<24}{'n':>10}{'explained var':>15}{'mean L0':>10}{'never active':>14}",
    ]
    for name, stats in report["evaluation"].items():
        lines.append(
            f"{name:<24}{stats['n_vectors']:>10}{stats['explained_variance']:>15.4f}"
            f"{stats['mean_l0']:>10.2f}{stats['features_never_active']:>14}"
        )
    lines.append(
        f"dead features (never active on held-out and train sample): {report['dead_features']} of {report['d_sae']}"
    )
    lines.append(
        f"{report['n_training_vectors']} training vectors from {report['n_prompts'] - report['n_held_out_prompts']} "
        f"prompts, {report['training_steps']} steps, {report['seconds']['total']:.1f}s"
    )
    for plot in report.get("plots", []):
        lines.append(f"plot: {Path(report['sae_folder']) / plot}")
    return "\n".join(lines)


def _parse_positions(text: str) -> tuple[int, ...] | None:
    from pm_core.config.load import parse_positions

    if text.strip() == "all":
        return None
    return parse_positions(parse_list(text), "--positions")
