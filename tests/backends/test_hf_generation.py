"""Greedy generation with prompt-pass capture: one vector per sample, no decoding-step tensors, no leaked hooks."""

from __future__ import annotations

import numpy as np
import pytest
from backend_helpers import hook_count, raw_prompt, user_prompt

from pm_core.types import CaptureRequest

SEA_IDS = [1, 19161, 582, 2229, 563, 260, 3426, 42]


def test_greedy_reply_answers_question(backend):
    """The chat-templated reply names Paris, stops at EOS, and the prompt has one leading `<|im_start|>`."""
    prompt = backend.render(user_prompt("What is the capital of France?"))

    result = backend.generate([prompt], max_new_tokens=12)[0]

    assert "Paris" in result.generated_text
    assert prompt.input_ids[0] == 1
    assert prompt.input_ids[1] == 9690
    assert 2 not in result.generated_ids
    assert len(result.generated_ids) < 12


def test_generate_captures_prompt_pass_only(backend):
    """A 4-token generation stores one prompt-pass vector equal to a plain capture."""
    prompt = backend.render(raw_prompt("Write one word about the sea:"))
    request = CaptureRequest(layers=(1,), positions=(-1,), max_new_tokens=4, topk_logits=3)
    calls = []
    counter = backend.blocks[1].register_forward_hook(lambda module, args, output: calls.append(tuple(output.shape)))
    try:
        generated = backend.run_batch([prompt], request)[0]
    finally:
        counter.remove()
    plain = backend.run_batch([prompt], CaptureRequest(layers=(1,), positions=(-1,), topk_logits=3))[0]

    assert list(prompt.input_ids) == SEA_IDS
    assert calls == [(1, 8, 576), (1, 1, 576), (1, 1, 576), (1, 1, 576)]
    assert generated.generated_ids == (198, 198, 504, 3426)
    assert generated.generated_text.strip() == "The sea"
    assert generated.activations[("resid_post", 1)].shape == (1, 576)
    np.testing.assert_allclose(
        generated.activations[("resid_post", 1)], plain.activations[("resid_post", 1)], atol=1e-5, rtol=0
    )
    assert np.array_equal(generated.topk_ids, plain.topk_ids)
    assert generated.topk_ids[0] == 198
    assert hook_count(backend.blocks[1]) == 0


def test_generate_batch_matches_plain_capture(backend):
    """In a padded generation batch each sample's prompt-pass vector matches its plain capture."""
    prompts = [
        backend.render(raw_prompt("Write one word about the sea:")),
        backend.render(user_prompt("Write one word about the sea:")),
    ]
    sites = dict(layers=(1, 5), hook_points=("resid_post", "mlp_out"), positions=(-2, -1))

    generated = backend.run_batch(prompts, CaptureRequest(**sites, max_new_tokens=3))
    plain = [backend.run_batch([prompt], CaptureRequest(**sites))[0] for prompt in prompts]

    assert prompts[1].n_tokens == 37
    for result, expected in zip(generated, plain, strict=True):
        assert 0 < len(result.generated_ids) <= 3
        for site in CaptureRequest(**sites).sites:
            assert result.activations[site].shape == (2, 576)
            np.testing.assert_allclose(result.activations[site], expected.activations[site], atol=1e-4, rtol=1e-3)


def test_generate_error_removes_hooks(backend):
    """An error during a decoding step propagates, and no capture hook stays attached."""
    prompt = backend.render(raw_prompt("Write one word about the sea:"))
    calls = []

    def fail_on_decoding(module, args, output):
        calls.append(output.shape[1])
        if output.shape[1] == 1:
            raise RuntimeError("decoding step failed")

    failing = backend.blocks[5].register_forward_hook(fail_on_decoding)
    try:
        with pytest.raises(RuntimeError, match="decoding step failed"):
            backend.run_batch([prompt], CaptureRequest(layers=(1, 5), positions=(-1,), max_new_tokens=4))
    finally:
        failing.remove()

    assert calls == [8, 1]
    assert hook_count(backend.blocks[1]) == 0
    assert hook_count(backend.blocks[5]) == 0
