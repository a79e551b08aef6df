"""Plugin catalogue: entry-point discovery, unknown names and duplicate names."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from pm_core.errors import PluginError, UnknownNameError
from pm_core.hookspecs import hookimpl
from pm_core.plugins import Catalogue, build_manager


class ExtraDatasets:
    @hookimpl
    def pm_register_datasets(self, register) -> None:
        register("ToyDataset", dict, summary="a toy")


class DuplicateBackend:
    @hookimpl
    def pm_register_backends(self, register) -> None:
        register("huggingface", dict, summary="a second huggingface")


def test_entry_points_registered() -> None:
    catalogue = Catalogue(build_manager())
    entry = catalogue.get("backends", "huggingface")
    assert entry.distribution == "pm-plugins-backends"
    assert entry.version == "0.1.0"
    assert "BastionCorpusDataset" in catalogue.names("datasets")


def test_unknown_name_lists_installed() -> None:
    catalogue = Catalogue(build_manager())
    match = r"unknown backend 'circuit_tracer'.*Installed backends: huggingface, saelens"
    with pytest.raises(UnknownNameError, match=match) as info:
        catalogue.get("backends", "circuit_tracer")
    assert "pip install pm-plugins-backends" in str(info.value)


def test_unknown_name_without_provider() -> None:
    catalogue = Catalogue(build_manager())
    with pytest.raises(UnknownNameError, match=r"unknown dataset 'NoSuchDataset'") as info:
        catalogue.get("datasets", "NoSuchDataset")
    assert "pip install" not in str(info.value)


def test_inline_plugin_registers() -> None:
    catalogue = Catalogue(build_manager(extra_plugins=(ExtraDatasets(),)))
    assert catalogue.create("datasets", "ToyDataset", a=1) == {"a": 1}


def test_duplicate_name_names_both_plugins() -> None:
    with pytest.raises(PluginError, match=r"'huggingface' is registered twice") as info:
        Catalogue(build_manager(extra_plugins=(DuplicateBackend(),)))
    assert "pm-plugins-backends" in str(info.value)
    assert "DuplicateBackend" in str(info.value) or "not installed" in str(info.value)


def test_blocked_plugin_is_skipped(monkeypatch) -> None:
    monkeypatch.setenv("PM_BLOCK_PLUGINS", "backends")
    catalogue = Catalogue(build_manager())
    assert catalogue.names("backends") == []


def test_plugins_command_lists_distributions() -> None:
    from pm_core.cli import _add_commands, cli

    _add_commands()
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    assert "huggingface" in result.output
    assert "pm-plugins-backends" in result.output
    assert "BastionCorpusDataset" in result.output


class ExtraCommand:
    @hookimpl
    def pm_register_commands(self, cli) -> None:
        import click

        @cli.command("hello-plugin")
        def hello() -> None:
            click.echo("hello from a plugin")


def test_plugin_adds_cli_command() -> None:
    import click

    group = click.Group("pm")
    manager = build_manager(extra_plugins=(ExtraCommand(),))
    manager.hook.pm_register_commands(cli=group)
    result = CliRunner().invoke(group, ["hello-plugin"])
    assert result.exit_code == 0
    assert result.output == "hello from a plugin\n"


def test_wrong_dataset_param_lists_accepted() -> None:
    from pm_core.datasets import create_dataset
    from pm_core.errors import ConfigError

    catalogue = Catalogue(build_manager())
    expected = r"dataset 'bastion' \(BastionCorpusDataset\): invalid params \['label_feld'\]"
    with pytest.raises(ConfigError, match=expected) as info:
        create_dataset(catalogue, "BastionCorpusDataset", {"label_feld": "x"}, "bastion")
    assert "Accepted: include_benign, categories, raw" in str(info.value)


def test_missing_required_dataset_param_named() -> None:
    from pm_core.datasets import create_dataset
    from pm_core.errors import ConfigError

    catalogue = Catalogue(build_manager())
    with pytest.raises(ConfigError, match=r"dataset 'b' \(BIPIADataset\): missing required param\(s\) bipia_root"):
        create_dataset(catalogue, "BIPIADataset", {}, "b")
