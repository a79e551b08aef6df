"""Idempotency keys of a run.

`run_key` identifies *what* is processed: the prompt's content, the model, the sparse
dictionaries and the seed. `processing_fingerprint` identifies *how*: the capture and
generation settings. A prompt whose key and fingerprint match a completed run
is not processed again. A changed fingerprint makes a new run that records the
one it supersedes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import attrs

from pm_core.config.schema import RunConfig
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
    dictionaries = [attrs.asdict(sae) for sae in config.model.sae_configs]
    return _digest(
        {
            "prompt": spec.content_digest(),
            "dataset_id": spec.dataset_id,
            "prompt_id": spec.prompt_id,
            "model": model_identity(config),
            "dictionaries": dictionaries,
            "seed": config.run.seed,
        }
    )


def processing_fingerprint(config: RunConfig) -> str:
    """Return the fingerprint of the capture and generation settings."""
    run = config.run
    return _digest(
        {
            "layers": list(run.capture_acts_raw.layers),
            "positions": list(run.capture_acts_raw.positions),
            "hook_points": list(run.raw_hook_point),
            "topk_logits": run.topk_logits,
            "max_new_tokens": run.max_new_tokens,
            "max_context_length": run.max_context_length,
            "storage_dtype": run.storage_dtype,
            "drop_bos": run.drop_bos,
        }
    )
