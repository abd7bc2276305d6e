"""The ESPHome API as a feature of the daemon: the key, the port, its announcement, turn reports and ``status``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from appliance.control.api import ControlApi
from appliance.core.bus import Bus
from appliance.core.errors import ConfigError
from appliance.core.events import MuteChanged, VolumeChanged, WakeWordChanged
from appliance.core.feature import Feature, Loop
from appliance.integrations.esphome.announce import Announcement
from appliance.integrations.esphome.device import Identity
from appliance.integrations.esphome.framing import MAX_MESSAGE_BYTES
from appliance.integrations.esphome.noise import decode_key
from appliance.integrations.esphome.relay import ask_home_assistant
from appliance.integrations.esphome.satellite import Announcer, Playback, Satellite
from appliance.integrations.esphome.session import Session
from appliance.integrations.listener import TcpListener
from appliance.settings import Settings
from appliance.voice.turn_record import Source, TurnRecord

_LOGGER = logging.getLogger(__name__)

REPORTED_SOURCES = (Source.VOICE, Source.LISTEN)
"""Turns shown in Home Assistant: requests spoken to the appliance (not its own announcements or rings)."""


def read_key(path: str) -> bytes | None:
    """The API key from ``esphome.encryption_key_file`` (None when unset); ConfigError naming the file, not the key."""
    if not path:
        return None
    try:
        text = Path(path).expanduser().read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else "not readable as base64 text"
        raise ConfigError("config-value", f"esphome.encryption_key_file = {path!r}: {reason}") from None
    try:
        return decode_key(text)
    except ValueError as err:
        allowed = "the base64 of 32 bytes, e.g. from `openssl rand -base64 32`"
        raise ConfigError(
            "config-value", f"esphome.encryption_key_file = {path!r}: {err}; allowed: {allowed}"
        ) from None


class EsphomeFeature(Feature):
    """This appliance as an Assist satellite of Home Assistant, on the ``[esphome]`` port."""

    name = "esphome"

    def __init__(
        self,
        settings: Callable[[], Settings],
        *,
        bus: Bus,
        control: ControlApi,
        announcer: Announcer,
        playback: Playback,
    ) -> None:
        self.settings = settings
        s = settings()
        cfg = s.esphome
        self.key = read_key(cfg.encryption_key_file)
        self.identity = Identity.of(s.device_id, cfg.name)
        self.bus = bus
        self.satellite = Satellite(settings=settings, control=control, announcer=announcer, playback=playback)
        mode = "Noise-encrypted" if self.key is not None else "plaintext"
        # each connection reads through a buffer of a few frames at most
        self.server = TcpListener(
            self._session,
            self.satellite.counters,
            cfg,
            name="ESPHome",
            section="esphome",
            buffer_bytes=MAX_MESSAGE_BYTES,
            serving=f"the native API ({mode}) as {self.identity.name}",
            log=_LOGGER,
            announce=self._announcement,
        )
        self._relay_lock = asyncio.Lock()

    @property
    def port(self) -> int:
        """The bound port once started (``esphome.port = 0`` picks a free one)."""
        return self.server.port

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str) -> None:
        await Session(reader, writer, self.satellite, key=self.key, identity=self.identity, peer=peer).run()

    def _announcement(self, host: str, port: int) -> Announcement:
        return Announcement(self.identity, host, port, encrypted=self.key is not None)

    async def start(self) -> None:
        await self.server.start()  # ConfigError naming esphome.host/port when it cannot be bound

    async def stop(self) -> None:
        await self.server.stop()
        await self.satellite.stop()

    def loops(self) -> Mapping[str, Loop]:
        return {"esphome-states": self._follow_states}

    async def _follow_states(self) -> None:
        """Mute, volume and wake-word changes from anywhere (a button, MQTT, a skill) reach Home Assistant."""
        with self.bus.subscribe(MuteChanged, VolumeChanged, WakeWordChanged, maxsize=32, name="esphome") as changes:
            async for _ in changes:
                self.satellite.publish()

    async def hand_off(self, audio: np.ndarray, record: TurnRecord) -> tuple[np.ndarray, int] | None:
        """``pipeline = home_assistant``: Home Assistant's spoken answer to a request heard here; None: answer here."""
        if self.settings().esphome.pipeline != "home_assistant" or not self.satellite.voice_peers:
            return None
        peer = list(self.satellite.voice_peers.values())[-1]
        rate = int(self.satellite.announcer.tts.sample_rate)
        async with self._relay_lock:
            answer = await ask_home_assistant(peer, audio, record, rate)
        self.satellite.counters.relayed += 1
        if answer is None:
            return None
        if not len(answer) and record.reply:  # Home Assistant acted but its speech did not come: say its words
            answer = await asyncio.to_thread(self.satellite.announcer.tts.synthesize_all, record.reply)
        return answer, rate

    def on_turn_finished(self, record: TurnRecord) -> None:
        if record.source in REPORTED_SOURCES and record.intent != "home_assistant":
            self.satellite.on_turn(record)

    def status(self) -> Mapping[str, Any]:
        c = self.satellite.counters
        return {
            "listen": self.server.listen,
            "announced": self.server.announced,
            "encrypted": self.key is not None,
            "pipeline": self.settings().esphome.pipeline,
            "clients": self.server.clients,
            "connections": c.connections,
            "refused": c.refused,
            "closed_for": dict(c.closed_for),
            "announcements": c.announcements,
            "media_failed": c.media_failed,
            "timers": len(self.satellite.timers),
            "timers_rung": c.timers_rung,
            "turns_reported": c.turns_reported,
            "relayed": c.relayed,
        }
