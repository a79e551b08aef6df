"""Read a YAML run config into a validated `RunConfig`.

Every error names the file, the key path (`run.capture_acts_raw.positions[1]`),
the value it found and what is allowed. `${VAR}` and `${VAR:-default}` in any
string are replaced from the environment before validation.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import attrs
import yaml

from pm_core.config.schema import (
    CaptureConfig,
    DatasetConfig,
    ModelConfig,
    RunConfig,
    RunSettings,
    SAEConfig,
)
from pm_core.errors import ConfigError

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

TOP_LEVEL_KEYS = ("model", "run", "datasets", "output_dir", "gpus", "num_gpus", "mode", "num_prompts")


def load_config(path: str | os.PathLike, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Load, expand and validate the config at `path`; `overrides` replace top-level keys."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        msg = f"cannot read config {str(path)!r}: {error.strerror or error}"
        raise ConfigError(msg) from error

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        where = ""
        mark = getattr(error, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(error, "problem", None) or str(error)
        msg = f"config {str(path)!r} is not valid YAML{where}: {problem}"
        raise ConfigError(msg) from error

    if not isinstance(raw, dict):
        msg = f"config {str(path)!r} must be a mapping with keys such as `model`, `run` and `datasets`"
        raise ConfigError(msg)
    raw = expand_variables(raw, "")
    raw.update(overrides or {})
    try:
        return parse_config(raw, source_path=str(path.resolve()))
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def expand_variables(value: Any, key_path: str) -> Any:
    """Replace `${VAR}` and `${VAR:-default}` in every string of `value`."""
    if isinstance(value, str):

        def substitute(match: re.Match) -> str:
            name, default = match.group(1), match.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            msg = f"`{key_path}` refers to the environment variable ${{{name}}}, which is not set"
            raise ConfigError(msg)

        return _VARIABLE.sub(substitute, value)
    if isinstance(value, dict):
        return {key: expand_variables(item, _join(key_path, key)) for key, item in value.items()}
    if isinstance(value, list):
        return [expand_variables(item, f"{key_path}[{index}]") for index, item in enumerate(value)]
    return value


def parse_config(raw: dict[str, Any], source_path: str | None = None) -> RunConfig:
    """Validate a config mapping (already expanded) into a `RunConfig`."""
    _reject_unknown(raw, TOP_LEVEL_KEYS, "")
    if "datasets" not in raw or not raw["datasets"]:
        msg = "missing key `datasets`: list at least one dataset with `name` and `class`"
        raise ConfigError(msg)
    if not isinstance(raw["datasets"], list):
        msg = f"`datasets` must be a list, got {type(raw['datasets']).__name__}"
        raise ConfigError(msg)

    datasets = tuple(_parse_dataset(item, f"datasets[{index}]") for index, item in enumerate(raw["datasets"]))
    names = [dataset.name for dataset in datasets]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        msg = f"dataset names must be unique, but {', '.join(map(repr, duplicates))} appears more than once"
        raise ConfigError(msg)

    gpus = raw.get("gpus") or ()
    if isinstance(gpus, int):
        gpus = (gpus,)
    return RunConfig(
        model=_parse_model(raw.get("model") or {}),
        run=_parse_run(raw.get("run") or {}),
        datasets=datasets,
        output_dir=str(raw.get("output_dir") or "pm_output"),
        gpus=tuple(_integer(gpu, f"gpus[{index}]", minimum=0) for index, gpu in enumerate(gpus)),
        num_gpus=_integer(raw.get("num_gpus", 1), "num_gpus", minimum=1),
        mode=raw.get("mode", "ingest"),
        num_prompts=_optional_count(raw.get("num_prompts"), "num_prompts"),
        source_path=source_path,
    )


def _parse_model(raw: dict[str, Any]) -> ModelConfig:
    allowed = [field.name for field in attrs.fields(ModelConfig)]
    _reject_unknown(raw, allowed, "model")
    values = dict(raw)
    values["sae_configs"] = tuple(
        _build(SAEConfig, item, f"model.sae_configs[{index}]")
        for index, item in enumerate(values.get("sae_configs") or ())
    )
    return _build(ModelConfig, values, "model", check_keys=False)


def _parse_run(raw: dict[str, Any]) -> RunSettings:
    allowed = [field.name for field in attrs.fields(RunSettings)]
    _reject_unknown(raw, allowed, "run")
    values = dict(raw)
    values["capture_acts_raw"] = parse_capture(values.get("capture_acts_raw"), "run.capture_acts_raw")
    hook_points = values.get("raw_hook_point", "resid_post")
    values["raw_hook_point"] = (hook_points,) if isinstance(hook_points, str) else tuple(hook_points)
    return _build(RunSettings, values, "run", check_keys=False)


def parse_capture(raw: Any, key_path: str) -> CaptureConfig:
    """Accept `{layers, positions}` or prompt_mining's `[layers, positions]` list form."""
    if raw is None:
        return CaptureConfig()
    if isinstance(raw, list | tuple):
        if len(raw) != 2:
            msg = f"`{key_path}` as a list must be [layers, positions], got {raw!r}"
            raise ConfigError(msg)
        raw = {"layers": raw[0], "positions": raw[1]}
    if not isinstance(raw, dict):
        msg = f"`{key_path}` must be a mapping with `layers` and `positions`, got {raw!r}"
        raise ConfigError(msg)
    _reject_unknown(raw, ("layers", "positions"), key_path)

    layers = raw.get("layers", ())
    layers = (layers,) if isinstance(layers, int) else tuple(layers)
    layers = tuple(_integer(layer, f"{key_path}.layers[{index}]") for index, layer in enumerate(layers))
    positions = parse_positions(raw.get("positions", "last"), f"{key_path}.positions")
    return CaptureConfig(layers=layers, positions=positions)


