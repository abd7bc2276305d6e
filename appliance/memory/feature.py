"""The memory as a feature: remembered context for the LLM, memory intents and commands, turn records.

When the database cannot be opened the appliance carries on without it: the
plain running conversation answers, memory intents step aside, and an error
event says why.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from appliance.core.errors import ApplianceError
from appliance.core.events import ErrorRaised, Forgotten
from appliance.core.feature import Feature, Loop
from appliance.engines.llm.local import Message
from appliance.memory.admin import MemoryAdmin
from appliance.memory.intents import MemoryIntents
from appliance.memory.service import Memory
from appliance.memory.wiring import (
    build_memory,
    record_events,
    retention_loop,
    start_memory,
    turn_row,
)
from appliance.voice.reply import Intent

if TYPE_CHECKING:
    from appliance.control.commands import Handler
    from appliance.core.bus import Bus
    from appliance.engines.loader import Engines
    from appliance.models.registry import ModelRegistry
    from appliance.settings import Settings
    from appliance.voice.conversation import Conversation, MessageSource
    from appliance.voice.reply import IntentMatcher
    from appliance.voice.turn_record import TurnRecord

_LOGGER = logging.getLogger(__name__)

ADMIN_THREADS = 2
"""Memory commands run at most this many at once, on their own threads."""


class MemoryFeature(Feature):
    """Owns the :class:`Memory`; stands in for the conversation while the memory is open."""

    name = "memory"

    def __init__(
        self, settings: Settings, engines: Engines, bus: Bus, registry: ModelRegistry, fallback: Conversation
    ) -> None:
        assert engines.embedder is not None
        self.settings = settings
        self.bus = bus
        self.registry = registry
        self.fallback = fallback
        # The LLM is looked up at each call: a live model swap replaces engines.llm.
        self.memory = build_memory(
            settings,
            engines.embedder,
            engines.emotion,
            lambda text: engines.llm.count_tokens(text),
            bus,
            context=fallback.context,  # the one list of context providers, shared with the plain conversation
        )
        self.active = False
        self._intents = MemoryIntents(self.memory)
        self._admin = concurrent.futures.ThreadPoolExecutor(max_workers=ADMIN_THREADS, thread_name_prefix="admin")
        """memory.* commands (a backup, an export) queue here, never in front of STT or TTS."""
        self.on_forgotten: list[Callable[[], None]] = []
        """Called after every forget (the pipeline drops the texts of its turn history)."""

    # -- the conversation (MessageSource) ----------------------------------------------
    def messages(self, request: str) -> list[Message]:
        return self.memory.messages(request) if self.active else self.fallback.messages(request)

    def prefix_messages(self) -> list[Message]:
        return self.memory.prefix_messages() if self.active else self.fallback.prefix_messages()

    def answer(self, request: str) -> str | None:
        return self.memory.answer(request) if self.active else None

    def user_opening(self) -> str:
        return self.memory.user_opening() if self.active else self.fallback.user_opening()

    def add(self, user: str, assistant: str) -> None:
        (self.memory if self.active else self.fallback).add(user, assistant)

    # -- Feature ------------------------------------------------------------------------
    def conversation(self) -> MessageSource:
        return self

    async def start(self) -> None:
        try:
            await start_memory(self.memory, self.settings, self.registry)
        except ApplianceError as err:
            _LOGGER.error("Memory disabled: %s", err.message)
            self.bus.publish(ErrorRaised(code=err.code, message=err.message, stage="memory"))
            return
        self.active = True

    def intents(self) -> Sequence[IntentMatcher]:
        return (self,)

    def match(self, text: str) -> Intent | None:
        intent = self._intents.match(text) if self.active else None
        if intent is not None and intent.name.startswith("memory.forget") and intent.action is not None:
            intent = replace(intent, action=self._then_forgotten(intent.action))
        return intent

    def commands(self) -> Mapping[str, Handler]:
        handlers = MemoryAdmin(self.memory, self.settings.state_dir, self._admin).handlers()
        forget = handlers["memory.forget"]

        async def forget_everywhere(args: Mapping[str, Any]) -> dict[str, Any]:
            result = await forget(args)
            self.forgotten()
            return result

        return {**handlers, "memory.forget": forget_everywhere}

    def _then_forgotten(self, action: Callable[[], Awaitable[str | None]]) -> Callable[[], Awaitable[str | None]]:
        async def act() -> str | None:
            speech = await action()
            self.forgotten()
            return speech

        return act

    def forgotten(self) -> None:
        """After a forget: the texts the appliance still shows (status, the broker's retained state) go too."""
        for hook in self.on_forgotten:
            hook()
        self.bus.publish(Forgotten())

    def loops(self) -> Mapping[str, Loop]:
        if not self.active:
            return {}
        memory = self.memory
        return {
            "memory-events": lambda: record_events(memory, self.bus),
            "memory-retention": lambda: retention_loop(memory),
        }

    def on_utterance(self, audio: np.ndarray) -> None:
        if self.active:
            self.memory.observe_utterance(audio)

    def on_turn_finished(self, record: TurnRecord) -> None:
        row = turn_row(record)
        if self.active and row is not None:
            self.memory.record_turn(row, record.turn_id)

    def apply(self, settings: Settings) -> list[str]:
        self.memory.system_prompt = settings.llm.system_prompt
        return []

    def status(self) -> Mapping[str, Any] | None:
        if not self.active:
            return None
        store = self.memory.store
        return {
            "path": str(store.path),
            "vectors": len(self.memory.index),
            "writes": store.written,
            "pending_writes": store.pending,
            "dropped_writes": store.dropped,
            "quarantined": str(store.quarantined) if store.quarantined else None,
        }

    async def stop(self) -> None:
        await asyncio.to_thread(self._admin.shutdown, True)
        if self.active:
            await asyncio.to_thread(self.memory.close)  # queued writes are finished first


__all__ = ["Memory", "MemoryFeature"]
