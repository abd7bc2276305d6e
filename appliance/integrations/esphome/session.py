"""One ESPHome API connection: its framing chosen, its messages read within bounds and answered.

Hello and connect first (no password: the encryption key is the API's authentication), then
device info, the entity list, states, pings, time, the voice assistant's subscription and
configuration, announcements, timers and the entities' commands.  A message type that does
not exist, one only a device sends, a malformed or oversized one, a frame left half-sent or
a silent connection (``esphome.idle_timeout_s``) closes this connection with a log line.
A client message this device has nothing for (a light command, Bluetooth) is ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from google.protobuf.message import Message

from appliance.integrations.esphome import device
from appliance.integrations.esphome.framing import NOISE, PLAINTEXT, Channel, PlainChannel, refuse_framing
from appliance.integrations.esphome.media import MediaPolicy
from appliance.integrations.esphome.messages import ProtocolError, decode, encode, pb
from appliance.integrations.esphome.noise import NoiseChannel
from appliance.integrations.esphome.satellite import Satellite

_LOGGER = logging.getLogger(__name__)

MAX_UNSENT_BYTES = 1024 * 1024
"""A client that leaves this much unread is closed (states are pushed to it without waiting)."""
BEFORE_CONNECT = ("HelloRequest", "ConnectRequest", "DeviceInfoRequest", "PingRequest", "DisconnectRequest")


class Session:
    """One client, from its first byte to its close."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        satellite: Satellite,
        *,
        key: bytes | None,
        identity: device.Identity,
        peer: str,
    ) -> None:
        self.reader, self.writer = reader, writer
        self.satellite = satellite
        self.key = key
        self.identity = identity
        self.peer = peer
        self.peer_host = peer.rsplit(":", 1)[0].strip("[]")
        self.limits = satellite.settings().esphome
        self.channel: Channel | None = None
        self.connected = False
        self.closing = False
        self.voice_events: asyncio.Queue[Any] | None = None
        """Where Home Assistant's voice-assistant messages go while a request runs through its pipeline."""

    async def run(self) -> None:
        """Serve until either side closes; a protocol error is logged and closes the connection."""
        try:
            self.channel = await self._timed(self._open())
            while not self.closing and (frame := await self._timed(self.channel.read())) is not None:
                await self._dispatch(decode(*frame))
                await self._drain()
        except ProtocolError as err:
            self.satellite.counters.closed(err.code)
            _LOGGER.warning("ESPHome: closing %s: %s", self.peer, err)
        except ConnectionError as err:  # reset by the client: it is gone
            _LOGGER.debug("ESPHome: %s went away: %s", self.peer, err)
        finally:
            self.satellite.listeners.discard(self.send)
            self.satellite.voice_peers.pop(id(self), None)
            if self.voice_events is not None:  # a request waiting on Home Assistant: it will not answer now
                with contextlib.suppress(asyncio.QueueFull):
                    self.voice_events.put_nowait(None)

    async def _timed(self, step: Awaitable[Any]) -> Any:
        try:
            return await asyncio.wait_for(step, self.limits.idle_timeout_s)
        except asyncio.TimeoutError:
            limit = self.limits.idle_timeout_s
            raise ProtocolError("esphome-idle", f"nothing complete arrived within {limit:g} s") from None

    async def _open(self) -> Channel:
        first = await self.reader.read(1)
        if not first:
            raise ProtocolError("esphome-truncated", "the client closed before its first frame")
        wanted = NOISE if self.key is not None else PLAINTEXT
        if first[0] != wanted:
            await refuse_framing(self.writer, first[0])
            if first[0] in (NOISE, PLAINTEXT):
                which = "plaintext: an encryption key is set" if self.key else "encrypted: no encryption key is set"
                raise ProtocolError("esphome-framing", f"refused a client speaking {which}")
            raise ProtocolError("esphome-malformed", f"a frame cannot start 0x{first[0]:02x}")
        if self.key is None:
            return PlainChannel(self.reader, self.writer, started=True)
        noise = NoiseChannel(self.reader, self.writer, key=self.key, name=self.identity.name, mac=self.identity.mac)
        await noise.handshake(started=True)
        return noise

    # -- writing -----------------------------------------------------------------------
    def send(self, messages: list[Message]) -> None:
        """Queue messages to this client (a listener of the satellite's state, too)."""
        if self.channel is None or self.closing or self.writer.transport.is_closing():
            return
        if self.writer.transport.get_write_buffer_size() > MAX_UNSENT_BYTES:
            self.satellite.counters.closed("esphome-not-reading")
            _LOGGER.warning("ESPHome: closing %s: it stopped reading", self.peer)
            self.closing = True
            self.writer.transport.abort()
            return
        self.channel.write([encode(m) for m in messages])

    async def _drain(self) -> None:
        try:
            await asyncio.wait_for(self.writer.drain(), self.limits.idle_timeout_s)
        except asyncio.TimeoutError:
            raise ProtocolError("esphome-not-reading", "the client stopped reading") from None
        except ConnectionError:
            self.closing = True

    # -- dispatch ----------------------------------------------------------------------
    async def _dispatch(self, msg: Message) -> None:
        name = type(msg).__name__
        if not self.connected and name not in BEFORE_CONNECT:
            raise ProtocolError("esphome-not-connected", f"{name} before ConnectRequest")
        handler = _HANDLERS.get(name)
        if handler is None:
            _LOGGER.debug("ESPHome: %s sent %s, which this device has nothing for", self.peer, name)
            return
        await handler(self, msg)

    async def _hello(self, msg: Any) -> None:
        _LOGGER.info(
            "ESPHome: %s is %r (API %d.%d)",
            self.peer,
            msg.client_info[:64],
            msg.api_version_major,
            msg.api_version_minor,
        )
        self.send([device.hello(self.identity)])

    async def _connect(self, msg: Any) -> None:
        self.connected = True  # no password: the encryption key, when set, authenticated the client
        self.send([pb.ConnectResponse(invalid_password=False)])

    async def _device_info(self, msg: Message) -> None:
        area = self.satellite.settings().rooms.area
        self.send([device.device_info(self.identity, area=area)])

    async def _list_entities(self, msg: Message) -> None:
        self.send(device.entities())

    async def _subscribe_states(self, msg: Message) -> None:
        self.satellite.listeners.add(self.send)
        self.send(device.states(self.satellite.state()))

    async def _ping(self, msg: Message) -> None:
        self.send([pb.PingResponse()])

    async def _time(self, msg: Message) -> None:
        self.send([pb.GetTimeResponse(epoch_seconds=int(time.time()))])

    async def _disconnect(self, msg: Message) -> None:
        self.send([pb.DisconnectResponse()])
        self.closing = True

    async def _disconnected(self, msg: Message) -> None:
        self.closing = True

    async def _ignore(self, msg: Message) -> None:
        """A subscription this device has nothing to send on (Home Assistant services and states, logs)."""

    async def _voice_configuration(self, msg: Message) -> None:
        self.send([self.satellite.wake_configuration()])

    async def _set_voice_configuration(self, msg: Any) -> None:
        await self.satellite.set_wake_words([w[:64] for w in msg.active_wake_words[:8]])

    async def _switch(self, msg: Any) -> None:
        if msg.key == device.KEY_MUTE:
            self.satellite.set_muted(msg.state)

    async def _media(self, msg: Any) -> None:
        if msg.key == device.KEY_MEDIA_PLAYER:
            self.satellite.media_command(msg, self.policy())

    async def _announce(self, msg: Any) -> None:
        async def announce() -> None:
            played = False
            try:
                played = await self.satellite.announce(msg, self.policy())
            finally:
                self.send([pb.VoiceAssistantAnnounceFinished(success=played)])
                await self._drain_quietly()

        self.satellite.spawn(announce(), "announcement")

    async def _subscribe_voice(self, msg: Any) -> None:
        """Home Assistant's satellite listens for requests from this device (``pipeline = home_assistant``)."""
        if msg.subscribe:
            self.satellite.voice_peers[id(self)] = self
        else:
            self.satellite.voice_peers.pop(id(self), None)

    async def _voice_message(self, msg: Any) -> None:
        """Home Assistant's answer to a request this device sent (its acceptance, its pipeline's events)."""
        if self.voice_events is not None and not self.voice_events.full():
            self.voice_events.put_nowait(msg)

    async def _timer(self, msg: Any) -> None:
        self.satellite.timer_event(msg)

    def policy(self) -> MediaPolicy:
        return MediaPolicy(
            peer=self.peer_host,
            max_bytes=int(self.limits.media_max_mb * 1024 * 1024),
            timeout_s=self.limits.media_timeout_s,
        )

    async def drain(self) -> None:
        """Wait until what was sent is written (at most ``idle_timeout_s``); a broken connection is left to close."""
        with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
            await asyncio.wait_for(self.writer.drain(), self.limits.idle_timeout_s)

    async def _drain_quietly(self) -> None:
        with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
            await asyncio.wait_for(self.writer.drain(), 5.0)


