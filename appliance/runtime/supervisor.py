"""Supervised long-running loops: restart on failure with jittered backoff, stop in order.

Python 3.10 has no TaskGroup, so this is the one place that starts
long-running tasks; it also knows which loops are alive (for the watchdog).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

_LOGGER = logging.getLogger(__name__)


@dataclass
class LoopState:
    name: str
    task: asyncio.Task[None] | None = None
    restarts: int = 0
    last_error: str = ""
    heartbeat: float = field(default_factory=time.monotonic)
    """Monotonic time the loop last reported progress (see :meth:`Supervisor.beat`)."""


class Supervisor:
    """Start named loops; a crashed loop is logged and restarted after a backoff."""

    def __init__(self, *, base_delay: float = 0.5, max_delay: float = 30.0) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.loops: dict[str, LoopState] = {}
        self._order: list[str] = []

    def start(self, name: str, factory: Callable[[], Awaitable[None]], *, restart: bool = True) -> None:
        """Run ``factory()`` as a named task, restarting it when it raises."""
        state = LoopState(name)
        self.loops[name] = state
        self._order.append(name)
        state.task = asyncio.create_task(self._keep(state, factory, restart), name=name)

    async def _keep(self, state: LoopState, factory: Callable[[], Awaitable[None]], restart: bool) -> None:
        delay = self.base_delay
        while True:
            started = time.monotonic()
            try:
                await factory()
                return
            except asyncio.CancelledError:
                raise
            except Exception as err:
                state.restarts += 1
                state.last_error = f"{type(err).__name__}: {err}"
                _LOGGER.exception("Loop %s failed (restart %d)", state.name, state.restarts)
                if not restart:
                    return
            if time.monotonic() - started > 60:
                delay = self.base_delay  # it ran fine for a while: start the backoff over
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, self.max_delay)

    def beat(self, name: str) -> None:
        """Record progress of a loop (the watchdog only counts loops that beat)."""
        if name in self.loops:
            self.loops[name].heartbeat = time.monotonic()

    def alive(self, name: str, *, within_s: float | None = None) -> bool:
        state = self.loops.get(name)
        if state is None or state.task is None or state.task.done():
            return False
        return within_s is None or time.monotonic() - state.heartbeat <= within_s

    def status(self) -> dict[str, dict[str, object]]:
        return {
            name: {"alive": self.alive(name), "restarts": s.restarts, "last_error": s.last_error}
            for name, s in self.loops.items()
        }

    async def stop(self) -> None:
        """Cancel loops in reverse start order and wait for each."""
        for name in reversed(self._order):
            await self.stop_one(name)

    async def stop_one(self, name: str) -> None:
        """Cancel one loop and wait for it (a no-op for unknown or finished loops)."""
        state = self.loops.get(name)
        task = state.task if state is not None else None
        if task is None or task.done():
            return
        task.cancel()
        try:
            await asyncio.wait_for(task, timeout=5.0)
        except (asyncio.CancelledError, asyncio.TimeoutError):
            pass
        except Exception:  # noqa: BLE001 - already logged by _keep
            _LOGGER.debug("Loop %s ended with an error during shutdown", name)
