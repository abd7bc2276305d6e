"""The board's buttons and LEDs as a feature: opened by the daemon only, guards for the switches."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from appliance.board.gpio import BoardControls, open_board
from appliance.core.errors import HardwareError
from appliance.core.events import ErrorRaised
from appliance.core.feature import Feature, Loop

if TYPE_CHECKING:
    from appliance.board.profiles import BoardProfile
    from appliance.control.api import ControlApi
    from appliance.control.commands import Commands, Guard
    from appliance.core.bus import Bus
    from appliance.settings import HardwareSettings

_LOGGER = logging.getLogger(__name__)


class BoardFeature(Feature):
    """Without GPIO (or when it cannot open) the voice loop runs on, with an error event saying why."""

    name = "hardware"

    def __init__(
        self,
        profile: BoardProfile,
        settings: HardwareSettings,
        *,
        control: ControlApi,
        commands: Commands,
        bus: Bus,
        open_gpio: bool,
    ) -> None:
        self.profile = profile
        self.settings = settings
        self.control = control
        self.command_layer = commands
        self.bus = bus
        self.open_gpio = open_gpio
        """Only the daemon opens the pins: converse and bench must not take them."""
        self.board: BoardControls | None = None

    async def start(self) -> None:
        if not self.open_gpio:
            return
        try:
            board = open_board(
                self.profile, self.settings, control=self.control, commands=self.command_layer, bus=self.bus
            )
            if board is not None:
                board.start(asyncio.get_running_loop())
                _LOGGER.info("Board %s: GPIO through %s", self.profile.name, self.profile.gpio)
            self.board = board
        except HardwareError as err:
            _LOGGER.error("No buttons or LEDs: %s [%s]", err.message, err.code)
            self.bus.publish(ErrorRaised(code=err.code, message=err.message, stage="hardware"))

    def guards(self) -> Mapping[str, Guard]:
        return {"mute": self._mute_guard, "camera": self._camera_guard, "snapshot": self._camera_guard}

    def _mute_guard(self, name: str, args: Mapping[str, Any]) -> None:
        if self.board is not None:
            self.board.mute_guard(name, args)

    def _camera_guard(self, name: str, args: Mapping[str, Any]) -> None:
        if self.board is not None:
            self.board.camera_guard(name, args)

    def loops(self) -> Mapping[str, Loop]:
        return {"leds": self.board.run_leds} if self.board is not None else {}

    def status(self) -> Mapping[str, Any]:
        return self.board.status() if self.board is not None else {"profile": self.profile.name, "gpio": "none"}

    async def stop(self) -> None:
        if self.board is not None:
            self.board.close()
