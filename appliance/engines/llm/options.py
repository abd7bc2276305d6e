"""How llama.cpp runs from the settings: its LoRA adapter and its thread counts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from appliance.core.errors import LlmError
from appliance.settings import LlmSettings


def lora_kwargs(settings: LlmSettings) -> dict[str, Any]:
    """llama.cpp's LoRA arguments for the configured adapter (none when unset)."""
    if not settings.lora_path:
        return {}
    path = Path(settings.lora_path).expanduser()
    if not path.is_file():
        raise LlmError("llm-lora-missing", f"llm.lora_path = {settings.lora_path!r}: no such file")
    return {"lora_path": str(path), "lora_scale": settings.lora_scale}


def generation_threads(settings: LlmSettings) -> tuple[int, int]:
    """(threads per generated token, threads for prompt batches).

    ``llm.n_threads = 0`` gives generation half the cores once the reply is being
    spoken: Piper then synthesizes beside it, and llama.cpp's threads wait for
    each other at every layer, so one descheduled thread stalls them all
    (measured on 2 cores while a reply was being synthesized: 15 tokens took
    0.6-0.8 s with 2 threads, 0.27-0.38 s with 1). Until the reply first pauses
    for the voice (its prompt and first phrase, when only the audio loop runs
    beside it) it uses every core: :meth:`LlamaLlm.stream`.
    """
    cores = os.cpu_count() or 1
    if settings.n_threads:
        return settings.n_threads, settings.n_threads
    return max(1, cores // 2), cores
