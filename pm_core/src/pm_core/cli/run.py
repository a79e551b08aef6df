"""`pm run` and `pm ingest`: capture activations for the datasets of a config."""

from __future__ import annotations

import logging

import attrs
import click

from pm_core.config.load import load_config
from pm_core.config.validate import check_model, check_plugins, resolve_layers
from pm_core.errors import ConfigError
from pm_core.plugins import get_catalogue

logger = logging.getLogger(__name__)


def _parse_gpus(value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        return tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        msg = f"invalid --gpus {value!r}: expected comma-separated GPU indices such as 0,1"
        raise click.BadParameter(msg) from None


def _parse_shard(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        index, count = (int(part) for part in value.split("/"))
    except ValueError:
        msg = f"invalid --shard {value!r}: expected I/N such as 0/4"
        raise click.BadParameter(msg) from None
    if not 0 <= index < count:
        msg = f"invalid --shard {value!r}: I must be between 0 and N-1"
        raise click.BadParameter(msg)
    return index, count


def _overrides(gpus: tuple[int, ...] | None) -> dict:
    overrides = {}
    if gpus is not None:
        overrides["gpus"] = list(gpus)
    return overrides


def _cap_prompts(config, num_prompts: int | None):
    """Limit every dataset to at most `num_prompts` prompts, below any limit the config sets."""
    if num_prompts is None:
        return config
    datasets = tuple(
        attrs.evolve(dataset, num_prompts=min(dataset.num_prompts or config.num_prompts or num_prompts, num_prompts))
        for dataset in config.datasets
    )
    return attrs.evolve(config, datasets=datasets)


@click.command("run")
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Print the jobs and settings without running anything.")
@click.option("--gpus", help="Comma-separated GPU indices to use, replacing the config's `gpus`.")
@click.option("--num-prompts", type=click.IntRange(min=1), help="Process at most this many prompts per dataset.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def run_command(config_path: str, dry_run: bool, gpus: str | None, num_prompts: int | None, no_progress: bool) -> None:
    """Run every dataset of CONFIG through the model and store what it captures."""
    from pm_core.extractors import load_extractors
    from pm_core.ingestion.executor import device_slots, plan_jobs, run_in_process, run_workers
    from pm_core.ingestion.progress import print_reasons, print_summary

    config = _cap_prompts(load_config(config_path, _overrides(_parse_gpus(gpus))), num_prompts)
    check_plugins(config, get_catalogue())
    _check_mode(config)
    architecture = check_model(config, get_catalogue())
    jobs = plan_jobs(config)
    slots = device_slots(config)

    if dry_run:
        _print_plan(config, jobs, slots, architecture)
        return

    if len(slots) > 1:
        # Each worker loads the SAEs on its own GPU; this CPU load only checks them before any worker starts.
        load_extractors(config, get_catalogue(), device="cpu")
        failures = run_workers(config, jobs, slots)
        if failures:
            raise click.ClickException(f"{failures} worker(s) failed; see {config.output_dir}/logs")
    else:
        summaries, failures = run_in_process(config, jobs, show_progress=not no_progress)
        if summaries:
            print_summary(summaries)
            print_reasons(summaries)
        if failures:
            lines = "\n".join(f"  {name}: {message}" for name, message in failures.items())
            stored = "the others were stored" if summaries else "nothing was stored"
            raise click.ClickException(f"{len(failures)} dataset(s) failed, {stored}:\n{lines}")
        _check_some_completed(summaries)

    from pm_core.storage.indexes import index_output_dir

    index_output_dir(config.output_dir)
    click.echo(f"Stored in {config.output_dir}. Load it in Python with:")
    click.echo("    from pm_core import ClassificationDataset")
    click.echo(f"    dataset = ClassificationDataset.from_path({config.output_dir!r})")
    layers = config.run.capture_acts_raw.layers
    if layers:
        click.echo(f"    data = dataset.load(layer={layers[-1]}, space='raw', position='last')")
        click.echo("    X, y, datasets = data.X, data.y, data.datasets")
    _print_dictionary_hints(config)


def _print_dictionary_hints(config) -> None:
    """Print one `load(space='sae')` line per dictionary stored in the output directory, with its layer."""
    import re

    from pm_core.storage.dictionaries import recorded_dictionaries

    if not config.model.sae_configs:
        return
    for name, identity in recorded_dictionaries(config.output_dir).items():
        match = re.search(r"\d+", identity.get("hook_name") or "")
        layer = match.group(0) if match else "L"
        click.echo(
            f"    sparse = dataset.load(layer={layer}, space='sae', position='last', return_sparse=True, "
            f"dictionary={name!r})"
        )


def _check_some_completed(summaries) -> None:
    """Exit non-zero when prompts failed and none is stored, so scripts notice a run that did nothing."""
    failed = sum(summary.failed for summary in summaries)
    stored = sum(summary.completed + summary.already_done for summary in summaries)
    if failed and not stored:
        msg = f"all {failed} prompt(s) that ran failed and nothing is stored; see the reasons above"
        raise click.ClickException(msg)


def _check_mode(config) -> None:
    # TODO: `labels_only` (evaluators without the model) arrives with the evaluator plugins.
    if config.mode != "ingest":
        msg = f"mode {config.mode!r} is not available yet: set `mode: ingest`, which runs the model"
        raise ConfigError(msg)


def _print_plan(config, jobs, slots, architecture) -> None:
    capture = config.run.capture_acts_raw
    click.echo(f"model: {config.model.name} (backend {config.model.backend}, {config.model.dtype})")
    if architecture is not None:
        layers = resolve_layers(capture.layers, architecture["n_layers"])
        n_layers, width = architecture["n_layers"], architecture["d_model"]
        click.echo(f"  {n_layers} layers, width {width}; capture layers {list(layers)}")
    click.echo(
        f"capture: layers {list(capture.layers)} at {', '.join(config.run.raw_hook_point)}, "
        f"positions {list(capture.positions)}; top-{config.run.topk_logits} logits; "
        f"{config.run.max_new_tokens} new tokens"
    )
    for sae in config.model.sae_configs:
        source = sae.path or f"release {sae.sae_release!r}, id {sae.sae_id!r}"
        click.echo(f"sae: {sae.name or '(default name)'} from {source}, encoded at its own hook and layer")
    click.echo(f"output: {config.output_dir}")
    devices = ", ".join("GPU " + "+".join(map(str, slot)) for slot in slots) or "this process (CPU or one device)"
    click.echo(f"workers: {devices}")
    problems = 0
    for job in jobs:
        limit = "all prompts" if job.num_prompts is None else f"up to {job.num_prompts} prompts"
        click.echo(f"  job {job.dataset_name}: {job.class_name}, {limit}")
        problem = _probe_dataset(config, job.dataset_name)
        if problem is not None:
            problems += 1
            click.echo(f"    error: {problem}")
    if problems:
        raise click.ClickException(f"{problems} dataset(s) cannot be read; see the errors above")


def _probe_dataset(config, dataset_name: str) -> str | None:
    """Build the dataset and read its first prompt, returning the error a run would meet, if any."""
    from pm_core.datasets import create_dataset
    from pm_core.errors import PmError

    dataset_config = config.dataset(dataset_name)
    try:
        dataset = create_dataset(get_catalogue(), dataset_config.class_name, dataset_config.params, dataset_name)
        next(iter(dataset.iter_prompts(dataset_name, limit=1)), None)
    except (PmError, OSError) as error:
        return str(error)
    return None


@click.command("ingest")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False), help="Run config YAML.")
@click.option("--dataset-name", required=True, help="Name of the dataset in the config to process.")
@click.option("--shard", help="Process only shard I of N of the dataset, written I/N.")
@click.option("--num-prompts", type=click.IntRange(min=1), help="Process at most this many prompts.")
@click.option("--device", help="Run the model on this device (cpu, cuda:0, or auto for device_map=auto).")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def ingest_command(
    config_path: str,
    dataset_name: str,
    shard: str | None,
    num_prompts: int | None,
    device: str | None,
    no_progress: bool,
) -> None:
    """Process one dataset of a config in this process (one worker)."""
    from pm_core.ingestion.pipeline import FullIngestionPipeline
    from pm_core.ingestion.progress import print_reasons, print_summary

    config = _cap_prompts(load_config(config_path), num_prompts)
    check_model(config, get_catalogue())
    if device == "auto":
        config = attrs.evolve(config, model=attrs.evolve(config.model, device_map="auto"))
    elif device is not None:
        config = attrs.evolve(config, model=attrs.evolve(config.model, device=device, device_map=None))
    check_plugins(config, get_catalogue())
    _check_mode(config)
    pipeline = FullIngestionPipeline(config, dataset_name, shard=_parse_shard(shard), show_progress=not no_progress)
    summaries = [pipeline.run()]
    print_summary(summaries)
    print_reasons(summaries)
    _check_some_completed(summaries)


def add_to(group: click.Group) -> None:
    group.add_command(run_command)
    group.add_command(ingest_command)
