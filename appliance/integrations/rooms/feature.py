"""Several appliances on one broker as a feature: heartbeats and claims over MQTT, one election per wake word.

```
<base>/rooms/<group>/hello    {"device_id", "area"}: every HELLO_S, and at once to a newcomer (QoS 0)
<base>/rooms/<group>/claim    Claim.to_payload(): published as this appliance hears a wake word (QoS 0)
<base>/<device_id>/event/election   ElectionDecided: won or lost, the claims, the decision time
```

``<group>`` is ``rooms.group``, or ``home`` when that is empty.  The pure rules live in
:mod:`~appliance.integrations.rooms.election`; this module only times them on the
event loop and moves their messages.  With the broker down it decides nothing: the
appliance answers alone, and ``status`` says so.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from appliance.core.events import ElectionDecided
from appliance.core.feature import Feature, Loop
from appliance.integrations.mqtt.topics import encode
from appliance.integrations.rooms.election import Claim, ClaimRefused, Election, PeerTable, Rooms
from appliance.voice.messages import WakeHeard

if TYPE_CHECKING:
    from appliance.core.bus import Bus
    from appliance.integrations.mqtt.client import Inbound
    from appliance.integrations.mqtt.feature import MqttFeature
    from appliance.settings import Settings

_LOGGER = logging.getLogger(__name__)
_TOPIC_UNSAFE = re.compile(r"[/+#\x00-\x1f]")

HELLO_S = 5.0
"""Seconds between heartbeats (peers count after PeerTable.min_known_s, forget after forget_after_s)."""
HELLO_BACK_S = 1.0
"""A newcomer's hello is answered at once, at most this often, so two appliances know each other quickly."""
POLL_S = 0.25
"""Seconds between looks at the connection (a hello goes out this soon after a connect)."""
PAYLOAD_MAX = 1024
"""Bytes: a claim or hello is far smaller; anything bigger is refused unread."""


def group_root(base_topic: str, group: str) -> str:
    """``<base>/rooms/<group or home>``: the topics every appliance of the group shares (wildcards made plain)."""
    return f"{base_topic.strip('/')}/rooms/{_TOPIC_UNSAFE.sub('_', group) or 'home'}"


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, float(value)))


class RoomsFeature(Feature):
    """This appliance's side of the group; the pipeline's :class:`~appliance.voice.arbiter.WakeArbiter`."""

    name = "rooms"

    def __init__(self, settings: Settings, bus: Bus, mqtt: MqttFeature, *, hello_s: float = HELLO_S) -> None:
        cfg = settings.rooms
        self.bus = bus
        self.mqtt = mqtt
        self.area = cfg.area
        self.group = cfg.group or "home"
        self.hello_s = hello_s
        root = group_root(settings.mqtt.base_topic, cfg.group)
        self.claim_topic, self.hello_topic = f"{root}/claim", f"{root}/hello"
        trust = frozenset(cfg.trust) or None
        self.rooms = Rooms(settings.device_id, peers=PeerTable(trust=trust), window_s=cfg.window_ms / 1000.0)
        self.last: dict[str, Any] | None = None
        """The last election's record (for ``status``)."""
        self._hello_back = 0.0
        mqtt.listen(self.claim_topic, self._on_claim)
        mqtt.listen(self.hello_topic, self._on_hello)

    # -- the pipeline's port -------------------------------------------------------------
    def elect(self, wake: WakeHeard) -> asyncio.Future[bool] | None:
        """Publish our claim at once; a future decided ``window_ms`` after the wake word, or None to answer alone."""
        if not self.mqtt.connected:
            return None
        try:
            own = self._claim(wake)
        except ClaimRefused as err:
            _LOGGER.warning("No claim for this wake word: %s", err.message)
            return None
        self.mqtt.publish_shared(self.claim_topic, encode(own.to_payload()))
        election = self.rooms.start(own, wake.mono)
        if election.window_s == 0.0:  # no peer known: nobody to wait for
            return None
        decided: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        delay = max(0.0, election.deadline - time.monotonic())
        asyncio.get_running_loop().call_later(delay, self._decide, election, decided)
        return decided

    def _claim(self, wake: WakeHeard) -> Claim:
        det = wake.detection
        return Claim(
            device_id=self.rooms.device_id,
            wake_word=det.model[:64],
            score=_clamp(det.score, 0.0, 1.0),
            level_dbfs=_clamp(wake.level_dbfs, -120.0, 0.0),
            snr_db=_clamp(wake.snr_db, -20.0, 80.0),
            area=self.area,
        )

    def _decide(self, election: Election, decided: asyncio.Future[bool]) -> None:
        record = election.record(time.monotonic())
        self.last = record
        _LOGGER.info("Election %s in %.1f ms: %s answers", record["result"], record["delay_ms"], record["winner"])
        self.bus.publish(
            ElectionDecided(
                result=record["result"],
                winner=record["winner"],
                claims=tuple(record["claims"]),
                delay_ms=record["delay_ms"],
                refused=record["refused"],
            )
        )
        if not decided.done():
            decided.set_result(record["result"] == "won")

    # -- what arrives --------------------------------------------------------------------
    def _on_claim(self, msg: Inbound) -> None:
        self.rooms.receive_payload(_decode(msg.payload), msg.received)

    def _on_hello(self, msg: Inbound) -> None:
        obj = _decode(msg.payload)
        device_id = obj.get("device_id") if isinstance(obj, dict) else None
        if not isinstance(device_id, str) or device_id == self.rooms.device_id:
            return
        new = device_id not in self.rooms.peers.peers(msg.received)
        self.rooms.heard(device_id, msg.received)
        if new and msg.received - self._hello_back >= HELLO_BACK_S:
            self._hello_back = msg.received
            self._hello()

    def _hello(self) -> None:
        self.mqtt.publish_shared(self.hello_topic, encode({"device_id": self.rooms.device_id, "area": self.area}))

    async def _heartbeat(self) -> None:
        """A hello every ``hello_s``, and one as soon as the broker is back (peers answer a newcomer)."""
        was_connected, next_at = False, 0.0
        while True:
            connected, now = self.mqtt.connected, time.monotonic()
            if connected and (not was_connected or now >= next_at):
                self._hello()
                next_at = now + self.hello_s
            was_connected = connected
            await asyncio.sleep(POLL_S)

    # -- the Feature protocol --------------------------------------------------------------
    def loops(self) -> Mapping[str, Loop]:
        return {"rooms-hello": self._heartbeat}

    def status(self) -> Mapping[str, Any]:
        now = time.monotonic()
        peers = self.rooms.peers.peers(now)
        if not self.mqtt.connected:
            state = "alone (broker down)"
        elif not peers:
            state = "alone (no peers)"
        else:
            state = "electing"
        part: dict[str, Any] = {"state": state, "group": self.group, "peers": peers}
        if self.rooms.refused:
            part["refused"] = dict(sorted(self.rooms.refused.items()))
        if self.last is not None:
            part["last"] = {key: self.last[key] for key in ("result", "winner", "delay_ms")}
        return part


def _decode(payload: bytes) -> object:
    """JSON, or None for anything else (which the election counts as malformed)."""
    if len(payload) > PAYLOAD_MAX:
        return None
    try:
        return json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        return None
