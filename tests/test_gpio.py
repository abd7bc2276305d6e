"""Buttons and LEDs on gpiozero's MockFactory, wired into a real Appliance (real engines)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from appliance.app import Appliance
from appliance.audio.source import ArraySource
from appliance.errors import CommandError, HardwareError
from appliance.events import MuteChanged, Stage, StageChanged
from appliance.frontend import Mode
from appliance.gpio import make_pin_factory
from appliance.hardware import load_profile
from appliance.indicator import PATTERNS
from appliance.settings import HardwareSettings, Settings, VadSettings

from .fakes import RecordingSink, wait_for

PI = load_profile("raspberry-pi-5")
MUTE, ACTION, CAMERA = (PI.buttons[name].pin for name in ("mute", "action", "camera"))
LONG_PRESS_S = 0.3


def test_pin_factory_follows_the_profile():
    from gpiozero.pins.mock import MockFactory

    assert make_pin_factory("none") is None
    assert isinstance(make_pin_factory("mock"), MockFactory)
    with pytest.raises(HardwareError) as err:
        make_pin_factory("lgpio")  # no lgpio package (and no /dev/gpiochip) on this machine
    assert err.value.code in ("gpio-missing", "gpio-unavailable")


def test_generic_linux_opens_no_gpio():
    from appliance.gpio import open_board

    profile = load_profile("generic-linux")
    assert profile.gpio == "none" and not profile.has_gpio
    assert open_board(profile, HardwareSettings(), host=None) is None  # type: ignore[arg-type]


async def start_app(
    engines, registry, tmp_path: Path, profile: str = "raspberry-pi-5", *, gpio: bool = True
) -> Appliance:
    settings = replace(
        Settings(),
        hardware=HardwareSettings(profile=profile, gpio="mock", long_press_s=LONG_PRESS_S, error_hold_s=0.5),
        vad=VadSettings(no_speech_timeout_s=1.0),
    )
    settings = replace(settings, audio=replace(settings.audio, earcon=False))
    silence = np.zeros(16000, dtype=np.int16)
    app = Appliance(
        settings,
        engines,
        registry=registry,
        source_factory=lambda: ArraySource(silence, realtime=True, tail_s=None),
        sink=RecordingSink(),
        control=False,
        gpio=gpio,
    )
    ready = asyncio.Event()
    app._test_task = asyncio.create_task(app.run(on_ready=ready.set))  # type: ignore[attr-defined]
    await asyncio.wait_for(ready.wait(), timeout=30)
    assert (app.board is not None) == gpio
    return app


async def stop_app(app: Appliance) -> None:
    app.stop()
    assert await asyncio.wait_for(app._test_task, timeout=30) == 0  # type: ignore[attr-defined]


def pin(app: Appliance, number: int):
    assert app.board is not None
    return app.board.factory.pin(number)


async def press(app: Appliance, number: int, *, hold_s: float = 0.0) -> None:
    """Press and release a (pull-up) button: the pin reads low while pressed."""
    pin(app, number).drive_low()
    await asyncio.sleep(hold_s or 0.12)  # a finger holds it this long (longer than the 50 ms debounce)
    pin(app, number).drive_high()


def led_colour(app: Appliance) -> tuple[float, float, float]:
    assert app.board is not None
    return app.board.leds.led.color  # type: ignore[attr-defined]


@pytest.mark.integration
async def test_mute_button_stops_capture_at_the_source_and_publishes(engines, registry, tmp_path):
    app = await start_app(engines, registry, tmp_path)
    try:
        mutes = app.bus.subscribe(MuteChanged)
        await wait_for(lambda: app.frontend.source is not None, timeout=10)
        await press(app, MUTE)
        event = await asyncio.wait_for(mutes.get(), timeout=5)
        assert event.muted is True
        await wait_for(lambda: app.frontend.mode == Mode.MUTED and app.frontend.source is None, timeout=5)
        await wait_for(lambda: app.board.shown == "muted", timeout=5)
        assert led_colour(app) == PATTERNS["muted"].colour
        with pytest.raises(CommandError) as refused:
            await app.commands.execute("listen")
        assert refused.value.code == "muted"
        await press(app, MUTE)
        assert (await asyncio.wait_for(mutes.get(), timeout=5)).muted is False
        await wait_for(lambda: app.frontend.source is not None, timeout=5)  # the microphone opens again
        await wait_for(lambda: app.board.shown == "idle", timeout=5)
        assert app.status()["hardware"]["presses"]["mute"] == 2
    finally:
        await stop_app(app)


@pytest.mark.integration
async def test_push_to_talk_starts_a_conversation_and_leds_follow(engines, registry, tmp_path):
    app = await start_app(engines, registry, tmp_path)
    try:
        stages = app.bus.subscribe(StageChanged)
        await press(app, ACTION)
        event = await asyncio.wait_for(stages.get(), timeout=5)
        assert event.stage == Stage.LISTENING
        assert app.pipeline.turn is not None and app.pipeline.history == []
        await wait_for(lambda: app.board.shown == "listening", timeout=5)
        assert led_colour(app) == PATTERNS["listening"].colour
        # Silence: the turn ends without speech and the LEDs go back to idle.
        assert (await asyncio.wait_for(stages.get(), timeout=10)).stage == Stage.IDLE
        assert app.pipeline.history[-1].outcome == "no-speech"
        await wait_for(lambda: app.board.shown == "idle", timeout=5)
        assert led_colour(app) == (0, 0, 0)
        assert app.board.presses["listen"] == 1 and app.board.presses["stop"] == 0
    finally:
        await stop_app(app)


@pytest.mark.integration
async def test_leds_show_thinking_speaking_and_errors(engines, registry, tmp_path):
    from appliance.events import ErrorRaised

    app = await start_app(engines, registry, tmp_path)
    try:
        shown: list[str] = []
        original = app.board.leds.show

        def record(state: str) -> None:
            shown.append(state)
            original(state)

        app.board.leds.show = record  # type: ignore[method-assign]
        record_ask = await asyncio.wait_for(
            app.commands.execute("ask", {"text": "What is the capital of France?"}), timeout=60
        )
        assert record_ask["outcome"] == "answered"
        assert shown[:3] == ["thinking", "speaking", "idle"]
        app.bus.publish(ErrorRaised(code="stt-failed", message="test"))
        await wait_for(lambda: app.board.shown == "error", timeout=5)
        await wait_for(lambda: app.board.shown == "idle", timeout=5)  # error_hold_s later
    finally:
        await stop_app(app)


@pytest.mark.integration
async def test_long_press_cancels_a_reply(engines, registry, tmp_path):
    app = await start_app(engines, registry, tmp_path)
    try:
        text = "This is a long announcement that keeps going for quite a while, so there is time to stop it."
        say = asyncio.create_task(app.commands.execute("say", {"text": text}))
        await wait_for(lambda: app.pipeline.stage == Stage.SPEAKING, timeout=30)
        await wait_for(lambda: app.board.shown == "speaking", timeout=5)
        pin(app, ACTION).drive_low()
        await wait_for(lambda: app.board.presses["stop"] == 1, timeout=5)
        result = await asyncio.wait_for(say, timeout=10)
        assert result["outcome"] == "interrupted"
        pin(app, ACTION).drive_high()
        await wait_for(lambda: app.pipeline.stage == Stage.IDLE, timeout=5)
        assert app.board.presses["listen"] == 0  # releasing after a long press does not listen
        assert app.pipeline.turn is None
    finally:
        await stop_app(app)


@pytest.mark.integration
async def test_mute_switch_locks_the_mute_and_camera_switch_calls_camera(engines, registry, tmp_path):
    text = (Path(__file__).resolve().parent.parent / "hardware" / "raspberry-pi-5.toml").read_text()
    text = text.replace('mode = "toggle"', 'mode = "switch"')
    profile = tmp_path / "switches.toml"
    profile.write_text(text)
    app = await start_app(engines, registry, tmp_path, profile=str(profile))
    try:
        calls: list[dict] = []

        async def camera(args):
            calls.append(dict(args))
            return {"camera": args["state"]}

        pin(app, CAMERA).drive_low()  # no camera command yet (no vision): ignored, no crash
        await wait_for(lambda: app.board.presses["camera"] == 1, timeout=5)
        app.commands.register("camera", camera)
        pin(app, CAMERA).drive_high()
        await wait_for(lambda: calls == [{"state": "OFF"}], timeout=5)
        pin(app, CAMERA).drive_low()
        await wait_for(lambda: calls[-1] == {"state": "ON"}, timeout=5)

        pin(app, MUTE).drive_low()  # the switch closes: muted, and locked
        await wait_for(lambda: app.muted and app.board.mute_locked, timeout=5)
        with pytest.raises(CommandError) as refused:
            await app.commands.execute("mute", {"state": "OFF"})
        assert refused.value.code == "muted-by-switch"
        assert app.muted
        assert await app.commands.execute("mute", {"state": "ON"}) == {"muted": True}
        pin(app, MUTE).drive_high()  # the switch opens: unmuted
        await wait_for(lambda: not app.muted, timeout=5)
        assert await app.commands.execute("mute", {"state": "toggle"}) == {"muted": True}
    finally:
        await stop_app(app)


def test_a_pin_that_cannot_be_opened_is_a_hardware_error():
    from appliance.gpio import open_board

    class Host:
        muted = False

    profile = replace(load_profile("raspberry-pi-5", gpio_override="mock"))
    board = open_board(profile, HardwareSettings(), Host())  # type: ignore[arg-type]
    assert board is not None
    from gpiozero import Button

    other = Button(MUTE, pin_factory=board.factory)  # claimed elsewhere: gpiozero refuses a second device
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(HardwareError) as err:
            board.start(loop)
    finally:
        loop.close()
        other.close()
    assert err.value.code == "gpio-pin" and "GPIO17" in err.value.message


@pytest.mark.integration
async def test_in_process_tools_leave_the_pins_to_the_daemon(engines, registry, tmp_path):
    """converse and bench build an Appliance too; only the daemon (gpio=True) opens buttons and LEDs."""
    app = await start_app(engines, registry, tmp_path, gpio=False)
    try:
        assert app.board is None
        assert app.status()["hardware"] == {"profile": "Raspberry Pi 5", "gpio": "none"}
    finally:
        await stop_app(app)
