"""Entry point of the datasets package: registers each dataset class by name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pm_core.hookspecs import hookimpl
from pm_plugins_datasets.catalog import DATASETS, lazy_factory

if TYPE_CHECKING:
    from pm_core.plugins import RegisterCallback


@hookimpl
def pm_register_datasets(register: RegisterCallback) -> None:
    for name, module, class_name, summary, schema in DATASETS:
        register(name, lazy_factory(module, class_name), summary=summary, config_schema=schema)
