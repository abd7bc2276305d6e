"""Running blocking engines off the event loop: a blocking iterator as an async one.

The producer runs on its own thread and hands items over through a bounded
queue, so a fast producer waits for a slow consumer instead of piling up;
setting ``cancel`` stops it at the next item.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeVar

from appliance.core.handoff import call_soon

T = TypeVar("T")

_DONE = object()


async def iterate_in_thread(
    produce: Callable[[], Iterator[T]],
    cancel: threading.Event,
    *,
    maxsize: int = 64,
    name: str = "worker",
) -> AsyncIterator[T]:
    """Yield what ``produce()`` yields, computed on a worker thread.

    ``produce`` should itself watch ``cancel`` inside long steps; between items
    this wrapper stops it when ``cancel`` is set or the consumer goes away.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize)
    space = threading.Semaphore(maxsize)
    abandoned = threading.Event()  # the consumer left early: stop producing

    def stopped() -> bool:
        return cancel.is_set() or abandoned.is_set()

    def put(item: object) -> None:
        if not call_soon(loop, queue.put_nowait, item):  # the loop has shut down; nobody is listening
            abandoned.set()

    def run() -> None:
        try:
            for item in produce():
                while not space.acquire(timeout=0.1):
                    if stopped():
                        return
                if stopped():
                    return
                put(item)
        except BaseException as err:  # noqa: BLE001 - handed to the consumer, re-raised there
            put(_Failure(err))
        finally:
            put(_DONE)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = await queue.get()
            if item is _DONE:
                break
            if isinstance(item, _Failure):
                raise item.error
            space.release()
            yield item  # type: ignore[misc]
    finally:
        abandoned.set()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error
