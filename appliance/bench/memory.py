"""``appliance bench --only memory``: retrieval and context build at 100,000 stored turns, write cost,
and first reply audio with memory off and on.

The store is filled with synthetic household turns.  Their vectors come
from the real model run on 1,000 distinct sentences (each turn reuses one,
slightly perturbed): exact search costs the same whatever the values, and
embedding 100,000 sentences with numpy would take most of an hour here.  One
real fact ("my dentist appointment is on Friday at 3") is planted and must
come back first.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from appliance.bench.harness import Recording, log, run_latency, summarize
from appliance.bench.synthetic_memories import distractors
from appliance.engines.embedding import MiniLmEmbedder
from appliance.engines.emotion import EmotionAnalyzer
from appliance.memory import records
from appliance.memory.context import ContextInput, build_messages
from appliance.memory.records import TurnRow
from appliance.memory.service import Memory
from appliance.memory.store import MemoryStore
from appliance.models.registry import ModelRegistry
from appliance.runtime.app import Engines
from appliance.settings import Settings

QUERIES = (
    "When is my dentist appointment?",
    "What does Anna like to eat?",
    "Where did I leave my keys?",
    "When do the bins go out?",
    "Is anyone coming for dinner this week?",
    "What is the wifi password?",
    "When is the car service?",
    "Play some jazz in the kitchen.",
)
FACT = "My dentist appointment is on Friday at 3."


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": round(statistics.median(ordered) * 1000, 2),
        "p95": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2),
        "n": len(ordered),
    }


def _timed(fn: Callable[[], Any], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def fill(store: MemoryStore, embedder: MiniLmEmbedder, turns: int, log: Callable[[str], None]) -> None:
    pool = distractors(1000, seed=11)
    vectors = embedder.embed_batch(pool)
    rng = np.random.default_rng(5)
    now = time.time()

    def job(conn: Any) -> None:
        for i in range(turns):
            v = vectors[i % len(pool)] + rng.normal(0, 0.01, vectors.shape[1]).astype(np.float32)
            row = TurnRow(
                started=now - (turns - i) * 60,
                ended=now - (turns - i) * 60 + 5,
                user_text=f"{pool[i % len(pool)]} ({i})",
                reply="Okay, noted.",
            )
            records.insert_turn(conn, row, v / np.linalg.norm(v), embedder.name)

    store.submit(job).result(timeout=3600)
    log(f"memory: stored {turns} turns")


def measure_memory(
    settings: Settings,
    embedder: MiniLmEmbedder,
    emotion: EmotionAnalyzer | None,
    count_tokens: Callable[[str], int],
    log: Callable[[str], None],
    *,
    turns: int = 100_000,
    rounds: int = 200,
) -> dict[str, Any]:
    """Retrieval and context-build latency at ``turns`` stored turns, and the cost of a turn write on the loop."""
    work = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    store = MemoryStore(work / "memory.db")
    memory = Memory(settings.memory, settings.llm, store, embedder, count_tokens, emotion=emotion)
    store.open()
    fill(store, embedder, turns, log)
    store.close()
    start = time.perf_counter()
    memory.open()
    open_s = time.perf_counter() - start
    try:
        return _measure(memory, count_tokens, rounds, open_s, work)
    finally:
        memory.close()
        shutil.rmtree(work, ignore_errors=True)


def _measure(
    memory: Memory, count_tokens: Callable[[str], int], rounds: int, open_s: float, work: Path
) -> dict[str, Any]:
    asyncio.run(memory.remember(FACT))
    for q in QUERIES:
        memory.embedder.embed(q)  # warm the query cache: "search" below excludes embedding
    fresh = iter(f"{q} ({i})" for i, q in enumerate(QUERIES * rounds))  # never seen: embedded on the spot
    embed_s = _timed(lambda: memory.embedder.embed(next(fresh)), rounds // 4)
    i = iter(range(10**9))
    search_s = _timed(lambda: memory.search(QUERIES[next(i) % len(QUERIES)], limit=10), rounds)
    total_s = _timed(lambda: memory.search(next(fresh), limit=10), rounds // 4)
    top = memory.search(QUERIES[0], limit=3)
    hits = memory.relevant(QUERIES[0])
    ctx = ContextInput(memory.system_prompt, QUERIES[0], dt.datetime.now(), hits)
    pure_s = _timed(lambda: build_messages(ctx, count_tokens, memory.budget, memory.memory_budget), rounds)
    context_s = _timed(lambda: memory.messages(next(fresh)), rounds // 4)
    row = TurnRow(started=time.time(), ended=time.time(), user_text=QUERIES[1], reply="Pasta.")
    enqueue_s, write_s = [], []
    for _ in range(50):
        start = time.perf_counter()
        future = memory.record_turn(row)
        enqueue_s.append(time.perf_counter() - start)
        assert future is not None
        future.result(timeout=60)
        write_s.append(time.perf_counter() - start)
    return {
        "stored_turns": records.stats(memory.store.reader())["counts"]["turn"],
        "open_and_load_vectors_s": round(open_s, 2),
        "database_mb": round((work / "memory.db").stat().st_size / 1e6, 1),
        "fact_found_first": bool(top) and top[0].kind == "fact" and "dentist" in top[0].text,
        "retrieval_search_ms": _ms(search_s),
        "query_embedding_ms": _ms(embed_s),
        "retrieval_with_embedding_ms": _ms(total_s),
        "context_build_ms": _ms(context_s),
        "context_fit_only_ms": _ms(pure_s),
        "turn_write_on_event_loop_ms": _ms(enqueue_s),
        "turn_write_on_writer_thread_ms": _ms(write_s),
        "note": "retrieval_search_ms: vector + FTS5 + fusion, the query's embedding already known; "
        "retrieval_with_embedding_ms and context_build_ms: a request never seen before, so the "
        "embedding model runs too; context_build_ms is Memory.messages() end to end (embedding, "
        "retrieval, emotion, fitting by the LLM's tokenizer); turn writes run after the turn on the "
        "writer thread: the event loop only enqueues.",
    }


async def bench_memory(
    settings: Settings, engines: Engines, registry: ModelRegistry, recordings: list[Recording], *, turns: int
) -> dict[str, Any]:
    """The ``memory`` section: :func:`measure_memory`, and first audio with memory off and on."""
    assert engines.embedder is not None
    log(f"memory: retrieval and context build at {turns} stored turns")
    report = await asyncio.to_thread(
        measure_memory, settings, engines.embedder, engines.emotion, engines.llm.count_tokens, log, turns=turns
    )
    report["end_of_speech_to_first_audio_s"] = await memory_on_off(settings, engines, registry, recordings)
    return report


async def memory_on_off(
    settings: Settings, engines: Engines, registry: ModelRegistry, recordings: list[Recording]
) -> dict[str, Any]:
    """The same conversations without memory, then with it (fresh store; turns written as they finish)."""
    if not recordings:
        return {}
    key = "end_of_speech_to_first_audio_s"
    off = replace(settings, memory=replace(settings.memory, enabled=False))
    rows_off, _ = await run_latency(off, engines, registry, recordings, "memory off")
    state = tempfile.mkdtemp(prefix="bench-memory-state-")
    on = replace(settings, paths=replace(settings.paths, state_dir=state))
    rows_on, _ = await run_latency(on, engines, registry, recordings, "memory on")
    return {"memory_off": summarize(rows_off)[key], "memory_on": summarize(rows_on)[key]}
