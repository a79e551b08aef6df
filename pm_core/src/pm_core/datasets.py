"""The interface every dataset plugin implements.

A dataset class is registered under its class name (`InjecAgentDataset`) and
built with the config's `params` as keyword arguments. Ingestion then calls
`iter_prompts`, which yields a `PromptSpec` for every usable row and a
`RejectedRow` for every row that cannot be used, so the run records why
instead of crashing or dropping it silently.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from pm_core.errors import ConfigError
from pm_core.types import PromptSpec

if TYPE_CHECKING:
    from pm_core.plugins import Catalogue


@attrs.frozen
class RejectedRow:
    """A source row that did not become a prompt, and why.

    `reason` is a short code (`empty_prompt`, `invalid_json`, `invalid_message`,
    `missing_label`); `message` names the file and row for a person to read.
    """

    prompt_id: str
    dataset_id: str
    reason: str
    message: str


@attrs.define
class LoadReport:
    """Counts of what a dataset yielded, kept by the dataset as it iterates."""

    n_prompts: int = 0
    rejected: Counter = attrs.field(factory=Counter)

    def record(self, item: PromptSpec | RejectedRow) -> None:
        if isinstance(item, RejectedRow):
            self.rejected[item.reason] += 1
        else:
            self.n_prompts += 1


@runtime_checkable
class PromptDataset(Protocol):
    """A source of prompts."""

    def iter_prompts(
        self,
        dataset_id: str,
        limit: int | None = None,
        shard: tuple[int, int] | None = None,
    ) -> Iterator[PromptSpec | RejectedRow]:
        """Yield prompts in a stable order.

        `limit` stops after that many rows without reading the rest of the source.
        `shard=(i, n)` yields only rows whose index modulo n equals i.
        """


def create_dataset(catalogue: Catalogue, class_name: str, params: dict[str, Any], dataset_name: str) -> PromptDataset:
    """Build a dataset plugin from config params; wrong params raise a `ConfigError` listing the accepted ones."""
    registration = catalogue.get("datasets", class_name)
    missing = [key for key in registration.config_schema.get("required", ()) if key not in params]
    if missing:
        msg = f"dataset {dataset_name!r} ({class_name}): missing required param(s) {', '.join(missing)}"
        raise ConfigError(msg)
    try:
        return registration.factory(**params)
    except TypeError as error:
        accepted = ", ".join(registration.config_schema.get("properties", {})) or "see `pm datasets`"
        msg = f"dataset {dataset_name!r} ({class_name}): invalid params {sorted(params)}: {error}. Accepted: {accepted}"
        raise ConfigError(msg) from error
