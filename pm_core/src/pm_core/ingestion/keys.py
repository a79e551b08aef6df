"""Idempotency keys of a run.

`run_key` identifies *what* is processed: the prompt's content, the model and the
seed. `processing_fingerprint` identifies *how*: the capture and generation settings
and the sparse dictionaries encoded, each by its source and a digest of its weights file
when it is a local folder. A prompt whose key and fingerprint match a completed run
is not processed again. A changed fingerprint makes a new run that records the
one it supersedes.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import attrs

from pm_core.config.schema import RunConfig, SAEConfig
from pm_core.types import PromptSpec


def _digest(payload: Any) -> str:
    encoded = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()


def model_identity(config: RunConfig) -> dict[str, Any]:
    """Return the parts of the model config that change what the model computes."""
    model = config.model
    return {
        "name": model.name,
        "backend": model.backend,
        "gguf_file": model.gguf_file,
        "revision": model.revision,
        "dtype": model.dtype,
        "template": model.template,
        "system_role_fallback": model.system_role_fallback,
        "allow_empty_content": model.allow_empty_content,
    }


def run_key(spec: PromptSpec, config: RunConfig) -> str:
    """Return the key of processing `spec` with this model, dictionaries and seed."""
    return _digest(
        {
            "prompt": spec.content_digest(),
            "dataset_id": spec.dataset_id,
            "prompt_id": spec.prompt_id,
            "model": model_identity(config),
            "seed": config.run.seed,
        }
    )


def dictionary_identity(sae: SAEConfig) -> dict[str, Any]:
    """Return what identifies a dictionary's features: its entry, and its weights' digest for a local folder.

    The digest makes a retrained SAE saved to the same folder a new fingerprint, so its
    prompts are encoded again instead of being reported as done.
    """
    identity = attrs.asdict(sae)
    if sae.path:
        weights = Path(sae.path).expanduser() / "sae_weights.safetensors"
        if weights.is_file():
            status = weights.stat()
            identity["weights_file_sha256"] = file_digest(weights.resolve(), status.st_size, status.st_mtime_ns)
    return identity


@functools.lru_cache(maxsize=64)
def file_digest(path: Path, size: int, mtime_ns: int) -> str:
    """Return the SHA-256 of a file's bytes, read in 8 MiB blocks.

    `size` and `mtime_ns` are part of the cache key only, so a rewritten file is read again.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()


def processing_fingerprint(config: RunConfig) -> str:
    """Return the fingerprint of the capture and generation settings."""
    run = config.run
    settings = {
        "layers": list(run.capture_acts_raw.layers),
        "positions": list(run.capture_acts_raw.positions),
        "hook_points": list(run.raw_hook_point),
        "topk_logits": run.topk_logits,
        "max_new_tokens": run.max_new_tokens,
        "max_context_length": run.max_context_length,
        "storage_dtype": run.storage_dtype,
        "drop_bos": run.drop_bos,
    }
    if config.model.sae_configs:
        settings["dictionaries"] = [dictionary_identity(sae) for sae in config.model.sae_configs]
    return _digest(settings)
