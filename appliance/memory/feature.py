"""The memory as a feature: remembered context for the LLM, memory intents and commands, turn records.

When the database cannot be opened the appliance carries on without it: the
plain running conversation answers, memory intents step aside, and an error
event says why.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ApplianceError
from ..events import ErrorRaised
from ..feature import Feature, Loop
from ..llm import Message
from ..reply import Intent
from .admin import MemoryAdmin
from .intents import MemoryIntents
from .service import Memory
from .wiring import build_memory, record_events, retention_loop, start_memory, turn_row

if TYPE_CHECKING:
    from ..bus import Bus
    from ..commands import Handler
    from ..conversation import Conversation, MessageSource
    from ..engines import Engines
    from ..models import ModelRegistry
    from ..reply import IntentMatcher
    from ..settings import Settings
    from ..turns import TurnRecord

_LOGGER = logging.getLogger(__name__)


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
            settings, engines.embedder, engines.emotion, lambda text: engines.llm.count_tokens(text), bus
        )
        self.active = False
        self._intents = MemoryIntents(self.memory)

    # -- the conversation (MessageSource) ----------------------------------------------
    def messages(self, request: str) -> list[Message]:
        return self.memory.messages(request) if self.active else self.fallback.messages(request)

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
        return self._intents.match(text) if self.active else None

    def commands(self) -> Mapping[str, Handler]:
        return MemoryAdmin(self.memory, self.settings.state_dir).handlers()

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
        if self.active:
            await asyncio.to_thread(self.memory.close)  # queued writes are finished first


__all__ = ["Memory", "MemoryFeature"]
