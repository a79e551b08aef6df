"""Activation capture: batching, per-row positions, layer numbering, early stop, finiteness."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from backend_helpers import hook_count, raw_prompt, user_prompt

from pm_core.config.schema import ModelConfig
from pm_core.types import CaptureRequest
from pm_plugins_backends.huggingface.positions import pad_batch, plan_positions
from pm_plugins_backends.huggingface.rendering import PromptRenderer

ATOL = 1e-4
RTOL = 1e-3
ALL_HOOK_POINTS = ("resid_pre", "resid_post", "attn_out", "mlp_out")
P1 = "Hi"
P2 = "The small red boat drifted slowly across the quiet lake at dawn today again."
P2_TAIL_IDS = [418, 16804, 1834, 1163, 30]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_batched_equals_single(backend):
    """Every hook point of a mixed-length batch matches each prompt run alone."""
    prompts = [
        backend.render(user_prompt("What is the capital of France?")),
        backend.render(raw_prompt("A cat.")),
        backend.render(raw_prompt(P2)),
        backend.render(user_prompt("Name three colours of the rainbow, please.")),
    ]
    layers = backend.resolve_layers((0, 2, -2, -1))
    request = CaptureRequest(layers=layers, hook_points=ALL_HOOK_POINTS, positions=(-5, -4, -3, -2, -1), topk_logits=5)

    batched = backend.run_batch(prompts, request)

    assert layers == (0, 2, 28, 29)
    assert len({prompt.n_tokens for prompt in prompts}) == len(prompts)
    for prompt, result in zip(prompts, batched, strict=True):
        single = backend.run_batch([prompt], request)[0]
        assert result.ok
        assert np.array_equal(result.valid, single.valid)
        assert np.array_equal(result.token_positions, single.token_positions)
        assert np.array_equal(result.topk_ids, single.topk_ids)
        for site in request.sites:
            assert result.activations[site].shape == (5, backend.d_model)
            assert result.activations[site].dtype == np.float32
            np.testing.assert_allclose(
                result.activations[site], single.activations[site], atol=ATOL, rtol=RTOL, err_msg=str(site)
            )


@pytest.mark.parametrize("side", ["left", "right"])
def test_last_position_any_padding(backend, side, monkeypatch):
    """The last real token is captured whatever the padding side and batch make-up."""
    monkeypatch.setattr(backend.runner, "padding_side", side)
    prompts = [backend.render(raw_prompt(P1)), backend.render(raw_prompt(P2))]
    request = CaptureRequest(layers=(2,), hook_points=("resid_post",), positions=(-1,))

    batched = backend.run_batch(prompts, request)
    singles = [backend.run_batch([prompt], request)[0] for prompt in prompts]

    assert list(prompts[0].input_ids) == [1, 26843]
    assert prompts[1].n_tokens == 16
    for result, single, position in zip(batched, singles, (1, 15), strict=True):
        vector = result.activations[("resid_post", 2)][0]
        expected = single.activations[("resid_post", 2)][0]
        np.testing.assert_allclose(vector, expected, atol=ATOL, rtol=RTOL)
        assert cosine(vector, expected) > 0.9999
        assert result.token_positions.tolist() == [position]
        assert single.token_positions.tolist() == [position]


@pytest.mark.parametrize("side", ["left", "right"])
def test_tail_slice_skips_padding_and_bos(backend, side, monkeypatch):
    """A -5..-1 slice gives P2 five vectors and P1 one; BOS and pad slots are invalid zeros."""
    monkeypatch.setattr(backend.runner, "padding_side", side)
    prompts = [backend.render(raw_prompt(P1)), backend.render(raw_prompt(P2))]
    request = CaptureRequest(layers=(2,), positions=(-5, -4, -3, -2, -1), drop_bos=True)

    short, long = backend.run_batch(prompts, request)
    long_alone = backend.run_batch([prompts[1]], request)[0]

    assert long.valid.tolist() == [True] * 5
    assert [prompts[1].input_ids[p] for p in long.token_positions] == P2_TAIL_IDS
    np.testing.assert_allclose(
        long.activations[("resid_post", 2)], long_alone.activations[("resid_post", 2)], atol=ATOL, rtol=RTOL
    )
    assert short.valid.tolist() == [False, False, False, False, True]
    assert short.token_positions.tolist() == [-1, -1, -1, -1, 1]
    assert prompts[0].input_ids[1] == 26843
    assert not short.activations[("resid_post", 2)][:4].any()
    assert short.activations[("resid_post", 2)][4].any()


def test_tail_slice_pad_id_equals_bos(backend, monkeypatch):
    """With the pad id set to the BOS id, BOS is still found from the attention mask."""
    monkeypatch.setattr(backend.runner, "pad_token_id", 1)
    prompts = [backend.render(raw_prompt(P1)), backend.render(raw_prompt(P2))]
    request = CaptureRequest(layers=(2,), positions=(-2, -1), drop_bos=True)

    short, long = backend.run_batch(prompts, request)
    short_alone = backend.run_batch([prompts[0]], request)[0]

    assert short.valid.tolist() == [False, True]
    assert long.valid.tolist() == [True, True]
    np.testing.assert_allclose(
        short.activations[("resid_post", 2)], short_alone.activations[("resid_post", 2)], atol=ATOL, rtol=RTOL
    )


def test_plan_positions_bos_by_id():
    """BOS is dropped only where the first attended id is BOS, not at column 0."""
    batch = pad_batch([[1, 7], [5, 6, 7, 8], [1, 2, 3], [5, 6]], pad_id=1, side="left")

    plan = plan_positions(batch, (-3, -2, -1), bos_id=1, drop_bos=True)

    assert plan.valid.tolist() == [[False, False, True], [True, True, True], [False, True, True], [False, True, True]]
    assert plan.token_positions.tolist() == [[-1, -1, 1], [1, 2, 3], [-1, 1, 2], [-1, 0, 1]]
    assert plan.columns[0, 2] == 3
    assert plan.columns[2, 1] == 2
    assert plan.columns[3, 1] == 2


def test_empty_content_last_is_template_token(backend):
    """With `allow_empty_content`, "last" is the template's final token (198), not BOS."""
    renderer = PromptRenderer(backend.tokenizer, ModelConfig(allow_empty_content=True), "smollm2-135m-instruct")
    prompt = renderer.render(user_prompt(""))

    result = backend.run_batch([prompt], CaptureRequest(layers=(2,), positions=(-1,)))[0]

    assert result.valid.tolist() == [True]
    assert prompt.input_ids[result.token_positions[0]] == 198


