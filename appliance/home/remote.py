"""Home control's Home Assistant side: acting on :class:`~.assistant.HaDevice`, their states, HA's own agent.

Each call waits for Home Assistant's result, and only what it confirmed is claimed
("I opened the garage door."); a refused or unanswered call is said as such. A
request home control cannot place goes to Home Assistant's conversation agent
(:meth:`RemoteHome.delegate`), unless it names an entity that is not exposed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from appliance.core.events import Event, IntentExecuted
from appliance.home.assistant import UNREACHABLE, Assistant, HaDevice, HomeAssistantError, done, joined, said_state
from appliance.voice.reply import Intent

_LOGGER = logging.getLogger(__name__)

SERVICE = {
    ("cover", "on"): "open_cover",
    ("cover", "off"): "close_cover",
    ("lock", "on"): "lock",
    ("lock", "off"): "unlock",
}
"""Services other than ``turn_on``/``turn_off`` (scripts and scenes are turned on)."""


class RemoteHome:
    """Service calls, state answers and the conversation fallback through an :class:`Assistant`."""

    def __init__(self, assistant: Assistant, report: Callable[[Event], None]) -> None:
        self.assistant = assistant
        self._report = report

    def delegate(self, text: str) -> Intent:
        """Home Assistant's agent answers ``text`` (a home request the appliance could not place)."""
        withheld = self.assistant.withheld(text)
        if withheld:  # never acted on, not even through Home Assistant's agent
            return Intent("home.unknown", f"I'm not allowed to control the {withheld}.", data={"error": "not-exposed"})
        if not self.assistant.connected:
            return Intent("home.assistant", UNREACHABLE, data={"error": "unreachable"})
        assistant = self.assistant

        async def ask() -> str:
            try:
                return await assistant.converse(text)
            except HomeAssistantError as err:
                _LOGGER.warning("Home Assistant's agent was not asked: %s", err.code)
                return UNREACHABLE if err.code == "ha-unreachable" else "Home Assistant could not answer that."

        return Intent("home.assistant", "", ask, {"via": "home_assistant"})

    def state(self, devices: Sequence[HaDevice]) -> str:
        """Each device's state as Home Assistant last reported it."""
        return " ".join(said_state(d, self.assistant.reading(d.entity_id)) for d in devices)

    def level(self, device: HaDevice) -> int | None:
        """A light's brightness in percent (0 when off), or None when unknown."""
        reading = self.assistant.reading(device.entity_id)
        if reading is None or not reading.known:
            return None
        return 0 if reading.state == "off" else reading.brightness

    async def act(self, text: str, calls: Sequence[tuple[HaDevice, str, int | None]], via: str) -> str:
        """Carry out each (device, action, level) and say what Home Assistant confirmed, and what not."""
        results = await asyncio.gather(*(self._one(text, d, a, lvl, via) for d, a, lvl in calls))
        confirmed = [done(d, a, lvl) for (d, a, lvl), err in zip(calls, results, strict=True) if err is None]
        failed = [(d, a, lvl, err) for (d, a, lvl), err in zip(calls, results, strict=True) if err is not None]
        said = f"I {joined(confirmed)}." if confirmed else ""
        if any(err.code == "ha-unreachable" for *_, err in failed):
            return f"{said} {UNREACHABLE}".strip()
        for device, _, _, err in failed:
            said += f" Home Assistant did not do it for the {device.name}: {err.message}"
        return said.strip()

    async def _one(
        self, text: str, device: HaDevice, action: str, level: int | None, via: str
    ) -> HomeAssistantError | None:
        try:
            await self.assistant.act(device, action, level)
        except HomeAssistantError as err:
            _LOGGER.info("Home Assistant did not %s %s: %s", action, device.entity_id, err.code)
            return err
        said = str(level) if action == "brightness" else action
        service = f"{device.domain}.{service_name(device.domain, action, level)}"
        intent = "brightness" if action == "brightness" else "switch"
        self._report(IntentExecuted(intent, device.name, said, device.entity_id, service, via, text))
        return None


def service_name(domain: str, action: str, level: int | None = None) -> str:
    """The service that does ``action`` to an entity of ``domain`` (brightness 0 is off)."""
    if action == "brightness":
        return "turn_on" if level else "turn_off"
    return SERVICE.get((domain, action), f"turn_{action}")


def service_data(device: HaDevice, action: str, level: int | None = None) -> dict[str, object]:
    """``service_data`` of the call: the brightness of a light, nothing else."""
    if action == "brightness" and level:
        return {"brightness_pct": max(1, min(100, level))}
    return {}
