"""The appliance as Home Assistant drives it over the ESPHome API: mute, volume, wake words, audio, timers.

One :class:`Satellite` serves every connection.  It acts only through the daemon's narrow
ports (the control API, the announcer's turns, the sink's queue), and tells each connection
what changed through the listeners the sessions register: a state message per entity.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from google.protobuf.message import Message

from appliance.control.api import ControlApi
from appliance.core.errors import ApplianceError
from appliance.integrations.esphome import device
from appliance.integrations.esphome.media import MediaPolicy, decode, fetch
from appliance.integrations.esphome.messages import pb
from appliance.settings import BUILTIN_WAKE_WORDS, Settings
from appliance.skills.sound import alarm_tone
from appliance.voice.reply import Synthesizer
from appliance.voice.turn_record import TurnRecord

_LOGGER = logging.getLogger(__name__)

Listener = Callable[[list[Message]], None]

TIMER_STARTED, TIMER_UPDATED, TIMER_CANCELLED, TIMER_FINISHED = 0, 1, 2, 3
"""``VoiceAssistantTimerEvent`` values."""


class Announcer(Protocol):
    """The pipeline's turns that speak outside a reply (``runtime.ports.Announcer``, as this feature uses it)."""

    @property
    def tts(self) -> Synthesizer: ...

    async def say(self, text: str, *, chime: bool = False) -> TurnRecord: ...

    async def alert(self, text: str, sound: np.ndarray, *, ring_s: float) -> TurnRecord: ...

    async def play(self, audio: np.ndarray, rate: int) -> TurnRecord: ...


class Playback(Protocol):
    """The sink's queue: a media player's stop drops it."""

    def stop(self) -> None: ...


@dataclass
class Counters:
    """What ``status`` shows of the ESPHome port."""

    clients: int = 0
    connections: int = 0
    refused: int = 0
    closed_for: dict[str, int] = field(default_factory=dict)
    announcements: int = 0
    media_failed: int = 0
    timers_rung: int = 0
    turns_reported: int = 0
    relayed: int = 0
    """Requests sent to Home Assistant's pipeline (``pipeline = home_assistant``)."""

    def closed(self, code: str) -> None:
        self.closed_for[code] = self.closed_for.get(code, 0) + 1


@dataclass
class HaTimer:
    """A timer Home Assistant runs for this device (it tells each change; it rings here when it finishes)."""

    name: str
    total_s: int
    left_s: int
    active: bool


