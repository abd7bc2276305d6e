"""Wyoming as a feature of the daemon: the port, its announcement, its worker threads and its ``status``."""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from appliance.control.api import TurnResult
from appliance.core.feature import Feature
from appliance.engines.loader import Engines
from appliance.integrations.listener import TcpListener
from appliance.integrations.wyoming.announce import Announcement
from appliance.integrations.wyoming.framing import MAX_HEADER_BYTES
from appliance.integrations.wyoming.services import Services
from appliance.integrations.wyoming.session import Session
from appliance.integrations.wyoming.wake import WakeDetectors
from appliance.settings import Settings

_LOGGER = logging.getLogger(__name__)


class WyomingFeature(Feature):
    """The appliance's STT, voice, wake words and conversation on the ``[wyoming]`` port."""

    name = "wyoming"

    def __init__(
        self,
        settings: Callable[[], Settings],
        engines: Engines,
        resolve: Callable[[str], Path],
        ask: Callable[[str], Awaitable[TurnResult]],
    ) -> None:
        self.settings = settings
        cfg = settings().wyoming
        self._speech_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="wyoming-speech")
        self._wake_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="wyoming-wake")
        self.services = Services(
            engines=engines,
            settings=settings,
            ask=ask,
            wake=WakeDetectors(lambda: self.settings().wake, resolve, self._wake_pool),
            speech_pool=self._speech_pool,
            wake_pool=self._wake_pool,
        )
        # each connection reads through a buffer capped at one header: a hundred clients hold a few MB at most
        self.server = TcpListener(
            lambda reader, writer, peer: Session(reader, writer, self.services, peer).run(),
            self.services.counters,
            cfg,
            name="Wyoming",
            section="wyoming",
            buffer_bytes=MAX_HEADER_BYTES,
            serving="the Wyoming protocol",
            log=_LOGGER,
            announce=self._announcement,
        )

    @property
    def port(self) -> int:
        """The bound port once started (``wyoming.port = 0`` picks a free one)."""
        return self.server.port

    def _announcement(self, host: str, port: int) -> Announcement:
        return Announcement(f"appliance-{self.settings().device_id}", host, port)

    async def start(self) -> None:
        await self.server.start()  # ConfigError naming wyoming.host/port when it cannot be bound

    async def stop(self) -> None:
        await self.server.stop()
        self.services.wake.clear()
        self._speech_pool.shutdown(wait=False, cancel_futures=True)
        self._wake_pool.shutdown(wait=False, cancel_futures=True)

    def status(self) -> Mapping[str, Any]:
        c = self.services.counters
        return {
            "listen": self.server.listen,
            "announced": self.server.announced,
            "clients": self.server.clients,
            "connections": c.connections,
            "refused": c.refused,
            "requests": dict(c.requests),
            "closed_for": dict(c.closed_for),
            "wake_detectors": self.services.wake.loaded,
        }
