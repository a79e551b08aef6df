"""Chat rendering and tokenization: one BOS, system-role fallback, tool-call shapes, empty prompts."""

from __future__ import annotations

import json

import pytest
from backend_helpers import raw_prompt, user_prompt

from pm_core.config.schema import ModelConfig
from pm_core.errors import PromptError, TemplateError
from pm_core.types import Message, PromptSpec
from pm_plugins_backends.huggingface.rendering import PromptRenderer

SMOLLM2_HELLO_IDS = [
    1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28, 7018, 411,
    407, 19712, 8182, 2, 198, 1, 4093, 198, 28120, 2, 198,
]  # fmt: skip

T_RAISE = (
    "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
T_DROP = (
    "{% for m in messages if m['role'] != 'system' %}"
    "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
T_MAP = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}{% for c in m.tool_calls or [] %}"
    "<tool_call>{{ {'name': c.function.name, 'arguments': c.function.arguments} | tojson }}</tool_call>"
    "{% endfor %}<|im_end|>\n{% endfor %}"
)
T_STR = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{% if m.tool_calls %}{% for c in m.tool_calls %}"
    "{{ '<tool_call>' + c.function.name + ' ' + c.function.arguments + '</tool_call>' }}{% endfor %}"
    "{% else %}{{ m.content }}{% endif %}<|im_end|>\n{% endfor %}"
)
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
EXPECTED_T_MAP = (
    '<|im_start|>user\nWeather in Oslo?<|im_end|>\n<|im_start|>assistant\n<tool_call>{"name": "get_weather", '
    '"arguments": {"city": "Oslo"}}</tool_call><|im_end|>\n<|im_start|>tool\n{"temp_c": 12}<|im_end|>\n'
)
EXPECTED_T_STR = (
    '<|im_start|>user\nWeather in Oslo?<|im_end|>\n<|im_start|>assistant\n<tool_call>get_weather {"city": "Oslo"}'
    '</tool_call><|im_end|>\n<|im_start|>tool\n{"temp_c": 12}<|im_end|>\n'
)


def renderer_for(backend, chat_template: str | None = None, **config) -> PromptRenderer:
    return PromptRenderer(
        backend.tokenizer, ModelConfig(**config), "smollm2-135m-instruct", chat_template=chat_template
    )


def weather_variants() -> list[PromptSpec]:
    """The six encodings of one tool call: mapping or JSON-string arguments, content None, "" or absent."""
    variants = []
    for arguments in ({"city": "Oslo"}, '{"city": "Oslo"}'):
        for content in ("none", "empty", "absent"):
            assistant = {
                "role": "assistant",
                "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": arguments}}],
            }
            if content != "absent":
                assistant["content"] = None if content == "none" else ""
            records = [
                {"role": "user", "content": "Weather in Oslo?"},
                assistant,
                {"role": "tool", "name": "get_weather", "content": json.dumps({"temp_c": 12})},
            ]
            messages = tuple(Message.from_dict(record) for record in records)
            variants.append(
                PromptSpec(
                    prompt_id=f"{type(arguments).__name__}-{content}",
                    dataset_id="test",
                    messages=messages,
                    tools=(WEATHER_TOOL,),
                )
            )
    return variants


def test_chat_ids_have_one_bos(backend):
    """The rendered chat text is tokenized without a second BOS."""
    rendered = backend.renderer().render(user_prompt("hello"), add_generation_prompt=False)

    assert list(rendered.input_ids) == SMOLLM2_HELLO_IDS
    assert rendered.input_ids[1] != 1


def test_chat_ids_with_generation_prompt(backend):
    """With the generation prompt there are 31 ids and three `<|im_start|>`."""
    rendered = backend.render(user_prompt("hello"))

    assert rendered.n_tokens == 31
    assert rendered.input_ids.count(1) == 3
    assert rendered.metadata["n_tokens"] == 31
    assert rendered.metadata["template"] == "chat"


