"""In-process publish/subscribe with bounded subscriber queues.

Publishing never blocks and never fails: a slow subscriber loses its oldest
events (counted in ``dropped``) rather than stalling the voice loop.  Worker
threads publish through :meth:`Bus.publish_threadsafe`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

from appliance.core.events import Event
from appliance.core.handoff import call_soon

_LOGGER = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)


class Subscription(Generic[E]):
    """One subscriber's queue; iterate it with ``async for``."""

    def __init__(self, bus: Bus, kinds: tuple[type[E], ...], maxsize: int, name: str) -> None:
        self._bus = bus
        self.kinds = kinds
        self.name = name
        self.queue: asyncio.Queue[E] = asyncio.Queue(maxsize)
        self.dropped = 0

    def offer(self, event: E) -> None:
        """Enqueue, dropping the oldest event when full (called on the loop)."""
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
            if self.dropped in (1, 10, 100) or self.dropped % 1000 == 0:
                _LOGGER.warning("Subscriber %s is slow: %d events dropped", self.name, self.dropped)
        self.queue.put_nowait(event)

    async def get(self) -> E:
        return await self.queue.get()

    def get_nowait(self) -> E:
        return self.queue.get_nowait()

    def close(self) -> None:
        self._bus.unsubscribe(self)

    def __aiter__(self) -> AsyncIterator[E]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[E]:
        while True:
            yield await self.queue.get()

    def __enter__(self) -> Subscription[E]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Bus:
    """Fan events out to every subscriber whose kinds match."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop
        self._subs: list[Subscription[Event]] = []
        self.published = 0

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the running loop (threads publish onto it)."""
        self._loop = loop

    def subscribe(self, *kinds: type[E], maxsize: int = 256, name: str = "subscriber") -> Subscription[E]:
        """Receive events of the given classes (all events when none given)."""
        sub: Subscription[E] = Subscription(self, kinds or (Event,), maxsize, name)  # type: ignore[arg-type]
        self._subs.append(sub)  # type: ignore[arg-type]
        return sub

    def unsubscribe(self, sub: Subscription[E]) -> None:
        if sub in self._subs:
            self._subs.remove(sub)  # type: ignore[arg-type]

    def publish(self, event: Event) -> None:
        """Deliver on the event loop's thread; never blocks."""
        self.published += 1
        for sub in self._subs:
            if isinstance(event, sub.kinds):
                sub.offer(event)

    def publish_threadsafe(self, event: Event) -> None:
        """Deliver from a worker thread."""
        call_soon(self._loop, self.publish, event)

    def stats(self) -> dict[str, int]:
        """Drop counters per subscriber (for ``status`` and metrics)."""
        return {sub.name: sub.dropped for sub in self._subs}
