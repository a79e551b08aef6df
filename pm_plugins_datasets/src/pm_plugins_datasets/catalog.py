"""The dataset classes this package registers, each with its summary and config schema.

Factories import their module only when called, so registering imports no
reader, no pyarrow and no corpus.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

_MAPPING_PROPERTIES: dict[str, Any] = {
    "text_field": {"type": "string", "default": "text", "description": "Field with the prompt text."},
    "messages_field": {"type": ["string", "null"], "description": "Field with a list of chat messages."},
    "label_field": {"type": ["string", "null"], "description": "Field mapped to labels.malicious."},
    "label_value": {"description": "One label for every row (true, false, 0, 1, benign, malicious ...)."},
    "id_field": {"type": ["string", "null"], "description": "Field used as prompt_id; the row index when unset."},
    "system_prompt": {"type": ["string", "null"], "description": "System turn put before each prompt."},
    "raw": {"type": "boolean", "default": False, "description": "Yield plain text that skips the chat template."},
    "keep_fields": {
        "type": ["array", "null"],
        "items": {"type": "string"},
        "description": "Fields copied into labels.",
    },
}

_LOCAL_FILE_SCHEMA = {
    "type": "object",
    "required": ["path"],
    "properties": {
        "path": {"type": "string", "description": "JSONL, JSON, CSV or Parquet file."},
        "format": {
            "enum": ["jsonl", "json", "csv", "parquet", None],
            "description": "Inferred from the suffix when unset.",
        },
        **_MAPPING_PROPERTIES,
    },
}

_HF_SCHEMA = {
    "type": "object",
    "required": ["path_or_hub_id"],
    "properties": {
        "path_or_hub_id": {"type": "string", "description": "Hub id, or a local folder or file in the hub's layout."},
        "split": {"type": "string", "default": "train"},
        "data_files": {"description": "Glob, list of globs, or mapping of split to globs, relative to the folder."},
        "subset": {"type": ["string", "null"], "description": "Hub config name."},
        "revision": {"type": ["string", "null"], "description": "Hub revision (branch, tag or commit)."},
        **_MAPPING_PROPERTIES,
    },
}

_BASTION_SCHEMA = {
    "type": "object",
    "properties": {
        "include_benign": {"type": "boolean", "default": True},
        "categories": {"type": ["array", "null"], "items": {"type": "string"}},
        "raw": {"type": "boolean", "default": False},
    },
}

_ADVBENCH_SCHEMA = {
    "type": "object",
    "properties": {
        "path": {
            "type": ["string", "null"],
            "description": "harmful_<subset>.csv, its folder, or an llm-attacks checkout.",
        },
        "hub_id": {"type": "string", "default": "walledai/AdvBench"},
        "subset": {"enum": ["behaviors", "strings"], "default": "behaviors"},
        "system_prompt": {"type": ["string", "null"]},
        "raw": {"type": "boolean", "default": False},
    },
}

_INJECAGENT_SCHEMA = {
    "type": "object",
    "required": ["injecagent_root"],
    "properties": {
        "injecagent_root": {
            "type": "string",
            "description": "Folder holding data/test_cases_*.json and data/tools.json.",
        },
        "setting": {"enum": ["dh", "ds"], "default": "dh"},
        "variant": {"enum": ["base", "enhanced"], "default": "base"},
        "system_prompt": {"type": "string"},
        "include_thought": {"type": "boolean", "default": True},
    },
}


def lazy_factory(module: str, class_name: str) -> Callable[..., Any]:
    """Return a factory that imports `pm_plugins_datasets.<module>` only when it builds a dataset."""

    def factory(**params: Any) -> Any:
        cls = getattr(importlib.import_module(f"pm_plugins_datasets.{module}"), class_name)
        return cls(**params)

    factory.__name__ = class_name
    factory.__qualname__ = class_name
    return factory


#: (registered name, module, class, summary, config schema)
CORE_DATASETS: tuple[tuple[str, str, str, str, dict[str, Any]], ...] = (
    (
        "LocalFileDataset",
        "local",
        "LocalFileDataset",
        "Prompts from a local JSONL, JSON, CSV or Parquet file.",
        _LOCAL_FILE_SCHEMA,
    ),
    ("JsonlDataset", "local", "LocalFileDataset", "Alias of LocalFileDataset.", _LOCAL_FILE_SCHEMA),
    (
        "HFDataset",
        "huggingface",
        "HFDataset",
        "Prompts from a Hugging Face dataset, on the hub or in a local folder.",
        _HF_SCHEMA,
    ),
    (
        "BastionCorpusDataset",
        "bastion",
        "BastionCorpusDataset",
        "Prompt injections and benign look-alikes from bastioncorpus.",
        _BASTION_SCHEMA,
    ),
    (
        "AdvBenchDataset",
        "advbench",
        "AdvBenchDataset",
        "AdvBench harmful behaviors or strings, all malicious.",
        _ADVBENCH_SCHEMA,
    ),
    (
        "InjecAgentDataset",
        "injecagent",
        "InjecAgentDataset",
        "InjecAgent indirect injections as agent chats with tools.",
        _INJECAGENT_SCHEMA,
    ),
)


def _all_datasets() -> tuple[tuple[str, str, str, str, dict[str, Any]], ...]:
    from pm_plugins_datasets import catalog_benchmarks, catalog_hub

    return CORE_DATASETS + catalog_benchmarks.DATASETS + catalog_hub.DATASETS


DATASETS = _all_datasets()
