"""The LLM's optional LoRA adapter, loaded by the real llama.cpp from a real GGUF adapter file."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from appliance.core.errors import LlmError
from appliance.engines.llm.local import LlamaLlm
from appliance.settings import LlmSettings

from .gguf_lora import write_lora

pytestmark = pytest.mark.integration
HIDDEN = 576  # SmolLM2-135M


def reply(llm: LlamaLlm) -> str:
    messages = [{"role": "user", "content": "Name three colours."}]
    return "".join(llm.stream(messages, threading.Event(), max_tokens=12))


def test_an_adapter_is_applied_and_a_bad_one_refused(registry, tmp_path: Path) -> None:
    model = registry.resolve("smollm2-135m")
    greedy = LlmSettings(temperature=0.0, seed=1, n_ctx=512)
    plain = reply(LlamaLlm(model, greedy))
    rng = np.random.default_rng(0)
    tensors = {}
    for block in range(4):
        for name in ("attn_q", "attn_output"):  # HIDDEN x HIDDEN weights
            tensors[f"blk.{block}.{name}.weight.lora_a"] = rng.normal(0, 1, (4, HIDDEN)).astype(np.float32)
            tensors[f"blk.{block}.{name}.weight.lora_b"] = rng.normal(0, 1, (HIDDEN, 4)).astype(np.float32)
    adapter = tmp_path / "household.gguf"
    write_lora(adapter, tensors, architecture="llama", alpha=8.0)
    adapted = reply(LlamaLlm(model, replace(greedy, lora_path=str(adapter), lora_scale=1.0)))
    assert adapted != plain
    assert reply(LlamaLlm(model, replace(greedy, lora_path=str(adapter), lora_scale=0.0))) == plain


def test_an_adapter_that_does_not_fit_the_model_is_a_coded_error_not_a_crash(registry, tmp_path: Path) -> None:
    model = registry.resolve("smollm2-135m")
    wrong = tmp_path / "wrong-shape.gguf"
    a = np.ones((4, HIDDEN), np.float32)
    write_lora(
        wrong,
        {"blk.0.attn_k.weight.lora_a": a, "blk.0.attn_k.weight.lora_b": a.T.copy()},
        architecture="llama",
        alpha=1.0,
    )
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(b"not a gguf file" * 10)
    for path in (wrong, garbage):
        with pytest.raises(LlmError) as err:
            LlamaLlm(model, LlmSettings(n_ctx=512, lora_path=str(path)))
        assert err.value.code == "llm-lora-failed"
