"""Registrations of further dataset families, appended to `catalog.DATASETS`."""

from __future__ import annotations

from typing import Any

_PROMPT_OPTIONS: dict[str, Any] = {
    "system_prompt": {"type": ["string", "null"], "description": "System turn put before each prompt."},
    "raw": {"type": "boolean", "default": False, "description": "Yield plain text that skips the chat template."},
}

_BIPIA_SCHEMA = {
    "type": "object",
    "required": ["bipia_root"],
    "properties": {
        "bipia_root": {"type": "string", "description": "Folder holding BIPIA's benchmark/ folder."},
        "tasks": {
            "type": ["array", "string"],
            "items": {"enum": ["email", "code", "table", "qa", "abstract"]},
            "default": ["email", "code", "table"],
            "description": "qa and abstract need contexts that BIPIA does not redistribute.",
        },
        "split": {"enum": ["train", "test"], "default": "train"},
        "positions": {
            "type": ["array", "string"],
            "items": {"enum": ["start", "middle", "end"]},
            "default": ["start", "middle", "end"],
            "description": "Where each attack string is inserted into the context.",
        },
        "include_clean": {
            "type": "boolean",
            "default": False,
            "description": "Also yield each context once without an attack (malicious false).",
        },
        "attacks": {
            "enum": ["text", "code", "both", None],
            "default": None,
            "description": "Attack strings to insert; null pairs code attacks with the code task, text with the rest.",
        },
        "seed": {"type": "integer", "default": 0, "description": "Seed of the max_contexts draw."},
        "max_contexts": {
            "type": ["integer", "null"],
            "minimum": 1,
            "description": "Contexts kept per task, drawn at random with the seed; null keeps all.",
        },
    },
}

_HARMBENCH_SCHEMA = {
    "type": "object",
    "properties": {
        "path": {
            "type": ["string", "null"],
            "description": "harmbench_behaviors_text_<split>.csv, its folder, or a HarmBench checkout.",
        },
        "hub_id": {"type": "string", "default": "walledai/HarmBench"},
        "subset": {"enum": ["standard", "contextual", "copyright", "all"], "default": "standard"},
        "split": {
            "type": ["string", "null"],
            "description": "Local CSV: all, test or val (default all). Hub: the split name (default train).",
        },
        **_PROMPT_OPTIONS,
    },
}

_XSTEST_SCHEMA = {
    "type": "object",
    "properties": {
        "path": {"type": ["string", "null"], "description": "xstest_prompts.csv or the folder holding it."},
        "hub_id": {"type": "string", "default": "walledai/XSTest"},
        "split": {"type": "string", "default": "test", "description": "Hub split; ignored for a local path."},
        **_PROMPT_OPTIONS,
    },
}

_DEEPSET_SCHEMA = {
    "type": "object",
    "properties": {
        "path": {"type": ["string", "null"], "description": "Local folder in the hub's layout."},
        "hub_id": {"type": "string", "default": "deepset/prompt-injections"},
        "split": {"enum": ["train", "test"], "default": "train"},
        **_PROMPT_OPTIONS,
    },
}

_DOLLY_SCHEMA = {
    "type": "object",
    "properties": {
        "path": {"type": ["string", "null"], "description": "The JSONL file or a local folder in the hub's layout."},
        "hub_id": {"type": "string", "default": "databricks/databricks-dolly-15k"},
        "include_context": {
            "type": "boolean",
            "default": True,
            "description": "Put a non-empty context after the instruction.",
        },
        "keep_response": {"type": "boolean", "default": False, "description": "Keep the reference response in labels."},
        "categories": {
            "type": ["array", "string", "null"],
            "items": {"type": "string"},
            "description": "Task types to keep (closed_qa, open_qa, ...); null keeps all.",
        },
        **_PROMPT_OPTIONS,
    },
}

#: (registered name, module, class, summary, config schema)
DATASETS: tuple[tuple[str, str, str, str, dict[str, Any]], ...] = (
    (
        "BIPIADataset",
        "bipia",
        "BIPIADataset",
        "BIPIA contexts with indirect injections inserted at the start, middle or end.",
        _BIPIA_SCHEMA,
    ),
    (
        "HarmBenchDataset",
        "harmbench",
        "HarmBenchDataset",
        "HarmBench text behaviors (standard, contextual, copyright), all malicious.",
        _HARMBENCH_SCHEMA,
    ),
    (
        "XSTestDataset",
        "xstest",
        "XSTestDataset",
        "XSTest safe prompts that look risky (hard negatives) and their unsafe twins.",
        _XSTEST_SCHEMA,
    ),
    (
        "DeepsetPromptInjectionsDataset",
        "deepset",
        "DeepsetPromptInjectionsDataset",
        "deepset/prompt-injections: injections and benign prompts, English and German.",
        _DEEPSET_SCHEMA,
    ),
    (
        "Dolly15kDataset",
        "dolly",
        "Dolly15kDataset",
        "databricks-dolly-15k instructions, all benign.",
        _DOLLY_SCHEMA,
    ),
)
