"""The camera pipeline as a feature: its loop, commands, "what do you see?", and the room for the LLM."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from appliance.core.feature import ContextProvider, Feature, Loop
from appliance.vision import build_service
from appliance.vision.commands import SceneIntent, status, vision_commands

if TYPE_CHECKING:
    from appliance.control.commands import Handler
    from appliance.core.bus import Bus
    from appliance.models.registry import ModelRegistry
    from appliance.settings import Settings
    from appliance.vision.camera import FrameSource
    from appliance.voice.reply import IntentMatcher


class VisionFeature(Feature):
    """Runs the :class:`VisionService` on its own thread; gates the wake word on presence when asked to."""

    name = "vision"

    def __init__(
        self,
        settings: Settings,
        bus: Bus,
        registry: ModelRegistry,
        *,
        set_wake_allowed: Callable[[bool], None],
        source_factory: Callable[[], FrameSource] | None = None,
    ) -> None:
        self.service = build_service(settings.vision, bus, registry.resolve, source_factory)
        self.state_dir = settings.state_dir
        self._set_wake_allowed = set_wake_allowed
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="vision")
        self.service.on_change.append(self._gate)
        self._gate()

    def _gate(self) -> None:
        """vision.wake_requires_presence: wake words count only while someone is seen (any thread)."""
        self._set_wake_allowed(self.service.wake_allowed())

    def intents(self) -> Sequence[IntentMatcher]:
        return (SceneIntent(self.service),)

    def commands(self) -> Mapping[str, Handler]:
        return vision_commands(self.service, self.state_dir)

    def context(self) -> Sequence[ContextProvider]:
        return (self.service.summary,)

    def loops(self) -> Mapping[str, Loop]:
        return {"vision": self._run}

    async def _run(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._pool, self.service.run)

    def status(self) -> Mapping[str, Any]:
        return {"enabled": True, **status(self.service)}

    async def stop(self) -> None:
        self.service.stop()
        await asyncio.to_thread(self._pool.shutdown, True)
