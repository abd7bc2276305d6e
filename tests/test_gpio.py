"""Buttons and LEDs on gpiozero's MockFactory: unit tests against a fake ControlApi, one real Appliance."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from appliance.audio.source import ArraySource
from appliance.board.gpio import make_pin_factory
from appliance.board.indicator import PATTERNS
from appliance.board.profiles import load_profile
from appliance.control.commands import Commands
from appliance.core.bus import Bus
from appliance.core.errors import CommandError, HardwareError
from appliance.core.events import MuteChanged, Stage, StageChanged
from appliance.runtime.app import Appliance
from appliance.settings import HardwareSettings, Settings, VadSettings

from .fakes import FakeControl, RecordingSink, until

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
    from appliance.board.gpio import open_board

    profile = load_profile("generic-linux")
    assert profile.gpio == "none" and not profile.has_gpio
    assert open_board(profile, HardwareSettings(), control=None, commands=None, bus=None) is None  # type: ignore[arg-type]


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
async def test_push_to_talk_starts_a_conversation_and_leds_follow(engines, registry, tmp_path):
    app = await start_app(engines, registry, tmp_path)
    try:
        stages = app.bus.subscribe(StageChanged)
        await press(app, ACTION)
        event = await asyncio.wait_for(stages.get(), timeout=5)
        assert event.stage == Stage.LISTENING
        assert app.pipeline.turn is not None and app.pipeline.history == []
        await until(lambda: app.board.shown == "listening", timeout=5)
        assert led_colour(app) == PATTERNS["listening"].colour
        # Silence: the turn ends without speech and the LEDs go back to idle.
        assert (await asyncio.wait_for(stages.get(), timeout=10)).stage == Stage.IDLE
        assert app.pipeline.history[-1].outcome == "no-speech"
        await until(lambda: app.board.shown == "idle", timeout=5)
        assert led_colour(app) == (0, 0, 0)
        assert app.board.presses["listen"] == 1 and app.board.presses["stop"] == 0
    finally:
        await stop_app(app)


def test_a_pin_that_cannot_be_opened_is_a_hardware_error():
    from appliance.board.gpio import open_board

    control = FakeControl()
    profile = replace(load_profile("raspberry-pi-5", gpio_override="mock"))
    board = open_board(profile, HardwareSettings(), control=control, commands=Commands(control), bus=Bus())
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


# -- unit tests: the board against a fake ControlApi and the real command layer ------------------


class Board:
    """BoardControls on the mock pin factory, bound to a FakeControl, a real Commands and a real Bus."""

    def __init__(self, profile_path: Path | None = None) -> None:
        profile = load_profile(str(profile_path) if profile_path else "raspberry-pi-5", gpio_override="mock")
        self.control = FakeControl()
        self.commands = Commands(self.control)
        self.bus = Bus()
        from appliance.board.feature import BoardFeature

        self.feature = BoardFeature(
            profile,
            HardwareSettings(gpio="mock", long_press_s=LONG_PRESS_S, error_hold_s=0.3),
            control=self.control,
            commands=self.commands,
            bus=self.bus,
            open_gpio=True,
        )
        for name, guard in self.feature.guards().items():
            self.commands.add_guard(name, guard)
        self.leds_task: asyncio.Task | None = None

    async def __aenter__(self) -> Board:
        self.bus.bind(asyncio.get_running_loop())
        await self.feature.start()
        assert self.feature.board is not None
        self.board = self.feature.board
        self.leds_task = asyncio.create_task(self.feature.loops()["leds"]())
        await until(lambda: "leds" in self.bus.stats(), what="the LED loop subscribed")
        return self

    async def __aexit__(self, *exc) -> None:
        assert self.leds_task is not None
        self.leds_task.cancel()
        await self.feature.stop()

    def pin(self, number: int):
        return self.board.factory.pin(number)

    async def press(self, number: int, *, hold_s: float = 0.0) -> None:
        self.pin(number).drive_low()
        await asyncio.sleep(hold_s or 0.12)  # a finger holds it this long (longer than the 50 ms debounce)
        self.pin(number).drive_high()


async def test_mute_button_toggles_the_mute():
    async with Board() as b:
        await b.press(MUTE)
        await until(lambda: b.control.muted, what="muted")
        await b.press(MUTE)
        await until(lambda: not b.control.muted, what="unmuted")
        assert b.board.status()["presses"]["mute"] == 2


async def test_short_press_listens_and_long_press_stops():
    async with Board() as b:
        await b.press(ACTION)
        await until(lambda: b.control.listens == 1, what="listen")
        b.pin(ACTION).drive_low()
        await until(lambda: b.control.stops == 1, what="stop on a long press")
        b.pin(ACTION).drive_high()
        await until(lambda: b.board.presses["stop"] == 1 and not b.board._action_held, what="release handled")
        assert b.control.listens == 1  # releasing after a long press does not listen


async def test_leds_follow_stage_mute_and_errors():
    from appliance.core.events import ErrorRaised

    async with Board() as b:
        b.bus.publish(StageChanged(stage=Stage.THINKING))
        await until(lambda: b.board.shown == "thinking", what="thinking")
        b.bus.publish(StageChanged(stage=Stage.SPEAKING))
        await until(lambda: b.board.shown == "speaking", what="speaking")
        assert b.board.leds.led.color == PATTERNS["speaking"].colour  # type: ignore[attr-defined]
        b.bus.publish(StageChanged(stage=Stage.IDLE))
        b.bus.publish(MuteChanged(muted=True))
        await until(lambda: b.board.shown == "muted", what="muted")
        b.bus.publish(MuteChanged(muted=False))
        b.bus.publish(ErrorRaised(code="stt-failed", message="test"))
        await until(lambda: b.board.shown == "error", what="error")
        await until(lambda: b.board.shown == "idle", what="idle after error_hold_s")


def switches_profile(tmp_path: Path) -> Path:
    text = (Path(__file__).resolve().parent.parent / "hardware" / "raspberry-pi-5.toml").read_text()
    path = tmp_path / "switches.toml"
    path.write_text(text.replace('mode = "toggle"', 'mode = "switch"'))
    return path


async def test_mute_switch_locks_the_mute(tmp_path):
    async with Board(switches_profile(tmp_path)) as b:
        b.pin(MUTE).drive_low()  # the switch closes: muted, and locked
        await until(lambda: b.control.muted and b.board.mute_locked, what="locked")
        with pytest.raises(CommandError) as refused:
            await b.commands.execute("mute", {"state": "OFF"})
        assert refused.value.code == "muted-by-switch" and b.control.muted
        with pytest.raises(CommandError):
            await b.commands.execute("mute", {"state": "toggle"})
        assert await b.commands.execute("mute", {"state": "ON"}) == {"muted": True}
        b.pin(MUTE).drive_high()  # the switch opens: unmuted, and free again
        await until(lambda: not b.control.muted, what="unmuted")
        assert await b.commands.execute("mute", {"state": "toggle"}) == {"muted": True}


async def test_camera_switch_is_applied_at_boot_and_guards_camera_and_snapshot(tmp_path):
    calls: list[dict] = []

    async def camera(args):
        calls.append(dict(args))
        return {"camera": args["state"]}

    async def snapshot(args):
        return {"path": "snapshots/x.jpg"}

    b = Board(switches_profile(tmp_path))
    b.commands.register("camera", camera)
    b.commands.register("snapshot", snapshot)
    async with b:
        # The mock pin floats high: the (pull-up) switch reads open, so the camera starts off.
        await until(lambda: calls == [{"state": "OFF"}], what="camera off at boot")
        for args in ({"state": "ON"}, {"state": "toggle"}):
            with pytest.raises(CommandError) as refused:
                await b.commands.execute("camera", args)
            assert refused.value.code == "camera-off-by-switch"
        with pytest.raises(CommandError):
            await b.commands.execute("snapshot", {})
        assert await b.commands.execute("camera", {"state": "OFF"}) == {"camera": "OFF"}
        b.pin(CAMERA).drive_low()  # the switch closes: camera on, and remote commands are free again
        await until(lambda: calls[-1] == {"state": "ON"}, what="camera on")
        assert await b.commands.execute("snapshot", {}) == {"path": "snapshots/x.jpg"}
