"""Registrations of further dataset families, appended to `catalog.DATASETS`."""

from __future__ import annotations

from typing import Any


def _hub_schema(hub_id: str, split: str | None = "train", **extra: dict[str, Any]) -> dict[str, Any]:
    """Return the config schema of a hub dataset class: source options, `extra` options, then prompt options."""
    properties: dict[str, Any] = {
        "path": {
            "type": ["string", "null"],
            "description": "Local folder (or file) in the hub repository's layout. The hub id is used when unset.",
        },
        "hub_id": {"type": ["string", "null"], "default": hub_id},
        "data_files": {"description": "Glob, list of globs, or mapping of split to globs, relative to `path`."},
        "revision": {"type": ["string", "null"], "description": "Hub revision (branch, tag or commit)."},
    }
    if split is not None:
        properties["split"] = {"type": ["string", "null"], "default": split}
    properties.update(extra)
    properties["system_prompt"] = {"type": ["string", "null"], "description": "System turn put before each prompt."}
    properties["raw"] = {"type": "boolean", "default": False, "description": "Yield plain text, skipping the template."}
    return {"type": "object", "properties": properties}


_OPENORCA_SCHEMA = _hub_schema(
    "Open-Orca/OpenOrca",
    split=None,
    include_system_prompt={
        "type": "boolean",
        "default": True,
        "description": "Put each row's system_prompt before the question.",
    },
)
del _OPENORCA_SCHEMA["properties"]["system_prompt"]

#: (registered name, module, class, summary, config schema)
DATASETS: tuple[tuple[str, str, str, str, dict[str, Any]], ...] = (
    (
        "WildJailbreakDataset",
        "jailbreak_hub",
        "WildJailbreakDataset",
        "WildJailbreak vanilla and adversarial prompts, harmful ones malicious.",
        _hub_schema(
            "allenai/wildjailbreak",
            split=None,
            config={"enum": ["train", "eval"], "default": "train", "description": "Hub config."},
        ),
    ),
    (
        "OpenOrcaDataset",
        "instruction_hub",
        "OpenOrcaDataset",
        "OpenOrca questions with their system prompts, all benign.",
        _OPENORCA_SCHEMA,
    ),
    (
        "GandalfDataset",
        "injection_hub",
        "GandalfDataset",
        "Lakera Gandalf summarization injections, all malicious.",
        _hub_schema("Lakera/gandalf_summarization"),
    ),
    (
        "MosscapDataset",
        "injection_hub",
        "MosscapDataset",
        "Prompts sent to Lakera's Mosscap game, all labelled malicious.",
        _hub_schema("Lakera/mosscap_prompt_injection"),
    ),
    (
        "EnronDataset",
        "email_hub",
        "EnronDataset",
        "Enron emails, optionally wrapped in email headers, all benign.",
        _hub_schema(
            "amanneo/enron-mail-corpus-mini",
            wrap_as_email={"type": "boolean", "default": False, "description": "Render each mail with headers."},
            sender={"type": "string", "default": "sender@enron.com", "description": "From header value."},
            recipient={"type": "string", "default": "recipient@enron.com", "description": "To header value."},
            subject={"type": "string", "default": "(no subject)", "description": "Subject header value."},
        ),
    ),
    (
        "LLMailDataset",
        "email_hub",
        "LLMailDataset",
        "LLMail-Inject challenge attack emails, all malicious.",
        _hub_schema(
            "microsoft/llmail-inject-challenge",
            split=None,
            phases={
                "type": "array",
                "items": {"enum": ["Phase1", "Phase2"]},
                "default": ["Phase1", "Phase2"],
                "description": "Challenge phases (hub splits) to read, in order.",
            },
            email_format={
                "enum": ["body", "subject_body", "llmail"],
                "default": "subject_body",
                "description": "How subject and body become the prompt.",
            },
        ),
    ),
    (
        "QualifireDataset",
        "injection_hub",
        "QualifireDataset",
        "Qualifire prompt-injection benchmark, jailbreak or benign.",
        _hub_schema("qualifire/prompt-injections-benchmark", split="test"),
    ),
    (
        "YanismiraouiDataset",
        "injection_hub",
        "YanismiraouiDataset",
        "Multilingual prompt injections by Yanis Miraoui, all malicious.",
        _hub_schema("yanismiraoui/prompt_injections"),
    ),
    (
        "JayavibhavDataset",
        "injection_hub",
        "JayavibhavDataset",
        "jayavibhav prompt-injection-safety, labels 1 and 2 malicious.",
        _hub_schema("jayavibhav/prompt-injection-safety"),
    ),
    (
        "SafeGuardDataset",
        "injection_hub",
        "SafeGuardDataset",
        "safe-guard prompt injections, label 1 malicious.",
        _hub_schema("xTRam1/safe-guard-prompt-injection"),
    ),
    (
        "SoftAgeDataset",
        "instruction_hub",
        "SoftAgeDataset",
        "SoftAge prompt-engineering prompts, all benign.",
        _hub_schema("SoftAge-AI/prompt-eng_dataset"),
    ),
    (
        "TenKPromptsRankedDataset",
        "instruction_hub",
        "TenKPromptsRankedDataset",
        "10k_prompts_ranked prompts, optionally filtered by rating, all benign.",
        _hub_schema(
            "data-is-better-together/10k_prompts_ranked",
            split=None,
            min_avg_rating={"type": ["number", "null"], "description": "Keep rows with avg_rating at least this."},
        ),
    ),
)
