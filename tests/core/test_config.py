"""Config loading: the prompt_mining YAML shape, ${VAR} expansion and errors that name the key."""

from __future__ import annotations

import textwrap

import pytest

from pm_core.config.load import load_config, parse_positions
from pm_core.config.validate import resolve_layers
from pm_core.errors import ConfigError

MINIMAL = """
model:
  name: smollm2-135m-instruct
run:
  capture_acts_raw: {layers: [2, -1], positions: [-5, -1]}
output_dir: out
datasets:
  - name: bastion
    class: BastionCorpusDataset
"""


def write(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_minimal_config_loads(tmp_path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.model.name == "smollm2-135m-instruct"
    assert config.model.backend == "huggingface"
    assert config.run.capture_acts_raw.layers == (2, -1)
    assert config.run.capture_acts_raw.positions == (-5, -1)
    assert config.datasets[0].class_name == "BastionCorpusDataset"
    assert config.mode == "ingest"


def test_prompt_mining_list_form(tmp_path) -> None:
    text = MINIMAL.replace("{layers: [2, -1], positions: [-5, -1]}", '[[19, 27], "last"]')
    config = load_config(write(tmp_path, text))
    assert config.run.capture_acts_raw.layers == (19, 27)
    assert config.run.capture_acts_raw.positions == (-1,)


def test_environment_variables_expand(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PM_TEST_ROOT", "/data/root")
    text = MINIMAL.replace("output_dir: out", "output_dir: ${PM_TEST_ROOT}/out\nnum_prompts: 3")
    text = text.replace("class: BastionCorpusDataset", "class: X\n    params: {path: '${MISSING_VAR:-fallback}'}")
    config = load_config(write(tmp_path, text))
    assert config.output_dir == "/data/root/out"
    assert config.datasets[0].params == {"path": "fallback"}
    assert config.num_prompts == 3


def test_unset_variable_names_key(tmp_path) -> None:
    text = MINIMAL.replace("output_dir: out", "output_dir: ${PM_SURELY_UNSET_VARIABLE}")
    with pytest.raises(ConfigError, match=r"`output_dir`.*PM_SURELY_UNSET_VARIABLE"):
        load_config(write(tmp_path, text))


def test_malformed_yaml_names_line(tmp_path) -> None:
    path = write(tmp_path, "model:\n  name: [unclosed\nrun: {}\n")
    with pytest.raises(ConfigError, match=r"config.yaml.*not valid YAML at line \d+"):
        load_config(path)


@pytest.mark.parametrize(
    ("old", "new", "pattern"),
    [
        ("output_dir: out", "output_dir: out\noutptu_dir: typo", r"unknown key `outptu_dir`"),
        ("  name: smollm2-135m-instruct", "  name: m\n  dtyp: float32", r"unknown key `model.dtyp`"),
        ("[-5, -1]}", "[-5, 0.5]}", r"invalid position 0.5 at `run.capture_acts_raw.positions\[1\]`"),
        ("[-5, -1]}", "[3]}", r"invalid position 3 .*negative"),
        ("output_dir: out", "output_dir: out\nmode: fast", r"invalid value 'fast' for `mode`"),
        ("  capture_acts_raw", "  raw_hook_point: resid_mid\n  capture_acts_raw", r"unknown hook point 'resid_mid'"),
        ("  name: smollm2-135m-instruct", "  dtype: float8", r"invalid value 'float8' for `dtype`"),
        ("    class: BastionCorpusDataset", "    params: {}", r"missing key `datasets\[0\].class`"),
    ],
    ids=[
        "top-level-typo",
        "model-typo",
        "fractional-position",
        "positive-position",
        "mode",
        "hook-point",
        "dtype",
        "missing-class",
    ],
)
def test_invalid_config_names_key(tmp_path, old: str, new: str, pattern: str) -> None:
    assert old in MINIMAL
    with pytest.raises(ConfigError, match=pattern):
        load_config(write(tmp_path, MINIMAL.replace(old, new)))


def test_layer_beyond_depth_rejected() -> None:
    with pytest.raises(ConfigError, match=r"invalid layer 40 .*has 30 layers"):
        resolve_layers((2, 40), n_layers=30)


def test_negative_layers_resolve() -> None:
    assert resolve_layers((0, -1), n_layers=30) == (0, 29)
    assert resolve_layers((-30,), n_layers=30) == (0,)


def test_duplicate_layers_rejected() -> None:
    with pytest.raises(ConfigError, match="same layer twice"):
        resolve_layers((29, -1), n_layers=30)


def test_positions_parse() -> None:
    assert parse_positions("last", "p") == (-1,)
    assert parse_positions("-5", "p") == (-5,)
    assert parse_positions([-5, -1], "p") == (-5, -1)
    assert parse_positions(["-3", "last"], "p") == (-3, -1)
    assert parse_positions("-4..-1", "p") == (-4, -3, -2, -1)
    assert parse_positions(["-10", "-3..-2"], "p") == (-10, -3, -2)
    assert parse_positions("-5, -1", "p") == (-5, -1)
    with pytest.raises(ConfigError, match=r"write the earlier offset first, as in -64..-1"):
        parse_positions("-1..-4", "p")
    with pytest.raises(ConfigError, match=r"invalid position 3 at `p`"):
        parse_positions("-2..3", "p")


def test_unbuilt_features_rejected(tmp_path) -> None:
    from pm_core.config.validate import check_plugins
    from pm_core.plugins import get_catalogue

    text = MINIMAL.replace("  name: smollm2-135m-instruct", "  name: m\n  enable_attribution: true")
    with pytest.raises(ConfigError, match=r"`model.enable_attribution: true` is not supported yet"):
        check_plugins(load_config(write(tmp_path, text)), get_catalogue())


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{sae_release: r}", r"needs both `sae_release` and `sae_id`"),
        ("{sae_release: r, sae_id: s, path: /x}", r"needs either `path`"),
        ("{path: /x, dtype: fp8}", r"invalid SAE dtype 'fp8': expected one of float32, float16, bfloat16"),
        ("{path: /x, colour: red}", r"colour"),
    ],
)
def test_sae_config_entries_checked(tmp_path, entry: str, message: str) -> None:
    text = MINIMAL.replace("  name: smollm2-135m-instruct", f"  name: m\n  sae_configs: [{entry}]")
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_unknown_dataset_class_rejected(tmp_path) -> None:
    from pm_core.config.validate import check_plugins
    from pm_core.plugins import get_catalogue

    config = load_config(write(tmp_path, MINIMAL.replace("BastionCorpusDataset", "NoSuchDataset")))
    with pytest.raises(ConfigError, match=r"dataset 'bastion': unknown dataset 'NoSuchDataset'. Installed datasets:"):
        check_plugins(config, get_catalogue())


def test_layer_checked_before_weights_load(tmp_path, default_model_installed, monkeypatch) -> None:
    import transformers

    from pm_core.config.validate import check_model
    from pm_core.plugins import get_catalogue

    def no_weights(*args, **kwargs):
        raise AssertionError("model weights were loaded to check the config")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_weights)
    config = load_config(write(tmp_path, MINIMAL.replace("[2, -1]", "[2, 40]")))
    with pytest.raises(ConfigError, match=r"invalid layer 40 .*has 30 layers"):
        check_model(config, get_catalogue())

    architecture = check_model(load_config(write(tmp_path, MINIMAL)), get_catalogue())
    assert architecture == {"n_layers": 30, "d_model": 576}


