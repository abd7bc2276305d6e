"""Vision wired into the appliance: commands, "what do you see?", presence in the LLM's context,
wake words that need presence, and the camera switch. Real BlazeFace on real photos; fakes only
for the LLM/STT/TTS (orchestration)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from appliance.audio.sink import NullSink
from appliance.audio.source import ArraySource
from appliance.bench.vision import SceneCamera, scene_frames
from appliance.core.errors import CommandError
from appliance.runtime.app import Appliance
from appliance.settings import PathSettings, Settings, VisionSettings
from tests.fakes import engines_with_fakes, until


@pytest.fixture
def app_factory(registry, tmp_path: Path):
    made: list[Appliance] = []

    def make(vision: VisionSettings, camera: SceneCamera | None) -> Appliance:
        engines = engines_with_fakes(registry)
        settings = Settings(paths=PathSettings(state_dir=str(tmp_path)), vision=vision)
        quiet = np.zeros(16000, dtype=np.int16)
        app = Appliance(
            settings,
            engines,
            registry=registry,
            source_factory=lambda: ArraySource(quiet, realtime=True, tail_s=None),
            sink=NullSink(),
            control=False,
            frame_source_factory=(lambda: camera) if camera is not None else None,
        )
        made.append(app)
        return app

    return make


async def _ask(app: Appliance, text: str) -> dict:
    return await asyncio.wait_for(app.commands.execute("ask", {"text": text, "speak": False}), 20)


@pytest.mark.integration
async def test_vision_in_the_running_appliance(app_factory, tmp_path):
    camera = SceneCamera({"empty": scene_frames(False, 6), "person": scene_frames(True, 6)}, 10.0)
    vision = VisionSettings(enabled=True, fps=10.0, on_delay_s=0.2, off_delay_s=1.0, wake_requires_presence=True)
    app = app_factory(vision, camera)
    runner = asyncio.create_task(app.run())
    try:
        await until(lambda: app.vision is not None and app.vision.frames > 3, timeout=20)
        assert app.frontend.wake_enabled is False  # nobody seen yet: wake words are ignored
        assert "Nobody has been seen" in app.conversation.messages("hello")[-1]["content"]
        answer = await _ask(app, "What do you see?")
        assert answer["intent"] == "vision.describe" and answer["reply"] == "I don't see anyone right now."

        camera.show("person")
        await until(lambda: app.vision.presence.present, timeout=20)
        # the gate follows on the vision thread just after presence flips (seen lagging once under load)
        await until(lambda: app.frontend.wake_enabled is True, timeout=2, what="wake words allowed")
        assert app.vision.summary() == "Someone is in the room."
        assert "Someone is in the room." in app.conversation.messages("hello")[-1]["content"]
        assert (await _ask(app, "Hey, what can you see?"))["reply"] == "I can see one person."

        seen = await app.commands.execute("vision.detect")
        assert seen["present"] and seen["faces"] == 1 and seen["detections"][0]["kind"] == "face"
        shot = await app.commands.execute("snapshot")
        assert Path(shot["path"]).parent == tmp_path / "snapshots" and shot["bytes"] <= vision.snapshot_max_bytes

        assert await app.commands.execute("camera", {"state": "OFF"}) == {"camera": "OFF"}
        assert app.frontend.wake_enabled is True  # fails open: no camera, no gating
        assert (await _ask(app, "what do you see"))["reply"] == "My camera is switched off."
        assert "switched off" in app.conversation.messages("hello")[-1]["content"]
        with pytest.raises(CommandError) as info:
            await app.commands.execute("snapshot")
        assert info.value.code == "camera-off"
        with pytest.raises(CommandError, match="ON or OFF"):
            await app.commands.execute("camera", {"state": "maybe"})
        status = app.status()["vision"]
        assert status["enabled"] and status["camera"] == "OFF"
        assert (await app.commands.execute("camera", {"state": "toggle"}))["camera"] == "ON"
        await until(lambda: app.vision.available, timeout=10)
    finally:
        app.stop()
        await asyncio.wait_for(runner, 20)


async def test_vision_is_optional_and_off_by_default(app_factory):
    app = app_factory(VisionSettings(), None)
    assert app.vision is None
    assert "camera" not in app.commands.names and app.status()["vision"] == {"enabled": False}
    assert app.frontend.wake_enabled is True
    assert app.conversation.messages("hi")[0]["content"] == app.settings.llm.system_prompt


async def test_a_bad_gstreamer_source_stops_start_up_with_a_config_error(app_factory):
    from appliance.core.errors import ConfigError

    with pytest.raises(ConfigError, match="appsink"):
        app_factory(VisionSettings(enabled=True, source="nvarguscamerasrc ! nvvidconv"), None)