def test_resid_matches_hidden_states(backend):
    """resid_pre@L is hidden_states[L]; resid_post@L is hidden_states[L+1] except the normed last one."""
    ids = backend.tokenize("The quick brown fox jumps over the lazy dog")
    layers = range(backend.n_layers)

    cache = backend.run_with_cache(ids, layers, ("resid_pre", "resid_post"))
    with torch.inference_mode():
        hidden = backend.model(torch.tensor([ids]), output_hidden_states=True).hidden_states
    hidden = [state[0].numpy() for state in hidden]

    assert len(ids) == 10
    assert len(hidden) == 31
    for layer in layers:
        assert np.array_equal(cache[("resid_pre", layer)], hidden[layer]), layer
    for layer in range(29):
        assert np.array_equal(cache[("resid_post", layer)], hidden[layer + 1]), layer
    last = cache[("resid_post", 29)]
    assert not np.allclose(last, hidden[30], atol=1.0)
    assert np.abs(last - hidden[30]).max() > 1000
    with torch.inference_mode():
        normed = backend.model.model.norm(torch.from_numpy(last)).numpy()
    np.testing.assert_allclose(normed, hidden[30], atol=ATOL, rtol=RTOL)


def test_batch_resid_matches_hidden_states(backend):
    """Through `run_batch`, resid_post@3 is hidden_states[4] and resid_pre@3 is hidden_states[3]."""
    prompt = backend.render(raw_prompt("The quick brown fox jumps over the lazy dog"))
    request = CaptureRequest(layers=(3,), hook_points=("resid_pre", "resid_post"), positions=(-1,))

    result = backend.run_batch([prompt], request)[0]
    with torch.inference_mode():
        hidden = backend.model(torch.tensor([prompt.input_ids]), output_hidden_states=True).hidden_states

    np.testing.assert_allclose(result.activations[("resid_pre", 3)][0], hidden[3][0, -1].numpy(), atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(result.activations[("resid_post", 3)][0], hidden[4][0, -1].numpy(), atol=ATOL, rtol=RTOL)


def test_capture_stops_after_deepest_layer(backend):
    """Without logits, layers past the deepest requested one never run."""
    calls = {"layer_3": 0, "norm": 0}
    handles = [
        backend.blocks[3].register_forward_hook(lambda *args: calls.__setitem__("layer_3", calls["layer_3"] + 1)),
        backend.model.model.norm.register_forward_hook(lambda *args: calls.__setitem__("norm", calls["norm"] + 1)),
    ]
    prompt = backend.render(raw_prompt(P2))
    try:
        stopped = backend.run_batch([prompt], CaptureRequest(layers=(2,), positions=(-1,)))[0]
        after_stop = dict(calls)
        backend.run_batch([prompt], CaptureRequest(layers=(2,), positions=(-1,), topk_logits=3))
    finally:
        for handle in handles:
            handle.remove()

    assert stopped.ok
    assert after_stop == {"layer_3": 0, "norm": 0}
    assert calls == {"layer_3": 1, "norm": 1}
    assert hook_count(backend.blocks[2]) == 0


def test_topk_logits_shape(backend):
    """Top-k ids and values are int64 and float32 arrays of length k, in descending order."""
    prompt = backend.render(user_prompt("What is the capital of France?"))

    result = backend.run_batch([prompt], CaptureRequest(layers=(), topk_logits=7))[0]

    assert result.topk_ids.shape == (7,)
    assert result.topk_ids.dtype == np.int64
    assert result.topk_values.dtype == np.float32
    assert np.all(np.diff(result.topk_values) <= 0)


def test_non_finite_sample_isolated(backend):
    """A sample that turns inf at layer 4 fails alone with `non_finite_activation`."""
    prompts = [backend.render(raw_prompt(f"Prompt number {i} is here.", f"p{i}")) for i in range(8)]
    request = CaptureRequest(layers=(4, 12), positions=(-1,), topk_logits=5)
    clean = backend.run_batch(prompts, request)

    def poison(module, args, output):
        output = output.clone()
        output[7] = float("inf")
        return output

    handle = backend.blocks[4].register_forward_hook(poison)
    try:
        results = backend.run_batch(prompts, request)
    finally:
        handle.remove()

    assert results[7].error_reason == "non_finite_activation"
    assert results[7].activations == {}
    assert results[7].topk_ids is None
    for result, expected in zip(results[:7], clean[:7], strict=True):
        assert result.ok
        for site in request.sites:
            assert np.isfinite(result.activations[site]).all()
            np.testing.assert_array_equal(result.activations[site], expected.activations[site])
    assert backend.describe()["dtype"] == "float32"
    assert backend.describe()["attn_implementation"] == "sdpa"