class Satellite:
    """The appliance's side of every ESPHome API connection."""

    def __init__(
        self,
        *,
        settings: Callable[[], Settings],
        control: ControlApi,
        announcer: Announcer,
        playback: Playback,
    ) -> None:
        self.settings = settings
        self.control = control
        self.announcer = announcer
        self.playback = playback
        self.counters = Counters()
        self.timers: dict[str, HaTimer] = {}
        self.listeners: set[Listener] = set()
        self.voice_peers: dict[int, Any] = {}
        """Connections whose client subscribed to the voice assistant (Home Assistant), by id, oldest first."""
        self.last_request = ""
        self.last_reply = ""
        self._volume_before_mute: int | None = None
        self._playing = 0
        self._tasks: set[asyncio.Task[None]] = set()

    # -- state ----------------------------------------------------------------------
    def state(self) -> device.DeviceState:
        return device.DeviceState(
            muted=self.control.muted,
            volume=self._volume_before_mute if self._volume_before_mute is not None else self.control.volume,
            speaker_muted=self._volume_before_mute is not None,
            playing=self._playing > 0,
            last_request=self.last_request,
            last_reply=self.last_reply,
        )

    def publish(self) -> None:
        """Send every entity's state to every connection."""
        messages = device.states(self.state())
        for listener in list(self.listeners):
            listener(messages)

    def on_turn(self, record: TurnRecord) -> None:
        """A turn this appliance answered itself: its texts become the Last request / Last reply sensors."""
        if not (record.transcript or record.reply):
            return
        self.last_request, self.last_reply = record.transcript, record.reply
        self.counters.turns_reported += 1
        self.publish()

    # -- entities -------------------------------------------------------------------
    def set_muted(self, muted: bool) -> None:
        """The Mute switch: the microphone, as the mute command and button do."""
        self.control.set_muted(muted)
        self.publish()

    def media_command(self, msg: Any, policy: MediaPolicy) -> None:
        if msg.has_volume:
            level = round(min(max(msg.volume, 0.0), 1.0) * 100)
            if self._volume_before_mute is not None:
                self._volume_before_mute = level
            else:
                self.control.set_volume(level)
        if msg.has_command:
            self._command(msg.command)
        if msg.has_media_url and msg.media_url:
            self.spawn(self.play_urls([msg.media_url], policy), "media")
        self.publish()

    def _command(self, command: int) -> None:
        if command == pb.MEDIA_PLAYER_COMMAND_MUTE and self._volume_before_mute is None:
            self._volume_before_mute = self.control.volume
            self.control.set_volume(0)
        elif command == pb.MEDIA_PLAYER_COMMAND_UNMUTE and self._volume_before_mute is not None:
            level, self._volume_before_mute = self._volume_before_mute, None
            self.control.set_volume(level)
        elif command in (pb.MEDIA_PLAYER_COMMAND_STOP, pb.MEDIA_PLAYER_COMMAND_PAUSE):
            self.playback.stop()

    # -- wake words -----------------------------------------------------------------
    def wake_configuration(self) -> Message:
        return device.wake_configuration(tuple(self.control.wake_words))

    async def set_wake_words(self, ids: list[str]) -> None:
        """Home Assistant's wake-word select: the built-in models chosen listen from now on."""
        chosen = tuple(dict.fromkeys(i for i in ids if i in BUILTIN_WAKE_WORDS))
        if not chosen:
            _LOGGER.warning("ESPHome: ignored a wake word choice of none of %s", ", ".join(BUILTIN_WAKE_WORDS))
            return
        if chosen != tuple(self.control.wake_words):
            await self.control.set_wake_words(chosen)
            _LOGGER.info("ESPHome: Home Assistant set the wake word to %s", ", ".join(chosen))

    # -- audio ----------------------------------------------------------------------
    async def play_urls(self, urls: list[str], policy: MediaPolicy, *, text: str = "") -> bool:
        """Fetch and play the URLs in turn as one announcement; ``text`` is said instead if they fail."""
        rate = int(self.announcer.tts.sample_rate)
        self._playing += 1
        self.publish()
        try:
            pieces = [await decode(await fetch(url, policy), rate, timeout_s=policy.timeout_s) for url in urls]
            await self.announcer.play(np.concatenate(pieces) if pieces else np.zeros(0, np.int16), rate)
            return True
        except ApplianceError as err:
            self.counters.media_failed += 1
            _LOGGER.warning("ESPHome: could not play Home Assistant's audio: %s", err)
            if text:
                await self.announcer.say(text)
            return False
        finally:
            self._playing -= 1
            self.publish()

    async def announce(self, msg: Any, policy: MediaPolicy) -> bool:
        """``assist_satellite.announce``: the pre-announce sound and the media (or the text in this voice)."""
        self.counters.announcements += 1
        urls = [u for u in (msg.preannounce_media_id, msg.media_id) if u]
        if msg.media_id:
            played = await self.play_urls(urls, policy, text=msg.text)
        elif msg.text:
            await self.announcer.say(msg.text, chime=bool(msg.preannounce_media_id))
            played = True
        else:
            played = False
        if msg.start_conversation:
            await self.control.listen(source="listen")
        return played

    # -- timers ---------------------------------------------------------------------
    def timer_event(self, msg: Any) -> None:
        """Home Assistant's timers: kept for ``status``; a finished one rings here like a local timer."""
        if msg.event_type in (TIMER_STARTED, TIMER_UPDATED):
            self.timers[msg.timer_id[:64]] = HaTimer(msg.name[:64], msg.total_seconds, msg.seconds_left, msg.is_active)
            if len(self.timers) > 64:
                self.timers.pop(next(iter(self.timers)))
        elif msg.event_type == TIMER_CANCELLED:
            self.timers.pop(msg.timer_id[:64], None)
        elif msg.event_type == TIMER_FINISHED:
            self.timers.pop(msg.timer_id[:64], None)
            name = msg.name[:64].strip()
            self.spawn(self._ring(f"The {name} timer is done." if name else "The timer is done."), "timer")

    async def _ring(self, text: str) -> None:
        self.counters.timers_rung += 1
        tone = alarm_tone(int(self.announcer.tts.sample_rate))
        await self.announcer.alert(text, tone, ring_s=self.settings().skills.ring_s)

    # -- tasks ----------------------------------------------------------------------
    def spawn(self, work: object, label: str) -> None:
        """Run ``work`` beside the connections; its failure is logged, never raised into a session."""
        assert asyncio.iscoroutine(work)
        task = asyncio.get_running_loop().create_task(self._guarded(work, label), name=f"esphome-{label}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, work: object, label: str) -> None:
        try:
            await work  # type: ignore[misc]
        except ApplianceError as err:
            _LOGGER.warning("ESPHome: %s failed: %s", label, err)
        except Exception:  # a bug in one action must not reach the loop's exception handler silently
            _LOGGER.exception("ESPHome: %s failed", label)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
