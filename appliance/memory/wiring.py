"""Glue between the memory and the running appliance: turn records, bus events, retention, start-up."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from appliance.core.events import ErrorRaised, Event
from appliance.core.feature import ContextProvider
from appliance.engines.embedding import MiniLmEmbedder
from appliance.engines.emotion import EmotionAnalyzer
from appliance.memory import records
from appliance.memory.lifecycle import model_loads
from appliance.memory.records import TurnRow
from appliance.memory.service import Memory
from appliance.memory.store import MemoryStore
from appliance.models.registry import ModelRegistry
from appliance.settings import Settings

if TYPE_CHECKING:
    from appliance.core.bus import Bus
    from appliance.voice.turn_record import TurnRecord

_LOGGER = logging.getLogger(__name__)

RETENTION_EVERY_S = 6 * 3600.0
RECORDED_OUTCOMES = ("answered", "interrupted")


def build_memory(
    settings: Settings,
    embedder: MiniLmEmbedder,
    emotion: EmotionAnalyzer | None,
    count_tokens: Any,
    bus: Bus,
    context: list[ContextProvider] | None = None,
) -> Memory:
    """A Memory on ``<state_dir>/memory.db`` that reports problems as error events (not opened yet).

    ``context`` is the app's one list of context providers, shared with the plain conversation.
    """

    def on_error(code: str, message: str) -> None:
        bus.publish_threadsafe(ErrorRaised(code=code, message=message, stage="memory"))

    store = MemoryStore(settings.memory_path, queue_size=settings.memory.queue_size, on_error=on_error)
    return Memory(
        settings.memory,
        settings.llm,
        store,
        embedder,
        count_tokens,
        emotion=emotion,
        publish=bus.publish_threadsafe,
        context=context,
    )


def turn_row(record: TurnRecord, *, now: float | None = None, mono: float | None = None) -> TurnRow | None:
    """The row to store for a finished turn (None when there is nothing worth keeping)."""
    if not record.transcript or record.outcome not in RECORDED_OUTCOMES:
        return None
    now = time.time() if now is None else now
    mono = time.monotonic() if mono is None else mono
    began = record.wake_mono or record.endpoint_mono
    timings = {k: v for k, v in record.timings().items() if v is not None}
    return TurnRow(
        started=now - (mono - began) if began is not None else now,
        ended=now,
        user_text=record.transcript,
        reply=record.reply,
        source=record.source,
        outcome=record.outcome,
        intent=record.intent,
        timings=timings,
    )


async def start_memory(memory: Memory, settings: Settings, registry: ModelRegistry) -> None:
    """Open (check, quarantine, migrate), record the loaded models, prune by retention."""
    await asyncio.to_thread(memory.open)
    loads = await asyncio.to_thread(model_loads, settings, registry)
    now = time.time()
    await asyncio.wrap_future(memory.store.submit(lambda c: records.record_models(c, loads, now)))
    pruned = await memory.prune()
    if any(pruned.values()):
        _LOGGER.info("Memory retention pruned %s", pruned)


async def record_events(memory: Memory, bus: Bus) -> None:
    """Feed bus events to the memory (the configured ones are stored)."""
    sub: Any
    with bus.subscribe(Event, name="memory", maxsize=512) as sub:
        async for event in sub:
            memory.on_event(event)


async def retention_loop(memory: Memory) -> None:
    while True:
        await asyncio.sleep(RETENTION_EVERY_S)
        pruned = await memory.prune()
        if any(pruned.values()):
            _LOGGER.info("Memory retention pruned %s", pruned)
