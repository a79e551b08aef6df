"""Names and encodings shared by the writers and readers of an output directory.

An output directory contains:

- `registry.sqlite`: the run registry (see `pm_core.registry`).
- `activations/`: a zarr v3 group with one child group per writer shard. A shard group contains,
  per site, an array named `<hook_point>.<layer>` of shape [n_rows, n_positions, d_model],
  plus `valid` [n_rows, n_positions] bool, `token_positions` [n_rows, n_positions] int32,
  and `run_id` [n_rows, 32] uint8 (the ASCII run id, zero-padded). Its attributes record
  `sites`, `offsets`, `d_model`, `dtype`, `layout_version` and `n_rows`, the count of rows
  known to be complete.
- `features.lance/`: a LanceDB database with the `outputs` table and the sparse feature tables.
- `.locks/`: lock files that keep two writers off one shard.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

ACTIVATIONS_DIR = "activations"
LANCE_DIR = "features.lance"
LOCKS_DIR = ".locks"

LAYOUT_VERSION = 1
"""Version of the shard layout above, stored in each shard group's attributes."""

RUN_ID_BYTES = 32
"""Maximum length of a stored run id in ASCII bytes; a uuid4 hex string is exactly 32."""

CHUNK_TARGET_BYTES = 16 * 2**20
MIN_CHUNK_ROWS = 256
MAX_CHUNK_ROWS = 4096

Site = tuple[str, int]
"""A capture site: (hook point, layer), for example ("resid_post", 12)."""

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_HOOK_POINT = re.compile(r"[A-Za-z0-9_]+")


def check_name(kind: str, name: str) -> str:
    """Return `name` if it can be a file and zarr node name; raise ValueError otherwise."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name.startswith("__"):
        msg = (
            f"invalid {kind} {name!r}: use letters, digits, '_', '.' and '-', "
            "starting with a letter, digit or a single '_'"
        )
        raise ValueError(msg)
    return name


def site_array_name(site: Site) -> str:
    """Return the array name of a site, for example "resid_post.12"."""
    hook_point, layer = site
    if not isinstance(hook_point, str) or not _HOOK_POINT.fullmatch(hook_point):
        msg = f"invalid hook point {hook_point!r}: use letters, digits and '_'"
        raise ValueError(msg)
    if isinstance(layer, bool) or not isinstance(layer, int | np.integer):
        msg = f"invalid layer {layer!r} for hook point {hook_point!r}: expected an int"
        raise ValueError(msg)
    return f"{hook_point}.{int(layer)}"


def parse_site_array_name(name: str) -> Site:
    """Return the site of an array name made by `site_array_name`."""
    hook_point, _, layer = name.rpartition(".")
    try:
        return hook_point, int(layer)
    except ValueError:
        msg = f"array name {name!r} is not '<hook_point>.<layer>'"
        raise ValueError(msg) from None


def default_chunk_rows(d_model: int, itemsize: int) -> int:
    """Return rows per chunk so that one position of one site is about 16 MiB, a power of two in [256, 4096]."""
    rows = CHUNK_TARGET_BYTES // max(1, d_model * itemsize)
    rows = 1 << max(0, int(rows).bit_length() - 1)
    return max(MIN_CHUNK_ROWS, min(MAX_CHUNK_ROWS, rows))


def encode_run_ids(run_ids: Sequence[str]) -> np.ndarray:
    """Encode run ids as a [n, RUN_ID_BYTES] uint8 array of zero-padded ASCII."""
    encoded = np.zeros((len(run_ids), RUN_ID_BYTES), dtype=np.uint8)
    for index, run_id in enumerate(run_ids):
        if (
            not isinstance(run_id, str)
            or not run_id.isascii()
            or "\x00" in run_id
            or not 0 < len(run_id) <= RUN_ID_BYTES
        ):
            msg = f"invalid run id {run_id!r}: expected 1 to {RUN_ID_BYTES} ASCII characters other than NUL"
            raise ValueError(msg)
        encoded[index, : len(run_id)] = np.frombuffer(run_id.encode("ascii"), dtype=np.uint8)
    return encoded


def decode_run_ids(encoded: np.ndarray) -> list[str]:
    """Decode an array made by `encode_run_ids`."""
    fixed = np.ascontiguousarray(encoded, dtype=np.uint8).view(f"S{RUN_ID_BYTES}").ravel()
    return [value.decode("ascii") for value in fixed]
