"""`pm datasets`: the registered dataset classes, a look at their prompts, and their overlaps."""

from __future__ import annotations

import click
import yaml
from rich.console import Console
from rich.table import Table

from pm_core.datasets import RejectedRow, create_dataset


def _console() -> Console:
    console = Console()
    return console if console.is_terminal else Console(width=160)


@click.group("datasets", invoke_without_command=True)
@click.pass_context
def datasets_group(context: click.Context) -> None:
    """List the dataset classes that installed plugins register."""
    if context.invoked_subcommand is not None:
        return
    from pm_core.plugins import get_catalogue

    table = Table(title="Registered dataset classes", caption="* required option")
    for column in ("class", "distribution", "summary", "options"):
        table.add_column(column)
    for entry in get_catalogue().all():
        if entry.kind != "datasets":
            continue
        properties = entry.config_schema.get("properties", {})
        required = set(entry.config_schema.get("required", ()))
        options = ", ".join(f"{name}*" if name in required else name for name in properties)
        table.add_row(entry.name, entry.distribution, entry.summary, options)
    _console().print(table)


def _parse_params(pairs: tuple[str, ...]) -> dict:
    params = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key:
            msg = f"invalid --param {pair!r}: expected KEY=VALUE, such as setting=dh"
            raise click.BadParameter(msg)
        params[key] = yaml.safe_load(value)
    return params


def _load_specs(class_name: str, params: dict, dataset_id: str, limit: int | None):
    from pm_core.plugins import get_catalogue

    dataset = create_dataset(get_catalogue(), class_name, params, dataset_id)
    specs, rejected = [], []
    for item in dataset.iter_prompts(dataset_id, limit=limit):
        (rejected if isinstance(item, RejectedRow) else specs).append(item)
    return specs, rejected


@datasets_group.command("show")
@click.argument("name")
@click.option("--n", "count", default=3, show_default=True, help="Number of prompts to show.")
@click.option("-p", "--param", "params", multiple=True, help="Dataset parameter KEY=VALUE (YAML value); repeatable.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Take NAME as a dataset of this config, with its params and model.")
@click.option("--no-render", is_flag=True, help="Show the messages without loading the model's chat template.")
def show_command(name: str, count: int, params: tuple[str, ...], config_path: str | None, no_render: bool) -> None:
    """Show the first prompts of dataset class NAME as the model would see them, with their labels."""
    from pm_core.config.schema import ModelConfig

    model_config = ModelConfig()
    class_name, dataset_params = name, _parse_params(params)
    if config_path is not None:
        from pm_core.config.load import load_config

        config = load_config(config_path)
        dataset_config = config.dataset(name)
        class_name, dataset_params = dataset_config.class_name, {**dataset_config.params, **dataset_params}
        model_config = config.model

    specs, rejected = _load_specs(class_name, dataset_params, name, limit=count)
    backend = None
    if not no_render:
        from pm_core.plugins import get_catalogue

        click.echo(f"loading {model_config.name} to render the chat template ...", err=True)
        backend = get_catalogue().create("backends", model_config.backend, model_config)

    for spec in specs:
        click.secho(f"--- {spec.prompt_id}", bold=True)
        click.echo(f"labels: {spec.labels}")
        if backend is not None:
            rendered = backend.render(spec)
            click.echo(f"{rendered.n_tokens} tokens:")
            click.echo(rendered.text)
        else:
            for message in spec.messages:
                click.echo(f"[{message.role}] {message.content}")
            if spec.text is not None:
                click.echo(spec.text)
    for row in rejected:
        click.echo(f"rejected {row.prompt_id} ({row.reason}): {row.message}", err=True)


@datasets_group.command("overlap")
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--examples", default=3, show_default=True, help="Example prompt id pairs to show per dataset pair.")
def overlap_command(config_path: str, examples: int) -> None:
    """Report duplicate prompts within and across the datasets of CONFIG."""
    from pm_core.config.load import load_config
    from pm_core.overlap import find_overlaps

    config = load_config(config_path)
    loaded = {}
    for dataset in config.datasets:
        limit = dataset.num_prompts or config.num_prompts
        loaded[dataset.name], _ = _load_specs(dataset.class_name, dataset.params, dataset.name, limit)
    report = find_overlaps(loaded, max_examples=examples)

    within = Table(title="Duplicates within each dataset")
    for column in ("dataset", "prompts", "exact duplicates", "normalised duplicates"):
        within.add_column(column, justify="left" if column == "dataset" else "right")
    for name, size in report.sizes.items():
        within.add_row(name, str(size), str(report.within_exact[name]), str(report.within_normalized[name]))
    _console().print(within)

    across = Table(title="Prompts shared across datasets")
    for column in ("first", "second", "exact", "normalised", "labels (first, second): count", "examples"):
        across.add_column(column)
    for pair in report.pairs:
        labels = ", ".join(f"({_label(a)}, {_label(b)}): {n}" for (a, b), n in sorted(pair.by_label.items(), key=str))
        example_pairs = "; ".join(f"{a} = {b}" for a, b in pair.examples)
        across.add_row(pair.first, pair.second, str(pair.exact), str(pair.normalized), labels, example_pairs)
    _console().print(across)
    click.echo(f"{report.cross_dataset_duplicates} prompt(s) shared across datasets after normalisation.")


def _label(value: bool | None) -> str:
    if value is None:
        return "?"
    return "malicious" if value else "benign"


def add_to(group: click.Group) -> None:
    group.add_command(datasets_group)
