"""The pipeline's inbox: the front end's decisions on their way from the audio thread to the event loop.

The composition root builds it before the front end and the pipeline and hands
it to both: the front end is given :meth:`Inbox.post_threadsafe` as its
``emit``, the pipeline takes from it.  Neither is finished after construction.
"""

from __future__ import annotations

import asyncio

from appliance.core.handoff import LoopHandoff
from appliance.voice.messages import FrontEndMessage


class Inbox:
    """An unbounded queue of front-end messages, posted from any thread, taken on the event loop."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[FrontEndMessage] = asyncio.Queue()
        self._handoff = LoopHandoff()

    def post(self, msg: FrontEndMessage) -> None:
        """Queue a message (on the event loop)."""
        self._queue.put_nowait(msg)

    def post_threadsafe(self, msg: FrontEndMessage) -> None:
        """Queue a message from the audio thread (dropped once the loop has closed)."""
        self._handoff(self._queue.put_nowait, msg)

    def bind_running(self) -> None:
        """Take messages on the running loop from now on (call from the consuming coroutine)."""
        self._handoff.bind_running()

    async def get(self) -> FrontEndMessage:
        """The next message, waiting for one."""
        return await self._queue.get()
