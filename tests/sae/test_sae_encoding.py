"""The SAE feature extractor: dtype taken from the parameters, sparse output, hook names."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sae_lens")

import torch
from sae_lens import StandardSAE, StandardSAEConfig

from pm_core.config.schema import SAEConfig
from pm_core.errors import ConfigError
from pm_plugins_backends.extractors import create_sae_extractor, dictionary_name
from pm_plugins_backends.sae.encoding import SAEFeatureExtractor
from pm_plugins_backends.sae.hooks import hook_of_site, site_of_hook


def build_sae(dtype: str, state: dict | None = None, d_in: int = 16, d_sae: int = 64) -> StandardSAE:
    config = StandardSAEConfig(d_in=d_in, d_sae=d_sae, dtype=dtype, device="cpu")
    config.metadata.hook_name = "blocks.2.hook_resid_post"
    sae = StandardSAE(config)
    if state is not None:
        sae.load_state_dict(state)
    return sae


@pytest.mark.parametrize("conversion", ["float", "type", "to"])
def test_encode_uses_parameter_dtype(conversion: str) -> None:
    # `.float()` and `.type()` convert the weights of a bfloat16 SAE but leave its
    # recorded dtype at bfloat16, so sae-lens alone would round the inputs to bfloat16.
    torch.manual_seed(0)
    stale = build_sae("bfloat16")
    with torch.no_grad():
        for parameter in stale.parameters():
            parameter.normal_()
    if conversion == "float":
        stale.float()
    elif conversion == "type":
        stale.type(torch.float32)
    else:
        stale.to(torch.float32)
    reference = build_sae("float32", {key: value.float() for key, value in stale.state_dict().items()})
    activations = torch.randn(4, 16)

    features = SAEFeatureExtractor(stale, "stale").encode(activations.numpy())
    expected = reference.encode(activations).detach().numpy()
    assert features.dtype == np.float32
    assert features.nnz > 0
    np.testing.assert_allclose(features.toarray(), expected, atol=1e-5, rtol=0)


def test_bfloat16_sae_float16_activations(tmp_path) -> None:
    torch.manual_seed(1)
    sae = build_sae("float32", d_in=32, d_sae=128)
    with torch.no_grad():
        sae.W_enc.normal_()
    sae.save_model(tmp_path / "sae")
    activations = np.random.default_rng(0).normal(size=(10, 32)).astype(np.float16)

    as_bf16 = create_sae_extractor(SAEConfig(path=str(tmp_path / "sae"), dtype="bfloat16"))
    assert as_bf16.placement()[0] == torch.bfloat16
    features = as_bf16.encode(activations)
    expected = sae.encode(torch.from_numpy(activations.astype(np.float32))).detach().numpy()
    assert features.dtype == np.float32
    # bfloat16 keeps 8 bits of mantissa: the features agree to about 1% of their scale.
    np.testing.assert_allclose(features.toarray(), expected, atol=0.05 * np.abs(expected).max())


def test_encode_chunks_keep_active_features(monkeypatch) -> None:
    from pm_plugins_backends.sae import encoding

    monkeypatch.setattr(encoding, "ROWS_PER_CHUNK", 3)
    torch.manual_seed(2)
    sae = build_sae("float32")
    with torch.no_grad():
        sae.W_enc.normal_()
        sae.b_enc.fill_(-1.0)
    activations = torch.randn(8, 16)
    features = SAEFeatureExtractor(sae, "chunked").encode(activations.numpy())
    dense = sae.encode(activations).detach().numpy()
    assert features.shape == (8, 64)
    assert features.nnz == int((dense != 0).sum())
    # Chunks of 3 rows change the matmul's blocking, so values may differ in the last bit.
    np.testing.assert_allclose(features.toarray(), dense, atol=1e-5, rtol=0)
    assert SAEFeatureExtractor(sae, "empty").encode(np.zeros((0, 16), np.float32)).shape == (0, 64)


def test_mismatched_cfg_json_rejected(tmp_path) -> None:
    import json

    build_sae("float32").save_model(tmp_path / "sae")
    config_file = tmp_path / "sae" / "cfg.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), "d_in": 12}))
    with pytest.raises(
        ConfigError, match=r"(?s)cannot load SAE folder .*: RuntimeError: .*size mismatch.*check that its cfg.json"
    ):
        create_sae_extractor(SAEConfig(path=str(tmp_path / "sae")))


def test_encode_rejects_other_width() -> None:
    extractor = SAEFeatureExtractor(build_sae("float32"), "narrow")
    with pytest.raises(ValueError, match=r"encodes rows of width 16, got an array of shape \(2, 8\)"):
        extractor.encode(np.zeros((2, 8), np.float32))


@pytest.mark.parametrize(
    ("hook_name", "site"),
    [
        ("blocks.3.hook_resid_post", ("resid_post", 3)),
        ("blocks.3.hook_resid_pre", ("resid_pre", 3)),
        ("blocks.12.hook_mlp_out", ("mlp_out", 12)),
        ("blocks.0.hook_attn_out", ("attn_out", 0)),
        ("model.layers.19", ("resid_post", 19)),
    ],
)
def test_hook_names_map_to_sites(hook_name: str, site: tuple[str, int]) -> None:
    assert site_of_hook(hook_name) == site
    if hook_name.startswith("blocks."):
        assert hook_of_site(*site) == hook_name


def test_missing_folder_and_default_names(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"SAE folder '/nonexistent/sae' does not exist"):
        create_sae_extractor(SAEConfig(path="/nonexistent/sae"))
    with pytest.raises(ConfigError, match=r"is not a sae-lens SAE folder: expected cfg.json"):
        create_sae_extractor(SAEConfig(path=str(tmp_path)))
    assert dictionary_name(SAEConfig(sae_release="rel", sae_id="layer_19")) == "rel/layer_19"
    assert dictionary_name(SAEConfig(path="/a/b/my_sae/")) == "my_sae"
    assert dictionary_name(SAEConfig(path="/a/b", name="given")) == "given"


def test_release_and_id_loading(monkeypatch) -> None:
    # The hub is not reachable here, so sae-lens's loader is replaced and the test checks the arguments pm passes.
    import sae_lens

    calls = []

    def from_pretrained(release, sae_id, device="cpu", dtype="float32"):
        calls.append((release, sae_id, device, dtype))
        return build_sae("float32")

    monkeypatch.setattr(sae_lens.SAE, "from_pretrained", staticmethod(from_pretrained))
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    extractor = create_sae_extractor(SAEConfig(sae_release="some-release", sae_id="layer_2", dtype="bfloat16"))

    assert calls == [("some-release", "layer_2", "cpu", "bfloat16")]
    assert extractor.name == "some-release/layer_2"
    assert extractor.site == ("resid_post", 2)
    assert extractor.identity()["sae_release"] == "some-release"
    assert extractor.identity()["dtype"] == "bfloat16"


def test_encode_stored_without_activations(tmp_path) -> None:
    from pm_core.errors import StorageError
    from pm_plugins_backends.sae.stored import encode_stored

    build_sae("float32").save_model(tmp_path / "sae")
    extractor = create_sae_extractor(SAEConfig(path=str(tmp_path / "sae")))
    (tmp_path / "out").mkdir()
    with pytest.raises(StorageError, match=r"no activations in .*was anything captured"):
        encode_stored(tmp_path / "out", extractor)
