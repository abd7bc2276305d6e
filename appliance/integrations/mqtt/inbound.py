"""Commands arriving over MQTT: decode, refuse what must not run, execute, answer.

Every command is either answered (its result) or refused (a coded error),
on its reply topic when it asked for one and as an ``error`` event always:

- commands outside the MQTT allowlist are refused as ``forbidden``
  (:mod:`appliance.control.authorization`; opt-ins in ``mqtt.allowed_commands``);
- retained, disabled, malformed, too large or expired commands are refused
  (one decoder, :mod:`appliance.control.payload`, for depth, size and surrogates);
- above ``command_rate`` per second (after a ``command_burst``) they are
  refused, per command, so a ``status`` flood does not block ``mute``;
  a payload that fails to decode still costs its token;
- nothing here raises: a bug in a step becomes an ``internal-error`` answer;
- ``say`` and ``ask`` take turns on the speaker: up to ``speech_queue`` wait,
  more are refused, and one whose deadline passes while waiting is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from appliance.control.authorization import CommandPolicy
from appliance.control.payload import correlation_data, scrub, shown
from appliance.core.errors import ApplianceError, CommandError
from appliance.core.events import ErrorRaised
from appliance.integrations.mqtt.client import Inbound
from appliance.integrations.mqtt.limits import ErrorThrottle, TokenBucket
from appliance.integrations.mqtt.topics import (
    PayloadRefused,
    Request,
    Topics,
    check_reply_topic,
    command_deadline,
    decode_command,
    encode,
)
from appliance.settings import MqttSettings

_LOGGER = logging.getLogger(__name__)

SPEECH_COMMANDS = frozenset({"say", "ask"})
MAX_RUNNING = 64
"""Other commands running at once; more are refused as busy."""
MAX_BUCKETS = 256
"""Per-command rate buckets kept (only permitted names get one, so this is never reached in practice)."""

Execute = Callable[[str, Mapping[str, Any]], Awaitable[dict[str, Any]]]
Publish = Callable[..., Any]


@dataclass
class Pending:
    """A command accepted for execution."""

    request: Request
    deadline: float
    """Monotonic time after which it must not start."""


@dataclass
class Counters:
    received: int = 0
    answered: int = 0
    refused: int = 0


class CommandRouter:
    """Turns MQTT command messages into calls of the command layer."""

    def __init__(
        self,
        settings: MqttSettings,
        topics: Topics,
        *,
        execute: Execute,
        publish: Publish,
        report: Callable[[ErrorRaised], None],
        reply_properties: Callable[[bytes | None], Any],
        policy: CommandPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.topics = topics
        self._execute = execute
        self._publish = publish
        self._report = report
        self._reply_properties = reply_properties
        self.policy = policy or CommandPolicy.remote(
            extra=settings.allowed_commands, disabled=settings.disabled_commands, allow_listen=settings.allow_listen
        )
        self.buckets: dict[str, TokenBucket] = {}
        self.throttle = ErrorThrottle()
        self.speech: asyncio.Queue[Pending] = asyncio.Queue(settings.speech_queue)
        self.counters = Counters()
        self._running: set[asyncio.Task[None]] = set()

    # -- arrival --------------------------------------------------------------------
    def handle(self, msg: Inbound, name: str) -> None:
        """Decide about one command message (on the event loop; never raises, never waits)."""
        self.counters.received += 1
        request = Request(name)
        try:
            self._route(msg, name, request)
        except Exception as err:  # a bug in a step must not take the events loop down
            _LOGGER.exception("Deciding about cmd/%s failed", shown(name))
            self.refuse(request, CommandError("internal-error", f"{type(err).__name__} while deciding"))

    def _route(self, msg: Inbound, name: str, request: Request) -> None:
        try:
            if msg.response_topic:  # checked before anything is sent there, refusals included
                request.reply_to = self._reply_target(msg.response_topic)
                request.correlation = correlation_data(msg.correlation)
            self.policy.check(name)
            pending = self._admit(msg, name, request)
        except CommandError as err:
            self.refuse(request, err)
            return
        if name in SPEECH_COMMANDS:
            try:
                self.speech.put_nowait(pending)
            except asyncio.QueueFull:
                size = self.settings.speech_queue
                self.refuse(pending.request, CommandError("busy", f"{size} say/ask commands are already waiting"))
            return
        if len(self._running) >= MAX_RUNNING:
            self.refuse(pending.request, CommandError("busy", f"{MAX_RUNNING} commands are already running"))
            return
        task = asyncio.create_task(self._run(pending), name=f"mqtt-cmd-{name}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    def _admit(self, msg: Inbound, name: str, request: Request) -> Pending:
        if msg.retain:
            raise CommandError("retained-command", f"retained {name} ignored: commands must not be retained")
        try:
            decoded = decode_command(self.topics, name, msg.payload)
        except CommandError as err:
            self._take(name, msg.received)  # a flood of garbage costs tokens like any other
            if isinstance(err, PayloadRefused) and request.reply_to is None and err.reply_to is not None:
                request.reply_to = self._reply_target(err.reply_to)  # the refusal is answered where asked
            raise
        if request.reply_to is None and decoded.reply_to is not None:  # a v3.1.1 client names it in the payload
            request.reply_to = self._reply_target(decoded.reply_to)
            request.correlation = decoded.correlation
        request.args, request.sent_ts = decoded.args, decoded.sent_ts
        if not self._take(name, msg.received):  # after decoding: a refusal must reach the reply_to too
            raise CommandError("rate-limited", f"more than {self.settings.command_rate:g} {name} commands/s; refused")
        deadline = command_deadline(
            received=msg.received,
            wall_now=time.time(),
            max_age_s=self.settings.command_max_age_s,
            sent_ts=decoded.sent_ts,
            expiry_s=msg.expiry_s,
        )
        if deadline <= msg.received:
            raise CommandError("expired", f"{name} arrived after its expiry; not executed")
        return Pending(request, deadline)

    def _take(self, name: str, now: float) -> bool:
        """One token from ``name``'s own bucket (only permitted names get here, so the dict stays small)."""
        bucket = self.buckets.get(name)
        if bucket is None:
            if len(self.buckets) >= MAX_BUCKETS:
                self.buckets.clear()
            bucket = self.buckets[name] = TokenBucket(self.settings.command_rate, self.settings.command_burst)
        return bucket.take(now)

    def _reply_target(self, topic: str) -> str:
        if self.topics.command_name(topic) is not None:
            raise CommandError("bad-reply-topic", f"cannot reply on {shown(topic)}: it is a command topic")
        return check_reply_topic(topic, root=self.topics.root, prefixes=self.settings.reply_prefixes)

    # -- execution --------------------------------------------------------------------
    async def _run(self, pending: Pending) -> None:
        request = pending.request
        if time.monotonic() > pending.deadline:
            self.refuse(request, CommandError("expired", f"{request.command} waited past its expiry; not executed"))
            return
        try:
            result = await self._execute(request.command, request.args)
        except ApplianceError as err:
            self.refuse(request, err)
            return
        except Exception as err:  # a bug in a command must not take the router down
            _LOGGER.exception("Command %s failed", request.command)
            self.refuse(request, CommandError("internal-error", f"{type(err).__name__}: {shown(str(err))}"))
            return
        self.counters.answered += 1
        self._answer(request, {"ok": True, "command": request.command, "result": result})

    async def speech_worker(self) -> None:
        """Run queued say/ask commands one after the other (a supervised loop)."""
        while True:
            pending = await self.speech.get()
            await self._run(pending)

    # -- answers -------------------------------------------------------------------------
    def refuse(self, request: Request, err: ApplianceError) -> None:
        """Answer with the coded error and report it as an error event (throttled per code)."""
        self.counters.refused += 1
        self._answer(request, {"ok": False, "command": request.command, "error": err.as_dict()})
        now = time.monotonic()
        if self.throttle.admit(err.code, now):
            message = scrub(f"cmd/{request.command[:60]}: {err.message}")
            self._report(ErrorRaised(code=err.code, message=message, stage="mqtt"))
        self.report_suppressed(now)

    def report_suppressed(self, now: float) -> None:
        """One summary event per code for refusals that were not reported one by one."""
        for code, count in self.throttle.due(now).items():
            self._report(ErrorRaised(code=code, message=f"{count} more commands refused with {code}", stage="mqtt"))

    def _answer(self, request: Request, body: dict[str, Any]) -> None:
        """Publish the answer on the reply topic; never raises (an answer that cannot go out is logged)."""
        if request.reply_to is None:
            return
        if request.correlation is not None and not isinstance(request.correlation, bytes):
            body["id"] = request.correlation
        try:
            props = self._reply_properties(request.correlation if isinstance(request.correlation, bytes) else None)
            self._publish(request.reply_to, encode(body), qos=1, properties=props)
        except Exception:  # publishing must never take the router down
            _LOGGER.exception("Could not answer %s on %s", request.command, scrub(request.reply_to))
