"""Field mapping from a tabular record to a `PromptSpec`: the fields of the prompt, the label and the id."""

from __future__ import annotations

from typing import Any

import attrs

from pm_core.datasets import RejectedRow
from pm_core.errors import ConfigError, DataError
from pm_core.labels import to_malicious
from pm_core.types import Message, PromptSpec


@attrs.frozen
class RecordMapping:
    """The field names and prompt options shared by the tabular loaders.

    Every field that contains neither the prompt text nor the messages is copied
    into `labels` under its own name, unless `keep_fields` lists the ones to copy.
    """

    text_field: str = "text"
    """Field with the prompt text; ignored when `messages_field` is set."""
    messages_field: str | None = None
    """Field with a list of chat messages (`{"role": ..., "content": ...}`)."""
    label_field: str | None = None
    """Field mapped through `pm_core.labels` to `labels["malicious"]`."""
    label_value: Any = None
    """Label of every row, for sources that hold one class only (for example `true`)."""
    id_field: str | None = None
    """Field used as `prompt_id`; the row index when unset."""
    system_prompt: str | None = None
    """System turn put before each prompt's messages, unless the row has its own."""
    raw: bool = False
    """Yield `PromptSpec.text` for a template-free run instead of a user message."""
    keep_fields: tuple[str, ...] | None = attrs.field(default=None, converter=attrs.converters.optional(tuple))
    """Source fields to copy into `labels`; None copies every field except the prompt."""

    def __attrs_post_init__(self) -> None:
        if (self.label_field is None) == (self.label_value is None):
            msg = (
                "set exactly one of `label_field` (the column with each row's label) "
                "and `label_value` (one label for all rows)"
            )
            raise ConfigError(msg)
        if self.label_value is not None:
            try:
                to_malicious(self.label_value, "config", 0)
            except DataError as error:
                msg = f"invalid `label_value` {self.label_value!r}: expected 0, 1, true, false, benign or malicious"
                raise ConfigError(msg) from error
        if self.raw and self.messages_field is not None:
            msg = "`raw: true` yields plain text and cannot be combined with `messages_field`"
            raise ConfigError(msg)
        if self.raw and self.system_prompt is not None:
            msg = "`raw: true` skips the chat template, so `system_prompt` would be ignored; remove one of them"
            raise ConfigError(msg)

    def build(self, index: int, record: dict[str, Any], dataset_id: str) -> PromptSpec | RejectedRow:
        """Turn one record into a prompt, or into a `RejectedRow` saying which field is unusable.

        Raises `DataError` when the label is present but outside the label vocabulary.
        """
        where = f"dataset {dataset_id!r} row {index}"
        prompt_id = str(index)
        if self.id_field is not None:
            source_id = record.get(self.id_field)
            if source_id is None or str(source_id).strip() == "":
                return RejectedRow(
                    prompt_id, dataset_id, "missing_id", f"{where}: id field {self.id_field!r} is missing or empty"
                )
            prompt_id = str(source_id)

        malicious = self._malicious(record, dataset_id, index)
        if malicious is None:
            message = f"{where}: label field {self.label_field!r} is missing or empty"
            return RejectedRow(prompt_id, dataset_id, "missing_label", message)
        labels = self._source_labels(record)
        labels["malicious"] = malicious

        # A row without the messages field falls back to its text field, so one file can mix both.
        if self.messages_field is not None and (record.get(self.messages_field) is not None
                                                or self.text_field not in record):
            return self._build_from_messages(prompt_id, index, record, dataset_id, labels)

        text = record.get(self.text_field)
        if text is None:
            return RejectedRow(
                prompt_id, dataset_id, "missing_text", f"{where}: text field {self.text_field!r} is missing"
            )
        if not isinstance(text, str):
            message = f"{where}: invalid text field {self.text_field!r}: expected a string, got {type(text).__name__}"
            return RejectedRow(prompt_id, dataset_id, "invalid_text", message)

        if self.raw:
            if not text.strip():
                message = f"{where}: prompt text is empty or only whitespace"
                return RejectedRow(prompt_id, dataset_id, "empty_prompt", message)
            return PromptSpec(prompt_id=prompt_id, dataset_id=dataset_id, text=text, labels=labels)

        # NOTE: empty user content is not rejected here in chat mode, so that the model
        # config's `allow_empty_content` decides. The backend has to reject such a
        # prompt when that option is off, because the template still gives it tokens.
        messages = (*self._system_messages(), Message("user", text))
        return PromptSpec(prompt_id=prompt_id, dataset_id=dataset_id, messages=messages, labels=labels)

    def _malicious(self, record: dict[str, Any], dataset_id: str, index: int) -> bool | None:
        if self.label_value is not None:
            return bool(to_malicious(self.label_value, dataset_id, index))
        value = record.get(self.label_field)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return bool(to_malicious(value, dataset_id, index))

    def _source_labels(self, record: dict[str, Any]) -> dict[str, Any]:
        if self.keep_fields is not None:
            return {field: record.get(field) for field in self.keep_fields}
        prompt_fields = {self.messages_field, self.text_field}
        return {field: value for field, value in record.items() if field not in prompt_fields}

    def _system_messages(self) -> tuple[Message, ...]:
        return (Message("system", self.system_prompt),) if self.system_prompt is not None else ()

    def _build_from_messages(
        self, prompt_id: str, index: int, record: dict[str, Any], dataset_id: str, labels: dict[str, Any]
    ) -> PromptSpec | RejectedRow:
        where = f"dataset {dataset_id!r} prompt {prompt_id!r} (row {index})"
        turns = record.get(self.messages_field)
        if not isinstance(turns, list) or not turns:
            message = f"{where}: field {self.messages_field!r} must be a non-empty list of messages, got {turns!r:.80}"
            return RejectedRow(prompt_id, dataset_id, "invalid_message", message)

        messages: list[Message] = []
        for position, turn in enumerate(turns):
            if not isinstance(turn, dict):
                message = f"{where} message {position}: expected an object with `role` and `content`, got {turn!r:.80}"
                return RejectedRow(prompt_id, dataset_id, "invalid_message", message)
            try:
                messages.append(Message.from_dict(turn))
            except KeyError as error:
                message = f"{where} message {position}: a tool call is missing the key {error}"
                return RejectedRow(prompt_id, dataset_id, "invalid_message", message)
            except DataError as error:
                message = f"{where} message {position}: {error}"
                return RejectedRow(prompt_id, dataset_id, "invalid_message", message)
            except (TypeError, AttributeError) as error:
                message = f"{where} message {position}: invalid message {turn!r:.80} ({error})"
                return RejectedRow(prompt_id, dataset_id, "invalid_message", message)

        if messages[0].role != "system":
            messages[0:0] = self._system_messages()
        return PromptSpec(prompt_id=prompt_id, dataset_id=dataset_id, messages=tuple(messages), labels=labels)
