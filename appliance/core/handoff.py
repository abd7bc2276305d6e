"""The one way a worker thread hands work to the event loop.

The audio thread, gpiozero's callbacks, paho's network thread, streaming STT
partials and worker iterators all call :func:`call_soon` (or hold a
:class:`LoopHandoff`), so "the loop has closed, nobody is listening" is
handled in one place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


def call_soon(loop: asyncio.AbstractEventLoop | None, fn: Callable[..., Any], *args: Any) -> bool:
    """Run ``fn(*args)`` on ``loop`` from any thread; False when there is no open loop to run it."""
    if loop is None or loop.is_closed():
        return False
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:  # the loop closed between the check and the call
        return False
    return True


class LoopHandoff:
    """A loop bound once (on the loop, at start-up) and used from any thread afterwards."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def bind_running(self) -> None:
        """Bind the running loop (call from a coroutine)."""
        self.loop = asyncio.get_running_loop()

    def __call__(self, fn: Callable[..., Any], *args: Any) -> bool:
        return call_soon(self.loop, fn, *args)

    def wrap(self, fn: Callable[[], Any]) -> Callable[[], None]:
        """A no-argument callback for another thread that runs ``fn`` on the loop."""

        def callback() -> None:
            call_soon(self.loop, fn)

        return callback
