"""Entry point of the backends package."""

from pm_core.hookspecs import hookimpl


def _create_huggingface(model_config):
    from pm_plugins_backends.huggingface.backend import HuggingFaceBackend

    return HuggingFaceBackend.from_config(model_config)


def _inspect_huggingface(model_config):
    from pm_plugins_backends.huggingface.loading import read_architecture

    return read_architecture(model_config)


def _create_saelens(model_config):
    from pm_plugins_backends.saelens.backend import SAELensBackend

    return SAELensBackend.from_config(model_config)


def _create_raw_extractor(hook_point, layer, d_model):
    from pm_plugins_backends.extractors import RawFeatureExtractor

    return RawFeatureExtractor(hook_point, layer, d_model)


def _create_sae_extractor(sae_config, device="cpu"):
    from pm_plugins_backends.extractors import create_sae_extractor

    return create_sae_extractor(sae_config, device=device)


@hookimpl
def pm_register_backends(register) -> None:
    register(
        "huggingface",
        _create_huggingface,
        summary="Hugging Face transformers models (hub id, folder or GGUF)",
        inspect=_inspect_huggingface,
    )
    register(
        "saelens",
        _create_saelens,
        summary="TransformerLens (HookedTransformer, or its bridge for other models) with sae-lens hook names",
        inspect=_inspect_huggingface,
    )


@hookimpl
def pm_register_feature_extractors(register) -> None:
    register("raw", _create_raw_extractor, summary="raw activations of one hook point and layer (dense)")
    register("sae", _create_sae_extractor, summary="sparse features of a sae-lens SAE (release and id, or folder)")


@hookimpl
def pm_register_commands(cli) -> None:
    from pm_plugins_backends.sae.commands import sae_group

    cli.add_command(sae_group)
