"""Exceptions that pm shows to users.

Each one subclasses the builtin a caller would naturally catch, and its message
names the value that was wrong and what to do about it.
"""


class PmError(Exception):
    """Base class of every error pm raises on purpose."""


class ConfigError(PmError, ValueError):
    """A config file or option is invalid; the message names the key and the value."""


class PluginError(PmError, LookupError):
    """A plugin is missing, registered twice, or failed to load."""


class UnknownNameError(PluginError, KeyError):
    """A backend, dataset, evaluator or classifier name that no plugin registered."""

    def __str__(self) -> str:
        # KeyError quotes its argument; this message is a sentence, so show it as is.
        return str(self.args[0]) if self.args else ""


class DataError(PmError, ValueError):
    """A dataset file, row or label cannot be used; the message names the file and row."""


class PromptError(PmError, ValueError):
    """One prompt cannot be processed; the run records it with `reason` and goes on."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class TemplateError(PromptError):
    """The chat template cannot render a prompt's messages as they are."""

    def __init__(self, message: str) -> None:
        super().__init__("template_error", message)


class SystemRoleError(TemplateError, ConfigError):
    """The template rejects or drops a system turn and the config forbids a fallback.

    It is a config error as well as a prompt error: the run stops before any forward pass.
    """


class StorageError(PmError, OSError):
    """An output directory is missing, unreadable, or was written by another layout."""
