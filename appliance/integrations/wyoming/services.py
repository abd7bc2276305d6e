"""What a Wyoming session serves with: the running engines and the conversation, never blocking the loop.

Transcription and synthesis run on one ``wyoming-speech`` worker thread, wake spotting on one
``wyoming-wake`` thread, so Wyoming clients queue behind each other and never take more than
two threads from the daemon, whose own voice loop keeps its threads.  The engines are the
daemon's (a live swap replaces them; they are read at each use), nothing is loaded twice
but the small wake-word chain (:mod:`.wake` says why).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from appliance.control.api import TurnResult
from appliance.core.chunker import SentenceChunker
from appliance.engines.loader import Engines
from appliance.engines.stt import SttResult
from appliance.integrations.wyoming.wake import WakeDetectors
from appliance.settings import Settings

SERVICES = ("describe", "asr", "tts", "wake", "handle")
"""The request kinds counted in ``status``."""


@dataclass
class Counters:
    """What ``status`` shows of the Wyoming port."""

    clients: int = 0
    """Connections open now."""
    connections: int = 0
    """Connections accepted since start."""
    refused: int = 0
    """Connections closed at accept because ``max_clients`` were open."""
    requests: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SERVICES, 0))
    closed_for: dict[str, int] = field(default_factory=dict)
    """Connections closed for bad input or an engine failure, by error code."""

    def count(self, kind: str) -> None:
        self.requests[kind] = self.requests.get(kind, 0) + 1

    def closed(self, code: str) -> None:
        self.closed_for[code] = self.closed_for.get(code, 0) + 1


class Services:
    """The engines and the conversation as a session uses them (each call returns to the loop at once)."""

    def __init__(
        self,
        *,
        engines: Engines,
        settings: Callable[[], Settings],
        ask: Callable[[str], Awaitable[TurnResult]],
        wake: WakeDetectors,
        speech_pool: concurrent.futures.Executor,
        wake_pool: concurrent.futures.Executor,
    ) -> None:
        self.engines = engines
        self.settings = settings
        self.ask = ask
        self.wake = wake
        self.speech_pool = speech_pool
        self.wake_pool = wake_pool
        self.counters = Counters()

    @property
    def tts_rate(self) -> int:
        """Hertz of the running voice."""
        return int(self.engines.tts.sample_rate)

    async def transcribe(self, audio: np.ndarray) -> SttResult:
        """16 kHz mono int16 in, the running STT's text out."""
        stt = self.engines.stt
        return await asyncio.get_running_loop().run_in_executor(self.speech_pool, stt.transcribe, audio)

    async def synthesize(self, text: str) -> AsyncIterator[np.ndarray]:
        """The running voice's int16 audio, one sentence at a time (the first clause as soon as it is cut)."""
        chunker = SentenceChunker()
        pieces = chunker.push(text)
        rest = chunker.flush()
        if rest:
            pieces.append(rest)
        loop = asyncio.get_running_loop()
        for piece in pieces:
            audio = await loop.run_in_executor(self.speech_pool, self._synthesize_all, piece)
            if len(audio):
                yield audio

    def _synthesize_all(self, text: str) -> np.ndarray:
        return self.engines.tts.synthesize_all(text)

    async def run_wake(self, process: Callable[[np.ndarray], list], samples: np.ndarray) -> list:
        """``process(samples)`` on the wake thread."""
        return await asyncio.get_running_loop().run_in_executor(self.wake_pool, process, samples)
