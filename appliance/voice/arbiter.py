"""The voice loop's side of an election among appliances: the one port the pipeline asks."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from appliance.voice.messages import WakeHeard

if TYPE_CHECKING:
    import numpy as np

    from appliance.voice.turn_record import TurnRecord


class WakeArbiter(Protocol):
    """Decides whether this appliance answers a wake word that other appliances may have heard too."""

    def elect(self, wake: WakeHeard) -> asyncio.Future[bool] | None:
        """Claim ``wake`` at once; a future that is True if this appliance answers, or None to answer alone.

        Called on the event loop as the wake word arrives, never for a barge-in.
        It must return at once: the turn is already listening while the
        election runs, and a lost one is cancelled without a sound.
        """
        ...


@runtime_checkable
class RequestHandoff(Protocol):
    """Another assistant that may answer a spoken request instead of this appliance (Home Assistant's pipeline)."""

    async def hand_off(self, audio: np.ndarray, record: TurnRecord) -> tuple[np.ndarray, int] | None:
        """The other assistant's spoken answer to ``audio`` (16 kHz mono int16) as (int16 samples, Hertz).

        None: answer here (no such assistant, or it failed). Meanwhile the local transcription
        runs, uncommitted, so answering here costs no extra time. ``record`` takes what the
        other assistant heard and said (``transcript``, ``reply``).
        """
        ...