def parse_positions(raw: Any, key_path: str) -> tuple[int, ...]:
    """Turn `last`, `-5`, -5, a range `-64..-1`, or a list of them (or `-5,-1`) into offsets from the prompt's end."""
    if isinstance(raw, str) and "," in raw:
        raw = [item.strip() for item in raw.split(",")]
    items = raw if isinstance(raw, list | tuple) else [raw]
    if not items:
        msg = f"`{key_path}` is empty: give `last`, a negative offset such as -5, or a list of them"
        raise ConfigError(msg)
    offsets = []
    for index, item in enumerate(items):
        item_path = f"{key_path}[{index}]" if isinstance(raw, list | tuple) else key_path
        if isinstance(item, str) and ".." in item:
            offsets.extend(_parse_range(item, item_path))
        else:
            offsets.append(_parse_offset(item, item_path))
    if len(set(offsets)) != len(offsets):
        msg = f"`{key_path}` lists a position twice: {raw!r}"
        raise ConfigError(msg)
    return tuple(offsets)


def _parse_range(item: str, key_path: str) -> list[int]:
    """Expand `-64..-1` into every offset from -64 to -1, both included."""
    first, _, last = item.partition("..")
    start, stop = _parse_offset(first, key_path), _parse_offset(last, key_path)
    if start > stop:
        msg = f"invalid position range {item!r} at `{key_path}`: write the earlier offset first, as in -64..-1"
        raise ConfigError(msg)
    return list(range(start, stop + 1))


def _parse_offset(item: Any, key_path: str) -> int:
    if isinstance(item, str):
        text = item.strip()
        if text == "last":
            return -1
        try:
            item = int(text)
        except ValueError:
            item = text
    if isinstance(item, bool) or not isinstance(item, int) or item >= 0:
        msg = (
            f"invalid position {item!r} at `{key_path}`: positions count from the end of the prompt, "
            "so use `last` or a negative integer such as -5"
        )
        raise ConfigError(msg)
    return item


def _parse_dataset(raw: Any, key_path: str) -> DatasetConfig:
    if not isinstance(raw, dict):
        msg = f"`{key_path}` must be a mapping with `name` and `class`, got {raw!r}"
        raise ConfigError(msg)
    _reject_unknown(raw, ("name", "class", "params", "evaluator_class", "num_prompts"), key_path)
    for key in ("name", "class"):
        if not raw.get(key):
            msg = f"missing key `{key_path}.{key}`"
            raise ConfigError(msg)
    params = raw.get("params") or {}
    if not isinstance(params, dict):
        msg = f"`{key_path}.params` must be a mapping, got {params!r}"
        raise ConfigError(msg)
    return DatasetConfig(
        name=str(raw["name"]),
        class_name=str(raw["class"]),
        params=params,
        evaluator_class=raw.get("evaluator_class"),
        num_prompts=_optional_count(raw.get("num_prompts"), f"{key_path}.num_prompts"),
    )


def _build(cls: type, values: Any, key_path: str, check_keys: bool = True) -> Any:
    if not isinstance(values, dict):
        msg = f"`{key_path}` must be a mapping, got {values!r}"
        raise ConfigError(msg)
    if check_keys:
        _reject_unknown(values, [field.name for field in attrs.fields(cls)], key_path)
    try:
        return cls(**values)
    except ConfigError as error:
        raise ConfigError(f"in `{key_path}`: {error}") from None
    except TypeError as error:
        raise ConfigError(f"invalid `{key_path}`: {error}") from None


def _reject_unknown(raw: dict[str, Any], allowed: Any, key_path: str) -> None:
    for key in raw:
        if key not in allowed:
            where = f"`{_join(key_path, key)}`"
            msg = f"unknown key {where}: allowed keys here are {', '.join(sorted(allowed))}"
            raise ConfigError(msg)


def _integer(value: Any, key_path: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"invalid value {value!r} for `{key_path}`: expected an integer"
        raise ConfigError(msg)
    if minimum is not None and value < minimum:
        msg = f"invalid value {value!r} for `{key_path}`: expected an integer >= {minimum}"
        raise ConfigError(msg)
    return value


def _optional_count(value: Any, key_path: str) -> int | None:
    return None if value is None else _integer(value, key_path, minimum=1)


def _join(prefix: str, key: Any) -> str:
    return f"{prefix}.{key}" if prefix else str(key)
