"""Broadcasts on the wire: sent from a command or a voice request, received and spoken with the earcon.

A broadcast is spoken through the pipeline's text turns (:meth:`Speaker.say` with
``chime``), so it waits for a reply in progress to end instead of cutting it, and it
is never elected: no wake word is involved.  One sent by voice is not spoken back
where it was asked ("Okay, I told everyone."); one sent as a command (MQTT, the
socket, Home Assistant's notify entity) is spoken everywhere it matches, here too.
With the broker down it is spoken here only, and the answer says the others were
not reached.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

from appliance.core.bus import Bus
from appliance.core.events import BroadcastRelayed
from appliance.integrations.mqtt.topics import encode
from appliance.integrations.rooms.broadcast import (
    Broadcast,
    BroadcastRefused,
    Seen,
    broadcast_request,
    clean_area,
    clean_text,
)
from appliance.integrations.rooms.election import RateLimit
from appliance.integrations.rooms.sharing import Link
from appliance.integrations.rooms.timers import room_name
from appliance.integrations.rooms.wire import GroupTopics
from appliance.voice.reply import Intent

_LOGGER = logging.getLogger(__name__)

MAX_WAITING = 4
"""Broadcasts waiting to be spoken here at once; more are dropped (counted as broadcast-busy)."""


class Speaker(Protocol):
    """The pipeline's text turns (:class:`~appliance.runtime.ports.Announcer`)."""

    async def say(self, text: str, *, chime: bool = False) -> Any: ...


class Broadcaster:
    """This appliance's broadcasts: out on the group's topic, in from it, spoken where the area matches."""

    def __init__(
        self,
        device_id: str,
        area: str,
        topics: GroupTopics,
        link: Link,
        speaker: Speaker | None,
        bus: Bus,
        *,
        trust: frozenset[str] | None = None,
        limit: RateLimit | None = None,
        peers: Callable[[], list[str]] = list,
    ) -> None:
        self.device_id = device_id
        self.area = area
        self.topics = topics
        self.link = link
        self.speaker = speaker
        self.bus = bus
        self.trust = trust
        self.peers = peers
        """The peers heard lately (a voice broadcast with none says so)."""
        self.limit = limit or RateLimit(per_s=0.2, burst=3)
        """Per sender: three at once, then one every 5 s."""
        self.seen = Seen()
        self.sent = 0
        self.received = 0
        self.refused: Counter[str] = Counter()
        """Broadcasts received and not spoken, by code."""
        self._speaking: set[asyncio.Task[Any]] = set()

    async def send(self, text: str, area: str = "", *, here: bool = True) -> dict[str, Any]:
        """Broadcast ``text`` to ``area`` (every room when empty); spoken here too when ``here`` and it matches.

        Raises :class:`BroadcastRefused` (``bad-arguments``, ``too-long``) for text that cannot be sent.
        """
        message = Broadcast(uuid.uuid4().hex[:16], self.device_id, clean_text(text), clean_area(area))
        self.seen.first(message.id)  # the broker's echo of it is not spoken again
        reached = self.link.publish_shared(self.topics.broadcast, encode(message.to_payload()))
        spoken = here and (message.for_area(self.area) or not reached) and self._speak(message.text)
        self.sent += 1
        _LOGGER.info("Broadcast %s to %s (%d characters, broker %s)", message.id, area or "every room",
                     len(message.text), "reached" if reached else "down")  # fmt: skip
        self.bus.publish(
            BroadcastRelayed(
                direction="sent", id=message.id, sender=self.device_id, text=message.text, area=message.area,
                spoken=spoken, reached=reached,
            )
        )  # fmt: skip
        return {"id": message.id, "text": message.text, "area": message.area, "reached": reached, "spoken": spoken}

    async def tell(self, text: str, area: str = "") -> str:
        """A broadcast asked for by voice here: sent, not spoken here; what to answer."""
        try:
            result = await self.send(text, area, here=False)
        except BroadcastRefused as err:
            return "That's too long to pass on." if err.code == "too-long" else "I didn't catch what to say."
        if not result["reached"]:
            return "I couldn't reach the other rooms."
        if not self.peers():
            return "There's no other room to tell."
        return f"I told {room_name(area)}." if area else "Okay, I told everyone."

    def receive(self, obj: object, received: float) -> bool:
        """A message on the broadcast topic: spoken here if it is new, allowed and for our area."""
        try:
            message = Broadcast.from_payload(obj)
        except BroadcastRefused as err:
            return self._refuse(err.code)
        if message.sender == self.device_id:
            return False  # our own, echoed by the broker
        if self.trust is not None and message.sender not in self.trust:
            return self._refuse("broadcast-untrusted")
        if not self.seen.first(message.id):
            return self._refuse("broadcast-repeat")
        if not self.limit.allow(message.sender, received):
            return self._refuse("broadcast-rate-limited")
        self.received += 1
        spoken = message.for_area(self.area) and self._speak(message.text)
        self.bus.publish(
            BroadcastRelayed(
                direction="received", id=message.id, sender=message.sender, text=message.text, area=message.area,
                spoken=spoken,
            )
        )  # fmt: skip
        return spoken

    def _speak(self, text: str) -> bool:
        if self.speaker is None:
            return False
        if len(self._speaking) >= MAX_WAITING:
            self.refused["broadcast-busy"] += 1
            return False
        task = asyncio.ensure_future(self.speaker.say(text, chime=True))
        self._speaking.add(task)
        task.add_done_callback(self._spoken)
        return True

    def _spoken(self, task: asyncio.Future[Any]) -> None:
        self._speaking.discard(task)  # type: ignore[arg-type]
        if not task.cancelled() and task.exception() is not None:
            _LOGGER.error("Could not speak a broadcast: %s", task.exception())

    def _refuse(self, code: str) -> bool:
        self.refused[code] += 1
        return False

    async def stop(self) -> None:
        """Drop what waits to be spoken."""
        for task in list(self._speaking):
            task.cancel()
        await asyncio.gather(*self._speaking, return_exceptions=True)

    def status(self) -> dict[str, Any]:
        part: dict[str, Any] = {"sent": self.sent, "received": self.received}
        if self.refused:
            part["refused"] = dict(sorted(self.refused.items()))
        return part


class BroadcastRequests:
    """The voice's way in: 'tell everyone dinner is ready', 'broadcast that …', 'tell the kitchen I'm on my way'.

    The area must be one the group announces (``areas``: the peers' and our own), so
    'tell me a joke' or 'tell John …' are left to the rest of the understanding.
    """

    def __init__(self, broadcaster: Broadcaster, areas: Callable[[], list[str]]) -> None:
        self.broadcaster = broadcaster
        self.areas = areas

    def match(self, text: str) -> Intent | None:
        found = broadcast_request(text, self.areas())
        if found is None:
            return None
        said, area = found
        return broadcast_intent(self.broadcaster, said, area)


def broadcast_intent(broadcaster: Broadcaster, text: str, area: str = "") -> Intent:
    """Intent ``rooms.broadcast`` {text, area}: sent once the request is committed, never spoken back here."""

    async def act() -> str:
        return await broadcaster.tell(text, area)

    return Intent("rooms.broadcast", "Okay.", act, {"text": text, "area": area})
