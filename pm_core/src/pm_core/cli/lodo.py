"""`pm lodo`: leave-one-dataset-out evaluation of a classifier on stored activations."""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml
from rich.console import Console
from rich.table import Table


def _console() -> Console:
    # Piped output keeps whole table rows rather than wrapping at 80 columns.
    console = Console()
    return console if console.is_terminal else Console(width=160)


def _parse_pairs(pairs: tuple[str, ...], option: str, example: str, parse_value: bool) -> dict:
    parsed = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key or not value:
            msg = f"invalid {option} {pair!r}: expected KEY=VALUE, such as {example}"
            raise click.BadParameter(msg)
        parsed[key] = yaml.safe_load(value) if parse_value else value
    return parsed


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _stored_model(output_dir: Path) -> dict | None:
    """Return the model identity an ingestion recorded in `model.json`, or None when it is absent."""
    path = output_dir / "model.json"
    if not path.is_file():
        return None
    description = json.loads(path.read_text())
    return {key: description.get(key) for key in ("model_id", "n_layers", "d_model")}


def _print_summary(result) -> None:
    table = Table(title="Leave-one-dataset-out, per held-out dataset")
    for column in ("held out", "prompts", "malicious", "threshold", "accuracy", "f1", "auc", "note"):
        table.add_column(column, justify="left" if column in ("held out", "note") else "right")
    for fold in [*result.folds, result.random_split]:
        metrics = fold.metrics or {}
        if fold.status != "ok":
            note = f"skipped: {fold.reason}"
        elif metrics.get("reason"):
            rate_name = "detection rate" if metrics["n_pos"] else "false-positive rate"
            rate = metrics["detection_rate"] if metrics["n_pos"] else metrics["false_positive_rate"]
            note = f"one class in test set, {rate_name} {_number(rate)}"
        else:
            note = ""
        members = getattr(fold, "datasets", None) or [fold.name]
        name = fold.name if len(members) <= 1 or fold.name == "random_split" else "+".join(members)
        table.add_row(
            name,
            str(metrics.get("n", len(fold.test_indices))),
            str(metrics.get("n_pos", "")),
            _number(metrics.get("threshold")),
            _number(metrics.get("accuracy")),
            _number(metrics.get("f1")),
            _number(metrics.get("auc")),
            note,
        )
    _console().print(table)

    pooled = result.aggregate["pooled"] or {}
    auc_average = result.aggregate["per_metric"].get("auc", {})
    click.echo(f"pooled LODO auc {_number(pooled.get('auc'))}, accuracy {_number(pooled.get('accuracy'))}")
    if auc_average:
        click.echo(
            f"macro auc {_number(auc_average['macro'])} over {auc_average['n_defined']} of "
            f"{auc_average['n_folds']} folds"
        )
    random_metrics = result.random_split.metrics or {}
    click.echo(
        f"random split auc {_number(random_metrics.get('auc'))}: gap {_number(result.gap['auc'])} auc, "
        f"{_number(result.gap['accuracy'])} accuracy"
    )
    for item in result.skipped:
        click.echo(f"no fold for {item['group']} ({item['n']} prompts, {item['reason']})")
    if result.npmi is not None:
        report = result.npmi.to_dict()
        click.echo(f"npmi top {report['k']}: {report['n_stable']} stable, {report['n_shortcut']} shortcut features")


