"""SAE features written during ingestion, by `pm sae encode` on stored activations, and their checks."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sae_lens")

import torch
from click.testing import CliRunner
from sae_lens import SAE, StandardSAE, StandardSAEConfig

from pm_core import ClassificationDataset
from pm_core.config.load import parse_config
from pm_core.config.schema import SAEConfig
from pm_core.errors import ConfigError
from pm_core.ingestion.keys import processing_fingerprint
from pm_core.ingestion.pipeline import FullIngestionPipeline
from pm_plugins_backends.extractors import create_sae_extractor
from pm_plugins_backends.sae.commands import sae_group
from pm_plugins_backends.sae.stored import encode_stored

D_MODEL = 576
D_SAE = 512
POSITIONS = [-3, -1]


def save_random_sae(folder, hook_name: str, d_in: int = D_MODEL, seed: int = 0) -> str:
    """Save an SAE with random weights; a negative encoder bias keeps roughly a third of features active."""
    torch.manual_seed(seed)
    config = StandardSAEConfig(d_in=d_in, d_sae=D_SAE, dtype="float32", device="cpu")
    config.metadata.hook_name = hook_name
    sae = StandardSAE(config)
    with torch.no_grad():
        sae.W_enc.normal_(0, 0.05)
        sae.b_enc.fill_(-0.2)
    sae.save_model(folder)
    return str(folder)


def make_config(output_dir, sae_entries, layers=(1,)):
    return parse_config(
        {
            "model": {"sae_configs": sae_entries},
            "run": {"topk_logits": 0, "capture_acts_raw": {"layers": list(layers), "positions": POSITIONS}},
            "output_dir": str(output_dir),
            "datasets": [{"name": "bastion", "class": "BastionCorpusDataset", "num_prompts": 6}],
        }
    )


def ingest(config, backend):
    return FullIngestionPipeline(config, "bastion", backend=backend, show_progress=False).run()


@pytest.fixture(scope="module")
def sae_folder(tmp_path_factory) -> str:
    return save_random_sae(tmp_path_factory.mktemp("sae") / "l3_post", "blocks.3.hook_resid_post")


def test_live_and_stored_features_equal(tmp_path, backend, sae_folder) -> None:
    # The SAE reads resid_post of layer 3. That layer is stored raw too, because `pm sae encode`
    # reads it back from storage.
    config = make_config(tmp_path, [{"path": sae_folder, "name": "live"}], layers=(1, 3))
    summary = ingest(config, backend)
    assert summary.completed == 6

    extractor = create_sae_extractor(SAEConfig(path=sae_folder, name="stored"))
    encoded = encode_stored(tmp_path, extractor)
    assert (encoded.encoded_runs, encoded.already_encoded) == (6, 0)

    dataset = ClassificationDataset.from_path(tmp_path)
    live = dataset.load(layer=3, space="sae", position=POSITIONS, pool="concat", return_sparse=True, dictionary="live")
    stored = dataset.load(
        layer=3, space="sae", position=POSITIONS, pool="concat", return_sparse=True, dictionary="stored"
    )
    assert live.X.shape == (6, 2 * D_SAE)
    assert live.X.nnz > 6 * 2 * 50
    assert live.run_ids.tolist() == stored.run_ids.tolist()
    # Inputs and weights are the same. Only the rows per matmul differ (a batch of prompts against
    # a chunk of stored rows), which can move the last bit of a float32 value.
    assert set(zip(*live.X.nonzero(), strict=True)) == set(zip(*stored.X.nonzero(), strict=True))
    assert abs(live.X - stored.X).max() < 1e-5

    # Encoding again finds every run done, and writes nothing twice.
    again = encode_stored(tmp_path, extractor)
    assert (again.encoded_runs, again.already_encoded) == (0, 6)
    assert dataset.load(layer=3, space="sae", position=-1, return_sparse=True, dictionary="stored").X.nnz == (
        stored.X[:, D_SAE:].nnz
    )


def test_sae_reads_its_own_site(tmp_path, backend, sae_folder) -> None:
    # An SAE on blocks.3.hook_resid_post is fed hidden_states[4]; one on
    # blocks.3.hook_resid_pre is fed hidden_states[3]. Raw capture is at layer 1 only.
    pre_folder = save_random_sae(tmp_path / "l3_pre", "blocks.3.hook_resid_pre", seed=1)
    config = make_config(tmp_path / "out", [{"path": sae_folder, "name": "post"}, {"path": pre_folder, "name": "pre"}])
    assert ingest(config, backend).completed == 6
    dataset = ClassificationDataset.from_path(tmp_path / "out")
    assert dataset.load(layer=1, position=-1).X.shape == (6, D_MODEL)
    with pytest.raises(Exception, match="layer 3|resid_post"):
        dataset.load(layer=3, position=-1)

    run_id = dataset.load(layer=1, position=-1).run_ids[0]
    input_ids = dataset.load_outputs([run_id])[run_id]["input_ids"]
    with torch.no_grad():
        hidden = backend.model(torch.tensor([input_ids]), output_hidden_states=True).hidden_states
    for name, folder, index in (("post", sae_folder, 4), ("pre", pre_folder, 3)):
        expected = SAE.load_from_disk(folder).encode(hidden[index][0, -1:]).detach().numpy()
        loaded = dataset.load(layer=3, space="sae", position=-1, dictionary=name)
        row = loaded.X[loaded.run_ids.tolist().index(run_id)]
        np.testing.assert_allclose(row, expected[0], atol=1e-4)


def test_wrong_width_stops_early(tmp_path) -> None:
    folder = save_random_sae(tmp_path / "narrow", "blocks.3.hook_resid_post", d_in=512)
    config = make_config(tmp_path / "out", [{"path": folder}])

    def no_model():
        raise AssertionError("the model must not load when an SAE does not fit it")

    with pytest.raises(ConfigError, match=r"expects inputs of width 512 .* has width 576"):
        ingest(config, no_model)


def test_run_rejects_misfit_sae(tmp_path, default_model_installed) -> None:
    from click.testing import CliRunner

    from pm_core.cli import _add_commands, cli

    folder = save_random_sae(tmp_path / "narrow", "blocks.3.hook_resid_post", d_in=512)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        f"model: {{sae_configs: [{{path: {folder}}}]}}\n"
        f"output_dir: {tmp_path / 'out'}\n"
        "datasets: [{name: a, class: BastionCorpusDataset, num_prompts: 2}, "
        "{name: b, class: BastionCorpusDataset, num_prompts: 2}]\n"
    )
    _add_commands()
    result = CliRunner().invoke(cli, ["run", str(config_file)])

    assert result.exit_code != 0
    assert "expects inputs of width 512 at resid_post of layer 3" in result.output
    assert not (tmp_path / "out" / "registry.sqlite").exists()


def test_layer_beyond_model_rejected(tmp_path) -> None:
    folder = save_random_sae(tmp_path / "deep", "blocks.40.hook_resid_post")
    with pytest.raises(ConfigError, match=r"layer 40, but the model has 30 layers"):
        ingest(make_config(tmp_path / "out", [{"path": folder}]), lambda: None)


def test_unsupported_hook_rejected(tmp_path) -> None:
    folder = save_random_sae(tmp_path / "z", "blocks.3.attn.hook_z")
    with pytest.raises(ConfigError, match=r"hook 'blocks.3.attn.hook_z', which pm cannot capture"):
        create_sae_extractor(SAEConfig(path=folder))


def test_fingerprint_includes_sae_identity(tmp_path) -> None:
    first = save_random_sae(tmp_path / "sae", "blocks.3.hook_resid_post", seed=0)
    plain = processing_fingerprint(make_config(tmp_path, []))
    with_sae = processing_fingerprint(make_config(tmp_path, [{"path": first}]))
    # Retrained into the same folder: the digest cache sees the new modification time.
    save_random_sae(tmp_path / "sae", "blocks.3.hook_resid_post", seed=5)
    retrained = processing_fingerprint(make_config(tmp_path, [{"path": first}]))
    assert len({plain, with_sae, retrained}) == 3


def test_encode_rejects_other_weights(tmp_path, backend, sae_folder) -> None:
    config = make_config(tmp_path, [], layers=(3,))
    assert ingest(config, backend).completed == 6
    result = CliRunner().invoke(
        sae_group, ["encode", str(tmp_path), "--sae-path", sae_folder, "--name", "features", "--positions", "-3,-1"]
    )
    assert result.exit_code == 0, result.output
    assert "features: encoded 6 runs (12 vectors), 0 already encoded" in result.output
    other = save_random_sae(tmp_path / "other", "blocks.3.hook_resid_post", seed=7)
    other_extractor = create_sae_extractor(SAEConfig(path=other, name="features"))
    with pytest.raises(ConfigError, match=r"features named 'features' .* come from other weights"):
        encode_stored(tmp_path, other_extractor)

    replaced = encode_stored(tmp_path, other_extractor, overwrite=True)
    assert replaced.encoded_runs == 6
    dataset = ClassificationDataset.from_path(tmp_path)
    X = dataset.load(layer=3, space="sae", position=POSITIONS, pool="concat", dictionary="features").X
    raw = dataset.load(layer=3, position=POSITIONS, pool="concat").X.reshape(6 * 2, D_MODEL)
    expected = SAE.load_from_disk(other).encode(torch.from_numpy(raw)).detach().numpy().reshape(6, 2 * D_SAE)
    np.testing.assert_allclose(X, expected, atol=1e-5)
