"""One Wyoming connection: its events read within bounds and answered by the services.

``describe`` → ``info``; ``transcribe`` + audio → ``transcript`` (with the streaming
``transcript-start``/``-chunk``/``-stop``); ``synthesize`` or ``synthesize-start``/``-chunk``/``-stop``
→ audio, sentence by sentence; ``detect`` + audio → ``detection`` or ``not-detected``; a
``transcript`` → ``handled`` or ``not-handled`` with the conversation's reply.  An event this
port does not serve, or one with the wrong fields, closes the connection with an ``error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from typing import Any

import numpy as np
from wyoming.asr import Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, async_write_event
from wyoming.handle import Handled, NotHandled
from wyoming.ping import Pong
from wyoming.tts import SynthesizeStopped
from wyoming.wake import Detection, NotDetected

from appliance.core.errors import ApplianceError
from appliance.engines.wake import WakeWordDetector
from appliance.integrations.wyoming.describe import describe
from appliance.integrations.wyoming.framing import WyomingError, read_event
from appliance.integrations.wyoming.pcm import PcmInput
from appliance.integrations.wyoming.services import Services
from appliance.integrations.wyoming.wake import WakeStream
from appliance.settings import WakeSettings

_LOGGER = logging.getLogger(__name__)

TTS_CHUNK_SAMPLES = 2048
"""Samples per audio-chunk sent back (93 ms at 22.05 kHz)."""


class Session:
    """One client: events in order, each answered before the next is read."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, services: Services, peer: str
    ) -> None:
        self.reader, self.writer, self.services, self.peer = reader, writer, services, peer
        self.limits = services.settings().wyoming
        self._purpose = "asr"
        self._audio: PcmInput | None = None
        self._heard: list[np.ndarray] = []
        self._wake: WakeStream | None = None
        self._detector: tuple[WakeSettings, WakeWordDetector] | None = None
        self._detect_names: list[str] | None = None
        self._streaming_text: list[str] | None = None
        self._stream_chars = 0
        self._sent_audio_start = False

    async def run(self) -> None:
        """Serve until the client closes; a protocol error closes the connection with an ``error`` event."""
        try:
            while (event := await read_event(self.reader, self.limits.idle_timeout_s)) is not None:
                await self._dispatch(event)
        except WyomingError as err:
            self.services.counters.closed(err.code)
            _LOGGER.warning("Wyoming: closing %s: %s", self.peer, err)
            await self._send_quietly(Error(text=err.message, code=err.code).event())
        finally:
            self._release_detector()

    # -- dispatch ------------------------------------------------------------------
    async def _dispatch(self, event: Event) -> None:
        handler = _HANDLERS.get(event.type)
        if handler is None:
            raise WyomingError("wyoming-unknown-event", f"event type {event.type[:64]!r} is not served here")
        try:
            await handler(self, event)
        except WyomingError:
            raise
        except ApplianceError as err:  # an engine failed on this request: the client hears why, the daemon goes on
            raise WyomingError(err.code, f"{event.type} failed: {err.message}") from err

    async def _describe(self, event: Event) -> None:
        self.services.counters.count("describe")
        await self._send(describe(self.services.settings()).event())

    async def _ping(self, event: Event) -> None:
        await self._send(Pong(text=_text(event, "text", optional=True, limit=256) or None).event())

    async def _transcribe(self, event: Event) -> None:
        _text(event, "language", optional=True, limit=16)
        self._purpose = "asr"

    async def _detect(self, event: Event) -> None:
        names = event.data.get("names")
        if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
            raise WyomingError("wyoming-bad-event", "detect's names must be a list of strings")
        self._purpose = "wake"
        self._detect_names = names[:16] if names else None

    # -- audio in -------------------------------------------------------------------
    async def _audio_start(self, event: Event) -> None:
        d = event.data
        # A wake stream runs until the word is heard (it is processed as it arrives); a transcription is held whole.
        max_s = math.inf if self._purpose == "wake" else self.limits.max_audio_s
        self._audio = PcmInput(d.get("rate"), d.get("width"), d.get("channels"), max_s=max_s)
        self._heard = []
        if self._purpose == "wake":
            if self._detector is None:
                self._detector = await self.services.wake.acquire()
            else:
                self._detector[1].restart()
            self._wake = WakeStream(self._detector[1], self._detect_names)
        else:
            await self._send(TranscriptStart(language=self.services.settings().stt.language).event())

    async def _audio_chunk(self, event: Event) -> None:
        if self._audio is None:  # a chunk without audio-start starts the request in its own format
            await self._audio_start(event)
        assert self._audio is not None
        samples = self._audio.feed(event.payload)
        if self._wake is not None:
            for found in await self.services.run_wake(self._wake.process, samples):
                self.services.counters.count("wake")
                name = found.model
                await self._send(Detection(name=name, timestamp=int(found.at_s * 1000)).event())
        else:
            self._heard.append(samples)

    async def _audio_stop(self, event: Event) -> None:
        audio, self._audio = self._audio, None
        if audio is None:
            raise WyomingError("wyoming-bad-event", "audio-stop without audio")
        tail = audio.finish()
        if self._wake is not None:
            wake, self._wake = self._wake, None
            await self.services.run_wake(wake.process, tail)
            if not wake.detections:
                await self._send(NotDetected().event())
            return
        heard = np.concatenate([*self._heard, tail]) if self._heard else tail
        self._heard = []
        result = await self.services.transcribe(heard)
        self.services.counters.count("asr")
        language = result.language
        if result.text:
            await self._send(TranscriptChunk(text=result.text).event())
        await self._send(Transcript(text=result.text, language=language).event())
        await self._send(TranscriptStop().event())

    # -- speech out --------------------------------------------------------------------
    async def _synthesize(self, event: Event) -> None:
        text = _text(event, "text", limit=self.limits.max_text_chars)
        if self._streaming_text is not None:
            return  # sent beside the streamed chunks for older servers; they are spoken already
        self.services.counters.count("tts")
        self._sent_audio_start = False
        await self._speak(text)
        await self._audio_end()

    async def _synthesize_start(self, event: Event) -> None:
        self._streaming_text = []
        self._stream_chars = 0
        self._sent_audio_start = False

    async def _synthesize_chunk(self, event: Event) -> None:
        if self._streaming_text is None:
            raise WyomingError("wyoming-bad-event", "synthesize-chunk without synthesize-start")
        text = _text(event, "text", limit=self.limits.max_text_chars)
        self._stream_chars += len(text)
        if self._stream_chars > self.limits.max_text_chars:
            raise WyomingError("wyoming-text-too-long", f"more than {self.limits.max_text_chars} characters")
        self._streaming_text.append(text)
        done, rest = _complete_sentences("".join(self._streaming_text))
        self._streaming_text = [rest]
        if done:
            await self._speak(done)

    async def _synthesize_stop(self, event: Event) -> None:
        if self._streaming_text is None:
            raise WyomingError("wyoming-bad-event", "synthesize-stop without synthesize-start")
        rest, self._streaming_text = "".join(self._streaming_text).strip(), None
        self.services.counters.count("tts")
        if rest:
            await self._speak(rest)
        await self._audio_end()
        await self._send(SynthesizeStopped().event())

    async def _speak(self, text: str) -> None:
        rate = self.services.tts_rate
        async for audio in self.services.synthesize(text):
            if not self._sent_audio_start:
                await self._send(AudioStart(rate=rate, width=2, channels=1).event())
                self._sent_audio_start = True
            for start in range(0, len(audio), TTS_CHUNK_SAMPLES):
                piece = audio[start : start + TTS_CHUNK_SAMPLES].astype("<i2").tobytes()
                await self._send(AudioChunk(rate=rate, width=2, channels=1, audio=piece).event())

    async def _audio_end(self) -> None:
        if not self._sent_audio_start:  # nothing speakable: an empty stream still has its bounds
            await self._send(AudioStart(rate=self.services.tts_rate, width=2, channels=1).event())
        await self._send(AudioStop().event())
        self._sent_audio_start = False

    # -- the conversation --------------------------------------------------------------
    async def _handle(self, event: Event) -> None:
        text = _text(event, "text", limit=self.limits.max_text_chars).strip()
        self.services.counters.count("handle")
        if not text:
            await self._send(NotHandled(text="Nothing was said.").event())
            return
        result = await self.services.ask(text)
        if result.outcome == "answered" and result.reply:
            await self._send(Handled(text=result.reply).event())
        else:
            await self._send(NotHandled(text=result.reply or f"The request was {result.outcome}.").event())

    # -- writing -------------------------------------------------------------------------
    async def _send(self, event: Event) -> None:
        try:
            await asyncio.wait_for(async_write_event(event, self.writer), self.limits.idle_timeout_s)
        except asyncio.TimeoutError:
            raise WyomingError("wyoming-not-reading", "the client stopped reading what it asked for") from None
        except ConnectionError as err:
            raise WyomingError("wyoming-gone", f"the client went away ({type(err).__name__})") from err

    async def _send_quietly(self, event: Event) -> None:
        with contextlib.suppress(asyncio.TimeoutError, OSError):  # the connection is being closed anyway
            await asyncio.wait_for(async_write_event(event, self.writer), 1.0)

    def _release_detector(self) -> None:
        if self._detector is not None:
            self.services.wake.release(*self._detector)
            self._detector = None


def _text(event: Event, key: str, *, limit: int, optional: bool = False) -> str:
    value = event.data.get(key)
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise WyomingError("wyoming-bad-event", f"{event.type} needs {key} as a string")
    if len(value) > limit:
        raise WyomingError("wyoming-text-too-long", f"{event.type}'s {key} is over {limit} characters")
    return value


def _complete_sentences(text: str) -> tuple[str, str]:
    """Split streamed text after its last sentence end: (what can be spoken now, what waits for more)."""
    cut = max(text.rfind(mark) for mark in (". ", "! ", "? ", ".\n", "!\n", "?\n", "\n"))
    if cut < 0:
        return "", text
    return text[: cut + 1], text[cut + 1 :]


_HANDLERS: dict[str, Any] = {
    "describe": Session._describe,
    "ping": Session._ping,
    "transcribe": Session._transcribe,
    "detect": Session._detect,
    "audio-start": Session._audio_start,
    "audio-chunk": Session._audio_chunk,
    "audio-stop": Session._audio_stop,
    "synthesize": Session._synthesize,
    "synthesize-start": Session._synthesize_start,
    "synthesize-chunk": Session._synthesize_chunk,
    "synthesize-stop": Session._synthesize_stop,
    "transcript": Session._handle,
}
