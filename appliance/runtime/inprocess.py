"""An appliance run inside another command (local ``ask``, benchmarks): silence in, run until the block ends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from appliance.audio import FRAME_SAMPLES
from appliance.audio.sink import AudioSink
from appliance.audio.source import ArraySource
from appliance.engines.loader import Engines
from appliance.models.registry import ModelRegistry
from appliance.runtime.app import Appliance
from appliance.settings import Settings

_SILENCE = np.zeros(FRAME_SAMPLES, dtype=np.int16)


def silence() -> ArraySource:
    """A microphone that hears nothing, forever (in real time)."""
    return ArraySource(_SILENCE, name="silence", realtime=True, tail_s=None)


@contextlib.asynccontextmanager
async def running(
    settings: Settings,
    engines: Engines,
    registry: ModelRegistry,
    sink: AudioSink,
    *,
    ready_s: float = 60.0,
    **options: Any,
) -> AsyncIterator[Appliance]:
    """An appliance on ``engines`` hearing silence, without the control socket, ready inside the block."""
    app = Appliance(settings, engines, registry=registry, source_factory=silence, sink=sink, control=False, **options)
    ready = asyncio.Event()
    runner = asyncio.create_task(app.run(on_ready=ready.set))
    try:
        await asyncio.wait_for(ready.wait(), ready_s)
        yield app
    finally:
        app.stop()
        await runner
