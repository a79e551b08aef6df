"""Map an SAE's recorded hook name to pm's (hook point, layer) site.

sae-lens records where a dictionary was trained as a TransformerLens hook name
(`blocks.19.hook_resid_post`). pm captures the same tensors under its own names,
so `resid_post@19` is the output of block 19 and `resid_pre@19` its input. Some
releases record the Hugging Face module instead (`model.layers.19`), whose output
is the same residual stream as `resid_post@19`.
"""

from __future__ import annotations

import re

from pm_core.errors import ConfigError

_TRANSFORMER_LENS = re.compile(r"^blocks\.(\d+)\.hook_(resid_pre|resid_post|attn_out|mlp_out)$")
_HUGGING_FACE = re.compile(r"^model\.layers\.(\d+)$")


def site_of_hook(hook_name: str, source: str = "the SAE") -> tuple[str, int]:
    """Return (hook point, layer) for a sae-lens hook name; raise ConfigError for one pm cannot capture."""
    match = _TRANSFORMER_LENS.match(hook_name or "")
    if match:
        return match.group(2), int(match.group(1))
    match = _HUGGING_FACE.match(hook_name or "")
    if match:
        return "resid_post", int(match.group(1))
    msg = (
        f"{source} was trained on hook {hook_name!r}, which pm cannot capture: supported hooks are "
        "blocks.L.hook_resid_pre, blocks.L.hook_resid_post, blocks.L.hook_attn_out, blocks.L.hook_mlp_out "
        "and model.layers.L"
    )
    raise ConfigError(msg)


def hook_of_site(hook_point: str, layer: int) -> str:
    """Return the sae-lens hook name of a pm site, as written into a trained SAE's config."""
    return f"blocks.{int(layer)}.hook_{hook_point}"
