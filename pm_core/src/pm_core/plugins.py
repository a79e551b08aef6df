"""Plugin discovery and the catalogue of what plugins registered.

The core never imports a plugin package by name: everything arrives through
entry points in the group ``pm``. Setting ``PM_BLOCK_PLUGINS=name1,name2``
skips those entry points, which is how tests run without a plugin.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
from collections.abc import Callable
from typing import Any, Protocol

import attrs
import pluggy

from pm_core import hookspecs
from pm_core.errors import PluginError, UnknownNameError

logger = logging.getLogger(__name__)

KINDS = ("backends", "datasets", "evaluators", "feature_extractors", "classifiers")

#: Names users may ask for before installing their package, and the package that provides them.
KNOWN_PROVIDERS = {
    "huggingface": "pm-plugins-backends",
    "saelens": "pm-plugins-backends",
    "circuit_tracer": "pm-plugins-backends",
    "raw": "pm-plugins-backends",
    "sae": "pm-plugins-backends",
    "JsonlDataset": "pm-plugins-datasets",
    "LocalFileDataset": "pm-plugins-datasets",
    "HFDataset": "pm-plugins-datasets",
    "BastionCorpusDataset": "pm-plugins-datasets",
    "AdvBenchDataset": "pm-plugins-datasets",
    "InjecAgentDataset": "pm-plugins-datasets",
    "linear": "pm-plugins-classifiers",
    "xgboost": "pm-plugins-classifiers",
    "dann": "pm-plugins-classifiers",
    "prototype": "pm-plugins-classifiers",
}


class RegisterCallback(Protocol):
    """The callback every `pm_register_*` hook receives.

    `inspect`, for backends only, takes a `ModelConfig` and returns `{"n_layers", "d_model"}`
    without loading weights, so a config can be checked against the model before a run.
    """

    def __call__(
        self,
        name: str,
        factory: Callable[..., Any],
        summary: str = "",
        config_schema: dict[str, Any] | None = None,
        inspect: Callable[..., dict[str, Any]] | None = None,
    ) -> None: ...


@attrs.frozen
class Registration:
    """One name a plugin added, with where it came from."""

    kind: str
    name: str
    factory: Callable[..., Any]
    summary: str
    config_schema: dict[str, Any]
    plugin: str
    distribution: str
    version: str
    inspect: Callable[..., dict[str, Any]] | None = None


class Catalogue:
    """The registrations of the installed plugins, by kind and name."""

    def __init__(self, manager: pluggy.PluginManager) -> None:
        self.manager = manager
        self._entries: dict[str, dict[str, Registration]] = {kind: {} for kind in KINDS}
        for kind in KINDS:
            self._collect(kind)

    def _collect(self, kind: str) -> None:
        hook = getattr(self.manager.hook, f"pm_register_{kind}")
        for implementation in hook.get_hookimpls():
            plugin_name = self.manager.get_name(implementation.plugin) or repr(implementation.plugin)
            distribution, version = _distribution_of(self.manager, implementation.plugin)

            def register(name, factory, summary="", config_schema=None, inspect=None, *, _plugin=plugin_name,
                         _dist=distribution, _version=version):
                self._add(Registration(kind, name, factory, summary, config_schema or {}, _plugin, _dist, _version,
                                       inspect))

            implementation.function(register=register)

    def _add(self, registration: Registration) -> None:
        existing = self._entries[registration.kind].get(registration.name)
        if existing is not None:
            msg = (
                f"{registration.kind[:-1]} name {registration.name!r} is registered twice:\n"
                f"  by plugin {existing.plugin!r} ({existing.distribution} {existing.version})\n"
                f"  and by plugin {registration.plugin!r} ({registration.distribution} {registration.version})\n"
                "Uninstall one of them, or block one with PM_BLOCK_PLUGINS."
            )
            raise PluginError(msg)
        self._entries[registration.kind][registration.name] = registration

    def names(self, kind: str) -> list[str]:
        return sorted(self._entries[kind])

    def all(self) -> list[Registration]:
        return [entry for kind in KINDS for entry in sorted(self._entries[kind].values(), key=lambda e: e.name)]

    def get(self, kind: str, name: str) -> Registration:
        """Return the registration of `name`, or raise an error listing what is installed."""
        try:
            return self._entries[kind][name]
        except KeyError:
            pass
        installed = ", ".join(self.names(kind)) or "none"
        msg = f"unknown {kind[:-1]} {name!r}. Installed {kind}: {installed}."
        provider = KNOWN_PROVIDERS.get(name)
        if provider is not None:
            msg += f" {name!r} is provided by the package {provider}: pip install {provider}"
        raise UnknownNameError(msg)

    def create(self, kind: str, name: str, *args: Any, **kwargs: Any) -> Any:
        return self.get(kind, name).factory(*args, **kwargs)


def _distribution_of(manager: pluggy.PluginManager, plugin: object) -> tuple[str, str]:
    for plugin_object, distribution in manager.list_plugin_distinfo():
        if plugin_object is plugin:
            return distribution.metadata["name"], distribution.version
    return "(not installed)", ""


def build_manager(extra_plugins: tuple[object, ...] = ()) -> pluggy.PluginManager:
    """Create a plugin manager with every `pm` entry point loaded, except blocked ones."""
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    for name in filter(None, os.environ.get("PM_BLOCK_PLUGINS", "").split(",")):
        manager.set_blocked(name.strip())
    try:
        manager.load_setuptools_entrypoints(hookspecs.PROJECT_NAME)
    except Exception as error:
        msg = f"failed to load a pm plugin: {error}. Reinstall it or block it with PM_BLOCK_PLUGINS."
        raise PluginError(msg) from error
    for plugin in extra_plugins:
        manager.register(plugin)
    manager.check_pending()
    return manager


_catalogue: Catalogue | None = None


def get_catalogue() -> Catalogue:
    """Return the catalogue of installed plugins, loading entry points on first use."""
    global _catalogue
    if _catalogue is None:
        _catalogue = Catalogue(build_manager())
    return _catalogue


def reset_catalogue() -> None:
    global _catalogue
    _catalogue = None


def installed_entry_points() -> list[importlib.metadata.EntryPoint]:
    return list(importlib.metadata.entry_points(group=hookspecs.PROJECT_NAME))
