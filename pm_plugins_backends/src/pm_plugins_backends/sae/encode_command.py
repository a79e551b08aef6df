"""`pm sae encode`: write SAE features of raw activations already stored in an output directory."""

from __future__ import annotations

import click


@click.command("encode")
@click.argument("output_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--sae-path", help="Folder of a sae-lens SAE (cfg.json and sae_weights.safetensors).")
@click.option("--release", help="sae-lens release, with --sae-id, in place of --sae-path.")
@click.option("--sae-id", help="SAE id within --release.")
@click.option("--name", help="Name to store the features under [default: folder name or release/id].")
@click.option("--positions", help="Comma-separated offsets such as -5,-1 [default: every stored position].")
@click.option("--datasets", help="Comma-separated dataset names [default: all].")
@click.option("--device", default="cpu", show_default=True, help="Device to encode on, such as cuda:0.")
@click.option("--dtype", type=click.Choice(["float32", "float16", "bfloat16"]), help="Dtype of the SAE's weights.")
@click.option("--overwrite", is_flag=True, help="Delete features stored under the same name first.")
def encode_command(
    output_dir: str,
    sae_path: str | None,
    release: str | None,
    sae_id: str | None,
    name: str | None,
    positions: str | None,
    datasets: str | None,
    device: str,
    dtype: str | None,
    overwrite: bool,
) -> None:
    """Encode the raw activations stored in OUTPUT_DIR with an SAE, without running the model.

    The SAE's own hook point and layer choose which stored activations are read. The
    features equal those that ingestion with the same SAE in `model.sae_configs` writes.
    """
    from pm_core.config.load import parse_positions
    from pm_core.config.schema import SAEConfig
    from pm_core.ingestion.progress import ProgressReporter, console
    from pm_core.plugins import get_catalogue
    from pm_plugins_backends.sae.stored import encode_stored

    sae_config = SAEConfig(sae_release=release, sae_id=sae_id, path=sae_path, name=name, device=device, dtype=dtype)
    extractor = get_catalogue().create("feature_extractors", "sae", sae_config, device=device)
    offsets = parse_positions(positions.split(","), "--positions") if positions else None
    dataset_names = [item.strip() for item in datasets.split(",")] if datasets else None

    from pm_core.registry import RunRegistry
    from pm_core.storage.indexes import index_output_dir

    total = len(RunRegistry(f"{output_dir}/registry.sqlite").completed_rows(dataset_ids=dataset_names)["run_id"])
    with ProgressReporter(f"encode {extractor.name}", total) as progress:
        summary = encode_stored(
            output_dir, extractor, offsets, dataset_names, overwrite=overwrite, on_progress=progress.advance
        )
    index_output_dir(output_dir)
    console.print(
        f"{summary.dictionary}: encoded {summary.encoded_runs} runs ({summary.vectors} vectors), "
        f"{summary.already_encoded} already encoded, {summary.without_site} without stored "
        f"{extractor.site[0]}@{extractor.site[1]}"
    )
