"""Test hooks, registered only when ``APPLIANCE_DEBUG_HOOKS=1`` is in the daemon's environment.

``debug.wedge {"loop": "pipeline"|"audio"}`` makes a loop hang the way a real
bug would (alive but making no progress) so a test can watch the systemd
watchdog stop being fed.  The installed unit never sets the variable.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from appliance.core.errors import CommandError
from appliance.core.feature import Feature

if TYPE_CHECKING:
    from appliance.control.commands import Handler
    from appliance.voice.frontend import FrontEnd
    from appliance.voice.pipeline import Pipeline

_LOGGER = logging.getLogger(__name__)

ENV = "APPLIANCE_DEBUG_HOOKS"


def enabled() -> bool:
    return os.environ.get(ENV) == "1"


class DebugFeature(Feature):
    """The ``debug.*`` commands (only when the environment asks for them)."""

    name = "debug"

    def __init__(self, pipeline: Pipeline, frontend: FrontEnd) -> None:
        _LOGGER.warning("Debug hooks are enabled (%s=1): not for production", ENV)
        self.pipeline = pipeline
        self.frontend = frontend

    def commands(self) -> Mapping[str, Handler]:
        return {"debug.wedge": self.wedge}

    async def wedge(self, args: Mapping[str, Any]) -> dict[str, Any]:
        loop = args.get("loop")
        if loop == "pipeline":

            async def hang(msg: Any) -> None:
                await asyncio.Event().wait()  # never set: the loop stays alive and stuck

            self.pipeline._dispatch = hang  # type: ignore[method-assign]
        elif loop == "audio":
            frontend = self.frontend

            def stuck() -> None:
                frontend._stop.wait()  # blocks until shutdown, like a driver that never returns

            frontend._step = stuck  # type: ignore[method-assign]
        else:
            raise CommandError("bad-arguments", "loop must be 'pipeline' or 'audio'")
        _LOGGER.warning("Debug: wedged the %s loop", loop)
        return {"wedged": loop}
