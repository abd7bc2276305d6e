"""Wyoming as a feature of the daemon: the port, its announcement, its worker threads and its ``status``."""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from appliance.control.api import TurnResult
from appliance.core.errors import ConfigError
from appliance.core.feature import Feature
from appliance.engines.loader import Engines
from appliance.integrations.wyoming.announce import Announcement
from appliance.integrations.wyoming.server import WyomingServer
from appliance.integrations.wyoming.services import Services
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
        self.server = WyomingServer(self.services, host=cfg.host, port=cfg.port, max_clients=cfg.max_clients)
        self._announce = cfg.announce
        self.announcement: Announcement | None = None

    @property
    def port(self) -> int:
        """The bound port once started (``wyoming.port = 0`` picks a free one)."""
        return self.server.port

    async def start(self) -> None:
        try:
            await self.server.start()
        except OSError as err:
            address = f"{self.server.host}:{self.server.port}"
            message = f"wyoming.host/port = {address!r} cannot be bound: {err.strerror or err}"
            raise ConfigError("config-value", message) from err
        if self._announce:
            settings = self.settings()
            self.announcement = Announcement(f"appliance-{settings.device_id}", self.server.host, self.server.port)
            await self.announcement.start()

    async def stop(self) -> None:
        if self.announcement is not None:
            await self.announcement.stop()
        await self.server.stop()
        self.services.wake.clear()
        self._speech_pool.shutdown(wait=False, cancel_futures=True)
        self._wake_pool.shutdown(wait=False, cancel_futures=True)

    def status(self) -> Mapping[str, Any]:
        c = self.services.counters
        return {
            "listen": f"{self.server.host}:{self.server.port}",
            "announced": self.announcement.address if self.announcement is not None else None,
            "clients": self.server.clients,
            "connections": c.connections,
            "refused": c.refused,
            "requests": dict(c.requests),
            "closed_for": dict(c.closed_for),
            "wake_detectors": self.services.wake.loaded,
        }