@click.command("lodo")
@click.argument("output_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--layer", type=int, required=True, help="Layer to load; negative counts from the last layer.")
@click.option(
    "--position",
    default="last",
    show_default=True,
    help="Token position: 'last', an offset from the end such as -5, a range -16..-1, or a list -5,-1.",
)
@click.option(
    "--space",
    type=click.Choice(["raw", "sae"]),
    default="raw",
    show_default=True,
    help="Feature space: raw activations, or the sparse features of a dictionary.",
)
@click.option("--dictionary", default=None, help="Dictionary of space 'sae' [default: the only one stored].")
@click.option(
    "--pool",
    default="mean",
    show_default=True,
    help="Pooling over several positions: mean, concat, or max (space 'sae').",
)
@click.option("--hook-point", default="resid_post", show_default=True, help="Hook point the activations come from.")
@click.option("--label-key", default="malicious", show_default=True, help="Label that marks a prompt malicious.")
@click.option("--classifier", "classifier_name", required=True, help="Registered classifier name, such as linear.")
@click.option("--option", "options", multiple=True, help="Classifier option KEY=VALUE (YAML value); repeatable.")
@click.option(
    "--threshold",
    default="constant",
    show_default=True,
    help="Threshold strategy: constant, constant:T, target_precision:P or max_f1.",
)
@click.option("--merge", "merges", multiple=True, help="Merge dataset A into group B with A=B; repeatable.")
@click.option(
    "--min-size",
    default=10,
    show_default=True,
    help="Datasets with fewer prompts get no fold of their own (their rows still train every fold).",
)
@click.option(
    "--small-group",
    default=None,
    help="Merge the datasets under --min-size into this group instead of leaving them without a fold.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder for lodo.json, report.html and the final model [default: OUTPUT_DIR/lodo].",
)
@click.option("--n-jobs", default=1, show_default=True, help="Worker processes for the folds; -1 uses every CPU.")
@click.option("--seed", default=0, show_default=True, help="Seed of the random split and threshold cross-validation.")
@click.option("--npmi-top-k", type=int, default=None, help="Report the stability of each fold's top K NPMI features.")
@click.option("--npmi-select", is_flag=True, help="Also train every fit on its own top --npmi-top-k features only.")
def lodo_command(
    output_dir: str,
    layer: int,
    position: str,
    space: str,
    dictionary: str | None,
    pool: str,
    hook_point: str,
    label_key: str,
    classifier_name: str,
    options: tuple[str, ...],
    threshold: str,
    merges: tuple[str, ...],
    min_size: int,
    small_group: str | None,
    out_dir: str | None,
    n_jobs: int,
    seed: int,
    npmi_top_k: int | None,
    npmi_select: bool,
) -> None:
    """Train a classifier with each dataset of OUTPUT_DIR held out in turn, and report how it generalises."""
    from pm_core.config.load import parse_positions
    from pm_core.inference import FeatureSpec
    from pm_core.lodo import ThresholdStrategy, run_lodo
    from pm_core.lodo.report import write_report
    from pm_core.plugins import get_catalogue
    from pm_core.readers.classification import ClassificationDataset

    classifier_options = _parse_pairs(options, "--option", "C=0.1", parse_value=True)
    merge = _parse_pairs(merges, "--merge", "gandalf_summarization=gandalf", parse_value=False)
    # Parsed before the data loads, so a typo fails at once.
    strategy = ThresholdStrategy.parse(threshold)
    if npmi_select and not npmi_top_k:
        msg = "--npmi-select needs --npmi-top-k, the number of features to keep"
        raise click.BadParameter(msg)

    # Created before the data loads, so an unknown name or option fails at once.
    classifier = get_catalogue().create("classifiers", classifier_name, **classifier_options)
    if npmi_top_k and space == "raw":
        click.echo(
            "note: NPMI counts a feature as active when it is > 0, which suits sparse SAE features; "
            "on raw activations it measures the sign of each dimension",
            err=True,
        )
    dataset = ClassificationDataset.from_path(output_dir, label_key=label_key)
    data = dataset.load(
        layer=layer,
        space=space,
        position=position,
        hook_point=hook_point,
        pool=pool,
        dictionary=dictionary,
        return_sparse=space == "sae",
    )
    click.echo(dataset.summary(data), err=True)

    result = run_lodo(
        data.X,
        data.y,
        data.datasets,
        classifier,
        threshold=strategy,
        merge=merge,
        min_size=min_size,
        small_group=small_group,
        n_jobs=n_jobs,
        seed=seed,
        npmi_top_k=npmi_top_k,
        npmi_select=npmi_select,
    )
    result.settings.update(
        {
            "output_dir": str(output_dir),
            "classifier_name": classifier_name,
            "classifier_options": classifier_options,
            **data.metadata,
        }
    )

    out = Path(out_dir) if out_dir is not None else Path(output_dir) / "lodo"
    json_path, html_path = write_report(result, out)
    result.final_model.save(out / "model")
    FeatureSpec(
        layer=data.metadata.get("layer", layer),
        position=parse_positions(position, "--position"),
        hook_point=hook_point,
        space=space,
        pool=data.metadata.get("pool", "mean"),
        threshold=result.final_threshold.threshold,
        columns=None if result.final_features is None else tuple(int(i) for i in result.final_features),
        classifier=classifier_name,
        model=_stored_model(Path(output_dir)),
        **_stored_dictionary(Path(output_dir), data.metadata.get("dictionary")),
    ).save(out / "model")
    _print_summary(result)
    click.echo(f"wrote {json_path}, {html_path} and {out / 'model'}")


def _stored_dictionary(output_dir: Path, dictionary: str | None) -> dict:
    """Return `dictionary` and `sae` for features.json: where the SAE of the loaded features comes from."""
    from pm_core.storage.dictionaries import recorded_dictionaries

    if dictionary is None:
        return {}
    identity = recorded_dictionaries(output_dir).get(dictionary, {})
    source_keys = ("path", "sae_release", "sae_id", "dtype", "weights_sha256")
    source = {key: identity[key] for key in source_keys if identity.get(key) is not None}
    return {"dictionary": dictionary, "sae": source or None}


def add_to(group: click.Group) -> None:
    group.add_command(lodo_command)