_HANDLERS: dict[str, Callable[[Session, Any], Awaitable[None]]] = {
    "HelloRequest": Session._hello,
    "ConnectRequest": Session._connect,
    "DeviceInfoRequest": Session._device_info,
    "ListEntitiesRequest": Session._list_entities,
    "SubscribeStatesRequest": Session._subscribe_states,
    "PingRequest": Session._ping,
    "GetTimeRequest": Session._time,
    "DisconnectRequest": Session._disconnect,
    "DisconnectResponse": Session._disconnected,
    "SubscribeHomeassistantServicesRequest": Session._ignore,
    "SubscribeHomeAssistantStatesRequest": Session._ignore,
    "SubscribeLogsRequest": Session._ignore,
    "SubscribeVoiceAssistantRequest": Session._subscribe_voice,
    "VoiceAssistantResponse": Session._voice_message,
    "VoiceAssistantEventResponse": Session._voice_message,
    "VoiceAssistantConfigurationRequest": Session._voice_configuration,
    "VoiceAssistantSetConfiguration": Session._set_voice_configuration,
    "SwitchCommandRequest": Session._switch,
    "MediaPlayerCommandRequest": Session._media,
    "VoiceAssistantAnnounceRequest": Session._announce,
    "VoiceAssistantTimerEventResponse": Session._timer,
}
