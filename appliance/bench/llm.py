"""``appliance bench --only llm``: tokens/s of the adapter against llama-cpp-python alone on the same prompt."""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import replace
from typing import Any

from appliance.engines.llm.options import generation_threads
from appliance.models.registry import ModelRegistry
from appliance.runtime.app import Engines
from appliance.settings import Settings

LLM_PROMPT = "Tell me a short story about a robot who learns to paint."


def measure_llm(settings: Settings, engines: Engines, registry: ModelRegistry, rounds: int = 3) -> dict[str, Any]:
    """The adapter and llama-cpp-python alone, same model, prompt, threads and sampling."""
    from llama_cpp import Llama

    cfg = replace(settings.llm, temperature=0.0, max_tokens=128)
    messages = [{"role": "system", "content": cfg.system_prompt}, {"role": "user", "content": LLM_PROMPT}]
    adapter = engines.llm
    saved, adapter.settings = adapter.settings, cfg
    threads, batch_threads = generation_threads(cfg)
    raw = Llama(
        model_path=str(registry.resolve(cfg.model)),
        n_ctx=cfg.n_ctx,
        n_threads=threads,
        n_threads_batch=batch_threads,
        n_gpu_layers=cfg.n_gpu_layers,
        verbose=False,
    )
    ours, theirs, first = [], [], []
    try:
        for _ in range(rounds):
            for _piece in adapter.stream(messages, threading.Event()):
                pass
            ours.append(adapter.last.tokens_per_s)
            first.append(adapter.last.first_token_s)
            theirs.append(_raw_tokens_per_s(raw, messages, cfg))
    finally:
        adapter.settings = saved
    ours_m, theirs_m = statistics.median(ours), statistics.median(theirs)
    return {
        "prompt": LLM_PROMPT,
        "threads": threads,
        "adapter_tokens_per_s": round(ours_m, 1),
        "llama_cpp_python_tokens_per_s": round(theirs_m, 1),
        "ratio": round(ours_m / theirs_m, 3) if theirs_m else None,
        "first_token_s_p50": round(statistics.median(first), 4),
    }


def _raw_tokens_per_s(llama: Any, messages: list[dict[str, str]], cfg: Any) -> float:
    """Tokens/s after the first one, llama-cpp-python's own chat completion streaming."""
    first, count = None, 0
    for chunk in llama.create_chat_completion(
        messages=messages,
        stream=True,
        max_tokens=cfg.max_tokens,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        stop=list(cfg.stop),
    ):
        if chunk["choices"][0]["delta"].get("content"):
            count += 1
            first = first or time.perf_counter()
    end = time.perf_counter()
    return (count - 1) / (end - first) if first and count > 1 and end > first else 0.0
