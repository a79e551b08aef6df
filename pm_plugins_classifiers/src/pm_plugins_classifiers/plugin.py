"""Entry point of the classifiers package: registers each classifier with its options schema."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pm_core.hookspecs import hookimpl
from pm_plugins_classifiers.catalog import CLASSIFIERS, lazy_factory
from pm_plugins_classifiers.options import json_schema

if TYPE_CHECKING:
    from pm_core.plugins import RegisterCallback


@hookimpl
def pm_register_classifiers(register: RegisterCallback) -> None:
    for name, target, summary, options_type in CLASSIFIERS:
        register(name, lazy_factory(target), summary=summary, config_schema=json_schema(options_type))
