"""Hugging Face credentials: read from the environment or a `.env` file, never stored.

The token reaches the hub client through `hf_token()`. Everything pm writes
(config snapshots, logs, registry rows) passes through `redact`, which replaces
any known secret value with a placeholder.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
REDACTED = "<redacted>"


def hf_token(search_from: str | os.PathLike | None = None) -> str | None:
    """Return the Hugging Face token from the environment, else from the nearest `.env` file."""
    for variable in TOKEN_VARIABLES:
        value = os.environ.get(variable)
        if value:
            return value

    start = Path(search_from or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        env_file = folder / ".env"
        if env_file.is_file():
            values = dotenv_values(env_file)
            for variable in TOKEN_VARIABLES:
                if values.get(variable):
                    return values[variable]
            break
    return None


def secret_values() -> list[str]:
    """Return the secret values known to this process, longest first."""
    values = [os.environ.get(variable, "") for variable in TOKEN_VARIABLES]
    file_token = hf_token()
    if file_token:
        values.append(file_token)
    return sorted({value for value in values if len(value) >= 8}, key=len, reverse=True)


def redact(value: Any) -> Any:
    """Return `value` with every known secret replaced, recursing into dicts and lists."""
    secrets = secret_values()
    if not secrets:
        return value
    return _redact(value, secrets)


def _redact(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {key: _redact(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact(item, secrets) for item in value)
    return value


class RedactingFilter(logging.Filter):
    """A logging filter that removes secret values from every record it passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = secret_values()
        if secrets:
            record.msg = _redact(record.getMessage(), secrets)
            record.args = None
        return True
