"""Are the loops that matter alive?  The systemd watchdog is fed only while they all are.

A loop that merely exists is not enough: a task stuck forever on an await,
or an audio thread blocked in a driver, is "running" but dead.  So each vital
loop proves progress: the audio thread stamps a heartbeat every iteration, and
the pipeline loop echoes pings the watchdog sends through its inbox.  Other
components (MQTT) add their own check with :meth:`Liveness.add`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.runtime.supervisor import Supervisor
    from appliance.voice.frontend import FrontEnd

_LOGGER = logging.getLogger(__name__)

AUDIO_GRACE_S = 5.0
"""Extra seconds the audio thread may go without a heartbeat beyond its retry wait."""


@dataclass
class Heartbeat:
    """Ping/echo bookkeeping for a loop that waits on a queue (monotonic seconds)."""

    timeout_s: float
    """An unanswered ping older than this means the loop is stuck."""
    sent: float = 0.0

    def due(self, answered: float) -> bool:
        """True when no ping is outstanding, so a new one may be sent."""
        return answered >= self.sent

    def send(self, now: float) -> float:
        self.sent = now
        return now

    def alive(self, answered: float, now: float) -> bool:
        return answered >= self.sent or now - self.sent < self.timeout_s


def audio_alive(*, running: bool, heartbeat_age_s: float, retry_s: float, capturing: bool, frame_age_s: float) -> bool:
    """The audio thread runs, iterates, and (while a microphone is open and unmuted) reads frames."""
    if not running or heartbeat_age_s > retry_s + AUDIO_GRACE_S:
        return False
    return not capturing or frame_age_s < AUDIO_GRACE_S


class Liveness:
    """Named checks; :meth:`failing` lists the ones that say no."""

    def __init__(self) -> None:
        self._checks: dict[str, Callable[[], bool]] = {}

    def add(self, name: str, check: Callable[[], bool]) -> None:
        """Make ``check`` a condition for feeding the watchdog (e.g. ``"mqtt"``)."""
        self._checks[name] = check

    def remove(self, name: str) -> None:
        self._checks.pop(name, None)

    @property
    def names(self) -> list[str]:
        return list(self._checks)

    def failing(self) -> list[str]:
        out = []
        for name, check in self._checks.items():
            try:
                ok = check()
            except Exception:
                _LOGGER.exception("Liveness check %s failed", name)
                ok = False
            if not ok:
                out.append(name)
        return out


class Watchdog:
    """Checks the vital loops every few seconds; feeds systemd's watchdog only while all are alive."""

    def __init__(
        self,
        liveness: Liveness,
        *,
        notify: Callable[[], object],
        report: Callable[[list[str]], object],
        ping: Callable[[float], None],
        answered: Callable[[], float],
    ) -> None:
        self.liveness = liveness
        self._notify = notify
        self._report = report
        self._ping = ping
        self._answered = answered
        self.beat = Heartbeat(timeout_s=10.0)

    def pipeline_alive(self, running: bool, now: float) -> bool:
        """The pipeline task runs and echoes the pings sent through its inbox."""
        return running and self.beat.alive(self._answered(), now)

    async def run(self, every_s: float, *, feed: bool) -> None:
        """The liveness loop: feed while nothing fails, report changes, ping the pipeline."""
        self.beat.timeout_s = max(2 * every_s, 2.0)
        reported: list[str] = []
        while True:
            failing = self.liveness.failing()
            if not failing and feed:
                self._notify()
            if failing != reported:
                if failing:
                    _LOGGER.error("Not responding: %s (the watchdog is no longer fed)", ", ".join(failing))
                reported = failing
                self._report(failing)
            now = time.monotonic()
            if self.beat.due(self._answered()):
                self._ping(self.beat.send(now))
            await asyncio.sleep(every_s)


def frontend_alive(frontend: FrontEnd, *, running: bool) -> bool:
    """The audio check for the front end's thread (a recording played to its end is not stuck)."""
    if frontend.input_ended:
        return True
    now = time.monotonic()
    return audio_alive(
        running=running,
        heartbeat_age_s=now - frontend.heartbeat_mono,
        retry_s=frontend.retry_s,
        capturing=frontend.capture_available and not frontend.muted,
        frame_age_s=now - frontend.last_frame_mono,
    )


def loops_alive(supervisor: Supervisor, names: tuple[str, ...]) -> Callable[[], bool]:
    """A check that holds while every named supervised loop runs."""
    return lambda: all(supervisor.alive(name) for name in names)
