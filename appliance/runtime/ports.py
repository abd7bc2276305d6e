"""What the features are built with: narrow ports onto the running appliance, never the appliance itself.

The composition root (:mod:`appliance.runtime.app`) fills one :class:`FeaturePorts`
and :func:`~appliance.runtime.features.build_features` hands each feature only
the ports it uses, so no feature reaches the daemon, the core or each other.
The pipeline, the front end and the sink implement these protocols as they are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

    from appliance.board.profiles import BoardProfile
    from appliance.control.api import ControlApi
    from appliance.control.commands import Commands
    from appliance.core.bus import Bus
    from appliance.core.feature import Feature
    from appliance.engines.llm.protocol import ReplySource
    from appliance.engines.loader import Engines
    from appliance.models.registry import ModelRegistry
    from appliance.models.swap.swapper import ModelSwapper
    from appliance.settings import Settings
    from appliance.voice.conversation import Conversation
    from appliance.voice.messages import WakeHeard
    from appliance.voice.reply import Synthesizer
    from appliance.voice.turn_record import TurnRecord


class Announcer(Protocol):
    """Speaking outside a reply (the skills' rings and announcements): the pipeline's text turns."""

    @property
    def tts(self) -> Synthesizer:
        """The running voice (its sample rate is the alarm tone's)."""
        ...

    async def say(self, text: str, *, chime: bool = False) -> TurnRecord:
        """Speak ``text`` verbatim, as a turn after any running one; ``chime`` sounds the earcon first."""
        ...

    async def alert(self, text: str, sound: np.ndarray, *, ring_s: float) -> TurnRecord:
        """Ring ``sound`` then ``text`` until stopped or ``ring_s`` has passed."""
        ...

    async def play(self, audio: np.ndarray, rate: int) -> TurnRecord:
        """Play ``audio`` (int16 at ``rate`` Hz) as a turn after any running one (an assistant's announcement)."""
        ...


class TurnHistory(Protocol):
    """The kept turns: "repeat that" reads the last reply, a "forget" drops what was said."""

    @property
    def history(self) -> Sequence[TurnRecord]:
        """Finished turns, oldest first."""
        ...

    def forget_texts(self) -> None:
        """Drop transcripts and replies from the kept turns."""
        ...


class RunningLlm(Protocol):
    """The LLM answering now (a live swap or a test replaces it), for its last generation's figures."""

    @property
    def llm(self) -> ReplySource:
        """The running language model."""
        ...


class WakeGate(Protocol):
    """Presence gating of the wake word (the front end)."""

    def allow_wake(self, allowed: bool) -> None:
        """Listen for wake words, or ignore them."""
        ...


class Playback(Protocol):
    """What is queued to play (the sink): "stop" drops it."""

    def queued_seconds(self) -> float:
        """Seconds of audio queued and not yet played."""
        ...

    def stop(self) -> None:
        """Drop whatever is queued."""
        ...


@dataclass(frozen=True)
class FeaturePorts:
    """Everything :func:`~appliance.runtime.features.build_features` may hand a feature, each port narrow."""

    settings: Settings
    """The settings at start-up (features take reloads through :meth:`Feature.apply`)."""
    current_settings: Callable[[], Settings]
    """The settings running now (a reload or a model swap changes them)."""
    bus: Bus
    registry: ModelRegistry
    engines: Engines
    """The loaded engines; a live swap replaces their members, so read them at each use."""
    conversation: Conversation
    """The plain running conversation (the memory's wraps it)."""
    announcer: Announcer
    turns: TurnHistory
    running_llm: RunningLlm
    wake_gate: WakeGate
    playback: Playback
    control: ControlApi
    commands: Commands
    swaps: ModelSwapper
    features: Sequence[Feature]
    """Every feature built, filled once they all are (the MQTT feature's retained state reads them)."""
    profile: BoardProfile


class FeatureArbiter:
    """The pipeline's :class:`~appliance.voice.arbiter.WakeArbiter`: the first feature that holds an election;
    and its :class:`~appliance.voice.arbiter.RequestHandoff`: the first feature that answers elsewhere.

    It is given the appliance's feature list while that is still empty (the
    pipeline is built first) and reads it from then on, as the controller does.
    """

    def __init__(self, features: Sequence[Feature]) -> None:
        self._features = features

    def elect(self, wake: WakeHeard) -> asyncio.Future[bool] | None:
        """The first feature's election for ``wake``; None (answer alone) when no feature holds one."""
        for feature in self._features:
            decided = feature.elect(wake)
            if decided is not None:
                return decided
        return None

    async def hand_off(self, audio: np.ndarray, record: TurnRecord) -> tuple[np.ndarray, int] | None:
        """The first feature that answers a spoken request elsewhere (the ESPHome satellite); None: answer here."""
        from appliance.voice.arbiter import RequestHandoff

        for feature in self._features:
            if isinstance(feature, RequestHandoff):
                answer = await feature.hand_off(audio, record)
                if answer is not None:
                    return answer
        return None