def test_dry_run_reports_unreadable_dataset(tmp_path, default_model_installed) -> None:
    from click.testing import CliRunner

    from pm_core.cli import _add_commands, cli

    text = MINIMAL.replace("[2, -1]", "[2]").replace(
        "    class: BastionCorpusDataset",
        f"    class: LocalFileDataset\n    params: {{path: {tmp_path / 'missing.jsonl'}, label_value: 0}}",
    )
    _add_commands()
    result = CliRunner().invoke(cli, ["run", str(write(tmp_path, text)), "--dry-run"])
    assert result.exit_code == 1
    assert "missing.jsonl" in result.output
    assert "1 dataset(s) cannot be read" in result.output


def test_num_prompts_option_caps_every_dataset(tmp_path, default_model_installed) -> None:
    from click.testing import CliRunner

    from pm_core.cli import _add_commands, cli

    text = (
        "output_dir: out\nnum_prompts: 100\ndatasets:\n"
        "  - {name: big, class: BastionCorpusDataset, num_prompts: 150}\n"
        "  - {name: plain, class: BastionCorpusDataset}\n"
    )
    path = write(tmp_path, text)
    _add_commands()
    as_configured = CliRunner().invoke(cli, ["run", str(path), "--dry-run"])
    assert "job big: BastionCorpusDataset, up to 150 prompts" in as_configured.output
    assert "job plain: BastionCorpusDataset, up to 100 prompts" in as_configured.output

    capped = CliRunner().invoke(cli, ["run", str(path), "--dry-run", "--num-prompts", "2"])
    assert "job big: BastionCorpusDataset, up to 2 prompts" in capped.output
    assert "job plain: BastionCorpusDataset, up to 2 prompts" in capped.output
