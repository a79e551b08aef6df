"""Turn a `PromptSpec` into the exact token ids the model runs on.

Chat prompts go through the chat template, and the rendered text is tokenized
without special tokens, because the template already writes BOS: tokenizing with
them adds a second BOS and shifts every position by one. Raw prompts
(`spec.text`, or `model.template: none`) are tokenized with special tokens, so the
tokenizer adds its BOS once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from pm_core.errors import ConfigError, PromptError, SystemRoleError, TemplateError
from pm_core.types import Message, PromptSpec, RenderedPrompt
from pm_plugins_backends.huggingface.tool_calls import RENDER_ERRORS, ToolCallRenderer
from pm_plugins_backends.huggingface.tool_inlining import inline_tools

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from pm_core.config.schema import ModelConfig

logger = logging.getLogger(__name__)

#: Separator between the merged system text and the first user turn's text.
SYSTEM_MERGE_SEPARATOR = "\n\n"


class PromptRenderer:
    """Render prompts for one tokenizer and chat template under the model config's policies.

    `template_name` names the template in errors (the model id). `chat_template`
    replaces the tokenizer's own template when set. `max_length` is the model's
    context size: a longer prompt raises `PromptError` with reason `too_long`.
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        config: ModelConfig,
        template_name: str,
        chat_template: str | None = None,
        max_length: int | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.config = config
        self.template_name = template_name
        self.chat_template = chat_template
        self.max_length = max_length

    def render(self, spec: PromptSpec, add_generation_prompt: bool = True) -> RenderedPrompt:
        """Render and tokenize one prompt; raise `PromptError` (or `TemplateError`) when it cannot run."""
        if spec.is_raw or self.config.template == "none":
            return self._render_raw(spec)
        return self._render_chat(spec, add_generation_prompt)

    def _render_raw(self, spec: PromptSpec) -> RenderedPrompt:
        text = spec.text if spec.text is not None else self._single_user_text(spec)
        if not text.strip():
            msg = f"prompt {spec.prompt_id!r} of dataset {spec.dataset_id!r}: raw text is empty or whitespace only"
            raise PromptError("empty_prompt", msg)

        ids = self.tokenizer(text, add_special_tokens=True)["input_ids"]
        return self._finish(spec, text, ids, {"template": "none", "system_fallback_applied": False})

    def _single_user_text(self, spec: PromptSpec) -> str:
        if len(spec.messages) == 1 and spec.messages[0].role == "user":
            return spec.messages[0].content or ""
        msg = (
            f"prompt {spec.prompt_id!r} of dataset {spec.dataset_id!r}: `model.template: none` needs raw text "
            f"or a single user message, got {len(spec.messages)} messages"
        )
        raise PromptError("unsupported_prompt", msg)

    def _render_chat(self, spec: PromptSpec, add_generation_prompt: bool) -> RenderedPrompt:
        if self.chat_template is None and not getattr(self.tokenizer, "chat_template", None):
            msg = f"model {self.template_name!r} has no chat template; set `model.template: none` to run raw text"
            raise ConfigError(msg)
        metadata: dict[str, Any] = {"template": "chat", "allow_empty_content": self._check_not_empty(spec)}

        text, fallback_applied, tools_inlined = self._render_with_tool_policy(spec, add_generation_prompt)
        metadata["system_fallback_applied"] = fallback_applied
        metadata["tool_fallback_applied"] = tools_inlined

        # The template wrote BOS (if the model uses one) into the text already.
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return self._finish(spec, text, ids, metadata)

    def _render_with_tool_policy(self, spec: PromptSpec, add_generation_prompt: bool) -> tuple[str, bool, bool]:
        """Render with the template's own tool support, or as text under `model.tool_fallback: inline`.

        Returns the text, whether the system fallback applied, and whether tools were written as text.
        """
        uses_tools = bool(spec.tools) or any(message.tool_calls for message in spec.messages)
        try:
            text, fallback_applied = self._render_with_system_policy(spec, list(spec.tools), add_generation_prompt)
            self._check_tool_schemas(spec, text)
            return text, fallback_applied, False
        except SystemRoleError:
            raise
        except TemplateError as error:
            if not uses_tools:
                raise
            if self.config.tool_fallback != "inline":
                hint = "; set `model.tool_fallback: inline` to write tool schemas and calls into the prompt as text"
                raise TemplateError(f"{error}{hint}") from error

        messages, _ = inline_tools(spec)
        inlined = attrs.evolve(spec, messages=tuple(messages), tools=())
        text, fallback_applied = self._render_with_system_policy(inlined, [], add_generation_prompt)
        return text, fallback_applied, True

    def _check_tool_schemas(self, spec: PromptSpec, text: str) -> None:
        """Raise `TemplateError` when a render leaves out the name of a tool the prompt offers."""
        names = [tool.get("function", tool).get("name") for tool in spec.tools]
        missing = [name for name in names if name and name not in text]
        if missing:
            msg = (
                f"chat template of {self.template_name!r} leaves the tool schemas out of prompt "
                f"{spec.prompt_id!r} (missing: {', '.join(missing)})"
            )
            raise TemplateError(msg)

    def _check_not_empty(self, spec: PromptSpec) -> bool:
        """Raise `empty_prompt` for a missing or blank user turn; return True when the config allowed one."""
        if not spec.messages:
            msg = f"prompt {spec.prompt_id!r} of dataset {spec.dataset_id!r} has no messages"
            raise PromptError("empty_prompt", msg)

        allowed = False
        for index, message in enumerate(spec.messages):
            if message.role != "user" or (message.content or "").strip():
                continue
            if not self.config.allow_empty_content:
                msg = (
                    f"prompt {spec.prompt_id!r} of dataset {spec.dataset_id!r}: user message {index} is empty "
                    f"or whitespace only; set `model.allow_empty_content: true` to run it"
                )
                raise PromptError("empty_prompt", msg)
            allowed = True
        return allowed

    def _render_with_system_policy(
        self, spec: PromptSpec, tools: list[dict[str, Any]], add_generation_prompt: bool
    ) -> tuple[str, bool]:
        """Render the messages, applying `model.system_role_fallback` if the template rejects or drops a system turn."""
        messages = list(spec.messages)
        indices = list(range(len(messages)))
        system_texts = [m.content.strip() for m in messages if m.role == "system" and m.content and m.content.strip()]
        has_system = any(message.role == "system" for message in messages)

        try:
            text = self._render_messages(messages, indices, tools, add_generation_prompt)
        except TemplateError as error:
            if not has_system:
                raise
            first_error: TemplateError | None = error
        else:
            if all(system_text in text for system_text in system_texts):
                return text, False
            first_error = None

        # The template raised or dropped the system text. Render once without a system
        # turn to tell a system-role problem from any other failure.
        merged, merged_indices = self._merge_system_into_first_user(spec, messages)
        try:
            merged_text = self._render_messages(merged, merged_indices, tools, add_generation_prompt)
        except TemplateError:
            if first_error is not None:
                raise first_error from None
            raise

        policy = self.config.system_role_fallback
        problem = "raises an error on" if first_error is not None else "silently drops"
        if policy == "error" or (policy == "keep" and first_error is not None):
            msg = (
                f"chat template of {self.template_name!r} {problem} the role 'system' "
                f"(prompt {spec.prompt_id!r}); set `model.system_role_fallback: merge_into_first_user` to merge it"
            )
            raise SystemRoleError(msg) from first_error
        if policy == "keep":
            logger.warning(
                "chat template of %r drops the system turn of prompt %r; kept as the template renders it",
                self.template_name,
                spec.prompt_id,
            )
            return text, False

        missing = [system_text for system_text in system_texts if system_text not in merged_text]
        if missing:
            msg = (
                f"chat template of {self.template_name!r} drops the system text of prompt {spec.prompt_id!r} "
                "even after merging it into the first user turn"
            )
            raise TemplateError(msg)
        return merged_text, True

    def _merge_system_into_first_user(
        self, spec: PromptSpec, messages: list[Message]
    ) -> tuple[list[Message], list[int]]:
        system_texts = [m.content for m in messages if m.role == "system" and m.content]
        kept = [(index, message) for index, message in enumerate(messages) if message.role != "system"]
        for position, (index, message) in enumerate(kept):
            if message.role == "user":
                merged_content = SYSTEM_MERGE_SEPARATOR.join([*system_texts, message.content or ""])
                kept[position] = (index, Message("user", merged_content, name=message.name))
                return [message for _, message in kept], [index for index, _ in kept]
        msg = f"prompt {spec.prompt_id!r} has a system turn but no user turn to merge it into"
        raise TemplateError(msg)

    def _render_messages(
        self,
        messages: Sequence[Message],
        indices: Sequence[int],
        tools: list[dict[str, Any]],
        add_generation_prompt: bool,
    ) -> str:
        """Render with the template; template failures become `TemplateError` naming the template."""

        def apply(records: list[dict[str, Any]]) -> str:
            return self.tokenizer.apply_chat_template(
                records,
                tools=tools or None,
                tokenize=False,
                add_generation_prompt=add_generation_prompt,
                chat_template=self.chat_template,
            )

        try:
            text, _ = ToolCallRenderer(apply, self.template_name).render(messages, indices, tools)
        except RENDER_ERRORS as error:
            if isinstance(error, TemplateError):
                raise
            msg = f"chat template of {self.template_name!r} failed: {type(error).__name__}: {error}"
            raise TemplateError(msg) from error
        return text

    def _finish(self, spec: PromptSpec, text: str, ids: list[int], metadata: dict[str, Any]) -> RenderedPrompt:
        if self.max_length is not None and len(ids) > self.max_length:
            msg = (
                f"prompt {spec.prompt_id!r} of dataset {spec.dataset_id!r} has {len(ids)} tokens, "
                f"more than the model's context of {self.max_length}"
            )
            raise PromptError("too_long", msg)
        metadata["n_tokens"] = len(ids)
        return RenderedPrompt(spec=spec, text=text, input_ids=tuple(int(i) for i in ids), metadata=metadata)
