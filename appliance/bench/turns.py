"""A small in-process multi-turn harness: LLM first token and prompt tokens evaluated per turn.

``python -m appliance.bench.turns`` (state dir from ``APPLIANCE_PATHS_STATE_DIR``): the real
SmolLM2 and memory (1,001 stored facts), twelve requests of one conversation with follow-ups,
the home tool path's scoring call after every third turn, the pipeline's sentence chunker for the
remembered reply.  It counts the evaluated tokens itself (the prompt against the tokens the KV
cache held), so the same file measures older trees too: copy it into one and run it there.
Environment: ``FRESH=1`` resets the cache before every turn; ``SEED_N`` distractor count; ``TEMPERATURE``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from appliance.bench.synthetic_memories import distractors
from appliance.core.chunker import SentenceChunker
from appliance.engines.embedding import load_embedder
from appliance.engines.llm.local import LlamaLlm
from appliance.home.tools import choose
from appliance.memory.service import Clock, Memory
from appliance.memory.store import MemoryStore
from appliance.models.registry import ModelRegistry
from appliance.settings import (
    HomeDevice,
    LlmSettings,
    MemorySettings,
    load_settings,
)

REQUESTS = (
    "What is the capital of France?",
    "And how many people live there?",
    "Tell me a joke about cats.",
    "Tell me another one.",
    "When is Anna's birthday?",
    "What should I cook for dinner tonight?",
    "Something without meat, please.",
    "How far away is the moon?",
    "And the sun?",
    "Who wrote Romeo and Juliet?",
    "What else did he write?",
    "Thanks, that's all.",
)
NOW = 1795542120.0
"""Tuesday 24 November 2026, 19:42 UTC."""
DEVICES = [HomeDevice(name="kitchen light", command_topic="k/l"), HomeDevice(name="fan", command_topic="f/s")]


def main() -> int:
    registry = ModelRegistry(load_settings(None).state_dir, show_progress=False)
    llm_settings = LlmSettings(seed=1, temperature=float(os.environ.get("TEMPERATURE", "0.2")))
    llm = LlamaLlm(registry.resolve(llm_settings.model), llm_settings)
    embedder = load_embedder(MemorySettings().embedding_model, registry.resolve)
    store = MemoryStore(Path(tempfile.mkdtemp()) / "memory.db")
    clock = Clock(lambda: NOW)  # a fixed evening: the time note, and so the replies, repeat from run to run
    memory = Memory(MemorySettings(emotion=False), llm_settings, store, embedder, llm.count_tokens, clock=clock)
    memory.open()

    async def seed() -> None:
        await memory.remember("Anna's birthday is on the twelfth of March.")
        for text in distractors(int(os.environ.get("SEED_N", "1000"))):
            await memory.remember(text)

    asyncio.run(seed())
    llm.warm_up()
    rows = []
    for i, request in enumerate(REQUESTS, 1):
        messages = memory.messages(request)
        prompt = llm._llama.tokenize(llm._chat_prompt(messages).encode(), add_bos=False, special=True)
        cached = list(llm._llama._input_ids)
        prefix = 0
        for a, b in zip(cached, prompt[:-1], strict=False):
            if a != b:
                break
            prefix += 1
        if os.environ.get("FRESH"):
            llm._llama.reset()
        chunker, parts = SentenceChunker(24), []
        start, first = time.perf_counter(), 0.0
        for piece in llm.stream(messages, threading.Event()):
            first = first or time.perf_counter() - start
            parts += chunker.push(piece)
        parts.append(chunker.flush() or "")
        reply = " ".join(p.strip() for p in parts if p.strip())
        memory.add(request, reply)
        row = {
            "turn": i,
            "prompt_tokens": len(prompt),
            "evaluated_past_common_prefix": len(prompt) - prefix,
            "evaluated_by_adapter": llm.last.evaluated_tokens,
            "first_token_s": round(first, 3),
            "reply": reply[:60],
        }
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
        if i % 3 == 0:
            choose(llm, "it is too dark in the kitchen", DEVICES)
    print(json.dumps({"load_average": os.getloadavg(), "turns": rows}))
    memory.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
