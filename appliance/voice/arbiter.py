"""The voice loop's side of an election among appliances: the one port the pipeline asks."""

from __future__ import annotations

import asyncio
from typing import Protocol

from appliance.voice.messages import WakeHeard


class WakeArbiter(Protocol):
    """Decides whether this appliance answers a wake word that other appliances may have heard too."""

    def elect(self, wake: WakeHeard) -> asyncio.Future[bool] | None:
        """Claim ``wake`` at once; a future that is True if this appliance answers, or None to answer alone.

        Called on the event loop as the wake word arrives, never for a barge-in.
        It must return at once: the turn is already listening while the
        election runs, and a lost one is cancelled without a sound.
        """
        ...
