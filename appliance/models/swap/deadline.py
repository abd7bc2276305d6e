"""A swap stage on a thread of its own, given up at a wall-clock deadline.

A thread cannot be killed, so a stage that overruns is abandoned: the swap is
refused at the deadline and the next one may start, while the thread finishes
on its own and what it made (a loaded engine) is handed to ``discard`` then.
The threads are daemon threads, so a stage stuck in C code never holds up the
daemon's exit (the default executor's threads are joined at exit: SIGTERM
would wait for them).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from appliance.core.handoff import call_soon

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")


def _keep(value: Any) -> None:
    return None


async def within(work: Callable[[], T], seconds: float, *, name: str, discard: Callable[[T], None] = _keep) -> T:
    """``work()`` on a daemon thread; TimeoutError after ``seconds`` (its late result goes to ``discard``)."""
    loop = asyncio.get_running_loop()
    result: asyncio.Future[T] = loop.create_future()

    def settle(value: T | None, error: BaseException | None) -> None:
        if result.done():  # given up (or the swap was cancelled) before the work ended
            if error is None:
                _later(discard, value, name)
            return
        if error is not None:
            result.set_exception(error)
        else:
            result.set_result(value)  # type: ignore[arg-type]

    def run() -> None:
        try:
            value, error = work(), None
        except BaseException as err:  # noqa: BLE001 - handed to the awaiting swap
            value, error = None, err
        if not call_soon(loop, settle, value, error) and error is None:  # the loop is gone
            discard(value)  # type: ignore[arg-type]

    threading.Thread(target=run, name=name, daemon=True).start()
    try:
        return await asyncio.wait_for(result, seconds)
    except asyncio.TimeoutError:  # not yet the builtin TimeoutError on Python 3.10
        raise TimeoutError(f"{name} did not end in {seconds:g} s") from None


def _later(discard: Callable[[T], None], value: Any, name: str) -> None:
    """``discard`` off the event loop (closing an engine frees memory and may wait for its lock)."""
    _LOGGER.info("The abandoned %s stage has finished; discarding what it made", name)
    threading.Thread(target=discard, args=(value,), name=f"{name}-discard", daemon=True).start()
