"""Hook specifications: the places where a plugin adds to pm.

Each `pm_register_*` hook receives a `register` callback and calls it once per
thing it adds::

    register(name, factory, summary="...", config_schema={...})

`factory` is called later, only when a config names it, so registering
must stay cheap: no model loading and no torch import at module level.
A plugin distribution exposes its module through one entry point in the group
``pm``::

    [project.entry-points.pm]
    my_plugin = "my_package.plugin"
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from pm_core.plugins import RegisterCallback

PROJECT_NAME = "pm"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def pm_register_backends(register: RegisterCallback) -> None:
    """Register model backends: factories taking a `ModelConfig` and returning a backend."""


@hookspec
def pm_register_datasets(register: RegisterCallback) -> None:
    """Register dataset classes: factories taking the config's `params` as keyword arguments."""


@hookspec
def pm_register_evaluators(register: RegisterCallback) -> None:
    """Register evaluators that add labels to prompts or model outputs."""


@hookspec
def pm_register_feature_extractors(register: RegisterCallback) -> None:
    """Register feature extractors that turn captured activations into features."""


@hookspec
def pm_register_classifiers(register: RegisterCallback) -> None:
    """Register classifiers trained on stored activations or features."""


@hookspec
def pm_register_commands(cli: click.Group) -> None:
    """Add subcommands to the `pm` command line."""
