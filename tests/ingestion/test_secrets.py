"""A Hugging Face token reaches the hub client and nothing that pm stores or logs."""

from __future__ import annotations

import io
import logging

import pytest

from pm_core.config.load import parse_config
from pm_core.config.validate import config_snapshot
from pm_core.ingestion.pipeline import FullIngestionPipeline
from pm_core.secrets import hf_token

SECRET = "hf_pmTestSecretToken1234567890"


def test_token_read_from_dotenv(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    (tmp_path / ".env").write_text(f"HF_TOKEN={SECRET}\n")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert hf_token(nested) == SECRET


def test_token_reaches_hub_client(monkeypatch, default_model_installed) -> None:
    import transformers

    from pm_core.config.schema import ModelConfig
    from pm_core.plugins import get_catalogue

    monkeypatch.setenv("HF_TOKEN", SECRET)
    received = []

    class Stop(Exception):
        pass

    def fake_from_pretrained(*args, **kwargs):
        received.append(kwargs.get("token"))
        raise Stop

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", fake_from_pretrained)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", fake_from_pretrained)
    with pytest.raises(Stop):
        get_catalogue().create("backends", "huggingface", ModelConfig())
    assert received == [SECRET]


def test_snapshot_redacts_expanded_token(monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", SECRET)
    config = parse_config({"output_dir": "out", "datasets": [
        {"name": "d", "class": "BastionCorpusDataset", "params": {"note": f"uses {SECRET}"}}]})
    assert SECRET not in repr(config_snapshot(config))


def test_cli_log_handler_redacts(monkeypatch) -> None:
    from pm_core.cli import configure_logging

    monkeypatch.setenv("HF_TOKEN", SECRET)
    configure_logging(2)
    stream = io.StringIO()
    handler = logging.getLogger().handlers[0]
    handler.setStream(stream)
    logging.getLogger("pm_core.test").info("loading with token %s", SECRET)
    assert "loading with token" in stream.getvalue()
    assert SECRET not in stream.getvalue()
    logging.getLogger().handlers = []


def test_token_absent_from_stored_files(tmp_path, monkeypatch, caplog, backend) -> None:
    monkeypatch.setenv("HF_TOKEN", SECRET)
    caplog.set_level(logging.DEBUG)
    config = parse_config({
        "run": {"capture_acts_raw": {"layers": [1], "positions": [-1]}, "topk_logits": 3},
        "output_dir": str(tmp_path / "out"),
        "datasets": [{"name": "bastion", "class": "BastionCorpusDataset", "num_prompts": 2}],
    })
    summary = FullIngestionPipeline(config, "bastion", backend=backend, show_progress=False).run()

    assert summary.completed == 2
    assert SECRET not in caplog.text
    stored = [path for path in (tmp_path / "out").rglob("*") if path.is_file()]
    assert stored
    for path in stored:
        assert SECRET.encode() not in path.read_bytes(), f"token found in {path}"