def test_chat_ids_separate_bos_token():
    """A template that writes a distinct BOS token still yields exactly one."""
    import tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {
        "<pad>": 0,
        "<bos>": 1,
        "<eos>": 2,
        "<|im_start|>": 3,
        "<|im_end|>": 4,
        "<unk>": 5,
        "user": 6,
        "hello": 7,
        "\n": 8,
    }
    core = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = tokenizers.pre_tokenizers.Split("\n", behavior="isolated")
    core.post_processor = tokenizers.processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 1)])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
        unk_token="<unk>", additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )  # fmt: skip
    tokenizer.chat_template = (
        "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    )
    renderer = PromptRenderer(tokenizer, ModelConfig(), "toy")

    rendered = renderer.render(user_prompt("hello"), add_generation_prompt=False)

    assert list(rendered.input_ids) == [1, 3, 6, 8, 7, 4, 8]


def test_raw_ids_get_tokenizer_bos(backend):
    """Raw text gets the tokenizer's BOS once."""
    rendered = backend.render(raw_prompt("Hi"))

    assert list(rendered.input_ids) == [1, 26843]
    assert rendered.metadata["template"] == "none"


@pytest.mark.parametrize("template", [T_RAISE, T_DROP], ids=["raises", "drops"])
def test_system_merge_fallback(backend, template):
    """A rejected or dropped system turn is merged into the first user turn, once."""
    spec = user_prompt("Name a colour.", system="Answer in one word.")

    rendered = renderer_for(backend, template, system_role_fallback="merge_into_first_user").render(spec)

    assert rendered.text == "<|im_start|>user\nAnswer in one word.\n\nName a colour.<|im_end|>\n<|im_start|>assistant\n"
    assert rendered.text.count("Answer in one word.") == 1
    assert rendered.metadata["system_fallback_applied"] is True


@pytest.mark.parametrize("template", [T_RAISE, T_DROP], ids=["raises", "drops"])
def test_system_error_fallback(backend, template):
    """With `error`, a rejected or dropped system turn raises naming the template and role."""
    spec = user_prompt("Name a colour.", system="Answer in one word.")
    renderer = renderer_for(backend, template, system_role_fallback="error")

    with pytest.raises(TemplateError, match=r"'smollm2-135m-instruct'.*role 'system'"):
        renderer.render(spec)


def test_system_keep_rejected(backend):
    """With `keep`, a template that raises on the system role raises `TemplateError`."""
    spec = user_prompt("Name a colour.", system="Answer in one word.")

    with pytest.raises(TemplateError, match="role 'system'"):
        renderer_for(backend, T_RAISE, system_role_fallback="keep").render(spec)


def test_system_keep_dropped(backend):
    """With `keep`, a dropping template renders as it is and nothing is merged."""
    spec = user_prompt("Name a colour.", system="Answer in one word.")

    rendered = renderer_for(backend, T_DROP, system_role_fallback="keep").render(spec)

    assert "Answer in one word." not in rendered.text
    assert rendered.metadata["system_fallback_applied"] is False


@pytest.mark.parametrize("fallback", ["merge_into_first_user", "error"])
def test_system_smollm2_template_kept(backend, fallback):
    """SmolLM2's own template keeps the system turn; no fallback is applied."""
    spec = user_prompt("Name a colour.", system="Answer in one word.")

    rendered = renderer_for(backend, system_role_fallback=fallback).render(spec)

    assert rendered.text.startswith("<|im_start|>system\nAnswer in one word.<|im_end|>\n")
    assert rendered.metadata["system_fallback_applied"] is False


@pytest.mark.parametrize(
    ("template", "expected", "n_ids"), [(T_MAP, EXPECTED_T_MAP, 58), (T_STR, EXPECTED_T_STR, 49)], ids=["map", "str"]
)
def test_tool_call_variants_identical(backend, template, expected, n_ids):
    """All six encodings of a tool call render to the template's correct text and ids."""
    renderer = renderer_for(backend, template)
    expected_ids = backend.tokenizer(expected, add_special_tokens=False)["input_ids"]

    for spec in weather_variants():
        rendered = renderer.render(spec, add_generation_prompt=False)

        assert list(rendered.input_ids) == expected_ids, spec.prompt_id
        assert rendered.n_tokens == n_ids, spec.prompt_id
        for needed in ("get_weather", "Oslo", "12"):
            assert needed in rendered.text, spec.prompt_id
        assert '\\"' not in rendered.text, spec.prompt_id
        assert "None" not in rendered.text, spec.prompt_id


def test_tool_call_smollm2_template_rejected(backend):
    """SmolLM2's template cannot show a call: every encoding raises naming the template and message 1."""
    for spec in weather_variants():
        with pytest.raises(TemplateError, match=r"'smollm2-135m-instruct'.*message 1 \(get_weather\)"):
            backend.render(spec)


@pytest.mark.parametrize("text", ["", "   ", "\n"], ids=["empty", "spaces", "newline"])
def test_empty_raw_prompt_rejected(backend, text):
    """Raw text that is empty after stripping raises `empty_prompt`."""
    with pytest.raises(PromptError, match="empty or whitespace") as caught:
        backend.render(raw_prompt(text))

    assert caught.value.reason == "empty_prompt"


@pytest.mark.parametrize("text", ["", "   ", "\n"], ids=["empty", "spaces", "newline"])
def test_empty_chat_content_rejected(backend, text):
    """Empty user content raises `empty_prompt` unless `allow_empty_content` is set."""
    with pytest.raises(PromptError, match="allow_empty_content") as caught:
        backend.render(user_prompt(text))

    assert caught.value.reason == "empty_prompt"


def test_empty_chat_content_allowed(backend):
    """With `allow_empty_content`, "" renders to 30 ids ending in the template's newline (198)."""
    renderer = renderer_for(backend, allow_empty_content=True)

    rendered = renderer.render(user_prompt(""))
    ok = renderer.render(user_prompt("ok"))

    assert rendered.n_tokens == 30
    assert rendered.input_ids[-1] == 198
    assert rendered.metadata["allow_empty_content"] is True
    assert ok.n_tokens == 31
    assert ok.metadata["allow_empty_content"] is False


def test_prompt_without_messages_rejected(backend):
    """A chat prompt with no messages raises `empty_prompt`."""
    spec = PromptSpec(prompt_id="none", dataset_id="test")

    with pytest.raises(PromptError, match="no messages") as caught:
        backend.render(spec)

    assert caught.value.reason == "empty_prompt"
