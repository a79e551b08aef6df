"""Entry point of the backends package."""

from pm_core.hookspecs import hookimpl


def _create_huggingface(model_config):
    from pm_plugins_backends.huggingface.backend import HuggingFaceBackend

    return HuggingFaceBackend.from_config(model_config)


def _inspect_huggingface(model_config):
    from pm_plugins_backends.huggingface.loading import read_architecture

    return read_architecture(model_config)


@hookimpl
def pm_register_backends(register) -> None:
    register(
        "huggingface",
        _create_huggingface,
        summary="Hugging Face transformers models (hub id, folder or GGUF)",
        inspect=_inspect_huggingface,
    )
