"""The run config: the YAML shape prompt_mining users already write, as attrs classes.

Checks that need only the config itself run here. Checks that need the model
(a layer beyond its depth) run in `pm_core.config.validate` once the backend
reports its size, still before any prompt runs.
"""

from __future__ import annotations

from typing import Any

import attrs

from pm_core.backend import HOOK_POINTS
from pm_core.errors import ConfigError

DEFAULT_MODEL = "smollm2-135m-instruct"
MODES = ("ingest", "labels_only")
DTYPES = ("float32", "float16", "bfloat16", "auto")
SAE_DTYPES = ("float32", "float16", "bfloat16")
SYSTEM_ROLE_FALLBACKS = ("keep", "merge_into_first_user", "error")
TEMPLATES = ("chat", "none")


def _one_of(choices: tuple[str, ...]):
    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value not in choices:
            msg = f"invalid value {value!r} for `{attribute.name}`: expected one of {', '.join(map(repr, choices))}"
            raise ConfigError(msg)

    return check


def _positive(instance: Any, attribute: attrs.Attribute, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        msg = f"invalid value {value!r} for `{attribute.name}`: expected an integer >= 1"
        raise ConfigError(msg)


def _non_negative(instance: Any, attribute: attrs.Attribute, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        msg = f"invalid value {value!r} for `{attribute.name}`: expected an integer >= 0"
        raise ConfigError(msg)


@attrs.frozen
class SAEConfig:
    """A sparse dictionary applied during ingestion (sae-lens release and id, or a local folder)."""

    sae_release: str | None = None
    sae_id: str | None = None
    path: str | None = None
    """A folder written by sae-lens (`cfg.json`, `sae_weights.safetensors`), in place of release and id."""
    name: str | None = None
    """Name the features are stored and loaded under; defaults to the folder name or `release/id`."""
    device: str | None = None
    """Device to encode on; defaults to the model's device."""
    dtype: str | None = None
    """Dtype of the SAE's weights (`float32`, `bfloat16`, ...); defaults to the SAE's own."""

    def __attrs_post_init__(self) -> None:
        if bool(self.path) == bool(self.sae_release or self.sae_id):
            msg = (
                "each `model.sae_configs` entry needs either `path` (a sae-lens SAE folder) or both "
                f"`sae_release` and `sae_id`, got {attrs.asdict(self)}"
            )
            raise ConfigError(msg)
        if not self.path and not (self.sae_release and self.sae_id):
            msg = f"`model.sae_configs` entry {attrs.asdict(self)} needs both `sae_release` and `sae_id`"
            raise ConfigError(msg)
        if self.dtype is not None and self.dtype not in SAE_DTYPES:
            msg = f"invalid SAE dtype {self.dtype!r}: expected one of {', '.join(SAE_DTYPES)}"
            raise ConfigError(msg)


@attrs.frozen
class ModelConfig:
    """The `model:` section."""

    name: str = DEFAULT_MODEL
    """Hub id, local folder, path to a .gguf file, or `smollm2-135m-instruct`."""
    backend: str = "huggingface"
    dtype: str = attrs.field(default="float32", validator=_one_of(DTYPES))
    device: str = "cpu"
    """`cpu` or `cuda:N`; ignored when `device_map` is set."""
    device_map: str | None = None
    """`auto` spreads the model over the visible GPUs (accelerate)."""
    sae_configs: tuple[SAEConfig, ...] = ()
    enable_attribution: bool = False
    gguf_file: str | None = None
    """File name of the GGUF inside `name` when `name` is a folder or hub id."""
    revision: str | None = None
    attn_implementation: str | None = None
    """`sdpa`, `eager` or None for the model's default."""
    template: str = attrs.field(default="chat", validator=_one_of(TEMPLATES))
    """`chat` renders messages with the chat template; `none` tokenizes the raw text."""
    chat_template: str | None = None
    """A Jinja chat template, or the path of a file holding one, replacing the tokenizer's."""
    system_role_fallback: str = attrs.field(default="merge_into_first_user", validator=_one_of(SYSTEM_ROLE_FALLBACKS))
    """Policy for a template that rejects or drops a system turn."""
    tool_fallback: str = attrs.field(default="error", validator=_one_of(("error", "inline")))
    """Policy for a template that cannot render tool schemas or calls: raise, or write them as text."""
    allow_empty_content: bool = False
    """Accept a user turn with empty content; `last` is then the final template token."""


@attrs.frozen
class CaptureConfig:
    """Raw activation capture: which layers (negative from the end) and which positions."""

    layers: tuple[int, ...] = ()
    positions: tuple[int, ...] = (-1,)
    """Offsets from the end of the prompt: -1 is the last token."""


@attrs.frozen
class RunSettings:
    """The `run:` section."""

    topk_logits: int = attrs.field(default=10, validator=_non_negative)
    max_new_tokens: int = attrs.field(default=0, validator=_non_negative)
    max_context_length: int = attrs.field(default=4096, validator=_positive)
    seed: int = 0
    capture_acts_raw: CaptureConfig = CaptureConfig()
    raw_hook_point: tuple[str, ...] = attrs.field(default=("resid_post",))
    token_budget: int = attrs.field(default=8192, validator=_positive)
    """Maximum padded tokens in one batch (batch size times its longest prompt)."""
    max_batch_size: int = attrs.field(default=32, validator=_positive)
    storage_dtype: str = attrs.field(default="float32", validator=_one_of(("float32", "float16")))
    drop_bos: bool = True
    """Never store the BOS token's activation as a position's data."""
    drop_cross_dataset_duplicates: str = attrs.field(default="none", validator=_one_of(("none", "exact", "normalized")))
    """Skip a prompt whose text already occurs in a dataset listed earlier in the config (see `pm datasets overlap`)."""
    flush_every: int = attrs.field(default=256, validator=_positive)
    """Prompts buffered per worker before their rows are written and marked completed."""

    @raw_hook_point.validator
    def _check_hook_points(self, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:
        for hook in value:
            if hook not in HOOK_POINTS:
                msg = f"unknown hook point {hook!r} in `run.raw_hook_point`: expected one of {', '.join(HOOK_POINTS)}"
                raise ConfigError(msg)


@attrs.frozen
class DatasetConfig:
    """One entry of `datasets:`."""

    name: str
    class_name: str
    params: dict[str, Any] = attrs.field(factory=dict)
    evaluator_class: str | None = None
    num_prompts: int | None = None


@attrs.frozen
class RunConfig:
    """A whole run config after `${VAR}` expansion and validation."""

    model: ModelConfig
    run: RunSettings
    datasets: tuple[DatasetConfig, ...]
    output_dir: str
    gpus: tuple[int, ...] = ()
    num_gpus: int = 1
    mode: str = attrs.field(default="ingest", validator=_one_of(MODES))
    num_prompts: int | None = None
    source_path: str | None = None

    def dataset(self, name: str) -> DatasetConfig:
        for dataset in self.datasets:
            if dataset.name == name:
                return dataset
        names = ", ".join(dataset.name for dataset in self.datasets)
        msg = f"dataset {name!r} is not in the config: configured datasets are {names}"
        raise ConfigError(msg)
