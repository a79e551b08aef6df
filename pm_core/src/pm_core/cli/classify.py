"""`pm classify`: score new prompts with a classifier saved by `pm lodo`, through the model."""

from __future__ import annotations

import json
from pathlib import Path

import click

from pm_core.errors import ConfigError


def load_saved_classifier(folder: Path):
    """Restore the classifier in `folder` through the class its plugin registers under the saved name."""
    from pm_core.inference import FeatureSpec
    from pm_core.plugins import get_catalogue

    features = FeatureSpec.load(folder)
    if features.classifier is None:
        msg = f"{str(folder)!r}: features.json does not name the classifier; re-run `pm lodo` to save it again"
        raise ConfigError(msg)
    prototype = get_catalogue().create("classifiers", features.classifier)
    return type(prototype).load(folder), features


@click.command("classify")
@click.option("--run-config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="Run config whose `model` section names the model the classifier was trained on.")
@click.option("--classifier", "classifier_dir", required=True, type=click.Path(file_okay=False, exists=True),
              help="Folder written by `pm lodo` (its model/ subfolder).")
@click.option("--threshold", type=float, default=None, help="Score above which a prompt is malicious [default: saved].")
@click.argument("prompts", nargs=-1, required=True)
def classify_command(config_path: str, classifier_dir: str, threshold: float | None, prompts: tuple[str, ...]) -> None:
    """Score PROMPTS, each a user message, and print one JSON line per prompt."""
    import attrs

    from pm_core.config.load import load_config
    from pm_core.inference import InferencePipeline
    from pm_core.plugins import get_catalogue

    folder = Path(classifier_dir)
    if (folder / "model").is_dir() and not (folder / "features.json").is_file():
        folder = folder / "model"
    classifier, features = load_saved_classifier(folder)
    if threshold is not None:
        features = attrs.evolve(features, threshold=threshold)

    config = load_config(config_path)
    backend = get_catalogue().create("backends", config.model.backend, config.model)
    for text, prediction in zip(prompts, InferencePipeline(backend, classifier, features).predict(list(prompts)),
                                strict=True):
        record = {"prompt": text, "score": round(prediction.score, 6), "malicious": prediction.malicious,
                  "threshold": features.threshold, "n_tokens": prediction.n_tokens}
        click.echo(json.dumps(record))


def add_to(group: click.Group) -> None:
    group.add_command(classify_command)
